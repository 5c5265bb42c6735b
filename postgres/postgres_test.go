package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

func setup(t *testing.T) (*postgres.DB, *postgres.ActionStore, *postgres.ActorStore) {
	t.Helper()
	db := pgtest.DB(t)
	actors := postgres.NewActorStore(db)
	if err := actors.SyncAgents(context.Background(), []mandate.Actor{
		{ID: "deployer", Team: "platform", Trust: mandate.TrustTrusted},
		{ID: "reviewer", Team: "platform", Trust: mandate.TrustNew},
	}); err != nil {
		t.Fatal(err)
	}
	store := postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(store.Close)
	return db, store, actors
}

func newAction(actor, key, summary string) *mandate.Action {
	return &mandate.Action{
		ActorID: actor, IdempotencyKey: key, Type: "deploy", Summary: summary,
		Resources:     []mandate.Resource{{Kind: "service", Name: "payments-api"}, {Kind: "file", Repo: "acme/api", Path: "src/x.go"}},
		Environment:   "production",
		Reversibility: mandate.Reversible,
		OccurredAt:    time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "default",
			Reasons: []string{"default"}, Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"}}},
		Teams: []string{"platform", "payments"},
	}
}

func sha(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func decode(t *testing.T, raw json.RawMessage) mandate.Answer {
	t.Helper()
	var a mandate.Answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return a
}

func TestRecordConcurrentBatchesStoreEachActionOnce(t *testing.T) {
	_, store, _ := setup(t)
	ctx := context.Background()
	const n = 300
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			a := newAction("deployer", fmt.Sprintf("k-%d", i), fmt.Sprintf("deploy %d", i))
			raw, replayed, err := store.Record(ctx, a, sha(a.Summary))
			if err != nil || replayed {
				errs <- fmt.Errorf("record %d: replayed=%v err=%v", i, replayed, err)
				return
			}
			ids[i] = decode(t, raw).ActionID
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	missing, dup, err := store.CountByID(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 || dup != 0 {
		t.Fatalf("missing=%d duplicated=%d, want 0 and 0", missing, dup)
	}
	pending, err := store.PendingNotifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pending != n {
		t.Errorf("pending notifications = %d, want %d (one team target per action)", pending, n)
	}
}

func TestRecordIdempotency(t *testing.T) {
	_, store, _ := setup(t)
	ctx := context.Background()
	first, replayed, err := store.Record(ctx, newAction("deployer", "same", "one"), sha("one"))
	if err != nil || replayed {
		t.Fatalf("first: replayed=%v err=%v", replayed, err)
	}
	t.Run("ReplaySameBody", func(t *testing.T) {
		again, replayed, err := store.Record(ctx, newAction("deployer", "same", "one"), sha("one"))
		if err != nil || !replayed {
			t.Fatalf("replay: replayed=%v err=%v", replayed, err)
		}
		if string(again) != string(first) {
			t.Errorf("replay answer\n%s\nwant the first\n%s", again, first)
		}
	})
	t.Run("DifferentBodyConflicts", func(t *testing.T) {
		_, _, err := store.Record(ctx, newAction("deployer", "same", "two"), sha("two"))
		if got := mandate.ErrorCode(err); got != mandate.ECONFLICT {
			t.Fatalf("error code %q (%v), want conflict", got, err)
		}
	})
	t.Run("OtherActorSameKeyIsIndependent", func(t *testing.T) {
		_, replayed, err := store.Record(ctx, newAction("reviewer", "same", "one"), sha("one"))
		if err != nil || replayed {
			t.Fatalf("replayed=%v err=%v", replayed, err)
		}
	})
	t.Run("DuplicatesInOneBatch", func(t *testing.T) {
		var wg sync.WaitGroup
		answers := make([]string, 20)
		for i := range answers {
			wg.Go(func() {
				raw, _, err := store.Record(ctx, newAction("deployer", "burst", "b"), sha("b"))
				if err != nil {
					t.Error(err)
				}
				answers[i] = decode(t, raw).ActionID
			})
		}
		wg.Wait()
		for _, a := range answers {
			if a != answers[0] {
				t.Fatalf("answers name different actions: %v", answers)
			}
		}
		actions, _, err := store.List(ctx, mandate.ActionFilter{Actor: "deployer", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, a := range actions {
			if a.IdempotencyKey == "burst" {
				count++
			}
		}
		if count != 1 {
			t.Errorf("%d stored actions with key burst, want 1", count)
		}
	})
}

func TestPausedActorsActionsAreBlocked(t *testing.T) {
	_, store, actors := setup(t)
	ctx := context.Background()
	st, changed, err := actors.SetPaused(ctx, "deployer", true, "erin", "bad deploys")
	if err != nil || !changed || !st.Paused || st.Version != 2 {
		t.Fatalf("pause: state=%+v changed=%v err=%v", st, changed, err)
	}
	if _, changed, _ := actors.SetPaused(ctx, "deployer", true, "erin", "again"); changed {
		t.Error("pausing a paused agent changed something")
	}
	raw, _, err := store.Record(ctx, newAction("deployer", "", "while paused"), sha("p"))
	if err != nil {
		t.Fatal(err)
	}
	ans := decode(t, raw)
	if ans.Next != mandate.NextHalt || ans.Status != mandate.StatusBlocked || ans.Halt == nil || ans.Halt.PausedBy != "erin" || ans.Halt.Reason != "bad deploys" {
		t.Errorf("answer while paused = %s", raw)
	}
	if pending, _ := store.PendingNotifications(ctx); pending != 0 {
		t.Errorf("blocked action queued %d notifications, want 0", pending)
	}
	if _, err := store.ReportResult(ctx, "deployer", ans.ActionID, mandate.ActionResult{Status: mandate.StatusSucceeded}); mandate.ErrorCode(err) != mandate.ECONFLICT {
		t.Errorf("result for blocked action: %v, want conflict", err)
	}
	st, changed, err = actors.SetPaused(ctx, "deployer", false, "erin", "")
	if err != nil || !changed || st.Paused || st.Version != 3 {
		t.Fatalf("resume: state=%+v changed=%v err=%v", st, changed, err)
	}
	raw, _, _ = store.Record(ctx, newAction("deployer", "", "after resume"), sha("r"))
	if ans := decode(t, raw); ans.Next != mandate.NextProceed || ans.AgentState.Version != 3 {
		t.Errorf("answer after resume = %s", raw)
	}
}

func TestListFiltersAndCursor(t *testing.T) {
	_, store, _ := setup(t)
	ctx := context.Background()
	for i := range 7 {
		a := newAction("deployer", "", fmt.Sprintf("a%d", i))
		if i%2 == 1 {
			a.ActorID, a.Type = "reviewer", "code_change"
			a.Resources = []mandate.Resource{{Kind: "table", Name: "billing.invoices"}}
			a.Teams = []string{"data"}
		}
		if _, _, err := store.Record(ctx, a, sha(a.Summary)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f mandate.ActionFilter) int {
		t.Helper()
		got, _, err := store.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	cases := []struct {
		name string
		f    mandate.ActionFilter
		want int
	}{
		{"All", mandate.ActionFilter{}, 7},
		{"Actor", mandate.ActionFilter{Actor: "reviewer"}, 3},
		{"Type", mandate.ActionFilter{Type: "deploy"}, 4},
		{"Resource", mandate.ActionFilter{Resource: "table:billing.invoices"}, 3},
		{"FileResource", mandate.ActionFilter{Resource: "file:acme/api:src/x.go"}, 4},
		{"Team", mandate.ActionFilter{Team: "data"}, 3},
		{"SinceFuture", mandate.ActionFilter{Since: time.Now().Add(time.Hour)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := count(c.f); got != c.want {
				t.Errorf("got %d actions, want %d", got, c.want)
			}
		})
	}
	t.Run("CursorPagesNewestFirst", func(t *testing.T) {
		var summaries []string
		f := mandate.ActionFilter{Limit: 3}
		for {
			page, next, err := store.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				summaries = append(summaries, a.Summary)
			}
			if next == 0 {
				break
			}
			f.Before = next
		}
		want := "[a6 a5 a4 a3 a2 a1 a0]"
		if got := fmt.Sprint(summaries); got != want {
			t.Errorf("pages = %s, want %s", got, want)
		}
	})
}

func TestReportResult(t *testing.T) {
	_, store, _ := setup(t)
	ctx := context.Background()
	raw, _, _ := store.Record(ctx, newAction("deployer", "", "x"), sha("x"))
	id := decode(t, raw).ActionID
	res := mandate.ActionResult{Status: mandate.StatusFailed, Error: "timeout", FailureMode: "timeout", DurationMS: 1200, Result: json.RawMessage(`{"a": 1}`)}
	a, err := store.ReportResult(ctx, "deployer", id, res)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != mandate.StatusFailed || a.Result == nil || a.Result.FailureMode != "timeout" {
		t.Errorf("after result: %+v", a)
	}
	if _, err := store.ReportResult(ctx, "deployer", id, res); err != nil {
		t.Errorf("same result again: %v", err)
	}
	res.Status = mandate.StatusSucceeded
	if _, err := store.ReportResult(ctx, "deployer", id, res); mandate.ErrorCode(err) != mandate.ECONFLICT {
		t.Errorf("different result: %v, want conflict", err)
	}
	if _, err := store.ReportResult(ctx, "reviewer", id, res); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("another actor's action: %v, want not found", err)
	}
	if _, err := store.ReportResult(ctx, "deployer", "0190a0a0-0000-7000-8000-000000000000", res); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown action: %v, want not found", err)
	}
}

func TestTokens(t *testing.T) {
	_, _, actors := setup(t)
	ctx := context.Background()
	tok, err := actors.CreateToken(ctx, "deployer")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := actors.Authenticate(ctx, tok); err != nil || got != "deployer" {
		t.Fatalf("authenticate = %q, %v", got, err)
	}
	for _, bad := range []string{"", "mnd_", tok + "x", tok[:len(tok)-1], "Bearer " + tok} {
		if _, err := actors.Authenticate(ctx, bad); mandate.ErrorCode(err) != mandate.EUNAUTHORIZED {
			t.Errorf("token %q: %v, want unauthorized", bad, err)
		}
	}
	if _, err := actors.CreateToken(ctx, "ghost"); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("token for undeclared agent: %v", err)
	}
	n, err := actors.RevokeTokens(ctx, "deployer")
	if err != nil || n != 1 {
		t.Fatalf("revoke = %d, %v", n, err)
	}
	if _, err := actors.Authenticate(ctx, tok); mandate.ErrorCode(err) != mandate.EUNAUTHORIZED {
		t.Errorf("revoked token: %v", err)
	}
	t.Run("UndeclaredAgentLosesAccess", func(t *testing.T) {
		tok, _ := actors.CreateToken(ctx, "reviewer")
		if err := actors.SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
			t.Fatal(err)
		}
		if _, err := actors.Authenticate(ctx, tok); mandate.ErrorCode(err) != mandate.EUNAUTHORIZED {
			t.Errorf("token of removed agent: %v", err)
		}
	})
}

func TestListenWakesOnPause(t *testing.T) {
	db, _, actors := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 1)
	ready := make(chan struct{})
	go db.Listen(ctx, postgres.StateChannel, func(p string) { got <- p }, func() { close(ready) }, nil)
	<-ready
	if _, _, err := actors.SetPaused(ctx, "reviewer", true, "erin", "why"); err != nil {
		t.Fatal(err)
	}
	if p := <-got; p != "reviewer" {
		t.Errorf("notified about %q, want reviewer", p)
	}
}

func TestMigrateConcurrentlyAndCreateDatabase(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			db, err := postgres.Open(ctx, url)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			if _, _, err := db.Migrate(ctx, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cur, latest, err := db.SchemaStatus(ctx)
	if err != nil || cur != latest || latest < 1 {
		t.Errorf("schema %d of %d, err %v", cur, latest, err)
	}
}
