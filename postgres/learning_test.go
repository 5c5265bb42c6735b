package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// learnEnv is a fresh database with the learning store, actions to point at, and a direct
// connection that seeds incidents the way the incident store leaves them (this store
// reads incidents; it does not open them).
type learnEnv struct {
	db      *postgres.DB
	store   *postgres.LearningStore
	actions *postgres.ActionStore
	conn    *pgx.Conn
	seq     int
}

var learnT0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

func newLearnEnv(t *testing.T) *learnEnv {
	t.Helper()
	db, actions, _ := setup(t)
	conn, err := pgx.Connect(context.Background(), db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &learnEnv{db: db, store: postgres.NewLearningStore(db), actions: actions, conn: conn}
}

func (e *learnEnv) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// incident seeds an incident in state, opened at the given time.
func (e *learnEnv) incident(t *testing.T, state mandate.IncidentState, opened time.Time) int64 {
	t.Helper()
	var n int64
	err := e.conn.QueryRow(context.Background(), `INSERT INTO incidents (title, severity, state, resources, resource_keys, teams, opened_by, via, opened_at, resolved_at)
		VALUES ('Payments down', 'high', $1, '[{"kind":"service","name":"payments-api"}]', '{service:payments-api}', '{payments}', 'alice', 'slack', $2,
		        CASE WHEN $1 IN ('resolved', 'closed') THEN $2::timestamptz + interval '1 hour' END)
		RETURNING number`, string(state), opened).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// action records an action told to bob (a DM) and team payments, and returns its id.
func (e *learnEnv) action(t *testing.T) string {
	t.Helper()
	e.seq++
	a := newAction("deployer", "", "learning action "+string(rune('a'+e.seq)))
	a.Decision.Targets = []mandate.Target{{Kind: mandate.TargetPerson, ID: "bob"}, {Kind: mandate.TargetTeam, ID: "payments"}}
	raw, _, err := e.actions.Record(context.Background(), a, sha(a.Summary))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, raw).ActionID
}

func (e *learnEnv) cause(t *testing.T, number int64, actionID string, state mandate.CauseState) {
	t.Helper()
	e.exec(t, `INSERT INTO incident_causes (incident, action_id, rank, score, reason, state)
		SELECT $1, $2, count(*) + 1, 1, 'test', $3 FROM incident_causes WHERE incident = $1`, number, actionID, string(state))
}

func (e *learnEnv) incidentState(t *testing.T, number int64) (state string, closed bool, events int) {
	t.Helper()
	err := e.conn.QueryRow(context.Background(), `SELECT state, closed_at IS NOT NULL, (SELECT count(*) FROM incident_events WHERE incident = $1)
		FROM incidents WHERE number = $1`, number).Scan(&state, &closed, &events)
	if err != nil {
		t.Fatal(err)
	}
	return state, closed, events
}

func learnDay(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func wantCode(t *testing.T, what string, err error, code, inMessage string) {
	t.Helper()
	if mandate.ErrorCode(err) != code || !strings.Contains(mandate.ErrorMessage(err)+err.Error(), inMessage) {
		t.Fatalf("%s: got %v (%s), want %s mentioning %q", what, err, mandate.ErrorCode(err), code, inMessage)
	}
}

func TestPostmortemPublishAndCloseNeedAnActionItem(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	n := e.incident(t, mandate.IncidentResolved, learnT0)

	pm, err := e.store.GetPostmortem(ctx, n)
	if err != nil || pm.State != mandate.PostmortemNone || pm.Markdown != "" {
		t.Fatalf("before any draft: %+v, %v", pm, err)
	}
	_, err = e.store.PublishPostmortem(ctx, n, "bob", learnT0)
	wantCode(t, "publish without a draft", err, mandate.EINVALID, "no postmortem draft yet")
	_, err = e.store.GetPostmortem(ctx, 999)
	wantCode(t, "unknown incident", err, mandate.ENOTFOUND, "no incident INC-999")

	if err := e.store.SavePostmortem(ctx, n, "# draft 1", learnT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pm, _ = e.store.GetPostmortem(ctx, n)
	if pm.State != mandate.PostmortemDraft || pm.Markdown != "# draft 1" || pm.At == nil || !pm.At.Equal(learnT0.Add(time.Hour)) {
		t.Fatalf("after the first save: %+v", pm)
	}

	for _, try := range []func() (*mandate.Postmortem, error){
		func() (*mandate.Postmortem, error) { return e.store.PublishPostmortem(ctx, n, "bob", learnT0) },
		func() (*mandate.Postmortem, error) { return e.store.ClosePostmortem(ctx, n, "# final", "bob", learnT0) },
	} {
		_, err := try()
		wantCode(t, "without an action item", err, mandate.EINVALID, "needs at least one action item with an owner and a due date")
	}
	if pm, _ := e.store.GetPostmortem(ctx, n); pm.State != mandate.PostmortemDraft || pm.PublishedBy != "" || pm.Markdown != "# draft 1" {
		t.Fatalf("a refused publish or close changed the postmortem: %+v", pm)
	}
	if state, closed, _ := e.incidentState(t, n); state != "resolved" || closed {
		t.Fatalf("a refused close changed the incident: %s closed=%v", state, closed)
	}
	_, err = e.store.PublishPostmortem(ctx, n, " ", learnT0)
	wantCode(t, "nobody publishing", err, mandate.EINVALID, "human act")

	if _, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: "Canary deploys", Owner: "bob", Due: learnDay(2026, 3, 9), Created: learnT0}); err != nil {
		t.Fatal(err)
	}
	pm, err = e.store.PublishPostmortem(ctx, n, "bob", learnT0.Add(2*time.Hour))
	if err != nil || pm.State != mandate.PostmortemPublished || pm.PublishedBy != "bob" {
		t.Fatalf("publish: %+v, %v", pm, err)
	}
	_, err = e.store.PublishPostmortem(ctx, n, "alice", learnT0)
	wantCode(t, "publish twice", err, mandate.ECONFLICT, "already published (by bob)")
	if err := e.store.SavePostmortem(ctx, n, "# draft 2", learnT0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if pm, _ := e.store.GetPostmortem(ctx, n); pm.State != mandate.PostmortemPublished || pm.Markdown != "# draft 2" {
		t.Fatalf("rewriting a published postmortem: %+v", pm)
	}

	pm, err = e.store.ClosePostmortem(ctx, n, "# final", "erin", learnT0.Add(4*time.Hour))
	if err != nil || pm.State != mandate.PostmortemClosed || pm.Markdown != "# final" || pm.PublishedBy != "bob" {
		t.Fatalf("close: %+v, %v", pm, err)
	}
	state, closed, events := e.incidentState(t, n)
	if state != "closed" || !closed {
		t.Errorf("closing the postmortem left the incident %s (closed_at set: %v)", state, closed)
	}
	if events != 4 { // drafted, item added, published, closed
		t.Errorf("%d timeline events, want 4", events)
	}
	err = e.store.SavePostmortem(ctx, n, "# too late", learnT0)
	wantCode(t, "rewrite a closed postmortem", err, mandate.ECONFLICT, "closed")
	_, err = e.store.ClosePostmortem(ctx, n, "", "erin", learnT0)
	wantCode(t, "close twice", err, mandate.ECONFLICT, "already closed")

	// An incident opened again cannot have its postmortem closed.
	again := e.incident(t, mandate.IncidentOpen, learnT0)
	e.exec(t, `UPDATE incidents SET postmortem_state = 'draft' WHERE number = $1`, again)
	if _, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: again, Title: "x", Owner: "bob", Due: learnDay(2026, 3, 9)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.ClosePostmortem(ctx, again, "", "erin", learnT0)
	wantCode(t, "close while open", err, mandate.EINVALID, "resolve it before closing")
}

func TestActionItemsAreValidatedAndMarkedDone(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	n := e.incident(t, mandate.IncidentResolved, learnT0)

	_, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: "  "})
	wantCode(t, "empty item", err, mandate.EINVALID, "incomplete")
	fields := err.(*mandate.Error).Fields
	if len(fields) != 3 || fields[0].Field != "title" || fields[1].Field != "owner" || fields[2].Field != "due" {
		t.Errorf("fields %+v, want title, owner, due", fields)
	}
	_, err = e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: strings.Repeat("x", postgres.MaxItemTitle+1), Owner: "bob", Due: learnDay(2026, 3, 9)})
	wantCode(t, "long title", err, mandate.EINVALID, "incomplete")
	_, err = e.store.AddItem(ctx, mandate.ActionItem{Incident: 999, Title: "x", Owner: "bob", Due: learnDay(2026, 3, 9)})
	wantCode(t, "unknown incident", err, mandate.ENOTFOUND, "no incident INC-999")
	if items, _ := e.store.Items(ctx, n); len(items) != 0 {
		t.Fatalf("refused items were stored: %+v", items)
	}

	// A due time of day counts as its UTC date.
	it, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: " Canary deploys ", Owner: "bob", Due: time.Date(2026, 3, 9, 23, 30, 0, 0, time.UTC), Created: learnT0})
	if err != nil {
		t.Fatal(err)
	}
	if it.Title != "Canary deploys" || !it.Due.Equal(learnDay(2026, 3, 9)) || it.State != mandate.ItemOpen || !it.Created.Equal(learnT0) {
		t.Errorf("stored item %+v", it)
	}
	done, changed, err := e.store.MarkDone(ctx, it.ID, "bob", learnT0.Add(time.Hour))
	if err != nil || !changed || done.State != mandate.ItemDone || done.DoneBy != "bob" || !done.DoneAt.Equal(learnT0.Add(time.Hour)) {
		t.Fatalf("mark done: %+v %v %v", done, changed, err)
	}
	again, changed, err := e.store.MarkDone(ctx, it.ID, "erin", learnT0.Add(2*time.Hour))
	if err != nil || changed || again.DoneBy != "bob" || !again.DoneAt.Equal(learnT0.Add(time.Hour)) {
		t.Errorf("marking it done again: %+v %v %v", again, changed, err)
	}
	_, _, err = e.store.MarkDone(ctx, 999, "bob", learnT0)
	wantCode(t, "unknown item", err, mandate.ENOTFOUND, "no action item 999")
}

