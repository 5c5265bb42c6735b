package routing

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
)

// rule is a config rule compiled for matching.
type rule struct {
	index     int
	cfg       *config.Rule
	types     []glob.Glob
	resources []glob.Glob
	minSens   int // -1: any
}

// ruleSet finds the first matching rule without trying all of them: rules whose types are
// all literal are indexed by type; the rest are tried in order.
type ruleSet struct {
	rules  []*rule
	byType map[string][]int // literal type -> rule indexes, ascending
	other  []int            // rules with no type condition or a type glob, ascending
}

func compileRules(cfg *config.Config) (*ruleSet, error) {
	rs := &ruleSet{byType: map[string][]int{}}
	for i := range cfg.Routing.Rules {
		cr := &cfg.Routing.Rules[i]
		r := &rule{index: i, cfg: cr, minSens: -1}
		if cr.When.MinSensitivity != "" {
			r.minSens = config.SensitivityRank(cr.When.MinSensitivity)
		}
		allLiteral := len(cr.When.Types) > 0
		for _, p := range cr.When.Types {
			g, err := glob.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("routing.rules[%d].when.types: %w", i, err)
			}
			if _, ok := g.Literal(); !ok {
				allLiteral = false
			}
			r.types = append(r.types, g)
		}
		for _, p := range cr.When.Resources {
			g, err := glob.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("routing.rules[%d].when.resources: %w", i, err)
			}
			r.resources = append(r.resources, g)
		}
		rs.rules = append(rs.rules, r)
		if allLiteral {
			for _, t := range cr.When.Types {
				rs.byType[t] = append(rs.byType[t], i)
			}
		} else {
			rs.other = append(rs.other, i)
		}
	}
	return rs, nil
}

// facts are what rules are matched against, computed once per action.
type facts struct {
	action    *mandate.Action
	actor     *mandate.Actor
	keys      []string // resource keys
	sens      int      // rank of the most sensitive resource
	teams     []string // the actor's team and every owning team
	inHours   bool
	hoursZone string
}

// first returns the first rule matching f, or nil.
func (rs *ruleSet) first(f *facts) *rule {
	typed := rs.byType[f.action.Type]
	i, j := 0, 0
	for i < len(typed) || j < len(rs.other) {
		var next int
		if j >= len(rs.other) || i < len(typed) && typed[i] < rs.other[j] {
			next, i = typed[i], i+1
		} else {
			next, j = rs.other[j], j+1
		}
		if r := rs.rules[next]; r.matches(f) {
			return r
		}
	}
	return nil
}

func (r *rule) matches(f *facts) bool {
	w := &r.cfg.When
	a := f.action
	if len(r.types) > 0 && !slices.ContainsFunc(r.types, func(g glob.Glob) bool { return g.Match(a.Type) }) {
		return false
	}
	if len(w.Environments) > 0 && !slices.Contains(w.Environments, a.Environment) {
		return false
	}
	if len(r.resources) > 0 && !slices.ContainsFunc(f.keys, func(k string) bool {
		return slices.ContainsFunc(r.resources, func(g glob.Glob) bool { return g.Match(k) })
	}) {
		return false
	}
	if len(w.Kinds) > 0 && !slices.ContainsFunc(a.Resources, func(res mandate.Resource) bool { return slices.Contains(w.Kinds, res.Kind) }) {
		return false
	}
	if r.minSens >= 0 && f.sens < r.minSens {
		return false
	}
	if len(w.Reversibility) > 0 && !slices.Contains(w.Reversibility, string(a.Reversibility)) {
		return false
	}
	if len(w.Trust) > 0 && !slices.Contains(w.Trust, string(f.actor.Trust)) {
		return false
	}
	if len(w.Teams) > 0 && !slices.ContainsFunc(f.teams, func(t string) bool { return slices.Contains(w.Teams, t) }) {
		return false
	}
	switch w.Hours {
	case "business":
		return f.inHours
	case "outside":
		return !f.inHours
	}
	return true
}

// why describes which conditions of the rule held, for the reasons.
func (r *rule) why(f *facts) string {
	w := &r.cfg.When
	var parts []string
	if len(w.Types) > 0 {
		parts = append(parts, "type "+f.action.Type)
	}
	if len(w.Environments) > 0 {
		parts = append(parts, "environment "+f.action.Environment)
	}
	if len(w.Resources) > 0 || len(w.Kinds) > 0 {
		parts = append(parts, "resources "+strings.Join(f.keys, ", "))
	}
	if w.MinSensitivity != "" {
		parts = append(parts, "sensitivity "+config.Sensitivities[f.sens]+" ≥ "+w.MinSensitivity)
	}
	if len(w.Reversibility) > 0 {
		parts = append(parts, string(f.action.Reversibility))
	}
	if len(w.Trust) > 0 {
		parts = append(parts, "actor trust "+string(f.actor.Trust))
	}
	if len(w.Teams) > 0 {
		parts = append(parts, "team "+strings.Join(f.teams, "/"))
	}
	if w.Hours != "" {
		parts = append(parts, w.Hours+" business hours in "+f.hoursZone)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("rule %s matches every action", r.cfg.Name)
	}
	return fmt.Sprintf("rule %s matched: %s", r.cfg.Name, strings.Join(parts, "; "))
}
