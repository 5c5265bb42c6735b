package incidents

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
)

// TestSetSeverityNotesAndClosed: lowering a severity says so in the channel (no page is
// promised without PagerDuty); a closed incident's severity is refused and stays.
func TestSetSeverityNotesAndClosed(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	inc := e.resolvedIncident(t, "payments-down", "C0INC1", e.failedDeploy(t, "payments-api"))
	svc := &Service{Store: e.incs, Config: func() *config.Config { return e.cfg }, Now: e.clock,
		Slack: slack.New(e.fake.BotToken(), slack.OptionAPIURL(e.fake.URL()+"/api/")), Log: e.l.Log}

	got, changed, err := svc.SetSeverity(ctx, inc.Number, mandate.SeverityLow, "bob")
	if err != nil || !changed || got.Severity != mandate.SeverityLow {
		t.Fatalf("lowering: %+v %v %v", got, changed, err)
	}
	var notes []string
	for _, m := range e.fake.Messages("C0INC1") {
		notes = append(notes, m.Text)
	}
	if want := "📉 <@U0BOB> lowered the severity of INC-1 from high to *low*."; strings.Join(notes, "\n") != want {
		t.Errorf("channel: %q, want %q", notes, want)
	}

	e.l.OnResolved(ctx, inc)
	if _, err := e.l.AddItem(ctx, mandate.ActionItem{Incident: inc.Number, Title: "Canary", Owner: "dan", Due: e.clock().Add(72 * time.Hour)}, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Close(ctx, inc.Number, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SetSeverity(ctx, inc.Number, mandate.SeverityCritical, "bob"); mandate.ErrorCode(err) != mandate.ECONFLICT ||
		!strings.Contains(err.Error(), "INC-1 is closed: its severity is final") {
		t.Errorf("a closed incident: %v", err)
	}
	if after, _ := e.incs.Get(ctx, inc.Number); after.Severity != mandate.SeverityLow {
		t.Errorf("the refused change left severity %s", after.Severity)
	}
}

// TestSeverityChangeRedraftsThePostmortem: a drafted postmortem says the severity the
// incident has now.
func TestSeverityChangeRedraftsThePostmortem(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	inc := e.resolvedIncident(t, "payments-down", "C0INC1", e.failedDeploy(t, "payments-api"))
	svc := &Service{Store: e.incs, Config: func() *config.Config { return e.cfg }, Now: e.clock,
		Slack: slack.New(e.fake.BotToken(), slack.OptionAPIURL(e.fake.URL()+"/api/")), Log: e.l.Log,
		OnSeverity: e.l.SeverityChanged}
	e.l.OnResolved(ctx, inc)
	before, err := e.l.Markdown(ctx, inc.Number)
	if err != nil || !strings.Contains(before, "| Severity | high |") {
		t.Fatalf("the draft before: %v\n%s", err, before)
	}
	if _, changed, err := svc.SetSeverity(ctx, inc.Number, mandate.SeverityCritical, "bob"); err != nil || !changed {
		t.Fatalf("raising: %v %v", changed, err)
	}
	after, err := e.l.Markdown(ctx, inc.Number)
	if err != nil || !strings.Contains(after, "| Severity | critical |") {
		t.Errorf("the draft after raising the severity: %v\n%s", err, after)
	}
}
