package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// incidentEnv is a fresh database with two agents and a way to record actions at chosen
// times.
type incidentEnv struct {
	db        *postgres.DB
	actions   *postgres.ActionStore
	incidents *postgres.IncidentStore
	seq       int
}

func newIncidentEnv(t *testing.T) *incidentEnv {
	db, actions, _ := setup(t)
	return &incidentEnv{db: db, actions: actions, incidents: postgres.NewIncidentStore(db, nil)}
}

// record stores an action of actor on resources at the given time and returns its id.
func (e *incidentEnv) record(t *testing.T, actor string, at time.Time, resources ...mandate.Resource) string {
	t.Helper()
	e.seq++
	a := newAction(actor, "", "action "+string(rune('a'+e.seq)))
	a.OccurredAt = at
	a.Resources = resources
	raw, _, err := e.actions.Record(context.Background(), a, sha(a.Summary))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, raw).ActionID
}

var (
	payments = mandate.Resource{Kind: "service", Name: "payments-api"}
	billing  = mandate.Resource{Kind: "table", Name: "billing.invoices"}
	docs     = mandate.Resource{Kind: "service", Name: "docs-site"}
)

func incident(title string, at time.Time, causes ...string) *mandate.Incident {
	in := &mandate.Incident{Title: title, Severity: mandate.SeverityHigh, Resources: []mandate.Resource{payments},
		Teams: []string{"payments", "platform"}, OpenedBy: "alice", Via: mandate.ViaSlack, OpenedAt: at}
	for i, id := range causes {
		in.Causes = append(in.Causes, mandate.IncidentCause{ActionID: id, Rank: i + 1, Score: float64(10 - i), Reason: "test"})
	}
	return in
}

