package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate/postgres"
)

// Berlin is the time zone of the seeded week: the payments team's.
var Berlin = mustZone("Europe/Berlin")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// The seeded week: Monday 2026-11-16 09:00 to Monday 2026-11-23 09:00 in Berlin (CET,
// UTC+1), the default digest schedule's period.
var (
	WeekStart = time.Date(2026, 11, 16, 9, 0, 0, 0, Berlin)
	WeekEnd   = time.Date(2026, 11, 23, 9, 0, 0, 0, Berlin)
)

// WeekDays are the seeded week's day starts.
func WeekDays() []time.Time {
	days := make([]time.Time, 7)
	for i := range days {
		days[i] = WeekStart.AddDate(0, 0, i)
	}
	return days
}

// Seeded action ids, by name.
const (
	A1  = "00000000-0000-0000-0000-0000000000a1"
	A2  = "00000000-0000-0000-0000-0000000000a2"
	A3  = "00000000-0000-0000-0000-0000000000a3"
	A4  = "00000000-0000-0000-0000-0000000000a4"
	A5  = "00000000-0000-0000-0000-0000000000a5"
	A6  = "00000000-0000-0000-0000-0000000000a6"
	A7  = "00000000-0000-0000-0000-0000000000a7"
	A8  = "00000000-0000-0000-0000-0000000000a8"
	A9  = "00000000-0000-0000-0000-0000000000a9"
	A10 = "00000000-0000-0000-0000-000000000a10"
)

// DigestWeekDB creates a fresh, migrated database holding SeedDigestWeek and returns it
// open, with its URL. It is closed and dropped when the test ends.
func DigestWeekDB(tb testing.TB) (*postgres.DB, string) {
	tb.Helper()
	url := URL(tb)
	db := migrated(tb, url)
	SeedDigestWeek(tb, url)
	return db, url
}

