package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/config"
)

const ownershipBase = `org: {fallback: {team: pay}}
people: [{id: a}]
teams:
  - {id: pay, members: [a], pagerduty: {escalation_policy: PE1}}
  - {id: web}
`

func TestOwnershipSection(t *testing.T) {
	cfg, err := config.Parse("dir/test.yaml", []byte(ownershipBase+`ownership:
  grace_period: 3d
  codeowners:
    - {repo: acme/api, file: CODEOWNERS}
    - {repo: acme/web, github: true, ref: main}
  catalog: {files: [catalog-info.yaml], url: "https://backstage.acme.test"}
  oncall:
    - {match: ["service:*"], team: pay}
  contributors: {enabled: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Ownership
	if o.GracePeriod.Duration != 72*time.Hour || o.Refresh.Duration != config.DefaultRefresh ||
		o.Contributors.Since.Duration != config.DefaultContributorsSince || o.Contributors.Top != config.DefaultContributorsTop {
		t.Errorf("defaults and values: %+v", o)
	}
	if cfg.Dir != "dir" {
		t.Errorf("Dir = %q, want dir", cfg.Dir)
	}
	if team, _ := cfg.Team("pay"); team.PagerDuty.EscalationPolicy != "PE1" {
		t.Errorf("team pagerduty = %+v", team.PagerDuty)
	}
	empty, err := config.Parse("x.yaml", []byte(ownershipBase))
	if err != nil {
		t.Fatal(err)
	}
	if empty.Ownership.GracePeriod.Duration != config.DefaultGracePeriod {
		t.Errorf("default grace period = %v", empty.Ownership.GracePeriod)
	}
}

func TestOwnershipErrors(t *testing.T) {
	cases := []struct {
		name, section string
		want          []string // "LINE: substring"; the base is 5 lines, "ownership:" line 6
	}{
		{"CodeOwnersNeedsASource", "  codeowners:\n    - {repo: acme/api}\n", []string{"8: set file"}},
		{"CodeOwnersBothSources", "  codeowners:\n    - {repo: acme/api, file: X, github: true}\n", []string{"8: not both"}},
		{"CodeOwnersBadRepo", "  codeowners:\n    - {repo: acme, file: X}\n", []string{"8: not a repository"}},
		{"CodeOwnersDuplicateRepo", "  codeowners:\n    - {repo: a/b, file: X}\n    - {repo: a/b, file: Y}\n", []string{"9: duplicate repo"}},
		{"RefWithoutGitHub", "  codeowners:\n    - {repo: a/b, file: X, ref: main}\n", []string{"8: ref applies only"}},
		{"CatalogURL", "  catalog: {url: backstage.acme.test}\n", []string{"7: must be an http"}},
		{"OnCallUnknownTeam", "  oncall:\n    - {match: [\"service:*\"], team: ghost}\n", []string{`8: unknown team "ghost"`}},
		{"OnCallTeamWithoutPagerDuty", "  oncall:\n    - {match: [\"service:*\"], team: web}\n", []string{"8: has no pagerduty"}},
		{"OnCallNoMatch", "  oncall:\n    - {team: pay}\n", []string{"8: required"}},
		{"BadGrace", "  grace_period: soon\n", []string{"7: "}},
		{"ContributorsTop", "  contributors: {enabled: true, top: 99}\n", []string{"7: between 1 and 20"}},
		{"UnknownKey", "  codeowner: []\n", []string{`7: unknown key "codeowner"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("test.yaml", []byte(ownershipBase+"ownership:\n"+c.section))
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
