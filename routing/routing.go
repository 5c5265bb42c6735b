// Package routing decides, for each action, the intervention path (auto, monitored,
// flagged, gated), the urgency, whom to tell and why. Ordered rules from the config's
// routing section decide first; built-in defaults apply when none matches; then
// modifiers adjust: outside business hours raises urgency, new or failing agents are
// flagged, an actor acting too fast on one resource is flagged and aggregated, incidents
// on the resource raise urgency. Targets are always notification targets — the owners from
// the ownership chain, the rule's targets and watchers — never a single approver.
//
// A decision reads only memory: the ownership snapshot and in-process aggregates.
package routing

import (
	"fmt"
	"slices"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
	"github.com/mandatehq/mandate/ownership"
)

// Snapshots gives the ownership snapshot in force; *ownership.Resolver implements it.
type Snapshots interface {
	Snapshot() *ownership.Snapshot
}

// Options are a Router's signal sources; zero values mean none.
type Options struct {
	Tracker   *Tracker // shared across reloads; a new empty one when nil
	Incidents Incidents
	Patterns  Patterns
	Live      *Live // watches and snoozes set at run time; none when nil
	Now       func() time.Time
}

// Router routes actions with one configuration. Build a new one on reload (sharing the
// Tracker).
type Router struct {
	cfg     *config.Config
	owners  Snapshots
	rules   *ruleSet
	watches []watch
	opt     Options
}

type watch struct {
	person string
	globs  []glob.Glob
}