// SeedDigestWeek fills the database at url with a week of activity for two teams,
// payments (alice, bob) and platform (carol), around WeekStart–WeekEnd, with rows on
// both sides of every boundary. Every figure a digest shows is worked out by hand in
// postgres/digests_test.go; the comments there and here say which row counts where.
func SeedDigestWeek(tb testing.TB, url string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	day := func(i int, h time.Duration) time.Time { return WeekStart.AddDate(0, 0, i).Add(h) }
	exec := func(sql string, args ...any) {
		tb.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			tb.Fatalf("seed: %v\n%s", err, sql)
		}
	}
	for _, a := range [][2]string{{"deployer", "payments"}, {"migrator", "payments"}, {"crawler", "platform"}} {
		exec(`INSERT INTO actors (id, type, team) VALUES ($1, 'agent', $2)`, a[0], a[1])
	}
	action := func(id, actor, typ, path, urgency, rule, teams, keys string, at time.Time) {
		exec(`INSERT INTO actions (id, actor_id, request_sha, type, summary, resources, resource_keys, reversibility,
				occurred_at, recorded_at, status, path, urgency, rule, teams, answer)
			VALUES ($1, $2, '\x00', $3, $3 || ' by ' || $2, '[]', $4, 'reversible', $5, $5, 'accepted', $6, $7, $8, $9, '{}')`,
			id, actor, typ, strings.Split(keys, ","), at, path, urgency, rule, strings.Split(teams, ","))
	}
	// Payments' week: seven actions (A1–A6 and A10); A7 is platform's alone; A8 is before
	// the week and A9 at its (exclusive) end.
	action(A1, "deployer", "deploy", "monitored_execute", "normal", "default", "payments", "service:payments-api", day(0, time.Hour))
	action(A2, "deployer", "deploy", "flagged_execute", "high", "prod-deploys", "payments", "service:payments-api", day(0, 2*time.Hour))
	action(A3, "deployer", "deploy", "flagged_execute", "high", "prod-deploys", "payments", "service:payments-api", day(2, time.Hour))
	action(A4, "migrator", "db_migration", "gated_execute", "critical", "migrations", "payments", "table:billing.invoices", day(2, 3*time.Hour))
	action(A5, "migrator", "db_write", "monitored_execute", "normal", "default", "payments", "bucket:tmp-exports,table:billing.invoices", day(4, time.Hour))
	action(A6, "crawler", "config_change", "monitored_execute", "normal", "default", "platform,payments", "service:legacy-cron", day(6, 23*time.Hour))
	action(A7, "crawler", "bucket_write", "monitored_execute", "normal", "default", "platform", "bucket:tmp-exports", day(3, time.Hour))
	action(A8, "deployer", "deploy", "monitored_execute", "normal", "default", "payments", "service:payments-api", WeekStart.Add(-time.Minute))
	action(A9, "deployer", "deploy", "monitored_execute", "normal", "default", "payments", "service:payments-api", WeekEnd)
	action(A10, "migrator", "db_migration", "gated_execute", "critical", "migrations", "payments", "table:billing.invoices", day(5, time.Hour))

	// Notifications. ids are assigned in this order, N1 = 1 … N13 = 13.
	type note struct {
		action, kind, target, urgency, state string
		created                              time.Time
		responded                            time.Duration // after delivery; 0: no response
		response                             string
	}
	notes := []note{
		{A1, "team", "payments", "normal", "delivered", day(0, time.Hour), 300 * time.Second, "acknowledged"},   // N1
		{A2, "team", "payments", "high", "delivered", day(0, 2*time.Hour), 60 * time.Second, "acknowledged"},    // N2
		{A2, "person", "alice", "high", "delivered", day(0, 2*time.Hour), 0, ""},                                // N3
		{A3, "person", "bob", "high", "delivered", day(2, time.Hour), 30 * time.Second, "paused"},               // N4
		{A4, "team", "payments", "critical", "delivered", day(2, 3*time.Hour), 660 * time.Second, "approved"},   // N5
		{A4, "person", "carol", "critical", "delivered", day(2, 3*time.Hour), 10 * time.Second, "paused"},       // N6: platform's
		{A5, "team", "payments", "normal", "folded", day(4, time.Hour), 0, ""},                                  // N7
		{A6, "team", "platform", "normal", "delivered", day(6, 23*time.Hour), 0, ""},                            // N8: platform's
		{A6, "person", "alice", "normal", "delivered", day(6, 23*time.Hour), 120 * time.Second, "acknowledged"}, // N9
		{A3, "team", "payments", "high", "failed", day(2, time.Hour), 0, ""},                                    // N10
		{A10, "team", "payments", "critical", "delivered", day(5, time.Hour), 48 * time.Hour, "acknowledged"},   // N11: answered after the week
		{A8, "team", "payments", "normal", "delivered", WeekStart.Add(-time.Minute), 5 * time.Second, "paused"}, // N12: before the week
		{A7, "team", "platform", "normal", "delivered", day(3, time.Hour), 0, ""},                               // N13: platform's
	}
	for _, n := range notes {
		var delivered, responded *time.Time
		var kind *string
		var tti *int64
		if n.state == "delivered" {
			delivered = &n.created
		}
		if n.responded > 0 {
			at := n.created.Add(n.responded)
			ms := n.responded.Milliseconds()
			responded, kind, tti = &at, &n.response, &ms
		}
		exec(`INSERT INTO notifications (action_id, target_kind, target_id, urgency, state, created_at, delivered_at,
				first_response_at, response_kind, tti_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			n.action, n.kind, n.target, n.urgency, n.state, n.created, delivered, responded, kind, tti)
	}

	// Feedback: prod-deploys 2 of 3 not relevant; default 1 of 4.
	for _, f := range []struct {
		n        int
		relevant bool
		by       string
	}{{2, true, "alice"}, {3, false, "alice"}, {4, false, "bob"}, {1, true, "bob"}, {1, true, "carol"}, {9, true, "alice"}, {7, false, "alice"}} {
		exec(`INSERT INTO notification_feedback (notification_id, relevant, given_by) VALUES ($1, $2, $3)`, f.n, f.relevant, f.by)
	}
	// "Should have been notified" marks.
	miss := func(action, who string, at time.Time) {
		exec(`INSERT INTO routing_misses (action_id, who, given_by, given_at) VALUES ($1, $2, 'reviewer', $3)`, action, who, at)
	}
	miss(A4, "dave", day(3, 0))                  // migrations; payments' action; a cause of INC-3
	miss(A6, "payments", day(6, 23*time.Hour))   // default; names the team
	miss(A7, "bob", day(4, 0))                   // default; names a member; a cause of INC-4
	miss(A7, "carol", day(4, 0))                 // default; platform's only
	miss(A1, "carol", WeekStart.Add(-time.Hour)) // before the week
	miss(A2, "carol", day(1, 0))                 // prod-deploys; a dismissed cause of INC-2

	// Escalations, by the notification that started them.
	esc := func(n int, action string, step int, state string, at time.Time) {
		exec(`INSERT INTO escalations (notification_id, action_id, policy, step, state, started_at) VALUES ($1, $2, 'p', $3, $4, $5)`,
			n, action, step, state, at)
	}
	esc(2, A2, 1, "answered", day(0, 2*time.Hour))
	esc(5, A4, 0, "answered", day(2, 3*time.Hour)) // answered before any step: not escalated
	esc(11, A10, 3, "exhausted", day(5, time.Hour))
	esc(4, A3, 1, "running", day(2, time.Hour))
	esc(13, A7, 1, "exhausted", day(3, time.Hour)) // platform's

	// Incidents: INC-1 before the week (its action items are overdue), INC-2 and INC-3
	// (a repeat of INC-1) payments', INC-4 platform's.
	incident := func(title, severity, state, teams string, repeatOf any, at time.Time) {
		exec(`INSERT INTO incidents (title, severity, state, resources, resource_keys, teams, opened_by, via, repeat_of, opened_at)
			VALUES ($1, $2, $3, '[]', '{}', $4, 'alice', 'slack', $5, $6)`, title, severity, state, strings.Split(teams, ","), repeatOf, at)
	}
	incident("Checkout errors", "medium", "closed", "payments", nil, WeekStart.AddDate(0, 0, -20))
	incident("Payments API 500s", "high", "resolved", "payments", nil, day(2, 2*time.Hour))
	incident("Invoice table locked", "critical", "open", "payments,platform", 1, day(5, 2*time.Hour))
	incident("Crawler quota", "low", "open", "platform", nil, day(3, 2*time.Hour))
	cause := func(inc int, action, state string, rank int) {
		exec(`INSERT INTO incident_causes (incident, action_id, rank, score, reason, state) VALUES ($1, $2, $3, 1, 'seeded', $4)`,
			inc, action, rank, state)
	}
	cause(2, A2, "dismissed", 1)
	cause(3, A4, "confirmed", 1)
	cause(4, A7, "candidate", 1)

	// Action items, ids 1…6.
	item := func(inc int, title, owner, due, state string) {
		exec(`INSERT INTO action_items (incident, title, owner, due, state) VALUES ($1, $2, $3, $4::date, $5)`, inc, title, owner, due, state)
	}
	item(1, "Alert on checkout error rate", "bob", "2026-11-20", "open")    // overdue
	item(1, "Runbook for checkout rollback", "alice", "2026-11-22", "open") // overdue by the end (00:00 UTC on the 23rd)
	item(1, "Load test checkout", "alice", "2026-11-23", "open")            // due on the last day: not yet overdue
	item(1, "Postmortem review", "bob", "2026-11-10", "done")               // done
	item(4, "Raise the crawler quota", "bob", "2026-11-01", "open")         // platform's incident, payments' person
	item(4, "Quota dashboard", "carol", "2026-11-01", "open")               // platform's

	// Ownership as last resolved: two resources nobody owns.
	for _, o := range [][2]string{{"service:payments-api", "config"}, {"table:billing.invoices", "config"}, {"bucket:tmp-exports", "none"}, {"service:legacy-cron", "none"}} {
		owners := []string{"payments"}
		if o[1] == "none" {
			owners = []string{}
		}
		exec(`INSERT INTO resource_owners (key, owners, layer) VALUES ($1, $2, $3)`, o[0], owners, o[1])
	}
}
