package incidents

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// learnEnv is the learner on a fresh database with the quickstart organisation, the real
// incident store (no job queue: the test calls the hook itself), slackfake and a clock
// the test moves.
type learnEnv struct {
	l       *Learner
	store   *postgres.LearningStore
	incs    *postgres.IncidentStore
	actions *postgres.ActionStore
	fake    *slackfake.Server
	cfg     *config.Config
	mu      sync.Mutex
	now     time.Time
	seq     int
}

func newLearnEnv(t *testing.T) *learnEnv {
	t.Helper()
	ctx := context.Background()
	path := "../examples/quickstart/mandate.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.DB(t)
	actors := postgres.NewActorStore(db)
	if err := actors.SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
		t.Fatal(err)
	}
	e := &learnEnv{store: postgres.NewLearningStore(db), incs: postgres.NewIncidentStore(db, nil),
		actions: postgres.NewActionStore(db, postgres.ActionStoreOptions{}), fake: slackfake.New(slackfake.Options{}), cfg: cfg,
		now: time.Now().UTC().Truncate(time.Second)}
	t.Cleanup(e.actions.Close)
	e.fake.Start()
	t.Cleanup(e.fake.Close)
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ERIN", "U0FRANK"} {
		e.fake.AddUser(u, u[2:], u[2:]+"@acme.test", "UTC")
	}
	matcher := &Matcher{Source: e.store, Now: e.clock}
	e.l = &Learner{Store: e.store, Incidents: e.incs, Feedback: postgres.NewRoutingStore(db), Matcher: matcher,
		Slack:  slack.New(e.fake.BotToken(), slack.OptionAPIURL(e.fake.URL()+"/api/")),
		Config: func() *config.Config { return cfg }, Now: e.clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return e
}

