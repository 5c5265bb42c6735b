// Package blocks renders Mandate's Slack messages, modals and Home tab as Block Kit.
//
// Every function here is pure: it reads only its arguments (times included), does no I/O and
// returns the same blocks for the same input, so the output can be golden-file tested and a
// message can be re-rendered from stored state at any time (after a click, a restart or on
// another replica) and come out identical.
//
// Text from agents (summaries, reasons, resource keys, actor names, notes) is untrusted: it is
// escaped so that an agent cannot ping a channel with "<!channel>" or forge a mention, and it
// is clipped so that every message stays inside Slack's limits whatever the agent sent.
package blocks

import "time"

// Resource is one resource an action touches, as shown to owners.
type Resource struct {
	// Key names the resource, e.g. "service:auth-service". It is escaped when rendered.
	Key string
	// Owners are already rendered for Slack: mentions such as "<@U0ALICE>" or plain names.
	// They are inserted as they are, so the caller must not pass untrusted text here.
	Owners []string
	// Team is the owning team's name, if any.
	Team string
}

// Recovery is the known way back from an action type.
type Recovery struct {
	// Path is what to run or do, e.g. "kubectl rollout undo deploy/payments-api".
	Path string
	// Limits says what the path does not undo, e.g. "does not revert DB migrations"; owners
	// must see them before they rely on the recovery.
	Limits []string
}

// Notification is everything a Slack message about one action shows. The caller fills it from
// the action, its routing decision and the notification row.
type Notification struct {
	// ID is the notification id. Every button carries it as its value, so a click can be
	// tied back to the notification without parsing the message.
	ID int64
	// ActionID is the action's id (shown in Details).
	ActionID string
	// Path is the intervention path: auto_execute, monitored_execute, flagged_execute or
	// gated_execute.
	Path string
	// Urgency is info, normal, high or critical; critical selects the critical shape.
	Urgency string
	// Actor is the name of whoever acted; ActorType is "agent", "human" or "system".
	Actor     string
	ActorType string
	// ActionType is the action's type, e.g. "deploy" or "db_migration"; it picks the verb.
	ActionType  string
	Summary     string
	Environment string
	Resources   []Resource
	// Reasons and Rule explain the routing decision; they are always shown, because a
	// notification nobody understands gets muted.
	Reasons []string
	Rule    string
	// ReviewBy is a flagged action's review deadline.
	ReviewBy *time.Time
	// OccurredAt is when the action happened; it is shown in UTC.
	OccurredAt time.Time
	// Folded counts further actions folded into this message ("+3 more actions").
	Folded int
	// Recovery is the known recovery path for the action type, if any; without one there
	// is no recover button.
	Recovery *Recovery
	// Mentions are the Slack user ids of owners to @-mention when the message goes to a team
	// channel (in a direct message nobody needs a mention).
	Mentions []string
	// AgentPaused reports that the actor is paused at render time: the message then offers
	// resume_agent instead of pause_agent.
	AgentPaused bool
}

// Outcome kinds: what a human did about a notification.
const (
	OutcomePaused       = "paused"
	OutcomeResumed      = "resumed"
	OutcomeAcknowledged = "acknowledged"
	OutcomeLooksOK      = "looks_ok"
	OutcomeFlagged      = "flagged"
	OutcomeApproved     = "approved"
	OutcomeDenied       = "denied"
	OutcomeRecovery     = "recovery"
	OutcomeNotRelevant  = "not_relevant"
	OutcomeQuestion     = "question"
)

// Outcome is one human intervention on a notification, in the order they happened.
type Outcome struct {
	// Kind is one of the Outcome… constants.
	Kind string
	// By is the Slack user id of who intervened.
	By string
	// After is the time from the notification to the intervention (the TTI).
	After time.Duration
	// Note is optional free text (a pause reason, a question); it is escaped when rendered.
	Note string
}

// Status is the summary behind `/mandate status` and the Home tab.
type Status struct {
	// Agents is the number of active agents; Paused the number currently paused.
	Agents, Paused int
	// PausedAgents names each paused agent; a degraded status lists them all.
	PausedAgents    []PausedAgent
	ActionsLastHour int
	Incidents       int
	// CoveragePercent is the share of resources with a known owner, 0–100.
	CoveragePercent float64
	// Gaps is the number of resources without an owner.
	Gaps int
	// TTI is the time-to-intervention p95 per response kind, against its target.
	TTI []TTIStat
	// RecentActions are one-line descriptions of recent actions, newest first, in plain
	// text (they are escaped). The Home tab shows them.
	RecentActions []string
	// Now is the time the status was taken; "12 m ago" is measured from it.
	Now time.Time
}

// PausedAgent is one paused agent in a Status.
type PausedAgent struct {
	ID string
	// By is the Slack user id of who paused it.
	By     string
	Since  time.Time
	Reason string
}

// TTIStat is the p95 time-to-intervention of one response kind (e.g. "pause") against its
// target.
type TTIStat struct {
	Kind    string
	P95     time.Duration
	Target  time.Duration
	Samples int
}
