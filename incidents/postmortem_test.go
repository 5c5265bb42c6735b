package incidents

import (
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/internal/golden"
)

// checkGoldenMD compares got with testdata/<name>.golden.md, or rewrites it with -update.
func checkGoldenMD(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, name+".golden.md", []byte(got))
}

func ms(d time.Duration) *int64 { v := d.Milliseconds(); return &v }

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// postmortemFixture is a multi-team incident: a confirmed failed deploy, a candidate
// migration, a dismissed bystander; notifications answered and not; an escalation; items
// done and overdue; patterns; and an earlier incident it repeats whose promise is open.
func postmortemFixture() PostmortemInput {
	deploy := action("0190d3c4-0000-7000-8000-000000000001", "deployer", "deploy",
		&mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss", Error: "migration 42 dropped | column `amount`"},
		"service:payments-api", "table:billing.invoices")
	deploy.Summary = "Deploy payments-api v2.14.0\n(schema change included)"
	deploy.Teams = []string{"payments"}
	deploy.Decision = mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyHigh, Rule: "payments-deploys"}
	migrate := action("0190d3c4-0000-7000-8000-000000000002", "migrator", "db_migration", nil, "table:billing.ledger")
	migrate.OccurredAt = at(-20)
	migrate.Teams = []string{"data"}
	migrate.Decision = mandate.Decision{Path: mandate.PathAuto, Urgency: mandate.UrgencyInfo, Rule: "quiet-migrations"}
	bystander := action("0190d3c4-0000-7000-8000-000000000003", "docs-bot", "write", nil, "bucket:docs-site")
	decided := at(25)
	mitigated, resolved := at(40), at(95)
	done := at(60)
	inc := &mandate.Incident{
		Number: 12, Title: "Payments API | 500s after deploy", Severity: mandate.SeverityHigh, State: mandate.IncidentResolved,
		Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}, Teams: []string{"payments", "platform"}, MultiTeam: true,
		OpenedBy: "alice", Via: "slack", Commander: "bob", Channel: "C0INC12", ChannelName: "inc-12-payments-api-500s",
		RepeatOf: 3, OpenedAt: at(5), MitigatedAt: &mitigated, ResolvedAt: &resolved,
		Causes: []mandate.IncidentCause{
			{ActionID: migrate.ID, Rank: 2, Score: 0.41, Reason: "db_migration on table:billing.ledger (high) 25 min before", State: mandate.CauseCandidate, Action: migrate},
			{ActionID: deploy.ID, Rank: 1, Score: 0.93, Reason: "deploy on service:payments-api (critical) 5 min before", State: mandate.CauseConfirmed,
				DecidedBy: "bob", DecidedAt: &decided, Action: deploy},
			{ActionID: bystander.ID, Rank: 3, Score: 0.1, Reason: "write nearby", State: mandate.CauseDismissed, Action: bystander},
		},
		Items: []mandate.ActionItem{
			{ID: 21, Incident: 12, Title: "Canary deploys for payments-api", Owner: "bob", Due: time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), State: mandate.ItemOpen},
			{ID: 22, Incident: 12, Title: "Alert on 5xx | p99", Owner: "alice", Due: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), State: mandate.ItemOpen},
			{ID: 23, Incident: 12, Title: "Backup check", Owner: "carol", Due: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), State: mandate.ItemDone, DoneBy: "carol", DoneAt: &done},
		},
	}
	inc.Patterns = ExtractPatterns(inc)
	return PostmortemInput{
		Incident: inc,
		Timeline: []mandate.TimelineEntry{
			{At: at(-20), Kind: "action", Who: "migrator", Text: "db_migration on table:billing.ledger", Action: migrate.ID},
			{At: at(0), Kind: "action", Who: "deployer", Text: "deploy payments-api v2.14.0", Action: deploy.ID},
			{At: at(0).Add(2 * time.Second), Kind: "notification", Who: "bob", Text: "told bob (high)"},
			{At: at(1), Kind: "result", Who: "deployer", Text: "failed: data_loss"},
			{At: at(5), Kind: "incident", Who: "alice", Text: "INC-12 opened (high) via slack"},
			{At: at(6), Kind: "intervention", Who: "bob", Text: "paused deployer"},
			{At: at(95), Kind: "incident", Who: "bob", Text: "resolved"},
		},
		Involved: []mandate.Involvement{
			{Who: "bob", Kind: mandate.InvolvedNotified, Target: mandate.TargetPerson, ActionID: deploy.ID, At: at(0).Add(2 * time.Second), Response: "paused", TTIMillis: ms(7 * time.Second)},
			{Who: "payments", Kind: mandate.InvolvedNotified, Target: mandate.TargetTeam, ActionID: deploy.ID, At: at(0).Add(2 * time.Second), Response: "acknowledged", TTIMillis: ms(95 * time.Second)},
			{Who: "platform", Kind: mandate.InvolvedNotified, Target: mandate.TargetTeam, ActionID: deploy.ID, At: at(0).Add(3 * time.Second)},
			{Who: "bob", Kind: mandate.InvolvedResponded, ActionID: deploy.ID, At: at(0).Add(9 * time.Second), Response: "paused", TTIMillis: ms(7 * time.Second)},
			{Who: "erin", Kind: mandate.InvolvedEscalated, ActionID: deploy.ID, At: at(15)},
		},
		Repeats: &mandate.Incident{Number: 3, Title: "Payments API down", Items: []mandate.ActionItem{
			{ID: 4, Incident: 3, Title: "Gate schema changes", Owner: "alice", State: mandate.ItemOpen},
			{ID: 5, Incident: 3, Title: "Runbook", Owner: "bob", State: mandate.ItemDone},
		}},
		Rules: []mandate.RuleStats{
			{Rule: "payments-deploys", Notifications: 40, Feedback: 10, Relevant: 6, NotRelevant: 4, FalsePositiveRate: 0.4, NeedsReview: true},
			{Rule: "quiet-migrations", Notifications: 3, Missed: 2},
			{Rule: "unrelated", Notifications: 9, Feedback: 9, NotRelevant: 9, FalsePositiveRate: 1, NeedsReview: true},
		},
		Now: at(100),
	}
}

