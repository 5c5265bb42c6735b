// Package escalation makes sure a notification that needs an answer gets one: while
// nobody intervenes, the steps of its policy tell more people (secondary owners, the team
// lead, whoever is on call, the admins, the team channel, PagerDuty). Every step is a
// durable job in Postgres, taken exactly once across replicas and restarts; the first
// human intervention on the action stops the chain; a chain nobody answers is recorded as
// "no response".
package escalation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
)

// AnsweredMessage is logged when a chain stops because someone answered.
const AnsweredMessage = "escalation stopped: someone answered"

// Store keeps escalation chains; *postgres.EscalationStore implements it.
type Store interface {
	Start(ctx context.Context, notificationID int64, actionID, policy string, started, first time.Time) (bool, error)
	Get(ctx context.Context, notificationID int64) (*postgres.Escalation, error)
	// TakeNext claims step (false when it was taken already) and, in the same
	// transaction, schedules the next at next.
	TakeNext(ctx context.Context, notificationID int64, step int, notify string, told []string, next time.Time) (bool, error)
	// End closes a running escalation (false when it was closed already).
	End(ctx context.Context, notificationID int64, state string, at time.Time) (bool, error)
}

// Notifications reads notifications; *postgres.DeliveryStore implements it.
type Notifications interface {
	Get(ctx context.Context, id int64) (*mandate.Notification, error)
}

// Messenger tells people; *notify.Slack implements it.
type Messenger interface {
	DM(ctx context.Context, person, text string) error
	TeamChannel(ctx context.Context, team, text string) error
	Thread(ctx context.Context, n *mandate.Notification, text string) error
}

// Escalator starts and runs escalation chains.
type Escalator struct {
	Store         Store
	Notifications Notifications
	Messenger     Messenger
	Config        func() *config.Config
	Owners        *ownership.Resolver
	// PagerDuty, when set, is the "pagerduty" step: it triggers an incident.
	PagerDuty func(ctx context.Context, n *mandate.Notification) error
	Now       func() time.Time
	Log       *slog.Logger
	// Stepped and NoResponse, when set, count steps taken and chains nobody answered.
	Stepped    func(notify string)
	NoResponse func()
}

// owningTeam is the team a notification's action belongs to: its first targeted team,
// else the actor's.
func owningTeam(cfg *config.Config, a *mandate.Action) string {
	for _, t := range a.Decision.Targets {
		if t.Kind == mandate.TargetTeam {
			return t.ID
		}
	}
	if ag, ok := cfg.Agent(a.ActorID); ok {
		return ag.Team
	}
	return ""
}

// Begin starts the escalation of n's action if its urgency has a policy. An action
// escalates once, from its first delivered notification.
func (e *Escalator) Begin(ctx context.Context, n *mandate.Notification) {
	cfg := e.Config()
	a := n.Action
	if a.Decision.Path == mandate.PathAuto {
		return
	}
	// The chain lives in the thread of the team channel's message when there is one
	// (everyone sees it); only actions told to people alone escalate from a DM.
	if n.TargetKind != mandate.TargetTeam && slices.ContainsFunc(a.Decision.Targets, func(t mandate.Target) bool { return t.Kind == mandate.TargetTeam }) {
		return
	}
	policy, ok := PolicyOf(cfg, a)
	if !ok || len(policy.Steps) == 0 {
		return
	}
	started := e.Now()
	if n.Delivered != nil {
		started = *n.Delivered
	}
	if _, err := e.Store.Start(ctx, n.ID, a.ID, policy.Name, started, started.Add(policy.Steps[0].After.Duration)); err != nil {
		e.Log.Error("cannot start escalation", "notification", n.ID, "err", err)
	}
}

func (e *Escalator) policy(name string) (config.Policy, bool) {
	if name == config.DefaultPolicyName {
		return config.DefaultPolicy, true
	}
	cfg := e.Config()
	i := slices.IndexFunc(cfg.Escalation.Policies, func(p config.Policy) bool { return p.Name == name })
	if i < 0 {
		return config.Policy{}, false
	}
	return cfg.Escalation.Policies[i], true
}