// New returns a Router for cfg (validated), resolving owners through owners.
func New(cfg *config.Config, owners Snapshots, opt Options) (*Router, error) {
	rules, err := compileRules(cfg)
	if err != nil {
		return nil, err
	}
	if opt.Tracker == nil {
		opt.Tracker = NewTracker()
	}
	if opt.Incidents == nil {
		opt.Incidents = NoIncidents{}
	}
	if opt.Patterns == nil {
		opt.Patterns = NoPatterns{}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	r := &Router{cfg: cfg, owners: owners, rules: rules, opt: opt}
	for _, w := range cfg.Routing.Watches {
		wt := watch{person: w.Person}
		for _, p := range w.Resources {
			g, err := glob.Compile(p)
			if err != nil {
				return nil, err
			}
			wt.globs = append(wt.globs, g)
		}
		r.watches = append(r.watches, wt)
	}
	return r, nil
}

var (
	_ mandate.Router         = (*Router)(nil)
	_ mandate.ResultObserver = (*Router)(nil)
)

// ObserveResult keeps the actor's track record current.
func (r *Router) ObserveResult(actor string, status mandate.ActionStatus, at time.Time) {
	r.opt.Tracker.ObserveResult(actor, status, at)
}

// AutoPause says whether routing.auto_pause asks to pause actor now, and why: it failed
// max times within the window. Off unless configured.
func (r *Router) AutoPause(actor string, now time.Time) (string, bool) {
	ap := r.cfg.Routing.AutoPause
	if ap.Max <= 0 {
		return "", false
	}
	if n := r.opt.Tracker.Failures(actor, now.Add(-ap.Window.Duration)); n >= ap.Max {
		return fmt.Sprintf("auto-paused: %d failed actions in %s (routing.auto_pause)", n, ap.Window.Duration), true
	}
	return "", false
}

// readOnlyTypes are auto_execute by default: they change nothing.
var readOnlyTypes = []string{"read", "list", "get", "search"}

// Route decides for a, acted by actor. It does no I/O.
func (r *Router) Route(a *mandate.Action, actor *mandate.Actor, opt mandate.RouteOptions) mandate.Decision {
	now := opt.At
	if now.IsZero() {
		now = r.opt.Now()
	}
	snap := r.owners.Snapshot()
	owns := make([]mandate.Ownership, len(a.Resources))
	f := facts{action: a, actor: actor, keys: make([]string, len(a.Resources)), sens: -1}
	if actor.Team != "" {
		f.teams = append(f.teams, actor.Team)
	}
	mostSensitive := ""
	for i, res := range a.Resources {
		o := snap.Resolve(res)
		owns[i] = o
		f.keys[i] = o.Resource
		if rank := config.SensitivityRank(o.Sensitivity); rank > f.sens {
			f.sens, mostSensitive = rank, o.Resource
		}
		for _, t := range o.Teams {
			if !slices.Contains(f.teams, t) {
				f.teams = append(f.teams, t)
			}
		}
	}
	if f.sens < 0 {
		f.sens = config.SensitivityRank(config.SensitivityNormal)
	}
	f.inHours, f.hoursZone = r.businessHours(owns, actor, now)

	var d mandate.Decision
	var matched *rule
	notifyOwners := true
	if matched = r.rules.first(&f); matched != nil {
		then := matched.cfg.Then
		d.Path, d.Urgency, d.Rule = mandate.Path(then.Path), mandate.Urgency(then.Urgency), matched.cfg.Name
		d.Reasons = append(d.Reasons, matched.why(&f))
		if then.NotifyOwners != nil {
			notifyOwners = *then.NotifyOwners
		}
	} else {
		r.builtin(&d, &f)
	}
	if f.sens >= config.SensitivityRank(config.SensitivityHigh) {
		d.Reasons = append(d.Reasons, fmt.Sprintf("resource %s is %s", mostSensitive, config.Sensitivities[f.sens]))
	}
	r.modify(&d, &f, now, opt.DryRun)

	// Whom to tell: nobody on auto_execute; otherwise the owners, the rule's targets and
	// the watchers.
	if d.Path != mandate.PathAuto {
		if notifyOwners {
			r.ownerTargets(&d, owns)
		}
		if matched != nil {
			for _, t := range matched.cfg.Then.Targets {
				addTarget(&d, ruleTarget(t, matched.cfg.Name))
			}
		}
		live := r.opt.Live.get()
		for _, w := range slices.Concat(r.watches, live.watches) {
			for _, k := range f.keys {
				if i := slices.IndexFunc(w.globs, func(g glob.Glob) bool { return g.Match(k) }); i >= 0 {
					addTarget(&d, mandate.Target{Kind: mandate.TargetPerson, ID: w.person, Reason: fmt.Sprintf("watches %s", w.globs[i])})
					break
				}
			}
		}
		if sz := live.snoozed(&d, f.keys, now); sz != nil {
			what := "rule " + sz.rule
			if sz.rule == "" {
				what = sz.glob.String()
			}
			d.Targets = nil
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s is snoozed by %s until %s: nobody is told", what, sz.by, sz.until.UTC().Format(time.RFC3339)))
		}
	}
	if d.Path == mandate.PathFlagged {
		deadline := r.cfg.Org.ReviewDeadline.Duration
		if matched != nil && matched.cfg.Then.ReviewDeadline.Duration > 0 {
			deadline = matched.cfg.Then.ReviewDeadline.Duration
		}
		by := now.Add(deadline).UTC()
		d.ReviewBy = &by
		d.Reasons = append(d.Reasons, fmt.Sprintf("in the owners' review queue until %s", by.Format(time.RFC3339)))
	}
	return d
}

// builtin applies the defaults when no rule matches.
func (r *Router) builtin(d *mandate.Decision, f *facts) {
	a := f.action
	switch {
	case slices.Contains(readOnlyTypes, a.Type):
		d.Path, d.Urgency, d.Rule = mandate.PathAuto, mandate.UrgencyInfo, "builtin:read-only"
		d.Reasons = append(d.Reasons, fmt.Sprintf("%s is read-only: recorded, nobody is told", a.Type))
	case a.Reversibility == mandate.Irreversible && f.sens == config.SensitivityRank(config.SensitivityCritical) && isProduction(a.Environment):
		d.Path, d.Urgency, d.Rule = mandate.PathGated, mandate.UrgencyCritical, "builtin:irreversible-critical-production"
		d.Reasons = append(d.Reasons, "irreversible action on a critical resource in production: the agent waits for a human")
	default:
		d.Path, d.Urgency, d.Rule = mandate.PathMonitored, mandate.UrgencyNormal, "builtin:default"
		d.Reasons = append(d.Reasons, "no routing rule applies: monitored_execute (it runs; the owners are told)")
		if f.sens >= config.SensitivityRank(config.SensitivityHigh) {
			d.Urgency = mandate.UrgencyHigh
		}
	}
}

func isProduction(env string) bool { return env == "production" || env == "prod" }

// modify applies the modifiers: time of day, the actor's trust and track record, the rate
// rule, incidents and incident patterns. None of them ever lowers the attention an action
// gets; auto_execute actions are left alone.
func (r *Router) modify(d *mandate.Decision, f *facts, now time.Time, dryRun bool) {
	if d.Path == mandate.PathAuto {
		return
	}
	flag := func(reason string) {
		if d.Path == mandate.PathMonitored {
			d.Path = mandate.PathFlagged
		}
		d.Reasons = append(d.Reasons, reason)
	}
	rc := r.cfg.Routing
	if !f.inHours {
		d.Urgency = d.Urgency.Raise()
		d.Reasons = append(d.Reasons, fmt.Sprintf("outside business hours in %s: urgency raised to %s", f.hoursZone, d.Urgency))
	}
	if f.actor.Type == mandate.ActorAgent { // trust is an agent's; humans and systems are judged by rules
		switch f.actor.Trust {
		case mandate.TrustNew:
			flag(fmt.Sprintf("agent %s is new: flagged for review", f.actor.ID))
		case mandate.TrustRestricted:
			flag(fmt.Sprintf("agent %s is restricted: flagged for review", f.actor.ID))
		}
	}
	if n := r.opt.Tracker.Failures(f.actor.ID, now.Add(-rc.Failures.Window.Duration)); n >= rc.Failures.Max {
		flag(fmt.Sprintf("%s %s had %d failed actions in the last %s: flagged for review", f.actor.Type, f.actor.ID, n, rc.Failures.Window.Duration))
	}
	since := now.Add(-rc.IncidentWindow.Duration)
	for _, k := range f.keys {
		if n := r.opt.Incidents.CausedBy(f.actor.ID, k, since); n > 0 {
			flag(fmt.Sprintf("%s %s caused %d incident(s) on %s in %s", f.actor.Type, f.actor.ID, n, k, rc.IncidentWindow.Duration))
		}
		if n := r.opt.Incidents.OnResource(k, since); n > 0 {
			d.Urgency = d.Urgency.Raise()
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s had %d incident(s) in %s: urgency raised to %s", k, n, rc.IncidentWindow.Duration, d.Urgency))
		}
	}
	for _, k := range f.keys {
		if n := r.opt.Tracker.observe(f.actor.ID, k, now, rc.Rate.Window.Duration, rc.Rate.Max, !dryRun); n > rc.Rate.Max {
			d.Aggregate = "rate:" + f.actor.ID + ":" + k
			flag(fmt.Sprintf("%s made more than %d actions on %s in %s: flagged; notifications are aggregated", f.actor.ID, rc.Rate.Max, k, rc.Rate.Window.Duration))
			break
		}
	}
	raised := false
	for _, hit := range r.opt.Patterns.Match(f.action) {
		name := hit.Incident
		if hit.Number > 0 {
			name = fmt.Sprintf("#%d", hit.Number)
		}
		d.Resembles = append(d.Resembles, hit.Incident)
		reason := fmt.Sprintf("⚠ This looks similar to incident %s (%s)", name, hit.Summary)
		if hit.Link != "" {
			reason += "; postmortem: " + hit.Link
		}
		if hit.Items != "" {
			reason += "; its action items: " + hit.Items
		}
		// Unkept promises raise the urgency once, however many incidents the action resembles.
		if hit.OpenItems && !raised {
			raised = true
			d.Urgency = d.Urgency.Raise()
			reason += fmt.Sprintf(" (not all done: urgency raised to %s)", d.Urgency)
		}
		d.Reasons = append(d.Reasons, reason)
		for _, o := range hit.Overdue {
			d.Reasons = append(d.Reasons, "⚠ you said you'd fix this: "+o)
		}
	}
}

// businessHours reports whether now is in business hours for the action: the org's hours
// in the zone of the first owning team (else the actor's team, else the org).
func (r *Router) businessHours(owns []mandate.Ownership, actor *mandate.Actor, now time.Time) (bool, string) {
	loc := r.cfg.Org.Location
	team := ""
	for _, o := range owns {
		if o.Team != "" {
			team = o.Team
			break
		}
	}
	if team == "" {
		team = actor.Team
	}
	if t, ok := r.cfg.Team(team); ok && t.Location != nil {
		loc = t.Location
	}
	if loc == nil {
		loc = time.UTC
	}
	return r.cfg.Org.BusinessHours.Contains(now, loc), loc.String()
}

// ownerTargets adds the owners of every resource: their teams, their people, people in a
// grace period, and the fallback for what nobody reachable owns.
func (r *Router) ownerTargets(d *mandate.Decision, owns []mandate.Ownership) {
	for _, o := range owns {
		why := "owns " + o.Resource + " (" + o.Layer + ": " + o.Rule + ")"
		for _, t := range o.Teams {
			addTarget(d, mandate.Target{Kind: mandate.TargetTeam, ID: t, Reason: "team " + why})
		}
		for _, p := range o.People {
			addTarget(d, mandate.Target{Kind: mandate.TargetPerson, ID: p, Reason: why})
		}
		for _, g := range o.Grace {
			addTarget(d, mandate.Target{Kind: mandate.TargetPerson, ID: g.Person, Reason: fmt.Sprintf("left team %s on %s; told until %s (grace period)",
				g.Team, g.Left.Format("2006-01-02"), g.Until.Format("2006-01-02"))})
		}
		if len(o.Teams) == 0 && len(o.People) == 0 {
			why := fmt.Sprintf("%s has no reachable owner: told the org fallback", o.Resource)
			if fb := r.cfg.Org.Fallback; fb.Team != "" {
				addTarget(d, mandate.Target{Kind: mandate.TargetTeam, ID: fb.Team, Reason: why})
			} else {
				addTarget(d, mandate.Target{Kind: mandate.TargetPerson, ID: fb.Person, Reason: why})
			}
		}
	}
}

func ruleTarget(t config.Target, rule string) mandate.Target {
	why := "named by rule " + rule
	switch {
	case t.Team != "":
		return mandate.Target{Kind: mandate.TargetTeam, ID: t.Team, Reason: why}
	case t.Person != "":
		return mandate.Target{Kind: mandate.TargetPerson, ID: t.Person, Reason: why}
	case t.Webhook != "":
		return mandate.Target{Kind: mandate.TargetWebhook, ID: t.Webhook, Reason: why}
	}
	return mandate.Target{Kind: mandate.TargetPolicy, ID: t.EscalationPolicy, Reason: why}
}

func addTarget(d *mandate.Decision, t mandate.Target) {
	if !slices.ContainsFunc(d.Targets, func(x mandate.Target) bool { return x.Kind == t.Kind && x.ID == t.ID }) {
		d.Targets = append(d.Targets, t)
	}
}
