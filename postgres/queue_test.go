package postgres_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// TestDeliveryJobsAreEnqueuedWithTheAction records actions with a queue: every
// notification gets exactly one delivery job, enqueued in the action's transaction, and
// pending notifications from before get theirs through EnqueuePending.
func TestDeliveryJobsAreEnqueuedWithTheAction(t *testing.T) {
	db, plain, _ := setup(t)
	ctx := context.Background()
	// Recorded while no channel is configured: stays pending.
	if _, _, err := plain.Record(ctx, newAction("deployer", "", "before"), sha("before")); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := map[int64]int{}
	attempts := map[int64][]int{}
	got := make(chan int64, 100)
	q, err := postgres.NewQueue(db, postgres.QueueOptions{Handlers: map[postgres.JobKind]postgres.Handler{
		postgres.JobDeliver: func(ctx context.Context, id int64, attempt int) error {
			mu.Lock()
			seen[id]++
			attempts[id] = append(attempts[id], attempt)
			n := seen[id]
			mu.Unlock()
			if n == 1 && id%2 == 0 {
				return postgres.RetryAfter{D: time.Millisecond} // as after a 429
			}
			got <- id
			return nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	store := postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: q, Deliver: true})
	t.Cleanup(store.Close)
	n, err := store.EnqueuePending(ctx)
	if err != nil || n != 1 {
		t.Fatalf("enqueued %d pending, %v; want 1", n, err)
	}
	for i := range 3 {
		if _, _, err := store.Record(ctx, newAction("deployer", "", "after"+string(rune('a'+i))), sha("after"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	done := map[int64]bool{}
	for len(done) < 4 {
		select {
		case id := <-got:
			if done[id] {
				t.Fatalf("notification %d delivered twice", id)
			}
			done[id] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of 4 deliveries ran", len(done))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if id%2 == 0 && n != 2 || id%2 == 1 && n != 1 {
			t.Errorf("notification %d handled %d times (attempts %v)", id, n, attempts[id])
		}
	}
	if n, _ := store.EnqueuePending(ctx); n != 0 {
		t.Errorf("second EnqueuePending found %d", n)
	}
	var perr postgres.Permanent
	if !errors.As(postgres.Permanent{Err: errors.New("x")}, &perr) {
		t.Error("Permanent does not unwrap")
	}
}

// TestDeliveryBacklog: notifications queued and not yet delivered are the backlog that
// makes status say degraded.
func TestDeliveryBacklog(t *testing.T) {
	db, _, _ := setup(t)
	ctx := context.Background()
	q, err := postgres.NewQueue(db, postgres.QueueOptions{}) // inserts jobs, works none
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: q, Deliver: true})
	t.Cleanup(store.Close)
	if n, err := store.DeliveryBacklog(ctx, 0); err != nil || n != 0 {
		t.Fatalf("empty backlog: %d, %v", n, err)
	}
	if _, _, err := store.Record(ctx, newAction("deployer", "", "x"), sha("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := store.DeliveryBacklog(ctx, 0); err != nil || n != 1 {
		t.Errorf("backlog after one undelivered notification: %d, %v", n, err)
	}
	if n, _ := store.DeliveryBacklog(ctx, time.Hour); n != 0 {
		t.Errorf("nothing has waited an hour, got %d", n)
	}
}

// TestJobsDueSoonSkipTheScheduler: River's scheduler moves scheduled jobs to available
// only every 5 s, so a job inserted scheduled 1.5 s ahead could start up to 5 s late. A
// job due within that look-ahead is inserted available instead, with its due time kept:
// River's fetch takes it once the database's clock reaches it, not before, and without
// the scheduler (which never touches available jobs). A job due later is left scheduled.
func TestJobsDueSoonSkipTheScheduler(t *testing.T) {
	db := pgtest.DB(t)
	ctx := context.Background()
	type run struct {
		id int64
		at time.Time
	}
	ran := make(chan run, 10)
	q, err := postgres.NewQueue(db, postgres.QueueOptions{Handlers: map[postgres.JobKind]postgres.Handler{
		postgres.JobEscalate: func(ctx context.Context, id int64, attempt int) error {
			ran <- run{id, time.Now()}
			return nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	escalations := postgres.NewEscalationStore(db, q)
	now := time.Now()
	due := map[int64]time.Time{
		1: now.Add(-time.Second),            // already due
		2: now.Add(1500 * time.Millisecond), // due before the scheduler's next pass
		3: now.Add(time.Hour),               // the scheduler's business
	}
	for id, at := range due {
		if err := escalations.Next(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	jobs := func() map[int64]string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT (args->>'id')::bigint, state::text, scheduled_at FROM river_job WHERE kind = $1`, string(postgres.JobEscalate))
		if err != nil {
			t.Fatal(err)
		}
		states := map[int64]string{}
		var id int64
		var state string
		var at time.Time
		if _, err := pgx.ForEachRow(rows, []any{&id, &state, &at}, func() error {
			states[id] = state
			if d := at.Sub(due[id]); d.Abs() >= time.Microsecond { // Postgres keeps microseconds
				t.Errorf("job %d: scheduled_at %s, want its due time %s", id, at, due[id])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return states
	}
	// Nothing works jobs yet: these are the states the inserts gave.
	want := map[int64]string{1: "available", 2: "available", 3: "scheduled"}
	if got := jobs(); !maps.Equal(got, want) {
		t.Fatalf("inserted job states %v, want %v", got, want)
	}

	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	seen := map[int64]bool{}
	for len(seen) < 2 {
		select {
		case r := <-ran:
			if r.id != 1 && r.id != 2 {
				t.Fatalf("job %d ran; only 1 and 2 are due", r.id)
			}
			if seen[r.id] {
				t.Fatalf("job %d ran twice", r.id)
			}
			seen[r.id] = true
			if r.at.Before(due[r.id]) {
				t.Errorf("job %d started at %s, before its due time %s", r.id, r.at, due[r.id])
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("jobs run: %v; want 1 and 2", seen)
		}
	}
	if got := jobs()[3]; got != "scheduled" {
		t.Errorf("the job due in an hour is %s, want scheduled", got)
	}
}
