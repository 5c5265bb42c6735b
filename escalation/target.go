package escalation

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
)

// PolicyOf is the escalation policy of an action: the one a routing rule named with an
// escalation_policy target (config validation makes sure it exists), else the one its
// team, or the org, picks for its urgency.
func PolicyOf(cfg *config.Config, a *mandate.Action) (config.Policy, bool) {
	for _, t := range a.Decision.Targets {
		if t.Kind == mandate.TargetPolicy {
			if p, ok := cfg.Policy(t.ID); ok {
				return p, true
			}
		}
	}
	return cfg.PolicyFor(owningTeam(cfg, a), string(a.Decision.Urgency))
}

// TargetStartedMessage is logged when an escalation_policy target's chain is running.
const TargetStartedMessage = "escalation policy target started"

// TargetStore is what starting an escalation_policy target reads and records;
// *postgres.DeliveryStore implements it.
type TargetStore interface {
	Get(ctx context.Context, id int64) (*mandate.Notification, error)
	// SlackWaiting reports whether the action still has people or teams to be told
	// in Slack.
	SlackWaiting(ctx context.Context, actionID string) (bool, error)
	// EscalationOf returns the notification the action's chain runs from, if any.
	EscalationOf(ctx context.Context, actionID string) (id int64, policy string, found bool, err error)
	DeliveredBy(ctx context.Context, id int64, channel, detail string) error
	FailedBy(ctx context.Context, id int64, channel, why string) error
}

// Targets starts the escalation policies routing rules name (escalation_policy targets):
// the postgres.JobEscalationTarget handler. An action escalates once, so the policy
// target overrides the one its urgency would pick (PolicyOf, in Begin). The chain runs in
// the thread of the action's Slack message when it has one, so everyone sees each step;
// an action told nobody in Slack (a rule with notify_owners: false), or whose Slack
// message never came, escalates from the target itself, by DMs and the steps' other
// channels.
type Targets struct {
	Escalator *Escalator
	Store     TargetStore
	// Wait bounds how long a target waits for the action's Slack message to start the
	// chain in its thread; default 2 min. Slack's own fallback takes over after 5.
	Wait time.Duration
	// Poll is how often it looks again meanwhile; default 5 s.
	Poll time.Duration
}

// Run starts (or finds started) the escalation of notification id's action by the policy
// it names.
func (t *Targets) Run(ctx context.Context, id int64, attempt int) error {
	e := t.Escalator
	n, err := t.Store.Get(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if n.State != "queued" && n.State != "pending" {
		return nil
	}
	a := n.Action
	policy, ok := e.Config().Policy(n.TargetID)
	if !ok || len(policy.Steps) == 0 {
		// The config named it when the action was routed; a reload has removed it since.
		why := fmt.Sprintf("escalation policy %q is not configured (any more)", n.TargetID)
		if err := t.Store.FailedBy(ctx, id, postgres.ChannelEscalation, why); err != nil {
			return err
		}
		e.Log.Error("escalation policy target not started", "notification", id, "action", a.ID, "why", why)
		return postgres.Permanent{Err: fmt.Errorf("%s", why)}
	}
	from, running, found, err := t.Store.EscalationOf(ctx, a.ID)
	if err != nil {
		return err
	}
	if found {
		if err := t.Store.DeliveredBy(ctx, id, postgres.ChannelEscalation, fmt.Sprintf("policy %s runs from notification %d", running, from)); err != nil {
			return err
		}
		e.Log.Info(TargetStartedMessage, "notification", id, "action", a.ID, "policy", running, "from", from)
		return nil
	}
	now := e.Now()
	if waiting, err := t.Store.SlackWaiting(ctx, a.ID); err != nil {
		return err
	} else if waiting && now.Sub(n.Created) < cmp.Or(t.Wait, 2*time.Minute) {
		// Begin starts the chain in the Slack message's thread once it is posted.
		return postgres.RetryAfter{D: cmp.Or(t.Poll, 5*time.Second)}
	}
	started, err := e.Store.Start(ctx, n.ID, a.ID, policy.Name, now, now.Add(policy.Steps[0].After.Duration))
	if err != nil {
		return err
	}
	if !started {
		// Begin got there first, from a Slack message posted just now: the next run
		// finds its chain.
		return postgres.RetryAfter{D: time.Millisecond}
	}
	if err := t.Store.DeliveredBy(ctx, id, postgres.ChannelEscalation, "policy "+policy.Name+" started"); err != nil {
		return err
	}
	e.Log.Info(TargetStartedMessage, "notification", id, "action", a.ID, "policy", policy.Name, "from", id)
	return nil
}
