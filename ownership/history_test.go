package ownership_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// clock is a controllable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recordAction stores an action touching the given resources, so they count as seen.
func recordAction(t *testing.T, store *postgres.ActionStore, resources ...mandate.Resource) {
	t.Helper()
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "x", Resources: resources,
		Reversibility: mandate.Unknown, OccurredAt: time.Now(), Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "default"}}
	sum := sha256.Sum256([]byte(a.Summary))
	if _, _, err := store.Record(context.Background(), a, sum[:]); err != nil {
		t.Fatal(err)
	}
}

// writeConfig copies the fixture directory's config with edits applied, so the edited
// config still finds CODEOWNERS and the catalog beside it.
func writeConfig(t *testing.T, dir string, edit func(string) string) *config.Config {
	t.Helper()
	for _, f := range []string{"CODEOWNERS", "catalog-info.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	b, err := os.ReadFile("testdata/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mandate.yaml")
	os.WriteFile(path, []byte(edit(string(b))), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHistoryGraceAndCoverage(t *testing.T) {
	ctx := context.Background()
	db := pgtest.DB(t)
	if err := postgres.NewActorStore(db).SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(actions.Close)
	store := postgres.NewOwnershipStore(db)
	recordAction(t, actions, mandate.Resource{Kind: "service", Name: "payments-api"}, mandate.Resource{Kind: "queue", Name: "jobs"})
	recordAction(t, actions, mandate.Resource{Kind: "file", Repo: "acme/api", Path: "src/payments/charge.go"})

	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	f := newFixture(t, store, clk.now)
	if err := f.resolver.SetConfig(ctx, writeConfig(t, dir, func(s string) string { return s }), "start"); err != nil {
		t.Fatal(err)
	}
	history := func(key string) []mandate.OwnershipChange {
		t.Helper()
		h, err := store.History(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := history("service:payments-api"); len(h) != 1 || !slices.Equal(h[0].To, []string{"alice", "payments"}) || h[0].Source != "start" {
		t.Fatalf("first history of payments-api: %+v", h)
	}

	// Alice moves from payments to platform, and payments-service gets bob as owner.
	moved := writeConfig(t, dir, func(s string) string {
		s = strings.Replace(s, "members: [alice, bob]", "members: [bob]", 1)
		s = strings.Replace(s, "members: [erin]", "members: [erin, alice]", 1)
		return strings.Replace(s, "owners: [alice]", "owners: [bob]", 1)
	})
	if err := f.resolver.SetConfig(ctx, moved, "config reload"); err != nil {
		t.Fatal(err)
	}
	h := history("service:payments-api")
	if len(h) != 2 || !slices.Equal(h[1].From, []string{"alice", "payments"}) || !slices.Equal(h[1].To, []string{"bob", "payments"}) || h[1].Source != "config reload" {
		t.Fatalf("history after the reload: %+v", h)
	}
	// Reapplying the same config records nothing new.
	if err := f.resolver.SetConfig(ctx, moved, "config reload"); err != nil {
		t.Fatal(err)
	}
	if h := history("service:payments-api"); len(h) != 2 {
		t.Errorf("an unchanged reload recorded history: %+v", h)
	}

	o := f.explain(t, "service:payments-api")
	if len(o.Grace) != 1 || o.Grace[0].Person != "alice" || o.Grace[0].Team != "payments" {
		t.Fatalf("grace after the move: %+v", o.Grace)
	}
	clk.advance(8 * 24 * time.Hour)
	if err := f.resolver.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if o := f.explain(t, "service:payments-api"); len(o.Grace) != 0 {
		t.Errorf("grace after 8 days: %+v, want none (7 day period)", o.Grace)
	}

	cov, err := f.resolver.Coverage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cov.Seen != 3 || cov.Owned != 2 || cov.ByLayer["none"] != 1 || len(cov.Gaps) != 1 || cov.Gaps[0].Resource != "queue:jobs" {
		t.Errorf("coverage %+v, want 2 of 3 owned, queue:jobs the gap", cov)
	}
	statuses, err := store.SourceStatuses(ctx)
	if err != nil || len(statuses) == 0 {
		t.Fatalf("source statuses %v, %v", statuses, err)
	}
}

var _ = ownership.Coverage{}
