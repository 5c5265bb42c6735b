package escalation_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
)

// replica is one `mandate serve`'s share of handoffs: its own database pool, ownership
// resolver and job queue working handoff jobs.
type replica struct {
	owners   *ownership.Resolver
	handoffs *escalation.Handoffs
}

func newReplica(t *testing.T, e *env, pd *fakePagerDuty, log *slog.Logger) *replica {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, e.db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	r := &replica{owners: resolver(t, e.cfg, pd, time.Now)}
	r.handoffs = &escalation.Handoffs{Owners: r.owners, Messenger: e.slack, Config: func() *config.Config { return e.cfg },
		Now: time.Now, Log: log}
	queue, err := postgres.NewQueue(db, postgres.QueueOptions{Handlers: map[postgres.JobKind]postgres.Handler{postgres.JobHandoff: r.handoffs.Send}})
	if err != nil {
		t.Fatal(err)
	}
	r.handoffs.Store = postgres.NewOnCallStore(db, queue)
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Stop(context.Background()) })
	return r
}

// checkAll runs every replica's detection twice, all at once.
func checkAll(t *testing.T, replicas ...*replica) {
	t.Helper()
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range 2 {
			wg.Go(func() {
				if err := r.handoffs.Check(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
}

// TestHandoffOnceAcrossReplicas: when PagerDuty's on-call for payments changes from carol
// to dan, dan gets exactly one DM listing what is open for payments, although two
// replicas each detect the change twice; carol's shift, seen first, was no handoff; a
// restarted replica sends nothing again.
func TestHandoffOnceAcrossReplicas(t *testing.T) {
	cfg := parseConfig(t, sunConfig)
	e := newEnv(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	pd := newFakePagerDuty(t, onCall{user: "PCAROL", name: "Carol", email: "carol@acme.test", level: 1, schedule: "PSCHED1",
		start: now.Add(-8 * time.Hour), end: now.Add(time.Hour)})
	logs := newLogRecorder()
	log := slog.New(logs)
	a, b := newReplica(t, e, pd, log), newReplica(t, e, pd, log)

	// What is open for payments: a gate, a running escalation, an unanswered critical
	// action; and what is not: an answered one, another team's.
	gate := e.record(t, "Drop column users.legacy_id", mandate.PathGated, mandate.UrgencyHigh, "payments")
	escalating := e.record(t, "Deploy payments-api v1.42", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	unanswered := e.record(t, "Delete bucket prod-logs", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	answered := e.record(t, "Rotate payments keys", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	other := e.record(t, "Deploy tokyo-api", mandate.PathMonitored, mandate.UrgencyCritical, "tokyo")
	e.notification(t, 1, gate)
	e.notification(t, 2, escalating)
	e.notification(t, 3, unanswered)
	e.notification(t, 4, answered)
	e.notification(t, 5, other)
	queue, err := postgres.NewQueue(e.db, postgres.QueueOptions{}) // for the escalation's next step, never worked
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewEscalationStore(e.db, queue).Start(ctx, 2, escalating.ID, "builtin:critical", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.deliveries.Intervene(ctx, mandate.Intervention{NotificationID: 4, ActionID: answered.ID, Kind: "acknowledged", Allowed: true, At: now}); err != nil {
		t.Fatal(err)
	}

	checkAll(t, a, b)
	if n, _ := logs.count(escalation.HandoffMessage); n != 0 {
		t.Fatalf("carol's shift, the first seen, was taken for %d handoffs", n)
	}

	pd.set(onCall{user: "PDAN", name: "Dan", email: "dan@acme.test", level: 1, schedule: "PSCHED1", start: now.Add(-time.Hour), end: now.Add(8 * time.Hour)})
	for _, r := range []*replica{a, b} {
		if err := r.owners.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, a, b)
	logs.wait(t, ctx, "on-call handoff sent", 1)
	if n, _ := logs.count(escalation.HandoffMessage); n != 1 {
		t.Errorf("%d handoffs detected, want 1", n)
	}
	dms := e.dms("dan")
	if len(dms) != 1 {
		t.Fatalf("dan got %d DMs, want 1", len(dms))
	}
	text := dms[0].Text
	t.Logf("handoff DM:\n%s", text)
	for _, want := range []string{
		"<@U0DAN>, you are now on call for *Payments* (PagerDuty schedule PSCHED1), taking over from <@U0CAROL>.",
		"Your shift began", "(Australia/Sydney)",
		"*Active incidents*: none",
		"*Open gates* (1)\n• deployer · deploy · Drop column users.legacy_id — waiting",
		"*Running escalations* (1)\n• deployer · deploy · Deploy payments-api v1.42 — nobody answered in",
		"*Unanswered critical notifications* (1)\n• deployer · deploy · Delete bucket prod-logs —",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("handoff lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{answered.Summary, other.Summary} {
		if strings.Contains(text, not) {
			t.Errorf("handoff lists %q:\n%s", not, text)
		}
	}
	if len(e.dms("carol")) != 0 {
		t.Error("the outgoing on-call got a DM")
	}

	// A restarted replica sees the same shift: nothing new. The job, run again, sends
	// nothing either.
	c := newReplica(t, e, pd, log)
	checkAll(t, c)
	shifts, err := postgres.NewOnCallStore(e.db, queue).Shifts(ctx, "schedule:PSCHED1")
	if err != nil {
		t.Fatal(err)
	}
	if len(shifts) != 2 || shifts[0].Person != "carol" || shifts[0].Handoff || shifts[1].Person != "dan" || !shifts[1].Handoff || shifts[1].SentAt == nil {
		t.Fatalf("shifts %+v, want carol's, then dan's handoff, sent", shifts)
	}
	if err := c.handoffs.Send(ctx, shifts[1].ID, 2); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dms("dan")); n != 1 {
		t.Errorf("dan got %d DMs after a restart and a repeated job, want 1", n)
	}

	// Run checks after every refresh by itself: carol's next shift reaches her.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.handoffs.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	pd.set(onCall{user: "PCAROL", name: "Carol", email: "carol@acme.test", level: 1, schedule: "PSCHED1",
		start: time.Now(), end: time.Now().Add(8 * time.Hour)})
	if err := a.owners.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, ctx, "on-call handoff sent", 2)
	if dms := e.dms("carol"); len(dms) != 1 || !strings.Contains(dms[0].Text, "taking over from <@U0DAN>") {
		t.Errorf("carol's DMs: %+v, want one handoff from dan", dms)
	}
}
