package config

import (
	"slices"
	"strings"
)

// Incidents configures incidents. Opening one by hand (Slack, API) needs nothing here;
// AutoOpen lists the opt-in rules that open one by themselves.
type Incidents struct {
	// AutoOpen rules are tried in order against every action result reported; the first
	// that matches opens an incident, once per action.
	AutoOpen []AutoOpen `yaml:"auto_open"`
}

// AutoOpen is an opt-in rule that opens an incident when an action's result matches.
type AutoOpen struct {
	Name     string       `yaml:"name"` // required, unique: the incident says which rule opened it
	When     AutoOpenWhen `yaml:"when"`
	Severity string       `yaml:"severity"` // low, medium, high, critical; required
	// Line is where the rule starts in the file, for messages.
	Line int `yaml:"-"`
}

// AutoOpenWhen is an auto-open rule's conditions; all that are set must hold.
type AutoOpenWhen struct {
	// Result is the reported outcome: failed (the default) or succeeded.
	Result string `yaml:"result"`
	// FailureMode, when set, must equal the result's failure_mode (e.g. data_loss).
	FailureMode string `yaml:"failure_mode"`
	// MinSensitivity: the most sensitive resource the action touched is at least this.
	MinSensitivity string   `yaml:"min_sensitivity"`
	Types          []string `yaml:"types"`        // action type globs: deploy, db_*
	Environments   []string `yaml:"environments"` // exact environment names
	Resources      []string `yaml:"resources"`    // resource key globs; any resource matching is enough
}

// IncidentSeverities are the severities an incident can have, least to most.
var IncidentSeverities = []string{"low", "medium", "high", "critical"}

func (v *validator) checkIncidents() {
	rules := v.cfg.Incidents.AutoOpen
	names := map[string]int{}
	for i := range rules {
		r := &rules[i]
		p := indexPath("incidents.auto_open", i)
		r.Line = v.lineOf(p)
		switch {
		case strings.TrimSpace(r.Name) == "":
			v.required(p + ".name")
		default:
			if first, dup := names[r.Name]; dup {
				v.pathf(p+".name", "duplicate rule name %q (first at line %d)", r.Name, rules[first].Line)
			} else {
				names[r.Name] = i
			}
		}
		switch {
		case r.Severity == "":
			v.pathf(p+".severity", "required: one of %s", strings.Join(IncidentSeverities, ", "))
		case !slices.Contains(IncidentSeverities, r.Severity):
			v.pathf(p+".severity", "must be one of %s, not %q", strings.Join(IncidentSeverities, ", "), r.Severity)
		}
		w := &r.When
		switch w.Result {
		case "":
			w.Result = "failed"
		case "failed", "succeeded":
		default:
			v.pathf(p+".when.result", "must be failed or succeeded, not %q", w.Result)
		}
		if w.FailureMode != "" && w.Result != "failed" {
			v.pathf(p+".when.failure_mode", "applies only to result failed")
		}
		if w.MinSensitivity != "" && !slices.Contains(Sensitivities, w.MinSensitivity) {
			v.pathf(p+".when.min_sensitivity", "must be one of %s, not %q", strings.Join(Sensitivities, ", "), w.MinSensitivity)
		}
		v.globs(p+".when.types", w.Types)
		v.globs(p+".when.resources", w.Resources)
		for j, res := range w.Resources {
			if !strings.Contains(res, ":") {
				v.pathf(indexPath(p+".when.resources", j), "%q is not a resource key pattern; write kind:name such as \"table:billing.*\"", res)
			}
		}
	}
}