func TestIncidentOpenGetList(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	deploy := e.record(t, "deployer", t0, payments, billing)
	review := e.record(t, "reviewer", t0.Add(time.Minute), payments)

	first, created, err := e.incidents.Open(ctx, incident("Payments failing", t0.Add(5*time.Minute), review, deploy))
	if err != nil || !created {
		t.Fatalf("open: created=%v err=%v", created, err)
	}
	second, _, err := e.incidents.Open(ctx, incident("Second", t0.Add(6*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if first.Number != 1 || second.Number != 2 {
		t.Errorf("numbers %d, %d; want 1, 2 from the identity", first.Number, second.Number)
	}
	got, err := e.incidents.Get(ctx, first.Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Payments failing" || got.State != mandate.IncidentOpen || got.Severity != mandate.SeverityHigh ||
		!got.MultiTeam || len(got.Resources) != 1 || got.Resources[0] != payments || got.OpenedBy != "alice" || got.Via != "slack" ||
		!got.OpenedAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("incident %+v", got)
	}
	if len(got.Causes) != 2 || got.Causes[0].ActionID != review || got.Causes[1].ActionID != deploy ||
		got.Causes[0].Rank != 1 || got.Causes[0].State != mandate.CauseCandidate {
		t.Fatalf("causes %+v, want review then deploy, ranked", got.Causes)
	}
	if a := got.Causes[1].Action; a == nil || a.ActorID != "deployer" || len(a.Resources) != 2 {
		t.Errorf("cause action %+v", a)
	}
	if _, err := e.incidents.Get(ctx, 99); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown incident: %v", err)
	}

	t.Run("UnknownCauseStoresNothing", func(t *testing.T) {
		_, _, err := e.incidents.Open(ctx, incident("Bad", t0, "0190a0a0-0000-7000-8000-000000000000"))
		if mandate.ErrorCode(err) != mandate.EINVALID {
			t.Fatalf("err %v, want invalid", err)
		}
		list, err := e.incidents.List(ctx, mandate.IncidentFilter{})
		if err != nil || len(list) != 2 {
			t.Errorf("%d incidents after a refused open (%v), want 2", len(list), err)
		}
	})
	t.Run("Channel", func(t *testing.T) {
		stored, changed, err := e.incidents.SetChannel(ctx, first.Number, "C0INC1", "inc-1-payments-failing", t0.Add(6*time.Minute))
		if err != nil || !changed || stored != "C0INC1" {
			t.Fatalf("set channel: %q %v %v", stored, changed, err)
		}
		stored, changed, err = e.incidents.SetChannel(ctx, first.Number, "C0OTHER", "inc-1-x", t0)
		if err != nil || changed || stored != "C0INC1" {
			t.Errorf("second channel: %q changed=%v %v; want the first kept", stored, changed, err)
		}
		byChannel, err := e.incidents.GetByChannel(ctx, "C0INC1")
		if err != nil || byChannel.Number != first.Number || byChannel.ChannelName != "inc-1-payments-failing" {
			t.Errorf("by channel: %+v %v", byChannel, err)
		}
		if _, err := e.incidents.GetByChannel(ctx, "C0NONE"); mandate.ErrorCode(err) != mandate.ENOTFOUND {
			t.Errorf("unknown channel: %v", err)
		}
	})
	t.Run("List", func(t *testing.T) {
		if _, _, err := e.incidents.Transition(ctx, second.Number, mandate.IncidentResolved, "bob", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := e.incidents.CountActive(ctx); err != nil || n != 1 {
			t.Errorf("%d active incidents (%v), want 1", n, err)
		}
		all, _ := e.incidents.List(ctx, mandate.IncidentFilter{})
		active, _ := e.incidents.List(ctx, mandate.IncidentFilter{Active: true})
		recent, _ := e.incidents.List(ctx, mandate.IncidentFilter{Since: t0.Add(6 * time.Minute)})
		if len(all) != 2 || all[0].Number != 2 || len(active) != 1 || active[0].Number != 1 || len(recent) != 1 || recent[0].Number != 2 {
			t.Errorf("all %d (first %d), active %d, recent %d", len(all), all[0].Number, len(active), len(recent))
		}
	})
}

// TestIncidentRuleOpensOncePerTrigger: an opt-in rule retried, or racing itself, opens one
// incident per triggering action.
func TestIncidentRuleOpensOncePerTrigger(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	trigger := e.record(t, "deployer", t0, payments)
	in := func() *mandate.Incident {
		x := incident("rule: deploy failed", t0.Add(time.Minute), trigger)
		x.Via, x.OpenedBy, x.Trigger = mandate.ViaRule, "rule:data-loss", trigger
		return x
	}
	var wg sync.WaitGroup
	numbers := make([]int64, 8)
	created := make([]bool, 8)
	for i := range numbers {
		wg.Go(func() {
			inc, c, err := e.incidents.Open(ctx, in())
			if err != nil {
				t.Error(err)
				return
			}
			numbers[i], created[i] = inc.Number, c
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(slices.Clone(created), func(c bool) bool { return !c })); n != 1 {
		t.Errorf("%d opens created an incident, want 1", n)
	}
	for _, n := range numbers {
		if n != numbers[0] {
			t.Fatalf("numbers %v: not all the same incident", numbers)
		}
	}
	inc, _, err := e.incidents.Open(ctx, in())
	if err != nil || inc.Trigger != trigger || inc.Via != "rule" {
		t.Errorf("again: %+v %v", inc, err)
	}
	list, _ := e.incidents.List(ctx, mandate.IncidentFilter{})
	if len(list) != 1 {
		t.Errorf("%d incidents, want 1", len(list))
	}
	other := e.record(t, "deployer", t0.Add(time.Second), payments)
	x := in()
	x.Trigger = other
	if inc, created, err := e.incidents.Open(ctx, x); err != nil || !created || inc.Number == numbers[0] {
		t.Errorf("another trigger action: %v %v %v; want a new incident", inc, created, err)
	}
}

func TestIncidentTransitions(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	inc, _, err := e.incidents.Open(ctx, incident("Down", t0))
	if err != nil {
		t.Fatal(err)
	}
	mitigated, changed, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentMitigated, "bob", t0.Add(10*time.Minute))
	if err != nil || !changed || mitigated.State != mandate.IncidentMitigated || !mitigated.MitigatedAt.Equal(t0.Add(10*time.Minute)) || mitigated.ResolvedAt != nil {
		t.Fatalf("mitigated: %+v %v %v", mitigated, changed, err)
	}
	again, changed, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentMitigated, "alice", t0.Add(11*time.Minute))
	if err != nil || changed || !again.MitigatedAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("mitigated again: changed=%v %v %v; want no change", changed, again.MitigatedAt, err)
	}
	resolved, changed, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentResolved, "bob", t0.Add(30*time.Minute))
	if err != nil || !changed || resolved.State != mandate.IncidentResolved || !resolved.ResolvedAt.Equal(t0.Add(30*time.Minute)) ||
		!resolved.MitigatedAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("resolved: %+v %v %v", resolved, changed, err)
	}
	if _, changed, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentResolved, "bob", t0.Add(time.Hour)); err != nil || changed {
		t.Errorf("resolved again: changed=%v %v", changed, err)
	}
	if _, _, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentMitigated, "bob", t0.Add(time.Hour)); mandate.ErrorCode(err) != mandate.ECONFLICT {
		t.Errorf("back to mitigated: %v, want conflict", err)
	}
	if _, _, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentOpen, "bob", t0.Add(time.Hour)); mandate.ErrorCode(err) != mandate.EINVALID {
		t.Errorf("to open: %v, want invalid", err)
	}
	if _, _, err := e.incidents.Transition(ctx, 42, mandate.IncidentResolved, "bob", t0); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown incident: %v", err)
	}

	direct, _, _ := e.incidents.Open(ctx, incident("Blip", t0))
	res, _, err := e.incidents.Transition(ctx, direct.Number, mandate.IncidentResolved, "bob", t0.Add(5*time.Minute))
	if err != nil || res.MitigatedAt == nil || !res.MitigatedAt.Equal(*res.ResolvedAt) {
		t.Errorf("open → resolved counts as mitigated then: %+v %v", res, err)
	}

	entries, err := e.incidents.Timeline(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, en := range entries {
		if en.Kind == mandate.TimelineIncident {
			events = append(events, en.Event+":"+en.Who)
		}
	}
	if want := []string{"opened:alice", "mitigated:bob", "resolved:bob"}; !slices.Equal(events, want) {
		t.Errorf("incident events %v, want %v (no event for the no-op)", events, want)
	}
}

