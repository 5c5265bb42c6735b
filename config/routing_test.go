package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/config"
)

const routingBase = `org: {fallback: {team: pay}}
people: [{id: a}]
teams: [{id: pay, members: [a]}]
routing:
  rules:
`

func TestRoutingSection(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(routingBase+`    - name: prod-writes
      when: {types: ["db_*"], environments: [production], min_sensitivity: high, hours: outside}
      then: {path: flagged_execute, urgency: high, review_deadline: 2h, targets: [{team: pay}, {webhook: "https://hooks.acme.test/x"}]}
    - name: reads
      when: {types: [read]}
      then: {path: auto_execute}
  watches:
    - {person: a, resources: ["service:payments-*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routing
	if len(r.Rules) != 2 || r.Rules[0].Line != 6 || r.Rules[1].Then.Urgency != "normal" || r.Rate.Max != config.DefaultRateMax ||
		r.Failures.Window.Duration != config.DefaultFailuresWindow || len(r.Watches) != 1 {
		t.Errorf("routing %+v", r)
	}
}

func TestRoutingErrors(t *testing.T) {
	cases := []struct {
		name, rules string
		want        []string // "LINE: substring"; rules start at line 6
	}{
		{"PathRequired", "    - {name: x, when: {}, then: {}}\n", []string{"6: required: one of auto_execute"}},
		{"BadPath", "    - {name: x, then: {path: approve}}\n", []string{`6: not "approve"`}},
		{"BadUrgency", "    - {name: x, then: {path: auto_execute, urgency: urgent}}\n", []string{`6: not "urgent"`}},
		{"NameRequired", "    - {then: {path: auto_execute}}\n", []string{"6: routing.rules[0].name: required"}},
		{"DuplicateName", "    - {name: x, when: {types: [a]}, then: {path: auto_execute}}\n    - {name: x, when: {types: [b]}, then: {path: auto_execute}}\n", []string{"7: duplicate rule name"}},
		{"UnknownTeam", "    - {name: x, when: {teams: [ghost]}, then: {path: auto_execute}}\n", []string{`6: unknown team "ghost"`}},
		{"BadHours", "    - {name: x, when: {hours: night}, then: {path: auto_execute}}\n", []string{"6: must be business or outside"}},
		{"BadSensitivity", "    - {name: x, when: {min_sensitivity: extreme}, then: {path: auto_execute}}\n", []string{"6: must be one of low"}},
		{"ResourceNotAKey", "    - {name: x, when: {resources: [payments-api]}, then: {path: auto_execute}}\n", []string{"6: not a resource key pattern"}},
		{"TwoTargetKinds", "    - {name: x, then: {path: auto_execute, targets: [{team: pay, person: a}]}}\n", []string{"6: set exactly one of"}},
		{"WebhookNotHTTP", "    - {name: x, then: {path: auto_execute, targets: [{webhook: \"ftp://hooks.acme.test/x\"}]}}\n", []string{"6: routing.rules[0].then.targets[0].webhook: \"ftp://hooks.acme.test/x\" must be an absolute http:// or https:// URL"}},
		{"WebhookWithoutHost", "    - {name: x, then: {path: auto_execute, targets: [{webhook: \"https:///x\"}]}}\n", []string{"6: must be an absolute http"}},
		{"UnknownEscalationPolicy", "    - {name: x, then: {path: auto_execute, targets: [{escalation_policy: PPAY}]}}\n",
			[]string{`6: routing.rules[0].then.targets[0].escalation_policy: unknown escalation policy "PPAY"`}},
		{"DeadlineNotFlagged", "    - {name: x, then: {path: auto_execute, review_deadline: 1h}}\n", []string{"6: applies only to path flagged_execute"}},
		{"Shadowed", "    - {name: all-deploys, when: {types: [deploy]}, then: {path: monitored_execute}}\n    - {name: prod-deploys, when: {types: [deploy], environments: [production]}, then: {path: flagged_execute}}\n",
			[]string{`7: rule "prod-deploys" can never match: rule "all-deploys" (line 6)`}},
		{"ShadowedByCatchAll", "    - {name: everything, then: {path: monitored_execute}}\n    - {name: reads, when: {types: [read]}, then: {path: auto_execute}}\n",
			[]string{`7: rule "reads" can never match`}},
		{"ShadowedBySensitivity", "    - {name: high, when: {min_sensitivity: high}, then: {path: flagged_execute}}\n    - {name: crit, when: {min_sensitivity: critical, types: [deploy]}, then: {path: gated_execute}}\n",
			[]string{`7: rule "crit" can never match`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("test.yaml", []byte(routingBase+c.rules))
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) != len(c.want) {
				t.Fatalf("errors %v, want %d", err, len(c.want))
			}
			for i, w := range c.want {
				line, sub, _ := strings.Cut(w, ": ")
				if got := errs[i].Error(); !strings.HasPrefix(got, "test.yaml:"+line+": ") || !strings.Contains(got, sub) {
					t.Errorf("error %q, want line %s containing %q", got, line, sub)
				}
			}
		})
	}
	t.Run("NarrowerFirstIsFine", func(t *testing.T) {
		_, err := config.Parse("test.yaml", []byte(routingBase+
			"    - {name: prod, when: {types: [deploy], environments: [production]}, then: {path: flagged_execute}}\n"+
			"    - {name: all, when: {types: [deploy]}, then: {path: monitored_execute}}\n"+
			"    - {name: globbed, when: {types: [\"db_*\"]}, then: {path: monitored_execute}}\n"+
			"    - {name: literal-after-other-glob, when: {types: [deploy_canary]}, then: {path: monitored_execute}}\n"))
		if err != nil {
			t.Errorf("a narrower rule before a broader one is not shadowed: %v", err)
		}
	})
}

// TestRoutingEscalationPolicyTarget: a rule may name an escalation policy, configured or
// built in, and its actions escalate by it.
func TestRoutingEscalationPolicyTarget(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(routingBase+`    - name: charges
      when: {types: ["payment_*"]}
      then: {path: gated_execute, targets: [{escalation_policy: fast}, {escalation_policy: builtin:critical}]}
escalation:
  policies:
    - {name: fast, steps: [{notify: team_lead, after: 1m}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := cfg.Policy("fast"); !ok || len(p.Steps) != 1 || p.Steps[0].Notify != "team_lead" {
		t.Errorf("Policy(fast) = %+v, %v", p, ok)
	}
	if p, ok := cfg.Policy(config.DefaultPolicyName); !ok || p.Name != config.DefaultPolicyName {
		t.Errorf("Policy(builtin) = %+v, %v", p, ok)
	}
	for _, name := range []string{"", "none", "ghost"} {
		if _, ok := cfg.Policy(name); ok {
			t.Errorf("Policy(%q) found a policy", name)
		}
	}
}