// TestNagIsClaimedOncePerDay: replicas racing for the day's reminders each win a
// different subset, every overdue item exactly once; the next day they are due again; a
// released claim can be taken again; items done or not yet overdue are never listed.
func TestNagIsClaimedOncePerDay(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	n := e.incident(t, mandate.IncidentResolved, learnT0)
	add := func(title string, due time.Time) *mandate.ActionItem {
		it, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: title, Owner: "bob", Due: due})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	var overdue []*mandate.ActionItem
	for i := range 20 {
		overdue = append(overdue, add("late "+string(rune('a'+i)), learnDay(2026, 3, 1+i%9)))
	}
	dueToday := add("due today", learnDay(2026, 3, 10))
	done := add("done", learnDay(2026, 3, 1))
	if _, _, err := e.store.MarkDone(ctx, done.ID, "bob", now); err != nil {
		t.Fatal(err)
	}

	list, err := e.store.Overdue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(overdue) {
		t.Fatalf("%d overdue items, want %d", len(list), len(overdue))
	}
	for i, it := range list {
		if it.ID == dueToday.ID || it.ID == done.ID {
			t.Errorf("%q is listed as overdue", it.Title)
		}
		if i > 0 && it.Due.Before(list[i-1].Due) {
			t.Errorf("not the most overdue first: %s after %s", it.Due, list[i-1].Due)
		}
	}

	claims := func(at time.Time) map[int64]int {
		var mu sync.Mutex
		won := map[int64]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for _, it := range overdue {
					ok, err := e.store.ClaimNag(ctx, it.ID, at)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						won[it.ID]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		return won
	}
	check := func(label string, won map[int64]int) {
		t.Helper()
		for _, it := range overdue {
			if won[it.ID] != 1 {
				t.Errorf("%s: item %d claimed %d times, want once", label, it.ID, won[it.ID])
			}
		}
	}
	check("first run", claims(now))
	if won := claims(now.Add(3 * time.Hour)); len(won) != 0 {
		t.Errorf("a later run the same day claimed %v again", won)
	}
	check("the next day", claims(now.Add(24*time.Hour)))

	if err := e.store.ReleaseNag(ctx, overdue[0].ID, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.store.ClaimNag(ctx, overdue[0].ID, now.Add(25*time.Hour)); !ok {
		t.Error("a released claim could not be taken again that day")
	}
	if ok, _ := e.store.ClaimNag(ctx, done.ID, now); ok {
		t.Error("a done item was claimed for a reminder")
	}
}

func TestPatternsHitsAndRepeats(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	first := e.incident(t, mandate.IncidentResolved, learnT0)
	second := e.incident(t, mandate.IncidentResolved, learnT0.Add(24*time.Hour))
	e.incident(t, mandate.IncidentOpen, learnT0.Add(48*time.Hour))

	for _, bad := range []mandate.IncidentPattern{
		{Kind: "fuzzy", ActionType: "deploy", ResourcePattern: "x"},
		{Kind: mandate.PatternExact, ResourcePattern: "service:x"},
		{Kind: mandate.PatternResource, ActionType: "deploy"},
		{Kind: mandate.PatternFailureMode, ActionType: "deploy"},
	} {
		_, err := e.store.SavePatterns(ctx, first, []mandate.IncidentPattern{
			{Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: "service:ok"}, bad})
		wantCode(t, "bad pattern "+string(bad.Kind), err, mandate.EINVALID, "pattern 1")
	}
	ps := []mandate.IncidentPattern{
		{Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: "service:payments-api"},
		{Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "service:payments-*"},
		{Kind: mandate.PatternFailureMode, ActionType: "deploy", FailureMode: "data_loss"},
	}
	saved, err := e.store.SavePatterns(ctx, first, ps)
	if err != nil || len(saved) != 3 {
		t.Fatalf("save: %+v, %v", saved, err)
	}
	again, err := e.store.SavePatterns(ctx, first, ps[:2])
	if err != nil || len(again) != 3 || again[0].ID != saved[0].ID {
		t.Fatalf("saving again: %+v, %v", again, err)
	}
	_, err = e.store.SavePatterns(ctx, 999, ps)
	wantCode(t, "unknown incident", err, mandate.ENOTFOUND, "INC-999")
	if _, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: first, Title: "Canary", Owner: "bob", Due: learnDay(2026, 3, 9)}); err != nil {
		t.Fatal(err)
	}

	srcs, err := e.store.PatternSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 1 || srcs[0].Number != first || len(srcs[0].Patterns) != 3 || len(srcs[0].Items) != 1 || srcs[0].Title != "Payments down" {
		t.Fatalf("pattern sources: %+v", srcs)
	}

	a := e.action(t)
	n, err := e.store.RecordHits(ctx, a, []int64{saved[0].ID, saved[1].ID}, learnT0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("record hits: %d, %v", n, err)
	}
	if n, err := e.store.RecordHits(ctx, a, []int64{saved[0].ID}, learnT0.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("recording a hit again: %d new, %v", n, err)
	}
	_, err = e.store.RecordHits(ctx, a, []int64{123456}, learnT0)
	wantCode(t, "unknown pattern", err, mandate.ENOTFOUND, "no such pattern")
	_, err = e.store.RecordHits(ctx, "not-a-uuid", []int64{saved[0].ID}, learnT0)
	wantCode(t, "bad action", err, mandate.ENOTFOUND, "no action")
	hits, err := e.store.Hits(ctx, learnT0)
	if err != nil || hits[first] != 1 || len(hits) != 1 {
		t.Errorf("hits per incident: %v, %v", hits, err)
	}

	_, err = e.store.MarkRepeat(ctx, first, second)
	wantCode(t, "repeat of a later incident", err, mandate.EINVALID, "only an earlier incident")
	if ok, err := e.store.MarkRepeat(ctx, second, first); err != nil || !ok {
		t.Fatalf("mark repeat: %v %v", ok, err)
	}
	if ok, _ := e.store.MarkRepeat(ctx, second, first); ok {
		t.Error("marking a repeat twice changed it again")
	}
	st, err := e.store.RepeatRate(ctx, learnT0, learnT0.Add(72*time.Hour))
	if err != nil || st.Incidents != 3 || st.Repeats != 1 || st.Rate < 0.33 || st.Rate > 0.34 {
		t.Errorf("repeat rate: %+v, %v", st, err)
	}
	if st, _ := e.store.RepeatRate(ctx, learnT0.Add(72*time.Hour), learnT0.Add(96*time.Hour)); st.Incidents != 0 || st.Rate != 0 {
		t.Errorf("an empty window: %+v", st)
	}
}

