package mandate

import "time"

// Postmortem states: a draft is written when the incident resolves; publishing and closing
// it are human acts, and both need at least one action item with an owner and a due date.
const (
	PostmortemNone      = ""
	PostmortemDraft     = "draft"
	PostmortemPublished = "published"
	PostmortemClosed    = "closed"
)

// Postmortem is an incident's postmortem document and where it stands.
type Postmortem struct {
	Incident    int64      `json:"incident"`
	State       string     `json:"state"`    // draft, published, closed
	Markdown    string     `json:"markdown"` // the latest rendering
	At          *time.Time `json:"at,omitempty"`
	PublishedBy string     `json:"published_by,omitempty"`
}

// Involvement kinds: how someone was drawn into an incident.
const (
	InvolvedNotified  = "notified"  // told about a causing action
	InvolvedEscalated = "escalated" // told by an escalation step nobody else answered
	InvolvedResponded = "responded" // intervened on a causing action (paused, acknowledged, …)
)

// Involvement is one way a person or team was drawn into an incident, read from the
// notification, escalation and intervention logs of its causing actions. It is what the
// postmortem's "Who was involved" section is built from.
type Involvement struct {
	Who      string     `json:"who"`  // person or team id; "slack:U…" for unlinked responders
	Kind     string     `json:"kind"` // notified, escalated, responded
	Target   TargetKind `json:"target,omitempty"`
	ActionID string     `json:"action_id"`
	At       time.Time  `json:"at"`
	// Response is, for a notification, the kind of its first response ("" when nobody
	// answered); for a responder, what they did.
	Response string `json:"response,omitempty"`
	// TTIMillis is, for a notification, the time from its delivery to the first response;
	// for a responder, the time from the action's first delivered notification to their act.
	TTIMillis *int64 `json:"tti_ms,omitempty"`
}

// RepeatStats counts incidents opened in a window and how many repeated an earlier one
// (their RepeatOf is set): the rate the learning loop exists to bring down.
type RepeatStats struct {
	Incidents int     `json:"incidents"`
	Repeats   int     `json:"repeats"`
	Rate      float64 `json:"rate"` // repeats / incidents; 0 without incidents
}
