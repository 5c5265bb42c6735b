package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres"
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