// Run takes the next step of notification id's escalation: the queue's job handler.
//
// Every step has one job, scheduled in the transaction that claims the step before it
// (Start schedules step 0's); a step is claimed once, then told. A replica that dies
// after a claim leaves the chain going. Its job, rerun once River rescues it (as any job
// rerun after an error), may find the chain at a later step than its own and not yet
// due: it waits until it is, then races that step's own job, and the claim lets one of
// them tell it. A replica that dies between claiming a step and telling it loses that
// step's messages: a step is told at most once.
func (e *Escalator) Run(ctx context.Context, id int64, attempt int) error {
	esc, err := e.Store.Get(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if esc.State != "running" {
		return nil
	}
	now := e.Now()
	if esc.Responded {
		ended, err := e.Store.End(ctx, id, "answered", now)
		if ended {
			e.Log.Info(AnsweredMessage, "notification", id, "action", esc.ActionID, "after_steps", esc.Step)
		}
		return err
	}
	n, err := e.Notifications.Get(ctx, id)
	if err != nil {
		return err
	}
	policy, ok := e.policy(esc.Policy)
	if !ok {
		e.Log.Warn("escalation policy no longer configured; stopping", "policy", esc.Policy, "notification", id)
		_, err := e.Store.End(ctx, id, "exhausted", now)
		return err
	}
	// Step 0's only job is Start's, which River runs no earlier than it is due.
	if due := dueAt(policy, esc.StartedAt, esc.Step); esc.Step > 0 && now.Before(due) {
		return postgres.RetryAfter{D: due.Sub(now)}
	}
	steps := len(policy.Steps)
	total := steps * (policy.Repeat + 1)
	if esc.Step >= total {
		ended, err := e.Store.End(ctx, id, "exhausted", now)
		if err != nil || !ended {
			return err
		}
		if e.NoResponse != nil {
			e.NoResponse()
		}
		e.Log.Warn("nobody answered a notification: escalation exhausted", "notification", id, "action", esc.ActionID)
		e.Messenger.Thread(ctx, n, fmt.Sprintf("❗ No response after %s: every step of escalation policy %s was tried.", since(now, esc.StartedAt), policy.Name))
		return nil
	}
	step := policy.Steps[esc.Step%steps]
	told, why := e.targets(step.Notify, n, now)
	taken, err := e.Store.TakeNext(ctx, id, esc.Step, step.Notify, told, latest(dueAt(policy, esc.StartedAt, esc.Step+1), now))
	if err != nil || !taken {
		return err
	}
	if e.Stepped != nil {
		e.Stepped(step.Notify)
	}
	e.tell(ctx, n, step.Notify, told, why, now.Sub(esc.StartedAt))
	return nil
}

// dueAt is when step k of policy p is due in a chain started at started; past the last
// step, when to declare that nobody answered (one more interval).
func dueAt(p config.Policy, started time.Time, k int) time.Time {
	steps := len(p.Steps)
	last := p.Steps[steps-1].After.Duration
	gap := last
	if steps > 1 {
		gap = last - p.Steps[steps-2].After.Duration
	}
	if gap <= 0 {
		gap = time.Minute
	}
	cycle := last + gap
	if k >= steps*(p.Repeat+1) {
		return started.Add(time.Duration(p.Repeat)*cycle + last + gap)
	}
	return started.Add(time.Duration(k/steps)*cycle + p.Steps[k%steps].After.Duration)
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// targets resolves a step's notify to people (config ids), a team, or "pagerduty", at
// now; why, when not empty, explains the choice in the thread.
func (e *Escalator) targets(notify string, n *mandate.Notification, now time.Time) (told []string, why string) {
	cfg := e.Config()
	a := n.Action
	team := owningTeam(cfg, a)
	var primary []string
	for _, t := range a.Decision.Targets {
		if t.Kind == mandate.TargetPerson {
			primary = append(primary, t.ID)
		}
	}
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	switch notify {
	case "primary":
		for _, p := range primary {
			add(p)
		}
	case "secondary":
		if t, ok := cfg.Team(team); ok {
			for _, m := range t.Members {
				if !slices.Contains(primary, m) {
					add(m)
				}
			}
		}
	case "team_lead":
		if t, ok := cfg.Team(team); ok {
			add(t.Lead)
		}
	case "oncall":
		// Follow-the-sun: someone in business hours, else the primary on-call.
		people, reason := e.onCall(cfg, a, now)
		for _, p := range people {
			add(p)
		}
		why = reason
	case "admin":
		for _, p := range cfg.Org.Admins {
			add(p)
		}
	case "team_channel":
		add(team)
	case "pagerduty":
		add("pagerduty")
	}
	return out, why
}

// tell delivers one step and says so in the notification's thread.
func (e *Escalator) tell(ctx context.Context, n *mandate.Notification, notify string, told []string, why string, waited time.Duration) {
	a := n.Action
	cfg := e.Config()
	text := fmt.Sprintf("⏫ Escalated to you: %s %s %s — no response in %s.", a.ActorID, a.Type, a.Summary, round(waited))
	var names []string
	switch {
	case len(told) == 0:
		e.Messenger.Thread(ctx, n, fmt.Sprintf("⏫ No response in %s — escalation step %s found nobody to tell.", round(waited), notify))
		return
	case notify == "pagerduty":
		if e.PagerDuty == nil {
			e.Messenger.Thread(ctx, n, fmt.Sprintf("⏫ No response in %s — PagerDuty is not configured.", round(waited)))
			return
		}
		if err := e.PagerDuty(ctx, n); err != nil {
			e.Log.Error("escalation to PagerDuty failed", "notification", n.ID, "err", err)
		}
		names = []string{"PagerDuty"}
	case notify == "team_channel":
		if err := e.Messenger.TeamChannel(ctx, told[0], text); err != nil {
			e.Log.Error("escalation to the team channel failed", "team", told[0], "err", err)
		}
		names = []string{"the " + told[0] + " channel"}
	default:
		for _, p := range told {
			if err := e.Messenger.DM(ctx, p, text); err != nil {
				e.Log.Error("escalation DM failed", "person", p, "err", err)
			}
			if person, ok := cfg.Person(p); ok && person.Slack != "" {
				names = append(names, "<@"+person.Slack+">")
			} else {
				names = append(names, p)
			}
		}
	}
	msg := fmt.Sprintf("⏫ No response in %s — escalated to %s (%s).", round(waited), strings.Join(names, ", "), notify)
	if why != "" {
		msg += " " + why
	}
	e.Messenger.Thread(ctx, n, msg)
}

func since(now, start time.Time) string { return round(now.Sub(start)) }

func round(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return d.Round(time.Minute).String()
}
