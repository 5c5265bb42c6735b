package mandate

import (
	"fmt"
	"time"
)

// Severity is how bad an incident is.
type Severity string

const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities in increasing order.
var Severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: low 1 … critical 4; an unknown severity is 0.
func (s Severity) Rank() int {
	for i, x := range Severities {
		if x == s {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// ParseSeverity checks a severity given by a person or an API client.
func ParseSeverity(s string) (Severity, error) {
	if sev := Severity(s); sev.Valid() {
		return sev, nil
	}
	return "", Errorf(EINVALID, "severity %q is not one of low, medium, high, critical", s)
}

// IncidentState is where an incident is in its life: open → mitigated → resolved →
// closed (closed once its postmortem is closed).
type IncidentState string

const (
	IncidentOpen      IncidentState = "open"
	IncidentMitigated IncidentState = "mitigated"
	IncidentResolved  IncidentState = "resolved"
	IncidentClosed    IncidentState = "closed"
)

// Active reports whether responders are still working the incident.
func (s IncidentState) Active() bool { return s == IncidentOpen || s == IncidentMitigated }

// Incident is something that went wrong, with what Mandate knows about it.
type Incident struct {
	// Number is the public id: "INC-<number>", channel inc-<number>-<slug>.
	Number    int64         `json:"number"`
	Title     string        `json:"title"`
	Severity  Severity      `json:"severity"`
	State     IncidentState `json:"state"`
	Resources []Resource    `json:"resources"`
	// Teams are the teams owning the incident's resources and its causes' blast radius;
	// more than one makes the incident multi-team.
	Teams     []string `json:"teams"`
	MultiTeam bool     `json:"multi_team"`
	// OpenedBy is a person id, an actor id (API) or "rule:<name>"; Via is slack, api or rule.
	OpenedBy  string `json:"opened_by"`
	Via       string `json:"via"`
	Commander string `json:"commander,omitempty"` // person id assigned as owner
	// Channel is the shared Slack channel, once created.
	Channel     string `json:"channel,omitempty"`
	ChannelName string `json:"channel_name,omitempty"`
	// RepeatOf is the earlier incident whose pattern this one matches, if any.
	RepeatOf    int64      `json:"repeat_of,omitempty"`
	OpenedAt    time.Time  `json:"opened_at"`
	MitigatedAt *time.Time `json:"mitigated_at,omitempty"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	// Postmortem is its draft's state: "" (none yet), draft, published, closed.
	Postmortem string            `json:"postmortem_state,omitempty"`
	Causes     []IncidentCause   `json:"causes,omitempty"`
	Items      []ActionItem      `json:"action_items,omitempty"`
	Patterns   []IncidentPattern `json:"patterns,omitempty"`
	// Trigger is the action the incident was opened from (an opt-in rule fired on its
	// result, or someone pressed "Open incident" on its notification): one incident each.
	Trigger string `json:"trigger_action,omitempty"`
	// HeaderTS is the header message in Channel, kept up to date as the incident moves.
	HeaderTS string `json:"header_ts,omitempty"`
	// PagedAt is when PagerDuty was paged (severity high or critical).
	PagedAt *time.Time `json:"paged_at,omitempty"`
	// Work done outside Postgres after resolution, recorded so a retried job does it once.
	PageResolvedAt *time.Time `json:"-"`
	ResolveDoneAt  *time.Time `json:"-"`
}

// Active reports whether responders are still working the incident.
func (i *Incident) Active() bool { return i.State.Active() }

// CausingActions are the actions held responsible: the confirmed causes or, while none
// is confirmed, the likely candidates nobody dismissed — the best ranked one and every
// other scoring at least LikelyShare of its score — likeliest first. They are who "pause
// all causing agents" pauses, whose resources make the blast radius, and what routing's
// "caused an incident" counts.
func (i *Incident) CausingActions() []IncidentCause {
	var confirmed, candidates []IncidentCause
	for _, c := range i.Causes {
		switch c.State {
		case CauseConfirmed:
			confirmed = append(confirmed, c)
		case CauseCandidate:
			if len(candidates) == 0 || c.Score >= LikelyShare*candidates[0].Score {
				candidates = append(candidates, c)
			}
		}
	}
	if len(confirmed) > 0 {
		return confirmed
	}
	return candidates
}

// LikelyShare is how close to the best candidate's score another candidate must come to
// count as a likely cause: weak candidates (an old action that merely touched the same
// resource) are listed, but pause nobody and bring no team in until confirmed.
const LikelyShare = 0.25

// IncidentVia says how an incident was opened.
const (
	ViaSlack = "slack"
	ViaAPI   = "api"
	ViaRule  = "rule"
)

// IncidentRequest asks to open an incident, from Slack, the API or an opt-in rule.
type IncidentRequest struct {
	Title     string
	Severity  Severity
	Resources []Resource
	// Causes are action ids the reporter names as causes, likeliest first; they rank
	// above anything attribution finds.
	Causes []string
	// OpenedBy is a person id ("slack:U…" for an unlinked Slack user), an actor id or
	// "rule:<name>"; Via is ViaSlack, ViaAPI or ViaRule.
	OpenedBy string
	Via      string
	// Trigger is the action the incident is opened from (an opt-in rule's, or the "Open
	// incident" button's): at most one incident is opened per trigger action, however
	// often its result is reported or the button pressed.
	Trigger string
	// At is when the incident is opened; zero means now.
	At time.Time
}

// IncidentFilter selects incidents to list. Zero fields do not filter.
type IncidentFilter struct {
	Active   bool      // open or mitigated only
	Since    time.Time // opened at or after
	OpenedBy string
	Limit    int // default 50, at most 500
}

// Ref is how people name the incident: "INC-42".
func (i *Incident) Ref() string { return fmt.Sprintf("INC-%d", i.Number) }

// CauseState is a responder's verdict on a candidate causing action.
type CauseState string

const (
	CauseCandidate CauseState = "candidate"
	CauseConfirmed CauseState = "confirmed"
	CauseDismissed CauseState = "dismissed"
)

// IncidentCause is an action that may have caused an incident: found by attribution
// (actions on the incident's resources and their blast radius in a window before it
// opened), ranked, then confirmed or dismissed by a responder.
type IncidentCause struct {
	ActionID  string     `json:"action_id"`
	Rank      int        `json:"rank"`   // 1 is the likeliest
	Score     float64    `json:"score"`  // higher is likelier; recency × sensitivity
	Reason    string     `json:"reason"` // "deploy on service:payments-api (critical) 4 min before"
	State     CauseState `json:"state"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Action    *Action    `json:"action,omitempty"` // filled when read with the incident
}

// ActionItemState is whether a postmortem's promise was kept.
type ActionItemState string

const (
	ItemOpen ActionItemState = "open"
	ItemDone ActionItemState = "done"
)

// ActionItem is a promise made in a postmortem: an owner and a due date.
type ActionItem struct {
	ID       int64           `json:"id"`
	Incident int64           `json:"incident"`
	Title    string          `json:"title"`
	Owner    string          `json:"owner"` // person id
	Due      time.Time       `json:"due"`   // a date, midnight UTC
	State    ActionItemState `json:"state"`
	DoneBy   string          `json:"done_by,omitempty"`
	DoneAt   *time.Time      `json:"done_at,omitempty"`
	Created  time.Time       `json:"created_at"`
}

// Overdue reports whether the item is open past its due date at now.
func (a *ActionItem) Overdue(now time.Time) bool {
	return a.State == ItemOpen && now.After(a.Due.Add(24*time.Hour))
}

// PatternKind says how a stored pattern matches a new action.
type PatternKind string

const (
	PatternExact       PatternKind = "exact"        // same action type, same resource
	PatternResource    PatternKind = "resource"     // same type, a similar resource (glob)
	PatternFailureMode PatternKind = "failure_mode" // same type, same error signature
)

// IncidentPattern is a recognisable shape of an incident's cause: (action type, resource
// pattern, failure mode). Extracted when the incident resolves; routing warns when a new
// action matches.
type IncidentPattern struct {
	ID              int64       `json:"id"`
	Incident        int64       `json:"incident"`
	Kind            PatternKind `json:"kind"`
	ActionType      string      `json:"action_type"`
	ResourcePattern string      `json:"resource_pattern,omitempty"` // a resource key or glob: "service:payments-*"
	FailureMode     string      `json:"failure_mode,omitempty"`
}

// TimelineEntry is one thing that happened around an incident, from the activity stream.
type TimelineEntry struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // action, result, notification, intervention, escalation, gate, incident
	Who    string    `json:"who,omitempty"`
	Text   string    `json:"text"`
	Action string    `json:"action_id,omitempty"`
	// Event is what exactly happened within the kind: the action's path, the result
	// (succeeded, failed), the notification's state (delivered, folded, fallback; Who is
	// its target, "team:payments"), the intervention (paused, acknowledged, …), the gate's
	// state, the escalation step's target, the incident event (opened, channel, paged,
	// severity, assigned, cause_confirmed, cause_dismissed, paused, mitigated, resolved).
	Event string `json:"event,omitempty"`
	// Channel is the Slack channel a notification was delivered to, or an intervention
	// made in.
	Channel string `json:"channel,omitempty"`
	// TTIMillis is, for an intervention on a notification, the time from its delivery.
	TTIMillis *int64 `json:"tti_ms,omitempty"`
}

// Timeline entry kinds.
const (
	TimelineAction       = "action"
	TimelineResult       = "result"
	TimelineNotification = "notification"
	TimelineIntervention = "intervention"
	TimelineEscalation   = "escalation"
	TimelineGate         = "gate"
	TimelineIncident     = "incident"
)
