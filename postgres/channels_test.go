package postgres_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// jobsOf lists the queued River jobs as "kind:id", in insertion order, read straight
// from River's table: jobs are inserted in the transaction of what they act on, so they
// are there as soon as that call returns.
func jobsOf(t *testing.T, db *postgres.DB) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT kind || ':' || (args->>'id') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// idleQueue inserts jobs and works none, so tests can look at what was enqueued.
func idleQueue(t *testing.T, db *postgres.DB) *postgres.Queue {
	t.Helper()
	q, err := postgres.NewQueue(db, postgres.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func notificationsOf(t *testing.T, db *postgres.DB, actionID string) map[string]mandate.NotificationInfo {
	t.Helper()
	ns, err := postgres.NewRoutingStore(db).Notifications(context.Background(), actionID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mandate.NotificationInfo{}
	for _, n := range ns {
		out[n.Kind] = n
	}
	return out
}

func jobID(kind postgres.JobKind, id int64) string {
	return string(kind) + ":" + strconv.FormatInt(id, 10)
}

// TestEachTargetKindGetsItsOwnDeliveryJob: a team goes to Slack's deliverer, a webhook to
// the webhook deliverer (even while Slack is not configured), an escalation policy to the
// job that starts it; none reaches a deliverer that cannot deliver it.
func TestEachTargetKindGetsItsOwnDeliveryJob(t *testing.T) {
	db, _, _ := setup(t)
	ctx := context.Background()
	q := idleQueue(t, db)
	withTargets := func(summary string) *mandate.Action {
		a := newAction("deployer", "", summary)
		a.Decision.Targets = []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"},
			{Kind: mandate.TargetWebhook, ID: "https://hooks.acme.test/x"}, {Kind: mandate.TargetPolicy, ID: "fast"}}
		return a
	}

	// Without Slack: only the webhook is queued; the rest wait.
	noSlack := postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: q})
	t.Cleanup(noSlack.Close)
	raw, _, err := noSlack.Record(ctx, withTargets("before slack"), sha("before slack"))
	if err != nil {
		t.Fatal(err)
	}
	before := notificationsOf(t, db, decode(t, raw).ActionID)
	if got := [3]string{before["team"].State, before["webhook"].State, before["escalation_policy"].State}; got != [3]string{"pending", "queued", "pending"} {
		t.Errorf("states without Slack (team, webhook, policy) = %v", got)
	}
	if got, want := jobsOf(t, db), []string{jobID(postgres.JobWebhook, before["webhook"].ID)}; !slices.Equal(got, want) {
		t.Errorf("jobs without Slack = %v, want %v", got, want)
	}

	// Slack configured: what waited is queued by kind, and new actions get all three.
	store := postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: q, Deliver: true})
	t.Cleanup(store.Close)
	if n, err := store.EnqueuePending(ctx); err != nil || n != 2 {
		t.Fatalf("EnqueuePending = %d, %v; want the team and the policy", n, err)
	}
	raw, _, err = store.Record(ctx, withTargets("with slack"), sha("with slack"))
	if err != nil {
		t.Fatal(err)
	}
	after := notificationsOf(t, db, decode(t, raw).ActionID)
	want := []string{
		jobID(postgres.JobWebhook, before["webhook"].ID),
		jobID(postgres.JobDeliver, before["team"].ID), jobID(postgres.JobEscalationTarget, before["escalation_policy"].ID),
		jobID(postgres.JobDeliver, after["team"].ID), jobID(postgres.JobWebhook, after["webhook"].ID), jobID(postgres.JobEscalationTarget, after["escalation_policy"].ID),
	}
	got := jobsOf(t, db)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("jobs = %v\nwant   %v", got, want)
	}
	for kind, n := range after {
		if n.State != "queued" {
			t.Errorf("%s notification is %s, want queued", kind, n.State)
		}
	}
}

