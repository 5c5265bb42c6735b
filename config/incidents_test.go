package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/config"
)

const incidentsBase = `org: {fallback: {team: pay}}
people: [{id: a}]
teams: [{id: pay, members: [a]}]
incidents:
  auto_open:
`

func TestIncidentsSection(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(incidentsBase+`    - name: data-loss
      when: {result: failed, failure_mode: data_loss, min_sensitivity: critical}
      severity: high
    - name: failed-migrations
      when: {types: ["db_*"], environments: [production], resources: ["table:billing.*"]}
      severity: medium
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Incidents.AutoOpen
	if len(rules) != 2 {
		t.Fatalf("auto_open %+v", rules)
	}
	if r := rules[0]; r.Name != "data-loss" || r.Line != 6 || r.When.Result != "failed" || r.When.FailureMode != "data_loss" ||
		r.When.MinSensitivity != "critical" || r.Severity != "high" {
		t.Errorf("rule 0 %+v", r)
	}
	if r := rules[1]; r.When.Result != "failed" || r.Line != 9 || r.When.Types[0] != "db_*" || r.When.Resources[0] != "table:billing.*" {
		t.Errorf("rule 1: result defaults to failed: %+v", r)
	}
	none, err := config.Parse("test.yaml", []byte(strings.TrimSuffix(incidentsBase, "incidents:\n  auto_open:\n")))
	if err != nil || len(none.Incidents.AutoOpen) != 0 {
		t.Errorf("without the section: %v %+v", err, none)
	}
}

func TestIncidentsErrors(t *testing.T) {
	cases := []struct {
		name, rules string
		want        []string // "LINE: substring"; rules start at line 6
	}{
		{"SeverityRequired", "    - {name: x, when: {result: failed}}\n", []string{"6: incidents.auto_open[0].severity: required: one of low, medium, high, critical"}},
		{"BadSeverity", "    - {name: x, severity: sev1}\n", []string{`6: must be one of low, medium, high, critical, not "sev1"`}},
		{"NameRequired", "    - {severity: high}\n", []string{"6: incidents.auto_open[0].name: required"}},
		{"DuplicateName", "    - {name: x, severity: high}\n    - {name: x, severity: low}\n", []string{`7: duplicate rule name "x" (first at line 6)`}},
		{"BadResult", "    - {name: x, severity: high, when: {result: broken}}\n", []string{`6: must be failed or succeeded, not "broken"`}},
		{"FailureModeNeedsFailed", "    - {name: x, severity: high, when: {result: succeeded, failure_mode: data_loss}}\n", []string{"6: applies only to result failed"}},
		{"BadSensitivity", "    - {name: x, severity: high, when: {min_sensitivity: extreme}}\n", []string{`6: must be one of low, normal, high, critical, not "extreme"`}},
		{"ResourceNotAKey", "    - {name: x, severity: high, when: {resources: [payments-api]}}\n", []string{"6: not a resource key pattern"}},
		{"UnknownKey", "    - {name: x, severity: high, when: {failuremode: data_loss}}\n", []string{`6: unknown key "failuremode" in incidents.auto_open[0].when (did you mean "failure_mode"?)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("test.yaml", []byte(incidentsBase+c.rules))
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
}
