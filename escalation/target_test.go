package escalation_test

import (
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/escalation"
)

// TestPolicyOf: a routing rule's escalation_policy target overrides the policy the
// action's urgency would pick, including none.
func TestPolicyOf(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`org: {fallback: {team: pay}}
people: [{id: a}]
teams: [{id: pay, members: [a], escalation: {high: slow}}]
escalation:
  policies:
    - {name: slow, steps: [{notify: team_lead, after: 30m}]}
    - {name: fast, steps: [{notify: team_lead, after: 1m}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	action := func(u mandate.Urgency, targets ...mandate.Target) *mandate.Action {
		return &mandate.Action{ActorID: "bot", Decision: mandate.Decision{Urgency: u,
			Targets: append([]mandate.Target{{Kind: mandate.TargetTeam, ID: "pay"}}, targets...)}}
	}
	fast := mandate.Target{Kind: mandate.TargetPolicy, ID: "fast"}
	for _, c := range []struct {
		name string
		a    *mandate.Action
		want string // "" for none
	}{
		{"TeamPicksByUrgency", action(mandate.UrgencyHigh), "slow"},
		{"NothingForNormal", action(mandate.UrgencyNormal), ""},
		{"BuiltinForCritical", action(mandate.UrgencyCritical), config.DefaultPolicyName},
		{"TargetOverridesTheTeam", action(mandate.UrgencyHigh, fast), "fast"},
		{"TargetWhereUrgencyHasNone", action(mandate.UrgencyNormal, fast), "fast"},
		{"UnknownTargetFallsBack", action(mandate.UrgencyHigh, mandate.Target{Kind: mandate.TargetPolicy, ID: "gone"}), "slow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			if p, ok := escalation.PolicyOf(cfg, c.a); ok {
				got = p.Name
			}
			if got != c.want {
				t.Errorf("policy %q, want %q", got, c.want)
			}
		})
	}
}
