package notify

import (
	"context"
	"fmt"

	"github.com/mandatehq/mandate"
)

// IncidentFor describes an action for PagerDuty: what the agent did, what it touched and
// how to recover, under the given dedup key.
func IncidentFor(a *mandate.Action, dedupKey, summary string) Incident {
	in := Incident{DedupKey: dedupKey, Summary: summary, Severity: "critical", Component: a.ActorID,
		Group: a.Environment, Class: a.Type, ActionID: a.ID, Timestamp: a.OccurredAt}
	if a.Decision.Urgency != mandate.UrgencyCritical {
		in.Severity = "error"
	}
	for _, r := range a.Resources {
		in.AffectedServices = append(in.AffectedServices, r.Key())
	}
	if rec, ok := Recoveries[a.Type]; ok {
		in.SuggestedRecovery = rec.Path
	}
	return in
}

// EscalateToPagerDuty triggers a PagerDuty incident for a notification nobody answered in
// Slack; the dedup key is per notification.
func (p *PagerDuty) EscalateToPagerDuty(ctx context.Context, n *mandate.Notification) error {
	a := n.Action
	return p.page(ctx, IncidentFor(a, NotificationDedupKey(n.ID),
		fmt.Sprintf("No response in Slack: %s %s %s", a.ActorID, a.Type, a.Summary)), n.ID, PageEscalation)
}

// NotificationDedupKey is the PagerDuty dedup key of pages about one notification (an
// escalation that ran out of Slack, Slack failing to deliver it): one incident however
// often it is paged.
func NotificationDedupKey(id int64) string { return fmt.Sprintf("mandate-notification-%d", id) }

// GateDedupKey is the PagerDuty dedup key of the page about an expired gate.
func GateDedupKey(actionID string) string { return "mandate-gate-" + actionID }

// GateExpired triggers a PagerDuty incident for a gate nobody decided in time; the dedup
// key is per gate.
func (p *PagerDuty) GateExpired(ctx context.Context, a *mandate.Action) error {
	return p.page(ctx, IncidentFor(a, GateDedupKey(a.ID),
		fmt.Sprintf("Gate expired, action blocked: %s waited for approval of %s %s", a.ActorID, a.Type, a.Summary)), 0, PageGateExpired)
}
