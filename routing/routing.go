// Package routing decides, for each action, the intervention path, the urgency and whom to
// tell, with the reasons. This version knows one path: every action is monitored_execute
// (it runs; its owners are told). Whom to tell comes from the ownership chain: the owners
// of every resource, their teams, people in a grace period after leaving an owning team,
// and the org fallback for what nobody owns.
package routing

import (
	"fmt"
	"slices"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
)

// Snapshots gives the ownership snapshot in force; *ownership.Resolver implements it.
type Snapshots interface {
	Snapshot() *ownership.Snapshot
}

// Router routes actions from one configuration. Build a new one on reload.
type Router struct {
	cfg   *config.Config
	owner Snapshots
}

// New returns a Router for cfg (validated), resolving owners through owners.
func New(cfg *config.Config, owners Snapshots) *Router { return &Router{cfg: cfg, owner: owners} }

var _ mandate.Router = (*Router)(nil)

// Route returns the decision for a. It does no I/O.
func (r *Router) Route(a *mandate.Action, actor *mandate.Actor) mandate.Decision {
	d := mandate.Decision{
		Path:    mandate.PathMonitored,
		Urgency: mandate.UrgencyNormal,
		Rule:    "default",
		Reasons: []string{"no routing rule applies: the default path is monitored_execute (run, and tell the owners)"},
	}
	add := func(kind mandate.TargetKind, id, reason string) {
		if !slices.ContainsFunc(d.Targets, func(x mandate.Target) bool { return x.Kind == kind && x.ID == id }) {
			d.Targets = append(d.Targets, mandate.Target{Kind: kind, ID: id, Reason: reason})
		}
	}
	snap := r.owner.Snapshot()
	for _, res := range a.Resources {
		o := snap.Resolve(res)
		why := fmt.Sprintf("owns %s (%s: %s)", o.Resource, o.Layer, o.Rule)
		for _, t := range o.Teams {
			add(mandate.TargetTeam, t, "team "+why)
		}
		for _, p := range o.People {
			add(mandate.TargetPerson, p, why)
		}
		for _, g := range o.Grace {
			add(mandate.TargetPerson, g.Person, fmt.Sprintf("left team %s on %s; told until %s (grace period)",
				g.Team, g.Left.Format("2006-01-02"), g.Until.Format("2006-01-02")))
		}
		if len(o.Teams) == 0 && len(o.People) == 0 {
			why := fmt.Sprintf("%s has no reachable owner: told the org fallback", o.Resource)
			if fb := r.cfg.Org.Fallback; fb.Team != "" {
				add(mandate.TargetTeam, fb.Team, why)
			} else {
				add(mandate.TargetPerson, fb.Person, why)
			}
		}
	}
	return d
}
