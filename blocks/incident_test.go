package blocks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
)

// incidentFixture is a multi-team incident with three candidate causes, one confirmed.
func incidentFixture() Incident {
	return Incident{
		Number: 42, Title: "Invoices missing after billing migration", Severity: "high", State: "open",
		OpenedBy: "U0ALICE", Via: "slack", OpenedAt: t0,
		Causes: []IncidentCause{
			{ActionID: "0190a0a0-0000-7000-8000-000000000001", Actor: "deployer", ActionType: "db_migration",
				Summary: "Drop column invoices.legacy_id", Reason: "db_migration on table:billing.invoices (high) 4 m before; failed (data_loss)", State: "confirmed"},
			{ActionID: "0190a0a0-0000-7000-8000-000000000002", Actor: "code-reviewer", ActionType: "code_change",
				Summary: "Refactor invoice export", Reason: "code_change on service:payments-api (critical) 12 m before", State: "candidate"},
			{ActionID: "0190a0a0-0000-7000-8000-000000000003", Actor: "data-pipeline", ActionType: "s3_delete",
				Summary: "Delete <!channel> old exports", Reason: "s3_delete on bucket:warehouse-exports (low) 1 h 5 m before", State: "dismissed"},
		},
		Teams: []IncidentTeam{
			{Team: "Payments", Resources: []Resource{
				{Key: "table:billing.invoices", Owners: []string{"<@U0BOB>"}},
				{Key: "service:payments-api", Owners: []string{"<@U0ALICE>", "<@U0BOB>"}},
			}},
			{Team: "Data", Resources: []Resource{{Key: "bucket:warehouse-exports", Owners: []string{"<@U0CAROL>"}}}},
		},
		MultiTeam: true,
		Paged:     true,
	}
}

func TestIncidentGolden(t *testing.T) {
	mitigated := t0.Add(20 * time.Minute)
	resolved := t0.Add(95 * time.Minute)
	cases := map[string]func() any{
		"incident_open": func() any {
			fb, bs := IncidentHeader(incidentFixture())
			return rendered{Fallback: fb, Blocks: bs, Text: IncidentTopic(incidentFixture())}
		},
		"incident_mitigated": func() any {
			v := incidentFixture()
			v.State, v.MitigatedAt, v.Commander = "mitigated", &mitigated, "U0BOB"
			fb, bs := IncidentHeader(v)
			return rendered{Fallback: fb, Blocks: bs, Text: IncidentTopic(v)}
		},
		"incident_resolved": func() any {
			v := incidentFixture()
			v.State, v.MitigatedAt, v.ResolvedAt, v.Commander = "resolved", &mitigated, &resolved, "U0BOB"
			fb, bs := IncidentHeader(v)
			return rendered{Fallback: fb, Blocks: bs}
		},
		"incident_no_causes": func() any {
			v := Incident{Number: 7, Title: "Checkout slow", Severity: "low", State: "open", OpenedBy: "rule:latency", Via: "rule", OpenedAt: t0,
				Teams: []IncidentTeam{{Resources: []Resource{{Key: "service:checkout"}}}}}
			fb, bs := IncidentHeader(v)
			return rendered{Fallback: fb, Blocks: bs}
		},
		"incident_assign_modal": func() any { return rendered{View: AssignModal(42, "Invoices missing")} },
		"incident_timeline": func() any {
			tti := int64(7000)
			entries := []mandate.TimelineEntry{
				{At: t0.Add(-4 * time.Minute), Kind: "action", Who: "deployer", Text: "deployer db_migration: Drop column on table:billing.invoices [monitored]"},
				{At: t0.Add(-4*time.Minute + 5*time.Second), Kind: "notification", Who: "team:payments", Text: "notified team:payments (normal) in C0PAYMENTS"},
				{At: t0.Add(-4*time.Minute + 12*time.Second), Kind: "intervention", Who: "alice", Text: "alice: paused on deployer's action (TTI 7s)", TTIMillis: &tti},
				{At: t0, Kind: "incident", Who: "alice", Text: "INC-42 opened (high) via slack: Invoices missing", Event: "opened"},
				{At: t0.Add(25 * time.Hour), Kind: "incident", Who: "bob", Text: "INC-42 marked resolved", Event: "resolved"},
			}
			return rendered{Text: IncidentTimeline(incidentFixture(), entries)}
		},
	}
	for name, render := range cases {
		t.Run(name, func(t *testing.T) {
			v := render()
			checkLimits(t, encode(t, v))
			checkGolden(t, name, v)
		})
	}
}

