package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// TestIncidentMisses: the marks on an incident's causes come back once per action and
// who, the earliest first; marks on a dismissed cause, on actions that are not its
// causes, and other incidents' marks are left out. A mark on an unknown action is
// ENOTFOUND and stores nothing.
func TestIncidentMisses(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	routing := postgres.NewRoutingStore(e.db)
	t0 := time.Now().Add(-time.Hour)
	deploy := e.record(t, "deployer", t0, payments)
	migrate := e.record(t, "deployer", t0.Add(time.Minute), payments, billing)
	dismissed := e.record(t, "deployer", t0.Add(2*time.Minute), payments)
	other := e.record(t, "deployer", t0.Add(3*time.Minute), docs)

	inc, _, err := e.incidents.Open(ctx, incident("payments down", t0.Add(10*time.Minute), deploy, migrate, dismissed))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.incidents.DecideCause(ctx, inc.Number, dismissed, mandate.CauseDismissed, "bob", t0.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	elsewhere, _, err := e.incidents.Open(ctx, incident("docs down", t0.Add(10*time.Minute), other))
	if err != nil {
		t.Fatal(err)
	}

	if got, err := routing.IncidentMisses(ctx, inc.Number); err != nil || len(got) != 0 {
		t.Fatalf("before any mark: %+v, %v", got, err)
	}
	for _, m := range []struct{ action, who string }{
		{migrate, "team:platform"},
		{deploy, "dan"},
		{migrate, "team:platform"}, // a second reviewer says the same
		{dismissed, "carol"},
		{other, "erin"},
	} {
		if err := routing.Missed(ctx, m.action, m.who, "note", "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := routing.Missed(ctx, "00000000-0000-4000-8000-00000000dead", "dan", "", "alice"); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("a mark on an unknown action: %v", err)
	}

	got, err := routing.IncidentMisses(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	want := []mandate.IncidentMiss{
		{Incident: inc.Number, ActionID: migrate, ActionType: "deploy", Resources: []string{payments.Key(), billing.Key()}, Who: "team:platform"},
		{Incident: inc.Number, ActionID: deploy, ActionType: "deploy", Resources: []string{payments.Key()}, Who: "dan"},
	}
	if len(got) != len(want) {
		t.Fatalf("misses %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Incident != w.Incident || g.ActionID != w.ActionID || g.ActionType != w.ActionType || g.Who != w.Who || !slices.Equal(g.Resources, w.Resources) {
			t.Errorf("miss %d: %+v, want %+v", i, g, w)
		}
	}
	if got, err := routing.IncidentMisses(ctx, elsewhere.Number); err != nil || len(got) != 1 || got[0].Who != "erin" {
		t.Errorf("the other incident's misses: %+v, %v", got, err)
	}
	// The per-rule stats count every mark, the repeated one included.
	stats, err := routing.Stats(ctx, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	missed := 0
	for _, st := range stats {
		missed += st.Missed
	}
	if missed != 5 {
		t.Errorf("stats count %d misses, want 5", missed)
	}
}