func TestIncidentCausesSeverityAssign(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := e.record(t, "deployer", t0, payments)
	b := e.record(t, "reviewer", t0, payments)
	inc, _, err := e.incidents.Open(ctx, incident("Down", t0.Add(time.Minute), a, b))
	if err != nil {
		t.Fatal(err)
	}
	if got := actorsOf(inc.CausingActions()); !slices.Equal(got, []string{"deployer", "reviewer"}) {
		t.Errorf("before any verdict the candidates cause it: %v", got)
	}
	if changed, err := e.incidents.DecideCause(ctx, inc.Number, b, mandate.CauseConfirmed, "bob", t0.Add(2*time.Minute)); err != nil || !changed {
		t.Fatalf("confirm: %v %v", changed, err)
	}
	if changed, err := e.incidents.DecideCause(ctx, inc.Number, b, mandate.CauseConfirmed, "alice", t0.Add(3*time.Minute)); err != nil || changed {
		t.Errorf("confirm again: changed=%v %v", changed, err)
	}
	if changed, err := e.incidents.DecideCause(ctx, inc.Number, a, mandate.CauseDismissed, "bob", t0.Add(3*time.Minute)); err != nil || !changed {
		t.Errorf("dismiss: %v %v", changed, err)
	}
	if _, err := e.incidents.DecideCause(ctx, inc.Number, "0190a0a0-0000-7000-8000-000000000000", mandate.CauseConfirmed, "bob", t0); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("not a cause: %v", err)
	}
	if _, err := e.incidents.DecideCause(ctx, inc.Number, b, mandate.CauseCandidate, "bob", t0); mandate.ErrorCode(err) != mandate.EINVALID {
		t.Errorf("back to candidate: %v", err)
	}
	got, _ := e.incidents.Get(ctx, inc.Number)
	if got.Causes[1].State != mandate.CauseConfirmed || got.Causes[1].DecidedBy != "bob" || got.Causes[0].State != mandate.CauseDismissed {
		t.Errorf("causes %+v", got.Causes)
	}
	if got := actorsOf(got.CausingActions()); !slices.Equal(got, []string{"reviewer"}) {
		t.Errorf("once confirmed only confirmed causes count: %v", got)
	}
	signals, err := e.incidents.Signals(ctx, t0)
	if err != nil || len(signals) != 1 || !slices.Equal(actorsOf(signals[0].CausingActions()), []string{"reviewer"}) ||
		signals[0].CausingActions()[0].Action.Resources[0] != payments {
		t.Errorf("signals %+v %v", signals, err)
	}
	if none, _ := e.incidents.Signals(ctx, t0.Add(time.Hour)); len(none) != 0 {
		t.Errorf("signals since after the incident: %d", len(none))
	}

	if changed, err := e.incidents.SetSeverity(ctx, inc.Number, mandate.SeverityCritical, "bob", t0.Add(4*time.Minute)); err != nil || !changed {
		t.Errorf("severity: %v %v", changed, err)
	}
	if _, err := e.incidents.SetSeverity(ctx, inc.Number, "sev1", "bob", t0); mandate.ErrorCode(err) != mandate.EINVALID {
		t.Errorf("bad severity: %v", err)
	}
	if changed, err := e.incidents.Assign(ctx, inc.Number, "carol", "bob", t0.Add(5*time.Minute)); err != nil || !changed {
		t.Errorf("assign: %v %v", changed, err)
	}
	if changed, _ := e.incidents.Assign(ctx, inc.Number, "carol", "bob", t0.Add(6*time.Minute)); changed {
		t.Errorf("assign the same commander again changed it")
	}
	got, _ = e.incidents.Get(ctx, inc.Number)
	if got.Severity != mandate.SeverityCritical || got.Commander != "carol" {
		t.Errorf("after severity and assign: %s %q", got.Severity, got.Commander)
	}
}