func TestIncidentButtonsPerState(t *testing.T) {
	// The confirmed cause offers only Dismiss, the candidate both, the dismissed one only
	// Confirm; the incident's own buttons go once it is resolved.
	causes := []string{"dismiss_cause", "confirm_cause", "dismiss_cause", "confirm_cause"}
	for state, want := range map[string][]string{
		"open":      append(slices.Clone(causes), "pause_causes", "assign_owner", "mitigated", "resolved"),
		"mitigated": append(slices.Clone(causes), "pause_causes", "assign_owner", "resolved"),
		"resolved":  causes,
	} {
		v := incidentFixture()
		v.State = state
		_, bs := IncidentHeader(v)
		got := actionIDs(bs)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: buttons %v, want %v", state, got, want)
		}
		for _, b := range buttonsOf(bs) {
			n, actionID, ok := ParseIncidentValue(b.Value)
			if !ok || n != 42 || (strings.HasSuffix(b.ActionID, "_cause") != (actionID != "")) {
				t.Errorf("%s: button %s value %q", state, b.ActionID, b.Value)
			}
		}
	}
}

func TestParseIncidentValue(t *testing.T) {
	for v, want := range map[string]struct {
		n  int64
		id string
		ok bool
	}{
		"incident:42":        {42, "", true},
		"incident:42:abc":    {42, "abc", true},
		CauseValue(7, "x-y"): {7, "x-y", true},
		"incident:":          {0, "", false},
		"incident:-1":        {0, "", false},
		"42":                 {0, "", false},
		"incident:4x":        {0, "", false},
	} {
		n, id, ok := ParseIncidentValue(v)
		if n != want.n || id != want.id || ok != want.ok {
			t.Errorf("ParseIncidentValue(%q) = %d %q %v, want %+v", v, n, id, ok, want)
		}
	}
}

// TestIncidentHeaderLimits: many causes and teams and huge titles stay inside Slack's
// limits, and the causes left out are counted.
func TestIncidentHeaderLimits(t *testing.T) {
	v := incidentFixture()
	v.Title = strings.Repeat("very long title ", 100)
	for i := range 30 {
		v.Causes = append(v.Causes, IncidentCause{ActionID: "id-" + strings.Repeat("x", i), Actor: strings.Repeat("a", 500),
			ActionType: "deploy", Summary: strings.Repeat("<@U1> ", 500), Reason: strings.Repeat("r", 1000), State: "candidate"})
	}
	for i := range 30 {
		team := IncidentTeam{Team: strings.Repeat("t", i+1)}
		for j := range 100 {
			team.Resources = append(team.Resources, Resource{Key: "service:" + strings.Repeat("s", j+1), Owners: []string{"<@U0ALICE>"}})
		}
		v.Teams = append(v.Teams, team)
	}
	fb, bs := IncidentHeader(v)
	if len(bs) > maxBlocks {
		t.Fatalf("%d blocks", len(bs))
	}
	checkLimits(t, encode(t, rendered{Fallback: fb, Blocks: bs, Text: IncidentTopic(v)}))
	if got := len([]rune(IncidentTopic(v))); got > 250 {
		t.Errorf("topic is %d characters", got)
	}
	var all strings.Builder
	for _, line := range slackTexts(bs) {
		all.WriteString(line)
	}
	if !strings.Contains(all.String(), "… and 28 more candidates") || !strings.Contains(all.String(), "… and 22 more teams") {
		t.Errorf("left-out causes and teams are not counted")
	}
	if strings.Contains(all.String(), "<!channel>") {
		t.Errorf("agent text reached Slack unescaped")
	}
	lines := make([]mandate.TimelineEntry, 500)
	for i := range lines {
		lines[i] = mandate.TimelineEntry{At: t0.Add(time.Duration(i) * time.Second), Kind: "action", Text: strings.Repeat("x", 200)}
	}
	if tl := IncidentTimeline(v, lines); len([]rune(tl)) > 4000 || !strings.Contains(tl, "more entries: GET /v1/incidents/42/timeline") {
		t.Errorf("long timeline: %d runes", len([]rune(tl)))
	}
}

// slackTexts returns every text of the blocks, for content checks.
func slackTexts(bs []slack.Block) []string {
	var out []string
	for _, b := range bs {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil {
				out = append(out, b.Text.Text)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					out = append(out, t.Text)
				}
			}
		case *slack.HeaderBlock:
			out = append(out, b.Text.Text)
		}
	}
	return out
}
