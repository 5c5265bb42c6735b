package blocks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
)

var berlin, _ = time.LoadLocation("Europe/Berlin")

// digestWeek is the fixture week: Monday 16 to Monday 23 November 2026, 09:00 in Berlin.
func digestWeek(team, name string) *mandate.Digest {
	start := time.Date(2026, 11, 16, 9, 0, 0, 0, berlin)
	d := &mandate.Digest{Team: team, TeamName: name, Start: start, End: start.AddDate(0, 0, 7)}
	for i := range 7 {
		d.Days = append(d.Days, start.AddDate(0, 0, i))
	}
	return d
}

// paymentsDigest is a busy team's week: the figures of pgtest.SeedDigestWeek, with the
// targets, rates and suggestions the digests package adds.
func paymentsDigest() *mandate.Digest {
	d := digestWeek("payments", "Payments")
	d.Actions = mandate.DigestActions{Total: 7, PerDay: []int{2, 0, 2, 0, 1, 1, 1},
		ByAgent: []mandate.DigestCount{{Name: "deployer", Count: 3}, {Name: "migrator", Count: 3}, {Name: "crawler", Count: 1}},
		ByPath:  []mandate.DigestCount{{Name: "monitored_execute", Count: 3}, {Name: "flagged_execute", Count: 2}, {Name: "gated_execute", Count: 2}}}
	d.Notifications = mandate.DigestNotifications{Total: 9, PerDay: []int{3, 0, 3, 0, 1, 1, 1}, Delivered: 7, NeedAnswer: 4, Answered: 3}
	d.TTI = []mandate.DigestTTI{
		{Kind: "acknowledged", Samples: 3, P50: 2 * time.Minute, P95: 282 * time.Second, Target: 5 * time.Minute},
		{Kind: "approved", Samples: 1, P50: 11 * time.Minute, P95: 11 * time.Minute, Target: 10 * time.Minute},
		{Kind: "paused", Samples: 1, P50: 30 * time.Second, P95: 30 * time.Second, Target: time.Minute},
		{Kind: "custom_kind", Samples: 2, P50: 5 * time.Second, P95: 9 * time.Second},
	}
	d.Rules = []mandate.DigestRule{
		{Rule: "prod-deploys", Notifications: 4, Feedback: 3, NotRelevant: 2, Missed: 1, FPRate: 2.0 / 3, FNRate: 0.2, Flagged: true},
		{Rule: "default", Notifications: 3, Feedback: 4, NotRelevant: 1, Missed: 2, FPRate: 0.25, FNRate: 0.4},
		{Rule: "migrations", Notifications: 2, Missed: 1, FNRate: 1.0 / 3},
	}
	d.Ownership = mandate.DigestOwnership{UnownedActions: 2,
		Gaps: []mandate.DigestCount{{Name: "bucket:tmp-exports", Count: 1}, {Name: "service:legacy-cron", Count: 1}}}
	d.Escalations = mandate.DigestEscalations{Escalated: 3, Steps: 5, Answered: 1, NoResponse: 1, Running: 1}
	d.Incidents = mandate.DigestIncidents{Opened: 2, Repeats: 1, List: []mandate.DigestIncident{
		{Number: 2, Title: "Payments API 500s", Severity: "high", State: "resolved", OpenedAt: d.Days[2].Add(2 * time.Hour)},
		{Number: 3, Title: "Invoice table locked", Severity: "critical", State: "open", RepeatOf: 1, OpenedAt: d.Days[5].Add(2 * time.Hour)},
	}}
	d.Overdue = []mandate.DigestItem{
		{ID: 5, Incident: 4, Title: "Raise the crawler quota", Owner: "bob", OwnerRef: "U0BOB", Due: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{ID: 2, Incident: 1, Title: "Runbook for checkout rollback", Owner: "alice", Due: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)},
	}
	d.Suggestions = []mandate.DigestSuggestion{
		{Kind: mandate.SuggestRule, Subject: "prod-deploys", Text: "Rule prod-deploys: 2 of 3 answers said not relevant (67 % false positives, over 30 %). Consider raising its when.min_sensitivity (now any) or making it monitored_execute (now flagged_execute)."},
		{Kind: mandate.SuggestOwnership, Subject: "table:billing.invoices", Text: "INC-3: dave was not told about db_migration on table:billing.invoices. Add an ownership rule for table:billing.invoices."},
	}
	return d
}