func TestPostmortemGolden(t *testing.T) {
	in := postmortemFixture()
	md := Postmortem(in)
	checkGoldenMD(t, "postmortem", md)

	// What the golden file must hold whatever is regenerated: the sections in order, the
	// human marks, and nothing from the dismissed cause or the unrelated rule.
	last := -1
	for _, s := range []string{"## Timeline", "## Affected systems", "## Who was involved", "## Root cause candidates", "## Impact", "## What we'll change", "## Action items"} {
		i := strings.Index(md, "\n"+s+"\n")
		if i <= last {
			t.Errorf("section %q missing or out of order", s)
		}
		last = i
	}
	for _, want := range []string{"**A human verifies**", "**To complete:**", "**A human approves**", "| bob | notified | 14:00:02 | paused | 7 s |",
		"| platform | notified (team) | 14:00:03 | no response | — |", "| 22 | Alert on 5xx \\| p99 |", "finish \"Gate schema changes\" (alice) first"} {
		if !strings.Contains(md, want) {
			t.Errorf("the draft lacks %q", want)
		}
	}
	for _, not := range []string{"docs-bot", "unrelated"} {
		if strings.Contains(md, not) {
			t.Errorf("the draft mentions %q", not)
		}
	}
}

func TestPostmortemOfAnIncidentMandateSawLittleOf(t *testing.T) {
	in := PostmortemInput{
		Incident: &mandate.Incident{Number: 4, Title: "Something broke", Severity: mandate.SeverityLow, State: mandate.IncidentResolved,
			OpenedBy: "api-client", Via: "api", OpenedAt: at(0)},
		Now: at(30),
	}
	checkGoldenMD(t, "postmortem_empty", Postmortem(in))
}

func TestPostmortemTimelineIsBounded(t *testing.T) {
	in := PostmortemInput{Incident: &mandate.Incident{Number: 5, Title: "Busy", OpenedAt: t0}, Now: t0}
	for i := range maxTimelineRows + 25 {
		in.Timeline = append(in.Timeline, mandate.TimelineEntry{At: t0.Add(time.Duration(i) * time.Second), Kind: "action", Text: "x"})
	}
	md := Postmortem(in)
	if n := strings.Count(md, "| action |"); n != maxTimelineRows {
		t.Errorf("%d timeline rows, want %d", n, maxTimelineRows)
	}
	if !strings.Contains(md, "_25 more entries: GET /v1/incidents/5/timeline has them all._") {
		t.Error("the rows left out are not counted")
	}
}

// TestSuggestChangesWhenNobodyWasTold: while no cause is confirmed, the candidates are the
// causing actions; one decided auto_execute and told to nobody, its rule with misses.
func TestSuggestChangesWhenNobodyWasTold(t *testing.T) {
	in := postmortemFixture()
	for i := range in.Incident.Causes {
		if in.Incident.Causes[i].State == mandate.CauseConfirmed {
			in.Incident.Causes[i].State = mandate.CauseCandidate
		}
	}
	in.Repeats = &mandate.Incident{Number: 3, Title: "Payments API down", Items: []mandate.ActionItem{{Title: "Runbook", State: mandate.ItemDone}}}
	got := strings.Join(SuggestChanges(in), "\n")
	for _, want := range []string{
		"Nobody was told about migrator's db_migration on `table:billing.ledger` (rule `quiet-migrations`, auto_execute)",
		"Rule `quiet-migrations`: 2 \"should have been notified\" marks: add the missing targets.",
		"Rule `payments-deploys`: 40% of the feedback",
		"This repeats INC-3 (Payments API down) although its action items are done",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("suggestions lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "unrelated") {
		t.Errorf("a rule that decided no causing action is suggested:\n%s", got)
	}
	if got := SuggestChanges(PostmortemInput{Incident: &mandate.Incident{Number: 1}}); len(got) != 0 {
		t.Errorf("nothing known, yet suggestions: %q", got)
	}
}
