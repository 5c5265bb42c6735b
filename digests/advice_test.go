package digests

import (
	"testing"

	"github.com/mandatehq/mandate/config"
)

// TestRuleAdvice: the advice for a noisy rule follows what the rule is now.
func TestRuleAdvice(t *testing.T) {
	cfg, err := config.Parse("mandate.yaml", []byte(`
org: {fallback: {team: t}}
teams: [{id: t}]
routing:
  rules:
    - {name: gated, when: {types: [db_*], min_sensitivity: high}, then: {path: gated_execute}}
    - {name: loud, when: {types: [deploy]}, then: {path: monitored_execute, urgency: high}}
    - {name: quiet, when: {types: [read], min_sensitivity: critical}, then: {path: monitored_execute, urgency: info}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for rule, want := range map[string]string{
		"gated":           "Consider raising its when.min_sensitivity (now high) or making it monitored_execute (now gated_execute).",
		"loud":            "Consider raising its when.min_sensitivity (now any) or lowering its urgency (now high).",
		"quiet":           "Consider narrowing its when conditions.",
		"builtin:default": "It is a built-in rule: add a rule before it in routing.rules for what it catches that nobody needs to see.",
		"gone":            "It is no longer in mandate.yaml; if it was renamed, review the rule that replaced it.",
	} {
		if got := ruleAdvice(cfg, rule); got != want {
			t.Errorf("%s:\n got %s\nwant %s", rule, got, want)
		}
	}
}