func (e *learnEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *learnEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// failedDeploy records a deploy by deployer on a service that failed with data loss.
func (e *learnEnv) failedDeploy(t *testing.T, service string) *mandate.Action {
	t.Helper()
	ctx := context.Background()
	e.seq++
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "deploy " + service + " build " + string(rune('A'+e.seq)),
		Resources: []mandate.Resource{{Kind: "service", Name: service}}, Environment: "production", Reversibility: mandate.Reversible,
		OccurredAt: e.clock(), Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyHigh, Rule: "builtin:default",
			Reasons: []string{"test"}, Targets: []mandate.Target{{Kind: mandate.TargetPerson, ID: "alice"}}}}
	sum := sha256.Sum256([]byte(a.Summary))
	raw, _, err := e.actions.Record(ctx, a, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var ans mandate.Answer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatal(err)
	}
	stored, err := e.actions.ReportResult(ctx, "", ans.ActionID, mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss", Error: "dropped 1200 rows"})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// resolvedIncident opens an incident caused by a (confirmed), gives it a channel and
// resolves it, as the incident service would.
func (e *learnEnv) resolvedIncident(t *testing.T, title, channel string, a *mandate.Action) *mandate.Incident {
	t.Helper()
	ctx := context.Background()
	inc, _, err := e.incs.Open(ctx, &mandate.Incident{Title: title, Severity: mandate.SeverityHigh, Resources: a.Resources,
		Teams: []string{"payments"}, OpenedBy: "alice", Via: mandate.ViaSlack, OpenedAt: e.clock(),
		Causes: []mandate.IncidentCause{{ActionID: a.ID, Rank: 1, Score: 1, Reason: "deploy 1 min before"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.AddChannel(channel, "inc-"+title, "U0ALICE", "U0BOB")
	if _, _, err := e.incs.SetChannel(ctx, inc.Number, channel, "inc-"+title, e.clock()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.incs.Assign(ctx, inc.Number, "bob", "alice", e.clock()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.incs.DecideCause(ctx, inc.Number, a.ID, mandate.CauseConfirmed, "bob", e.clock()); err != nil {
		t.Fatal(err)
	}
	e.advance(30 * time.Minute)
	inc, _, err = e.incs.Transition(ctx, inc.Number, mandate.IncidentResolved, "bob", e.clock())
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// snippet reassembles the Markdown posted in the card's thread.
func snippet(t *testing.T, msgs []slackfake.Message) string {
	t.Helper()
	var parts []string
	for _, m := range msgs {
		body, ok := strings.CutPrefix(m.Text, "```\n")
		body, ok2 := strings.CutSuffix(body, "\n```")
		if !ok || !ok2 {
			t.Fatalf("a thread message is not a code block: %q", m.Text)
		}
		parts = append(parts, html.UnescapeString(body))
	}
	return strings.Join(parts, "\n")
}

func buttonIDs(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
		Accessory *struct {
			ActionID string `json:"action_id"`
		} `json:"accessory"`
	}
	if err := json.Unmarshal(raw, &bs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range bs {
		for _, el := range b.Elements {
			if el.ActionID != "" {
				ids = append(ids, el.ActionID)
			}
		}
		if b.Accessory != nil {
			ids = append(ids, b.Accessory.ActionID)
		}
	}
	return ids
}

// TestLearningLoop: an incident resolves → patterns, a draft in the channel (card and
// Markdown thread) and at the endpoint; publishing is refused until an action item exists;
// the item shows in the draft and in the next warning; the same failure on a sibling
// service is recognised as a repeat; closing closes the incident.
func TestLearningLoop(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	first := e.failedDeploy(t, "payments-api")
	e.advance(time.Minute)
	inc := e.resolvedIncident(t, "payments-down", "C0INC1", first)

	if _, err := e.l.Markdown(ctx, inc.Number); mandate.ErrorCode(err) != mandate.ENOTFOUND || !strings.Contains(err.Error(), "drafted when the incident is resolved") {
		t.Fatalf("before the hook: %v", err)
	}
	e.l.OnResolved(ctx, inc)

	// Patterns.
	ps, err := e.store.Patterns(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, string(p.Kind)+" "+p.ResourcePattern+p.FailureMode)
	}
	if want := "exact service:payments-api|resource service:payments-*|failure_mode data_loss"; strings.Join(got, "|") != want {
		t.Errorf("patterns %q, want %q", strings.Join(got, "|"), want)
	}

	// The draft, stored and posted.
	md, err := e.l.Markdown(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# INC-1: payments-down", "**Postmortem draft**", "## Timeline", first.Summary, "**Confirmed** by bob",
		"| alice | notified |", "## Action items"} {
		if !strings.Contains(md, want) {
			t.Errorf("the draft lacks %q", want)
		}
	}
	msgs := e.fake.Messages("C0INC1")
	if len(msgs) < 2 || msgs[0].ThreadTS != "" || !strings.Contains(msgs[0].Text, "Postmortem draft for INC-1") {
		t.Fatalf("channel messages: %+v", msgs)
	}
	card := msgs[0]
	if ids := strings.Join(buttonIDs(t, card.Blocks), ","); ids != "add_action_item,missed_notification,publish_postmortem,close_postmortem" {
		t.Errorf("card buttons %s", ids)
	}
	if thread := e.fake.Thread("C0INC1", card.TS); snippet(t, thread) != strings.TrimRight(md, "\n") {
		t.Errorf("the thread does not hold the draft:\n%s", snippet(t, thread))
	}

	// The router now recognises the incident.
	next := &mandate.Action{Type: "deploy", Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}}
	hits := e.l.Matcher.Match(next)
	if len(hits) != 1 || hits[0].Number != inc.Number || hits[0].Items != "none were recorded" || hits[0].OpenItems {
		t.Fatalf("hits %+v", hits)
	}

	// Publishing needs a promise.
	_, err = e.l.Publish(ctx, inc.Number, "bob")
	if mandate.ErrorCode(err) != mandate.EINVALID || !strings.Contains(mandate.ErrorMessage(err), "at least one action item with an owner and a due date") {
		t.Fatalf("publish without items: %v", err)
	}
	if _, err := e.l.Publish(ctx, inc.Number, ""); mandate.ErrorCode(err) != mandate.EFORBIDDEN {
		t.Errorf("publish by nobody: %v", err)
	}

	// Action items: bad ones are refused with the field named.
	today := dayOf(e.clock())
	_, err = e.l.AddItem(ctx, mandate.ActionItem{Incident: inc.Number, Title: "Canary", Owner: "ghost", Due: today.AddDate(0, 0, -1)}, "bob")
	if ferr, ok := err.(*mandate.Error); !ok || len(ferr.Fields) != 2 || ferr.Fields[0].Field != "owner" || ferr.Fields[1].Field != "due" {
		t.Fatalf("a bad item: %v", err)
	}
	it, err := e.l.AddItem(ctx, mandate.ActionItem{Incident: inc.Number, Title: "Canary deploys for payments", Owner: "dan", Due: today.AddDate(0, 0, 3)}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	e.l.ItemAdded(ctx, it, "bob")
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0INC1" && strings.Contains(m.Text, "📌 <@U0BOB> added an action item to INC-1: *Canary deploys for payments* — owner <@U0DAN>")
	}); err != nil {
		t.Error(err)
	}
	if md, _ := e.l.Markdown(ctx, inc.Number); !strings.Contains(md, "| Canary deploys for payments | dan |") {
		t.Error("the draft does not list the new item")
	}
	if hits := e.l.Matcher.Match(next); len(hits) != 1 || !hits[0].OpenItems || hits[0].Items != "0 of 1 done" {
		t.Errorf("after the item: %+v", hits)
	}

	pm, err := e.l.Publish(ctx, inc.Number, "bob")
	if err != nil || pm.State != mandate.PostmortemPublished || !strings.Contains(pm.Markdown, "**Postmortem published**") {
		t.Fatalf("publish: %+v, %v", pm, err)
	}
	c, err := e.l.Card(ctx, inc.Number)
	if err != nil || c.State != mandate.PostmortemPublished || c.PublishedBy != "U0BOB" || len(c.Items) != 1 || c.Items[0].Owner != "U0DAN" {
		t.Errorf("card: %+v, %v", c, err)
	}

	// Only the owner, the commander or an admin may mark it done.
	if _, _, err := e.l.MarkDone(ctx, it.ID, "carol"); mandate.ErrorCode(err) != mandate.EFORBIDDEN ||
		mandate.ErrorMessage(err) != `only its owner (dan), the incident commander (bob) or an org admin may mark "Canary deploys for payments" done` {
		t.Errorf("carol marks it done: %v", err)
	}
	done, changed, err := e.l.MarkDone(ctx, it.ID, "erin") // an admin
	if err != nil || !changed || done.DoneBy != "erin" {
		t.Fatalf("the admin marks it done: %+v %v %v", done, changed, err)
	}
	if _, changed, err := e.l.MarkDone(ctx, it.ID, "dan"); err != nil || changed {
		t.Errorf("done twice: %v %v", changed, err)
	}
	if hits := e.l.Matcher.Match(next); hits[0].OpenItems || hits[0].Items != "1 of 1 done" {
		t.Errorf("after done: %+v", hits)
	}

	// The same failure on a sibling service: a repeat of INC-1.
	e.advance(time.Hour)
	second := e.failedDeploy(t, "payments-worker")
	again := e.resolvedIncident(t, "payments-down-again", "C0INC2", second)
	e.l.OnResolved(ctx, again)
	got2, err := e.incs.Get(ctx, again.Number)
	if err != nil || got2.RepeatOf != inc.Number {
		t.Fatalf("the second incident repeats %d (%v), want %d", got2.RepeatOf, err, inc.Number)
	}
	md2, _ := e.l.Markdown(ctx, again.Number)
	if !strings.Contains(md2, "| Repeat of | INC-1 |") || !strings.Contains(md2, "This repeats INC-1 (payments-down) although its action items are done") {
		t.Errorf("the second draft does not say it repeats INC-1:\n%s", md2)
	}

	// Closing: final text, incident closed, the channel told.
	pm, err = e.l.Close(ctx, inc.Number, "bob")
	if err != nil || pm.State != mandate.PostmortemClosed || !strings.Contains(pm.Markdown, "**Postmortem closed**") {
		t.Fatalf("close: %+v, %v", pm, err)
	}
	if closed, _ := e.incs.Get(ctx, inc.Number); closed.State != mandate.IncidentClosed || closed.ClosedAt == nil {
		t.Errorf("the incident is %s after its postmortem closed", closed.State)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0INC1" && strings.HasPrefix(m.Text, "🔒 <@U0BOB> closed the postmortem of INC-1")
	}); err != nil {
		t.Error(err)
	}
}

// TestNagOncePerDayAcrossReplicas: two replicas nag at the same moment and each owner
// gets one reminder per overdue item; the same day nothing more; a Slack failure gives
// the claim back; an owner without Slack is reported, not retried all day.
func TestNagOncePerDayAcrossReplicas(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	a := e.failedDeploy(t, "payments-api")
	inc := e.resolvedIncident(t, "nag", "C0INC1", a)
	due := dayOf(e.clock()).AddDate(0, 0, -2)
	for _, x := range []struct{ title, owner string }{{"Canary", "dan"}, {"Alerts", "dan"}, {"Runbook", "alice"}, {"Ghost's", "ghost"}} {
		if _, err := e.store.AddItem(ctx, mandate.ActionItem{Incident: inc.Number, Title: x.title, Owner: x.owner, Due: due}); err != nil {
			t.Fatal(err)
		}
	}
	replica := *e.l // another server process: same database and Slack, its own memory

	var wg sync.WaitGroup
	sent := make([]int, 2)
	errs := make([]error, 2)
	for i, l := range []*Learner{e.l, &replica} {
		wg.Go(func() { sent[i], errs[i] = l.Nag(ctx, e.clock()) })
	}
	wg.Wait()
	if sent[0]+sent[1] != 3 {
		t.Errorf("%d + %d reminders sent, want 3 in all", sent[0], sent[1])
	}
	ghost := 0
	for _, err := range errs {
		if err != nil {
			if !strings.Contains(err.Error(), `person "ghost" has no slack id`) {
				t.Errorf("unexpected nag error: %v", err)
			}
			ghost++
		}
	}
	if ghost != 1 {
		t.Errorf("the owner without Slack was reported %d times, want once", ghost)
	}
	dm := func(user string) []slackfake.Message {
		ch, ok := e.fake.DM(user)
		if !ok {
			return nil
		}
		return e.fake.Messages(ch)
	}
	if n := len(dm("U0DAN")); n != 2 {
		t.Errorf("dan got %d reminders, want 2", n)
	}
	alice := dm("U0ALICE")
	if len(alice) != 1 || !strings.Contains(alice[0].Text, "Overdue action item from INC-1: Runbook") {
		t.Fatalf("alice's reminders: %+v", alice)
	}
	if ids := buttonIDs(t, alice[0].Blocks); len(ids) != 1 || ids[0] != "action_item_done" {
		t.Errorf("reminder buttons %v", ids)
	}

	e.advance(2 * time.Hour)
	if n, err := e.l.Nag(ctx, e.clock()); n != 0 || err != nil {
		t.Errorf("later the same day: %d sent, %v", n, err)
	}

	// The next day Slack fails once: that reminder is given back and sent by a later run.
	e.advance(24 * time.Hour)
	e.fake.Fail("chat.postMessage", slackfake.Fault{Error: "fatal_error"})
	n, err := e.l.Nag(ctx, e.clock())
	if err == nil || n != 2 {
		t.Errorf("with one Slack failure: %d sent, %v", n, err)
	}
	n, err = e.l.Nag(ctx, e.clock())
	if n != 1 || err != nil {
		t.Errorf("the retry: %d sent (want the one that failed), %v", n, err)
	}
	if got := len(dm("U0DAN")) + len(dm("U0ALICE")); got != 6 {
		t.Errorf("%d reminders after two days, want 6", got)
	}
}

// TestHitsAreRecordedAfterTheActionIsStored: the wrapped action store hands each new
// action to the recorder after its commit; only matching, routed, first-time actions
// become hits, in order.
func TestHitsAreRecordedAfterTheActionIsStored(t *testing.T) {
	e := newLearnEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := e.failedDeploy(t, "payments-api")
	inc := e.resolvedIncident(t, "hits", "C0INC1", first)
	e.l.OnResolved(ctx, inc)

	recorded := make(chan string, 10)
	hits := NewHitRecorder(e.l.Matcher, e.store, e.l.Log)
	hits.Now = e.clock
	hits.Recorded = func(actionID string, n int, err error) {
		if err != nil || n == 0 {
			t.Errorf("recording the hits of %s: %d, %v", actionID, n, err)
		}
		recorded <- actionID
	}
	go hits.Run(ctx)
	store := ObserveHits(e.actions, hits)
	record := func(key, service string, path mandate.Path) string {
		t.Helper()
		a := &mandate.Action{ActorID: "deployer", IdempotencyKey: key, Type: "deploy", Summary: "deploy " + service,
			Resources: []mandate.Resource{{Kind: "service", Name: service}}, Reversibility: mandate.Reversible, OccurredAt: e.clock(),
			Decision: mandate.Decision{Path: path, Urgency: mandate.UrgencyNormal, Rule: "builtin:default", Reasons: []string{"test"}}}
		raw, _, err := store.Record(ctx, a, []byte(key+service))
		if err != nil {
			t.Fatal(err)
		}
		var ans mandate.Answer
		json.Unmarshal(raw, &ans)
		return ans.ActionID
	}
	record("k1", "billing-api", mandate.PathMonitored) // matches nothing
	record("k2", "payments-api", mandate.PathAuto)     // routing warned nobody
	hit := record("k3", "payments-worker", mandate.PathMonitored)
	record("k3", "payments-worker", mandate.PathMonitored) // a replay: not a new action
	last := record("k4", "payments-api", mandate.PathFlagged)
	for _, want := range []string{hit, last} {
		select {
		case got := <-recorded:
			if got != want {
				t.Fatalf("hits recorded for %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatal("the hits were not recorded")
		}
	}
	counts, err := e.store.Hits(ctx, e.clock().Add(-time.Hour))
	if err != nil || counts[inc.Number] != 2 {
		t.Errorf("hits per incident %v, %v; want 2 for %s", counts, err, inc.Ref())
	}
	if hits.Dropped() != 0 {
		t.Errorf("%d hits dropped", hits.Dropped())
	}
}

// TestObserveNeverBlocks: with the writer stalled, hits beyond the queue are dropped and
// counted, and Observe returns at once.
func TestObserveNeverBlocks(t *testing.T) {
	m := matcherFixture(t, t0)
	h := &HitRecorder{Matcher: m, queue: make(chan hit, 2)}
	a := action("0190d3c4-0000-7000-8000-000000000009", "deployer", "deploy", nil, "service:payments-api")
	for range 5 {
		h.Observe(a)
	}
	if len(h.queue) != 2 || h.Dropped() != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", len(h.queue), h.Dropped())
	}
	x := <-h.queue
	slices.Sort(x.patterns)
	if !slices.Equal(x.patterns, []int64{31, 32, 51}) {
		t.Errorf("queued patterns %v", x.patterns)
	}
}