func actorsOf(causes []mandate.IncidentCause) []string {
	var out []string
	for _, c := range causes {
		out = append(out, c.Action.ActorID)
	}
	return out
}

func TestIncidentCandidates(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	old := e.record(t, "deployer", t0.Add(-3*time.Hour), payments)
	inWindow := e.record(t, "deployer", t0.Add(-time.Hour), billing, payments)
	latest := e.record(t, "reviewer", t0.Add(-time.Minute), billing)
	e.record(t, "reviewer", t0.Add(-time.Minute), docs)    // another resource
	e.record(t, "reviewer", t0.Add(time.Minute), payments) // after the incident
	got, err := e.incidents.Candidates(ctx, []string{payments.Key(), billing.Key()}, t0.Add(-2*time.Hour), t0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	if want := []string{latest, inWindow}; !slices.Equal(ids, want) {
		t.Errorf("candidates %v, want %v (newest first; %s is too old)", ids, want, old)
	}
	if got, _ := e.incidents.Candidates(ctx, nil, t0.Add(-2*time.Hour), t0, 50); len(got) != 0 {
		t.Errorf("no keys: %d candidates", len(got))
	}
	found, err := e.incidents.Actions(ctx, []string{old, strings.ToUpper(latest), "nope"})
	if err != nil || len(found) != 2 || found[old] == nil || found[latest] == nil {
		t.Errorf("actions by id: %v %v", found, err)
	}
}

// TestIncidentTimeline: the timeline merges the actions on the incident's resources and
// its causes (within the window), their results, notifications, interventions, gate
// decisions, escalation steps and the incident's own events, in time order.
func TestIncidentTimeline(t *testing.T) {
	e := newIncidentEnv(t)
	ctx := context.Background()
	// Results and escalation steps are timed by the database's clock, so the scene is set
	// in the recent past.
	t0 := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Hour)
	deliveries := postgres.NewDeliveryStore(e.db)
	gates := postgres.NewGateStore(e.db)
	queue, err := postgres.NewQueue(e.db, postgres.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	escalations := postgres.NewEscalationStore(e.db, queue)

	tooEarly := e.record(t, "deployer", t0.Add(-3*time.Hour), payments)
	unrelated := e.record(t, "deployer", t0.Add(time.Minute), docs)
	cause := e.record(t, "deployer", t0, payments, billing)
	farCause := e.record(t, "reviewer", t0.Add(-90*time.Minute), docs) // a cause: shown whatever its resources, and the window starts before it
	gatedAction := newAction("reviewer", "", "charge")
	gatedAction.OccurredAt = t0.Add(2 * time.Minute)
	gatedAction.Resources = []mandate.Resource{billing, payments}
	gatedAction.Decision.Path = mandate.PathGated
	raw, _, err := e.actions.Record(ctx, gatedAction, sha("charge"))
	if err != nil {
		t.Fatal(err)
	}
	gated := decode(t, raw).ActionID

	notes, err := postgres.NewRoutingStore(e.db).Notifications(ctx, cause)
	if err != nil || len(notes) == 0 {
		t.Fatalf("notifications of the cause: %v %v", notes, err)
	}
	n := notes[0].ID
	if err := deliveries.Delivered(ctx, n, "C0PAYMENTS", "1700000000.000001", t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := deliveries.Intervene(ctx, mandate.Intervention{NotificationID: n, ActionID: cause, Kind: "paused", SlackUser: "U0ALICE",
		PersonID: "alice", Allowed: true, At: t0.Add(12 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gates.Decide(ctx, gated, false, "bob", t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.actions.ReportResult(ctx, "deployer", cause, mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss", Error: "rows gone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := escalations.Start(ctx, n, cause, "fast", t0.Add(5*time.Second), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := escalations.Take(ctx, n, 0, "team_lead", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	inc, _, err := e.incidents.Open(ctx, incident("Invoices lost", t0.Add(10*time.Minute), cause, farCause))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Minute)
	if _, _, err := e.incidents.Transition(ctx, inc.Number, mandate.IncidentResolved, "bob", after); err != nil {
		t.Fatal(err)
	}
	e.record(t, "deployer", after.Add(time.Minute), payments) // after the resolution

	entries, err := e.incidents.Timeline(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, en := range entries {
		if i > 0 && en.At.Before(entries[i-1].At) {
			t.Errorf("entry %d (%s) is before entry %d (%s)", i, en.At, i-1, entries[i-1].At)
		}
		got = append(got, en.Kind+"/"+en.Event)
		if en.Action == tooEarly || en.Action == unrelated {
			t.Errorf("entry about an action outside the incident: %+v", en)
		}
	}
	want := []string{
		"action/monitored_execute", // the far cause
		"action/monitored_execute", // the cause
		"notification/delivered",
		"intervention/paused",
		"action/gated_execute",
		"gate/pending", // by the database's clock: now
		"gate/denied",
		"incident/opened",
		"escalation/team_lead", // by the database's clock: now
		"result/failed",
		"incident/resolved",
	}
	if !sameMultiset(got, want) {
		t.Fatalf("timeline kinds\n%v\nwant (in some order)\n%v", got, want)
	}
	pos := func(kind string) int { return slices.Index(got, kind) }
	for _, pair := range [][2]string{{"notification/delivered", "intervention/paused"}, {"intervention/paused", "gate/denied"},
		{"gate/denied", "incident/opened"}, {"incident/opened", "result/failed"}, {"result/failed", "incident/resolved"}} {
		if pos(pair[0]) > pos(pair[1]) {
			t.Errorf("%s comes after %s: %v", pair[0], pair[1], got)
		}
	}
	if entries[0].Action != farCause {
		t.Errorf("first entry %+v, want the far cause", entries[0])
	}
	for _, en := range entries {
		switch en.Kind + "/" + en.Event {
		case "notification/delivered":
			if en.Channel != "C0PAYMENTS" || !en.At.Equal(t0.Add(5*time.Second)) || en.Action != cause {
				t.Errorf("notification %+v", en)
			}
		case "intervention/paused":
			if en.Who != "alice" || en.TTIMillis == nil || *en.TTIMillis != 7000 || !strings.Contains(en.Text, "TTI 7s") {
				t.Errorf("intervention %+v", en)
			}
		case "gate/denied":
			if en.Who != "bob" || en.Action != gated || en.TTIMillis == nil {
				t.Errorf("gate decision %+v", en)
			}
		case "result/failed":
			if !strings.Contains(en.Text, "data_loss") || !strings.Contains(en.Text, "rows gone") {
				t.Errorf("result %+v", en)
			}
		case "escalation/team_lead":
			if en.Who != "bob" || !strings.Contains(en.Text, "step 1") {
				t.Errorf("escalation %+v", en)
			}
		case "incident/opened":
			if en.Who != "alice" || !strings.Contains(en.Text, "Invoices lost") {
				t.Errorf("opening %+v", en)
			}
		}
	}
	if _, err := e.incidents.Timeline(ctx, 77); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown incident: %v", err)
	}
}

func sameMultiset(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