// TestChannelOutcomes: each channel's outcome is recorded per notification; a retry's
// confirmation replaces a failure, never the reverse; status names failing channels.
func TestChannelOutcomes(t *testing.T) {
	db, store, _ := setup(t)
	ctx := context.Background()
	raw, _, err := store.Record(ctx, newAction("deployer", "", "x"), sha("x"))
	if err != nil {
		t.Fatal(err)
	}
	id := notificationsOf(t, db, decode(t, raw).ActionID)["team"].ID
	d := postgres.NewDeliveryStore(db)
	since := time.Now().Add(-time.Hour)
	if lines, err := d.Degraded(ctx, since); err != nil || len(lines) != 0 {
		t.Fatalf("degraded before anything failed: %q, %v", lines, err)
	}
	if err := d.Delivered(ctx, id, "C0PAYMENTS", "1700000000.000100", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := d.RecordChannel(ctx, id, postgres.ChannelEmail, false, "email: 550 mailbox unavailable"); err != nil {
		t.Fatal(err)
	}
	if err := d.RecordChannel(ctx, id, postgres.ChannelPagerDuty, true, "mandate-notification-1"); err != nil {
		t.Fatal(err)
	}
	// A late failure report does not undo PagerDuty's confirmation.
	if err := d.RecordChannel(ctx, id, postgres.ChannelPagerDuty, false, "pagerduty events: timeout"); err != nil {
		t.Fatal(err)
	}
	outs, err := d.Channels(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range outs {
		got = append(got, o.Channel+"="+o.State+" "+o.Detail)
	}
	want := []string{"email=failed email: 550 mailbox unavailable", "pagerduty=confirmed mandate-notification-1", "slack=confirmed C0PAYMENTS 1700000000.000100"}
	if !slices.Equal(got, want) {
		t.Errorf("channels = %q\nwant       %q", got, want)
	}
	lines, err := d.Degraded(ctx, since)
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "email: 1 delivery failed since") || !strings.Contains(lines[0], "550 mailbox unavailable") {
		t.Errorf("degraded = %q, %v", lines, err)
	}
	// The email retried and got through.
	if err := d.RecordChannel(ctx, id, postgres.ChannelEmail, true, "alice@acme.test"); err != nil {
		t.Fatal(err)
	}
	if lines, _ := d.Degraded(ctx, since); len(lines) != 0 {
		t.Errorf("degraded after the retry got through: %q", lines)
	}

	// A webhook given up on: the notification fails, the channel says why.
	if err := d.FailedBy(ctx, id, postgres.ChannelWebhook, "webhook: action.notification https://hooks.acme.test/x: 404 Not Found"); err != nil {
		t.Fatal(err)
	}
	n, err := d.Get(ctx, id)
	if err != nil || n.State != "failed" {
		t.Fatalf("after FailedBy: %+v, %v", n, err)
	}
	if lines, _ := d.Degraded(ctx, since); len(lines) != 1 || !strings.Contains(lines[0], "webhook: 1 delivery failed") || !strings.Contains(lines[0], "404") {
		t.Errorf("degraded = %q", lines)
	}
	if err := d.DeliveredBy(ctx, id, postgres.ChannelWebhook, "accepted by https://hooks.acme.test/x"); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.Get(ctx, id); n.State != "delivered" || n.Delivered == nil {
		t.Errorf("after DeliveredBy: %+v", n)
	}
}

// TestPagesAreAnsweredByInterventions: an allowed intervention on an action schedules, in
// its own transaction, the answer to every page about the action that exists: resolve for
// a decision, acknowledge otherwise, never a downgrade; pages opened later are not
// answered by earlier interventions; a trigger landing after its answer schedules the
// answer again.
func TestPagesAreAnsweredByInterventions(t *testing.T) {
	db, store, _ := setup(t)
	ctx := context.Background()
	q := idleQueue(t, db)
	pages := postgres.NewPageStore(db, q)
	d := postgres.NewDeliveryStore(db).WithQueue(q)
	raw, _, err := store.Record(ctx, newAction("deployer", "", "x"), sha("x"))
	if err != nil {
		t.Fatal(err)
	}
	actionID := decode(t, raw).ActionID
	nid := notificationsOf(t, db, actionID)["team"].ID
	answerJobs := func() []string {
		var out []string
		for _, j := range jobsOf(t, db) {
			if strings.HasPrefix(j, string(postgres.JobAnswerPage)+":") {
				out = append(out, j)
			}
		}
		return out
	}
	intervene := func(kind string, allowed bool) {
		t.Helper()
		if _, _, err := d.Intervene(ctx, mandate.Intervention{NotificationID: nid, ActionID: actionID, Kind: kind, SlackUser: "U0ALICE", PersonID: "alice", Allowed: allowed, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(key string) *postgres.Page {
		t.Helper()
		ps, err := pages.ForAction(ctx, actionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.DedupKey == key {
				return &p
			}
		}
		t.Fatalf("no page %s among %+v", key, ps)
		return nil
	}

	// An intervention before any page answers nothing.
	intervene("acknowledged", true)
	if got := answerJobs(); len(got) != 0 {
		t.Fatalf("answer jobs without pages: %v", got)
	}
	// Paged (escalation ran out of Slack), then acknowledged: one answer job.
	if want, err := pages.Paging(ctx, postgres.Page{DedupKey: "mandate-notification-1", ActionID: actionID, NotificationID: nid, Reason: "escalation"}); err != nil || want != "" {
		t.Fatalf("Paging = %q, %v", want, err)
	}
	if err := pages.Paged(ctx, "mandate-notification-1"); err != nil {
		t.Fatal(err)
	}
	p := page("mandate-notification-1")
	if p.State != "triggered" || p.TriggeredAt == nil || p.Want != "" || len(answerJobs()) != 0 {
		t.Fatalf("after Paged: %+v, jobs %v", p, answerJobs())
	}
	intervene("flagged", false) // refused: answers nothing
	intervene("acknowledged", true)
	if p = page("mandate-notification-1"); p.Want != mandate.PageAcknowledge {
		t.Errorf("want after acknowledged = %q", p.Want)
	}
	if got, want := answerJobs(), []string{jobID(postgres.JobAnswerPage, p.ID)}; !slices.Equal(got, want) {
		t.Errorf("answer jobs = %v, want %v", got, want)
	}
	// Looks OK resolves; a later acknowledgement does not downgrade it.
	intervene("looks_ok", true)
	intervene("question", true)
	if p = page("mandate-notification-1"); p.Want != mandate.PageResolve {
		t.Errorf("want after looks_ok and a question = %q", p.Want)
	}
	if got := answerJobs(); len(got) != 2 {
		t.Errorf("answer jobs = %v, want one for the acknowledgement and one for the resolution", got)
	}
	// Paging an answered key again (a retried job) is refused: someone answered.
	if want, err := pages.Paging(ctx, postgres.Page{DedupKey: "mandate-notification-1", ActionID: actionID, NotificationID: nid, Reason: "escalation"}); err != nil || want != mandate.PageResolve {
		t.Errorf("Paging an answered key = %q, %v", want, err)
	}
	// The answer is sent; a stale answer (the trigger landed again since) is not recorded.
	if ok, err := pages.Answered(ctx, p.ID, "resolved", p.TriggeredAt); err != nil || !ok {
		t.Fatalf("Answered = %v, %v", ok, err)
	}
	if ok, err := pages.Answered(ctx, p.ID, "acknowledged", p.TriggeredAt); err != nil || ok {
		t.Errorf("a slow acknowledgement after the resolution was recorded: %v, %v", ok, err)
	}
	if err := pages.Paged(ctx, "mandate-notification-1"); err != nil { // a trigger retried after the resolution
		t.Fatal(err)
	}
	if got := answerJobs(); len(got) != 3 {
		t.Errorf("answer jobs after a late trigger = %v, want the resolution scheduled again", got)
	}
	if ok, err := pages.Answered(ctx, p.ID, "resolved", p.TriggeredAt); err != nil || ok {
		t.Errorf("Answered with a stale trigger time = %v, %v; want false", ok, err)
	}
	if p = page("mandate-notification-1"); p.State != "triggered" {
		t.Errorf("state after the late trigger = %q", p.State)
	}

	// A gate page opened after all this is not answered by the earlier interventions.
	if want, err := pages.Paging(ctx, postgres.Page{DedupKey: "mandate-gate-" + actionID, ActionID: actionID, Reason: "gate_expired"}); err != nil || want != "" {
		t.Fatalf("Paging the gate = %q, %v", want, err)
	}
	if g := page("mandate-gate-" + actionID); g.Want != "" || g.State != "paging" || g.NotificationID != 0 {
		t.Errorf("gate page = %+v", g)
	}
	// Not confirmed within a minute shows in status; the test moves its creation back.
	if err := pages.Failed(ctx, "mandate-gate-"+actionID, "pagerduty events: 400: Event object is invalid"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE pages SET created_at = now() - interval '2 minutes' WHERE dedup_key = $1`, "mandate-gate-"+actionID); err != nil {
		t.Fatal(err)
	}
	lines, err := d.Degraded(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(lines) != 1 || !strings.Contains(lines[0], "pagerduty: 1 page not confirmed") || !strings.Contains(lines[0], "Event object is invalid") {
		t.Errorf("degraded = %q, %v", lines, err)
	}
	if _, err := pages.Get(ctx, 1<<40); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("Get of a missing page: %v", err)
	}
}

// TestAlertStoreRaisesOnce: of several replicas raising the same alert, one sends it; of
// several clearing it, one sends the all-clear.
func TestAlertStoreRaisesOnce(t *testing.T) {
	db, _, _ := setup(t)
	ctx := context.Background()
	a, b := postgres.NewAlertStore(db), postgres.NewAlertStore(db)
	if _, cleared, err := a.Clear(ctx, "delivery_backlog"); err != nil || cleared {
		t.Fatalf("clearing an alert never raised: %v, %v", cleared, err)
	}
	first, err := a.Raise(ctx, "delivery_backlog", "3 waiting")
	if err != nil || !first {
		t.Fatalf("first raise = %v, %v", first, err)
	}
	if again, err := b.Raise(ctx, "delivery_backlog", "4 waiting"); err != nil || again {
		t.Errorf("second raise = %v, %v; want false", again, err)
	}
	raisedAt, cleared, err := b.Clear(ctx, "delivery_backlog")
	if err != nil || !cleared || raisedAt.IsZero() {
		t.Errorf("clear = %v, %v, %v", raisedAt, cleared, err)
	}
	if _, cleared, _ := a.Clear(ctx, "delivery_backlog"); cleared {
		t.Error("cleared twice")
	}
	if again, err := a.Raise(ctx, "delivery_backlog", "1 waiting"); err != nil || !again {
		t.Errorf("raise after the clear = %v, %v; want a new alert", again, err)
	}
}