func adminDigest() *mandate.Digest {
	d := paymentsDigest()
	d.Team, d.TeamName = "", ""
	d.Teams = []mandate.DigestTeam{
		{Team: "payments", Actions: 7, NeedAnswer: 4, Answered: 3, Unowned: 2, Incidents: 2, Overdue: 3},
		{Team: "platform", Actions: 2, Unowned: 2, Incidents: 2, Overdue: 2},
	}
	return d
}

func quietDigest() *mandate.Digest {
	d := digestWeek("search", "Search")
	d.Actions.PerDay = make([]int, 7)
	d.Notifications.PerDay = make([]int, 7)
	return d
}

func TestDigestGolden(t *testing.T) {
	for name, d := range map[string]*mandate.Digest{
		"digest_team":  paymentsDigest(),
		"digest_admin": adminDigest(),
		"digest_quiet": quietDigest(),
	} {
		t.Run(name, func(t *testing.T) {
			fallback, bs := Digest(d)
			checkGolden(t, name, rendered{Fallback: fallback, Blocks: bs})
		})
	}
}

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0, 0, 0}, "▁▁▁"},
		{[]int{0, 1, 2, 3, 4, 5, 6}, "▁▂▃▅▆▇█"},
		{[]int{1, 100}, "▂█"}, // a small day is still visibly not zero
		{[]int{2, 0, 2, 0, 1, 1, 1}, "█▁█▁▅▅▅"},
		{[]int{-3, 7}, "▁█"},
	} {
		if got := Sparkline(c.in); got != c.want {
			t.Errorf("Sparkline(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestDigestWithinSlackLimits: however large the week, the message stays inside Slack's
// limits, and untrusted names cannot mention anyone.
func TestDigestWithinSlackLimits(t *testing.T) {
	d := adminDigest()
	evil := "<!channel> " + strings.Repeat("x", 400)
	for i := range 200 {
		d.Actions.ByAgent = append(d.Actions.ByAgent, mandate.DigestCount{Name: fmt.Sprintf("%s-%d", evil, i), Count: 1})
		d.Rules = append(d.Rules, mandate.DigestRule{Rule: fmt.Sprintf("%s-%d", evil, i), Notifications: 1})
		d.Ownership.Gaps = append(d.Ownership.Gaps, mandate.DigestCount{Name: evil, Count: 1})
		d.Incidents.List = append(d.Incidents.List, mandate.DigestIncident{Number: int64(i), Title: evil, Severity: "low", State: "open"})
		d.Overdue = append(d.Overdue, mandate.DigestItem{Incident: 1, Title: evil, Owner: evil, Due: d.Start})
		d.Suggestions = append(d.Suggestions, mandate.DigestSuggestion{Text: evil})
		d.Teams = append(d.Teams, mandate.DigestTeam{Team: evil})
		d.TTI = append(d.TTI, mandate.DigestTTI{Kind: evil, Samples: 1})
	}
	d.TeamName = evil
	_, bs := Digest(d)
	if len(bs) > maxBlocks {
		t.Fatalf("%d blocks, Slack allows %d", len(bs), maxBlocks)
	}
	raw, err := json.Marshal(bs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "<!channel>") {
		t.Error("an agent's text formed a channel mention")
	}
	for _, b := range bs {
		var texts []*slack.TextBlockObject
		switch b := b.(type) {
		case *slack.SectionBlock:
			texts = append(texts, b.Text)
		case *slack.HeaderBlock:
			texts = append(texts, b.Text)
			if n := utf8.RuneCountInString(b.Text.Text); n > maxHeaderText {
				t.Errorf("header of %d runes", n)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if txt, ok := e.(*slack.TextBlockObject); ok {
					texts = append(texts, txt)
				}
			}
		}
		for _, txt := range texts {
			if n := utf8.RuneCountInString(txt.Text); n > maxText || n == 0 {
				t.Errorf("block %s: text of %d runes", b.ID(), n)
			}
		}
	}
	if fallback, _ := Digest(quietDigest()); fallback != "Weekly digest · Search: 0 actions, 0 notifications, 0 incidents" {
		t.Errorf("quiet fallback %q", fallback)
	}
}
