package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// TestOnCallObserve: a rotation's first shift seen is no handoff; a different person's
// next shift is, once, however often and by however many replicas it is observed; the
// same person carrying on is not; a stale observation of an older shift is not.
func TestOnCallObserve(t *testing.T) {
	db, _, _ := setup(t)
	ctx := context.Background()
	q, err := postgres.NewQueue(db, postgres.QueueOptions{}) // inserts handoff jobs, works none
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewOnCallStore(db, q)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	shift := func(user string, start time.Time) postgres.OnCallShift {
		return postgres.OnCallShift{Rotation: "schedule:PSCHED1", UserID: "P" + user, Name: user, Person: user, Start: start, Teams: []string{"payments"}}
	}
	// observe runs Observe n times at once and returns how many handoffs it reported.
	observe := func(t *testing.T, sh postgres.OnCallShift, n int) (handoffs int) {
		t.Helper()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, h, err := store.Observe(ctx, sh, t0)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if h {
					handoffs++
				}
			})
		}
		wg.Wait()
		return handoffs
	}
	steps := []struct {
		name     string
		shift    postgres.OnCallShift
		handoffs int
	}{
		{"FirstSightingIsNoHandoff", shift("carol", t0), 0},
		{"NewPersonIsOneHandoff", shift("dan", t0.Add(8*time.Hour)), 1},
		{"StaleOlderShiftIsNoHandoff", shift("erin", t0.Add(4*time.Hour)), 0},
		{"SamePersonCarryingOnIsNoHandoff", shift("dan", t0.Add(16*time.Hour)), 0},
		{"BackToCarol", shift("carol", t0.Add(24*time.Hour)), 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := observe(t, s.shift, 8); got != s.handoffs {
				t.Errorf("%d handoffs, want %d", got, s.handoffs)
			}
		})
	}
	shifts, err := store.Shifts(ctx, "schedule:PSCHED1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range shifts {
		got = append(got, fmt.Sprintf("%s handoff=%v from=%s", s.Person, s.Handoff, s.PreviousPerson))
	}
	want := []string{"carol handoff=false from=", "erin handoff=false from=", "dan handoff=true from=carol", "dan handoff=false from=", "carol handoff=true from=dan"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shifts\n got %q\nwant %q", got, want)
	}

	h, err := store.Handoff(ctx, shifts[2].ID)
	if err != nil || h.Rotation != "schedule:PSCHED1" || h.Name != "dan" || h.PreviousName != "carol" || h.SentAt != nil || len(h.Teams) != 1 {
		t.Fatalf("handoff %+v, %v", h, err)
	}
	if first, err := store.Sent(ctx, h.ID, t0); !first || err != nil {
		t.Errorf("first Sent: %v, %v", first, err)
	}
	if again, err := store.Sent(ctx, h.ID, t0); again || err != nil {
		t.Errorf("second Sent: %v, %v; want false", again, err)
	}
	if _, err := store.Handoff(ctx, 999); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("missing handoff: %v", err)
	}
}

// TestOnCallOpenWork: what a handoff lists for a team, each action once: pending gates,
// running escalations nobody answered, unanswered critical actions, and nothing of other
// teams, answered actions or critical actions older than the window.
func TestOnCallOpenWork(t *testing.T) {
	db, actions, _ := setup(t)
	ctx := context.Background()
	q, err := postgres.NewQueue(db, postgres.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewOnCallStore(db, q)
	escalations := postgres.NewEscalationStore(db, q)
	deliveries := postgres.NewDeliveryStore(db)
	now := time.Now()

	// Every action gets one notification, numbered from 1 in this fresh database.
	var ids []string
	record := func(summary string, path mandate.Path, urgency mandate.Urgency, teams ...string) (notification int64) {
		t.Helper()
		a := newAction("deployer", "", summary)
		a.Decision.Path, a.Decision.Urgency = path, urgency
		a.Decision.Targets = []mandate.Target{{Kind: mandate.TargetTeam, ID: teams[0]}}
		a.Teams = teams
		if _, _, err := actions.Record(ctx, a, sha(summary)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
		n, err := deliveries.Get(ctx, int64(len(ids)))
		if err != nil || n.Action.ID != a.ID {
			t.Fatalf("notification %d: %v", len(ids), err)
		}
		return n.ID
	}
	record("gate", mandate.PathGated, mandate.UrgencyCritical, "payments")
	record("second gate", mandate.PathGated, mandate.UrgencyHigh, "payments")
	esc := record("escalating", mandate.PathMonitored, mandate.UrgencyCritical, "payments", "data")
	if _, err := escalations.Start(ctx, esc, ids[2], "builtin:critical", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := escalations.Take(ctx, esc, 0, "secondary", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	record("unanswered", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	answered := record("answered", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	if _, _, err := deliveries.Intervene(ctx, mandate.Intervention{NotificationID: answered, ActionID: ids[4], Kind: "acknowledged", Allowed: true, At: now}); err != nil {
		t.Fatal(err)
	}
	record("not critical", mandate.PathMonitored, mandate.UrgencyHigh, "payments")
	record("other team", mandate.PathMonitored, mandate.UrgencyCritical, "platform")

	w, err := store.OpenWork(ctx, []string{"payments"}, now, now.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	summaries := func(items []postgres.OpenItem) (out []string) {
		for _, it := range items {
			out = append(out, it.Summary)
		}
		return out
	}
	got := fmt.Sprintf("gates %q (%d) escalations %q (%d) unanswered %q (%d)", summaries(w.Gates), w.GatesTotal,
		summaries(w.Escalations), w.EscalationsTotal, summaries(w.Unanswered), w.UnansweredTotal)
	if want := `gates ["gate" "second gate"] (2) escalations ["escalating"] (1) unanswered ["unanswered"] (1)`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(w.Escalations) == 1 && (w.Escalations[0].Policy != "builtin:critical" || w.Escalations[0].Step != 1) {
		t.Errorf("escalation %+v, want builtin:critical after 1 step", w.Escalations[0])
	}
	if len(w.Gates) == 1 && !w.Gates[0].Until.After(now) {
		t.Errorf("gate expires %s, want after now", w.Gates[0].Until)
	}

	// A limit counts what it leaves out; the window leaves older critical actions out; a
	// gate past its expiry is not open.
	w, err = store.OpenWork(ctx, []string{"data", "payments"}, now, now.Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	got = fmt.Sprintf("gates %q (%d) escalations %q (%d) unanswered %q (%d)", summaries(w.Gates), w.GatesTotal,
		summaries(w.Escalations), w.EscalationsTotal, summaries(w.Unanswered), w.UnansweredTotal)
	if want := `gates ["gate"] (2) escalations ["escalating"] (1) unanswered [] (0)`; got != want {
		t.Errorf("limit 1, window starting in an hour:\n got  %s\nwant %s", got, want)
	}
	w, err = store.OpenWork(ctx, []string{"payments"}, now.Add(time.Hour), now.Add(-time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Gates) != 0 {
		t.Errorf("a gate past its expiry is listed: %+v", w.Gates)
	}
}
