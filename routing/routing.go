// Package routing decides, for each action, the intervention path, the urgency and whom to
// tell, with the reasons. This first version knows one path: every action is
// monitored_execute (it runs; its owners are told). Owners come from the services declared
// in config, else the org's fallback; the ownership chain and routing rules build on it.
package routing

import (
	"fmt"
	"path"
	"slices"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
)

// Router routes actions from one immutable configuration. Build a new one on reload.
type Router struct {
	cfg *config.Config
}

// New returns a Router for cfg, which must be validated (config.Load does that).
func New(cfg *config.Config) *Router { return &Router{cfg: cfg} }

var _ mandate.Router = (*Router)(nil)

// Route returns the decision for a. It does no I/O.
func (r *Router) Route(a *mandate.Action, actor *mandate.Actor) mandate.Decision {
	d := mandate.Decision{
		Path:    mandate.PathMonitored,
		Urgency: mandate.UrgencyNormal,
		Rule:    "default",
		Reasons: []string{"no routing rule applies: the default path is monitored_execute (run, and tell the owners)"},
	}
	add := func(t mandate.Target) {
		if !slices.ContainsFunc(d.Targets, func(x mandate.Target) bool { return x.Kind == t.Kind && x.ID == t.ID }) {
			d.Targets = append(d.Targets, t)
		}
	}
	for _, res := range a.Resources {
		owned := false
		for i := range r.cfg.Services {
			svc := &r.cfg.Services[i]
			if !matches(svc, res) {
				continue
			}
			owned = true
			reason := fmt.Sprintf("%s matches service %s", res.Key(), svc.Name)
			if svc.Team != "" {
				add(mandate.Target{Kind: mandate.TargetTeam, ID: svc.Team, Reason: reason})
			}
			for _, p := range svc.Owners {
				add(mandate.Target{Kind: mandate.TargetPerson, ID: p, Reason: reason})
			}
		}
		if !owned {
			fb := r.cfg.Org.Fallback
			reason := fmt.Sprintf("%s has no owner in config: told the fallback", res.Key())
			if fb.Team != "" {
				add(mandate.Target{Kind: mandate.TargetTeam, ID: fb.Team, Reason: reason})
			} else if fb.Person != "" {
				add(mandate.Target{Kind: mandate.TargetPerson, ID: fb.Person, Reason: reason})
			}
		}
	}
	return d
}

// matches reports whether a service declared in config covers resource res: same kind,
// and the name (for files, repo:path) matches one of its globs.
func matches(svc *config.Service, res mandate.Resource) bool {
	if svc.Kind != res.Kind {
		return false
	}
	name := res.Name
	if res.Kind == "file" {
		name = res.Repo + ":" + res.Path
	}
	if name == svc.Name {
		return true
	}
	for _, pattern := range svc.Match {
		if ok, _ := path.Match(pattern, name); ok {
			return true
		}
	}
	return false
}