func TestInvolvedReadsNotificationsEscalationsAndResponses(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	n := e.incident(t, mandate.IncidentResolved, learnT0)
	cause, dismissed := e.action(t), e.action(t)
	e.cause(t, n, cause, mandate.CauseConfirmed)
	e.cause(t, n, dismissed, mandate.CauseDismissed)

	deliveries := postgres.NewDeliveryStore(e.db)
	notes, err := postgres.NewRoutingStore(e.db).Notifications(ctx, cause)
	if err != nil || len(notes) != 2 {
		t.Fatalf("notifications of the cause: %+v, %v", notes, err)
	}
	bob, team := notes[0].ID, notes[1].ID
	delivered := learnT0.Add(time.Minute)
	for _, id := range []int64{bob, team} {
		if err := deliveries.Delivered(ctx, id, "C1", "1.0", delivered); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := deliveries.Intervene(ctx, mandate.Intervention{NotificationID: bob, ActionID: cause, Kind: "paused", PersonID: "bob", SlackUser: "U0BOB",
		Allowed: true, At: delivered.Add(7 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := deliveries.Intervene(ctx, mandate.Intervention{NotificationID: team, ActionID: cause, Kind: "approved", SlackUser: "U0EVE",
		Allowed: false, At: delivered.Add(8 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `INSERT INTO escalations (notification_id, action_id, policy, started_at) VALUES ($1, $2, 'payments', $3)`, team, cause, delivered)
	e.exec(t, `INSERT INTO escalation_steps (notification_id, step, notify, told, at) VALUES ($1, 0, 'on-call', '{erin,dan}', $2)`, team, delivered.Add(10*time.Minute))

	got, err := e.store.Involved(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		who, kind, target, response string
		tti                         int64
	}
	var rows []row
	for _, v := range got {
		r := row{v.Who, v.Kind, string(v.Target), v.Response, -1}
		if v.TTIMillis != nil {
			r.tti = *v.TTIMillis
		}
		if v.ActionID != cause {
			t.Errorf("%+v is about another action", v)
		}
		rows = append(rows, r)
	}
	want := []row{
		{"bob", "notified", "person", "paused", 7000},
		{"payments", "notified", "team", "", -1},
		{"bob", "responded", "", "paused", 7000},
		{"erin", "escalated", "", "", -1}, // in the order the step told them
		{"dan", "escalated", "", "", -1},
	}
	if len(rows) != len(want) {
		t.Fatalf("involved:\n%+v\nwant\n%+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}

// TestLearningChangesAreAnnounced: every replica's matcher reloads on NOTIFY.
func TestLearningChangesAreAnnounced(t *testing.T) {
	e := newLearnEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := e.incident(t, mandate.IncidentResolved, learnT0)
	listening, heard := make(chan struct{}, 1), make(chan struct{}, 10)
	go e.db.Listen(ctx, postgres.LearningChannel, func(string) { heard <- struct{}{} }, func() { listening <- struct{}{} }, nil)
	select {
	case <-listening:
	case <-ctx.Done():
		t.Fatal("not listening")
	}
	if _, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: n, Title: "x", Owner: "bob", Due: learnDay(2026, 3, 9)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-heard:
	case <-ctx.Done():
		t.Fatal("adding an action item was not announced")
	}
}
