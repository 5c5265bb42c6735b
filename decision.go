package mandate

import "time"

// Path is an intervention path: how much human attention an action gets. Mandate biases
// toward execution; only gated_execute makes the actor wait.
type Path string

const (
	PathAuto      Path = "auto_execute"      // record, notify nobody
	PathMonitored Path = "monitored_execute" // run, notify owners (the default)
	PathFlagged   Path = "flagged_execute"   // run, and queue for owners' review
	PathGated     Path = "gated_execute"     // wait for a human
)

// Urgency is how urgently targets are told.
type Urgency string

const (
	UrgencyInfo     Urgency = "info"
	UrgencyNormal   Urgency = "normal"
	UrgencyHigh     Urgency = "high"
	UrgencyCritical Urgency = "critical"
)

// TargetKind says what a notification target is.
type TargetKind string

const (
	TargetPerson  TargetKind = "person"            // a direct message
	TargetTeam    TargetKind = "team"              // the team's channel
	TargetWebhook TargetKind = "webhook"           // a playbook: a signed webhook
	TargetPolicy  TargetKind = "escalation_policy" // one of Mandate's escalation policies, by name
)

// Target is someone to notify about an action; never a single approver.
type Target struct {
	Kind   TargetKind `json:"kind"`
	ID     string     `json:"id"`
	Reason string     `json:"reason,omitempty"`
}

// Decision is the routing outcome for one action.
type Decision struct {
	Path    Path     `json:"path"`
	Urgency Urgency  `json:"urgency"`
	Rule    string   `json:"rule"`
	Reasons []string `json:"reasons"`
	Targets []Target `json:"targets,omitempty"`
	// ReviewBy is when a flagged action's review is due.
	ReviewBy *time.Time `json:"review_by,omitempty"`
	// Aggregate, when set, folds the notifications of actions with the same key into one
	// (an actor acting on one resource faster than the rate rule allows).
	Aggregate string `json:"aggregate,omitempty"`
	// Resembles names the earlier incidents ("INC-12") whose patterns the action matches.
	Resembles []string `json:"resembles,omitempty"`
}

// Urgencies in increasing order.
var Urgencies = []Urgency{UrgencyInfo, UrgencyNormal, UrgencyHigh, UrgencyCritical}

// Raise returns the next higher urgency (critical stays critical).
func (u Urgency) Raise() Urgency {
	for i, x := range Urgencies {
		if x == u && i+1 < len(Urgencies) {
			return Urgencies[i+1]
		}
	}
	return u
}

// RouteOptions modify one routing decision.
type RouteOptions struct {
	// At is the time the decision is made for; zero means now.
	At time.Time
	// DryRun decides without counting the action in rate and history aggregates.
	DryRun bool
}

// RuleStats is how one routing rule's notifications were received.
type RuleStats struct {
	Rule              string  `json:"rule"`
	Notifications     int     `json:"notifications"`
	Feedback          int     `json:"feedback"`
	Relevant          int     `json:"relevant"`
	NotRelevant       int     `json:"not_relevant"`
	RelevanceRate     float64 `json:"relevance_rate"`      // relevant / feedback
	FalsePositiveRate float64 `json:"false_positive_rate"` // not relevant / feedback
	Missed            int     `json:"missed"`              // "should have been notified" marks
	NeedsReview       bool    `json:"needs_review"`        // false-positive rate above 30 %
}

// FalsePositiveLimit is the false-positive rate above which a rule is flagged for review.
const FalsePositiveLimit = 0.30

// NotificationInfo is a notification as feedback tools see it.
type NotificationInfo struct {
	ID       int64     `json:"id"`
	ActionID string    `json:"action_id"`
	Kind     string    `json:"target_kind"`
	Target   string    `json:"target"`
	Urgency  string    `json:"urgency"`
	State    string    `json:"state"`
	Rule     string    `json:"rule"`
	Created  time.Time `json:"created_at"`
}

// Watch is a person watching resources matching a pattern (a resource key glob).
type Watch struct {
	Person  string
	Pattern string
}

// Snooze silences notifications about resources matching Target (Kind "resource") or
// from the rule named Target (Kind "rule") until Until.
type Snooze struct {
	Kind   string
	Target string
	Until  time.Time
	By     string
}
