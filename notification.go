package mandate

import "time"

// Notification is one signal to one target about one action, and how it went: where it
// was delivered, whether it was folded into an earlier message, the first human response.
type Notification struct {
	ID         int64
	TargetKind TargetKind
	TargetID   string
	Urgency    Urgency
	State      string // pending, queued, delivered, folded, failed
	Channel    string // Slack channel id once delivered
	TS         string // Slack message ts once delivered
	FoldKey    string
	Folded     int // notifications folded into this one's message
	Attempts   int // delivery attempts so far
	Created    time.Time
	Delivered  *time.Time
	Action     *Action
}

// Intervention is one human act on a notification or action: pause, acknowledge, …
type Intervention struct {
	NotificationID int64
	ActionID       string
	Kind           string // paused, resumed, acknowledged, looks_ok, flagged, not_relevant, recovery, question, approved, denied
	SlackUser      string
	PersonID       string
	Allowed        bool // false: refused and logged
	Note           string
	At             time.Time
}

// Question is a question a person asked about an action; the agent can read it.
type Question struct {
	AskedBy  string    `json:"asked_by"`
	Question string    `json:"question"`
	AskedAt  time.Time `json:"asked_at"`
}
