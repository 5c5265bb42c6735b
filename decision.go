package mandate

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
	TargetPerson TargetKind = "person" // a direct message
	TargetTeam   TargetKind = "team"   // the team's channel
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
}
