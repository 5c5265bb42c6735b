package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// seededDigests returns a digest store on a database holding pgtest.SeedDigestWeek.
func seededDigests(t *testing.T) *postgres.DigestStore {
	t.Helper()
	db, _ := pgtest.DigestWeekDB(t)
	return postgres.NewDigestStore(db)
}

// asJSON renders a digest for comparison, every time in UTC so that only instants count.
func asJSON(t *testing.T, d *mandate.Digest) string {
	t.Helper()
	c := *d
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	c.Days = nil
	for _, x := range d.Days {
		c.Days = append(c.Days, x.UTC())
	}
	c.Incidents.List = nil
	for _, i := range d.Incidents.List {
		i.OpenedAt = i.OpenedAt.UTC()
		c.Incidents.List = append(c.Incidents.List, i)
	}
	c.Overdue = nil
	for _, it := range d.Overdue {
		it.Due = it.Due.UTC()
		c.Overdue = append(c.Overdue, it)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func weekQuery(team string, members ...string) mandate.DigestQuery {
	return mandate.DigestQuery{Team: team, Members: members, Start: pgtest.WeekStart, End: pgtest.WeekEnd, Days: pgtest.WeekDays()}
}

func count(name string, n int) mandate.DigestCount { return mandate.DigestCount{Name: name, Count: n} }

func day(i int, h time.Duration) time.Time { return pgtest.WeekStart.AddDate(0, 0, i).Add(h) }

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestDigestFiguresTeam checks every figure of payments' week against the seed, worked
// out by hand (see pgtest.SeedDigestWeek for the rows).
func TestDigestFiguresTeam(t *testing.T) {
	store := seededDigests(t)
	got, err := store.Figures(context.Background(), weekQuery("payments", "alice", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	want := &mandate.Digest{
		Team: "payments", Start: pgtest.WeekStart, End: pgtest.WeekEnd, Days: pgtest.WeekDays(),
		// A1–A6 and A10; not A7 (platform's alone), A8 (before), A9 (at the end).
		Actions: mandate.DigestActions{Total: 7, PerDay: []int{2, 0, 2, 0, 1, 1, 1},
			ByAgent: []mandate.DigestCount{count("deployer", 3), count("migrator", 3), count("crawler", 1)},
			ByPath:  []mandate.DigestCount{count("monitored_execute", 3), count("flagged_execute", 2), count("gated_execute", 2)}},
		// N1–N5, N7, N9, N10, N11 (to the team, alice or bob); N7 is folded and N10
		// failed. Needing an answer: A2, A3, A4, A10; A10's answer came after the week.
		Notifications: mandate.DigestNotifications{Total: 9, PerDay: []int{3, 0, 3, 0, 1, 1, 1}, Delivered: 7, NeedAnswer: 4, Answered: 3},
		// acknowledged 60, 120, 300 s: p50 120 s, p95 120 + 0.9 × 180 = 282 s.
		TTI: []mandate.DigestTTI{
			{Kind: "acknowledged", Samples: 3, P50: 120 * time.Second, P95: 282 * time.Second},
			{Kind: "approved", Samples: 1, P50: 660 * time.Second, P95: 660 * time.Second},
			{Kind: "paused", Samples: 1, P50: 30 * time.Second, P95: 30 * time.Second},
		},
		Rules: []mandate.DigestRule{
			{Rule: "prod-deploys", Notifications: 4, Feedback: 3, NotRelevant: 2, Missed: 1},
			{Rule: "default", Notifications: 3, Feedback: 4, NotRelevant: 1, Missed: 2},
			{Rule: "migrations", Notifications: 2, Missed: 1},
		},
		Ownership: mandate.DigestOwnership{UnownedActions: 2,
			Gaps: []mandate.DigestCount{count("bucket:tmp-exports", 1), count("service:legacy-cron", 1)}},
		Escalations: mandate.DigestEscalations{Escalated: 3, Steps: 5, Answered: 1, NoResponse: 1, Running: 1},
		Incidents: mandate.DigestIncidents{Opened: 2, Repeats: 1,
			List: []mandate.DigestIncident{
				{Number: 2, Title: "Payments API 500s", Severity: "high", State: "resolved", OpenedAt: day(2, 2*time.Hour)},
				{Number: 3, Title: "Invoice table locked", Severity: "critical", State: "open", RepeatOf: 1, OpenedAt: day(5, 2*time.Hour)},
			},
			Misses: []mandate.IncidentMiss{
				{Incident: 3, ActionID: pgtest.A4, ActionType: "db_migration", Resources: []string{"table:billing.invoices"}, Who: "dave"},
				{Incident: 4, ActionID: pgtest.A7, ActionType: "bucket_write", Resources: []string{"bucket:tmp-exports"}, Who: "bob"},
			}},
		Overdue: []mandate.DigestItem{
			{ID: 5, Incident: 4, Title: "Raise the crawler quota", Owner: "bob", Due: date("2026-11-01")},
			{ID: 1, Incident: 1, Title: "Alert on checkout error rate", Owner: "bob", Due: date("2026-11-20")},
			{ID: 2, Incident: 1, Title: "Runbook for checkout rollback", Owner: "alice", Due: date("2026-11-22")},
		},
	}
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Errorf("payments' digest:\n%s\nwant:\n%s", g, w)
	}
}

// TestDigestFiguresOrg checks the admins' (whole organisation's) figures of the week.
func TestDigestFiguresOrg(t *testing.T) {
	store := seededDigests(t)
	got, err := store.Figures(context.Background(), weekQuery(""))
	if err != nil {
		t.Fatal(err)
	}
	want := &mandate.Digest{
		Start: pgtest.WeekStart, End: pgtest.WeekEnd, Days: pgtest.WeekDays(),
		Actions: mandate.DigestActions{Total: 8, PerDay: []int{2, 0, 2, 1, 1, 1, 1},
			ByAgent: []mandate.DigestCount{count("deployer", 3), count("migrator", 3), count("crawler", 2)},
			ByPath:  []mandate.DigestCount{count("monitored_execute", 4), count("flagged_execute", 2), count("gated_execute", 2)}},
		Notifications: mandate.DigestNotifications{Total: 12, PerDay: []int{3, 0, 4, 1, 1, 1, 2}, Delivered: 10, NeedAnswer: 4, Answered: 3},
		// paused 10 and 30 s: p95 10 + 0.95 × 20 = 29 s.
		TTI: []mandate.DigestTTI{
			{Kind: "acknowledged", Samples: 3, P50: 120 * time.Second, P95: 282 * time.Second},
			{Kind: "approved", Samples: 1, P50: 660 * time.Second, P95: 660 * time.Second},
			{Kind: "paused", Samples: 2, P50: 20 * time.Second, P95: 29 * time.Second},
		},
		Rules: []mandate.DigestRule{
			{Rule: "default", Notifications: 5, Feedback: 4, NotRelevant: 1, Missed: 3},
			{Rule: "prod-deploys", Notifications: 4, Feedback: 3, NotRelevant: 2, Missed: 1},
			{Rule: "migrations", Notifications: 3, Missed: 1},
		},
		Ownership: mandate.DigestOwnership{UnownedActions: 3,
			Gaps: []mandate.DigestCount{count("bucket:tmp-exports", 2), count("service:legacy-cron", 1)}},
		Escalations: mandate.DigestEscalations{Escalated: 4, Steps: 6, Answered: 1, NoResponse: 2, Running: 1},
		Incidents: mandate.DigestIncidents{Opened: 3, Repeats: 1,
			List: []mandate.DigestIncident{
				{Number: 2, Title: "Payments API 500s", Severity: "high", State: "resolved", OpenedAt: day(2, 2*time.Hour)},
				{Number: 3, Title: "Invoice table locked", Severity: "critical", State: "open", RepeatOf: 1, OpenedAt: day(5, 2*time.Hour)},
				{Number: 4, Title: "Crawler quota", Severity: "low", State: "open", OpenedAt: day(3, 2*time.Hour)},
			},
			Misses: []mandate.IncidentMiss{
				{Incident: 3, ActionID: pgtest.A4, ActionType: "db_migration", Resources: []string{"table:billing.invoices"}, Who: "dave"},
				{Incident: 4, ActionID: pgtest.A7, ActionType: "bucket_write", Resources: []string{"bucket:tmp-exports"}, Who: "bob"},
				{Incident: 4, ActionID: pgtest.A7, ActionType: "bucket_write", Resources: []string{"bucket:tmp-exports"}, Who: "carol"},
			}},
		Overdue: []mandate.DigestItem{
			{ID: 5, Incident: 4, Title: "Raise the crawler quota", Owner: "bob", Due: date("2026-11-01")},
			{ID: 6, Incident: 4, Title: "Quota dashboard", Owner: "carol", Due: date("2026-11-01")},
			{ID: 1, Incident: 1, Title: "Alert on checkout error rate", Owner: "bob", Due: date("2026-11-20")},
			{ID: 2, Incident: 1, Title: "Runbook for checkout rollback", Owner: "alice", Due: date("2026-11-22")},
		},
	}
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Errorf("the organisation's digest:\n%s\nwant:\n%s", g, w)
	}
}

// TestDigestFiguresEmptyAndInvalid: a team with nothing gets zeros (and empty, not nil,
// series of the right length); a period whose days do not start at its start is refused.
func TestDigestFiguresEmptyAndInvalid(t *testing.T) {
	store := seededDigests(t)
	ctx := context.Background()
	got, err := store.Figures(ctx, weekQuery("search", "erin"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Actions.Total != 0 || len(got.Actions.PerDay) != 7 || got.Notifications.Total != 0 || len(got.TTI) != 0 ||
		len(got.Rules) != 0 || got.Ownership.UnownedActions != 0 || got.Escalations != (mandate.DigestEscalations{}) ||
		got.Incidents.Opened != 0 || len(got.Overdue) != 0 {
		t.Errorf("an idle team's digest has figures: %s", asJSON(t, got))
	}
	q := weekQuery("payments")
	q.Days = q.Days[1:]
	if _, err := store.Figures(ctx, q); mandate.ErrorCode(err) != mandate.EINVALID {
		t.Errorf("days not starting at the start: %v, want EINVALID", err)
	}
	// The seeded week shifted by a day sees Tuesday's to Monday's rows: A1 and A2 (Monday
	// 10:00 and 11:00) drop out, A9 (Monday 09:00 a week later) comes in.
	q = weekQuery("payments", "alice", "bob")
	q.Start, q.End = q.Start.AddDate(0, 0, 1), q.End.AddDate(0, 0, 1)
	for i := range q.Days {
		q.Days[i] = q.Days[i].AddDate(0, 0, 1)
	}
	got, err = store.Figures(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Actions.PerDay) != "[0 2 0 1 1 1 1]" || got.Actions.Total != 6 {
		t.Errorf("shifted week: %d actions, per day %v; want 6, [0 2 0 1 1 1 1]", got.Actions.Total, got.Actions.PerDay)
	}
}

// TestDigestRunClaims: a run is claimed once, even by many replicas at the same moment;
// a lapsed claim (its replica died) or a failed run due for a retry is taken over; a
// finished run is never run again; deliveries are remembered per destination.
func TestDigestRunClaims(t *testing.T) {
	store := seededDigests(t)
	ctx := context.Background()
	now := pgtest.WeekEnd.Add(30 * time.Second)
	run := mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: "payments", Start: pgtest.WeekStart, End: pgtest.WeekEnd}
	const replicas = 12
	var wg sync.WaitGroup
	attempts := make(chan int, replicas)
	for i := range replicas {
		wg.Go(func() {
			n, err := store.ClaimRun(ctx, run, fmt.Sprintf("replica-%d", i), now, 10*time.Minute)
			if err != nil {
				t.Error(err)
			}
			attempts <- n
		})
	}
	wg.Wait()
	close(attempts)
	claimed := 0
	for n := range attempts {
		if n != 0 {
			claimed++
			if n != 1 {
				t.Errorf("first claim is attempt %d", n)
			}
		}
	}
	if claimed != 1 {
		t.Fatalf("%d replicas claimed the run, want 1", claimed)
	}
	// Another team's run, and the admins', are separate claims.
	other := run
	other.Team = "platform"
	if n, _ := store.ClaimRun(ctx, other, "r", now, time.Minute); n != 1 {
		t.Errorf("platform's run: attempt %d, want 1", n)
	}
	// Within the lease nobody takes it over; after it, a replica does (attempt 2).
	if n, _ := store.ClaimRun(ctx, run, "late", now.Add(9*time.Minute), 10*time.Minute); n != 0 {
		t.Errorf("claimed within the lease: attempt %d", n)
	}
	if n, _ := store.ClaimRun(ctx, run, "late", now.Add(10*time.Minute), 10*time.Minute); n != 2 {
		t.Errorf("lapsed claim: attempt %d, want 2", n)
	}
	// Deliveries are recorded once per destination.
	if err := store.RecordDelivery(ctx, run, "slack:C0PAY", "1.000100", now); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordDelivery(ctx, run, "slack:C0PAY", "2.000200", now); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Delivered(ctx, run); err != nil || len(got) != 1 || !got["slack:C0PAY"] {
		t.Errorf("delivered: %v, %v", got, err)
	}
	if got, _ := store.Delivered(ctx, other); len(got) != 0 {
		t.Errorf("platform's run has deliveries: %v", got)
	}
	// A failed run waits for its retry time, then is claimed again.
	retryAt := now.Add(15 * time.Minute)
	if err := store.RetryRun(ctx, run, retryAt, "slack: ratelimited"); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.ClaimRun(ctx, run, "r", retryAt.Add(-time.Second), time.Minute); n != 0 {
		t.Errorf("claimed before its retry time: attempt %d", n)
	}
	if n, _ := store.ClaimRun(ctx, run, "r", retryAt, time.Minute); n != 3 {
		t.Errorf("retry: attempt %d, want 3", n)
	}
	st, err := store.Run(ctx, run)
	if err != nil || st.Attempts != 3 || st.LastError != "slack: ratelimited" || st.Finished != nil || st.ClaimedBy != "r" {
		t.Errorf("run status %+v, %v", st, err)
	}
	// Finished: never again, even long after.
	if err := store.FinishRun(ctx, run, retryAt, ""); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.ClaimRun(ctx, run, "r", retryAt.Add(30*24*time.Hour), time.Minute); n != 0 {
		t.Errorf("finished run claimed again: attempt %d", n)
	}
	if st, _ := store.Run(ctx, run); st.Finished == nil || st.LastError != "" {
		t.Errorf("finished run status %+v", st)
	}
	manual := mandate.DigestRun{Kind: mandate.RunAdminDigest, Start: now, End: now, Manual: true}
	if n, _ := store.ClaimRun(ctx, manual, "cli", now, time.Minute); n != 1 {
		t.Errorf("manual run: attempt %d", n)
	}
	if st, _ := store.Run(ctx, manual); st == nil || !st.Manual {
		t.Errorf("manual run not marked manual: %+v", st)
	}
	if _, err := store.Run(ctx, mandate.DigestRun{Kind: mandate.RunNag, Start: now}); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown run: %v", err)
	}
}
