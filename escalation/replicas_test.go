package escalation_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/slackfake"
)

// secondsConfig escalates critical notifications in four steps a second apart, each to
// someone else; nobody answering, the chain is exhausted a second after the last.
const secondsConfig = `
org:
  name: Acme
  admins: [carol]
  fallback: {team: payments}
people:
  - {id: alice, slack: U0ALICE, email: alice@acme.test}
  - {id: bob, slack: U0BOB, email: bob@acme.test}
  - {id: carol, slack: U0CAROL, email: carol@acme.test}
  - {id: erin, slack: U0ERIN, email: erin@acme.test}
teams:
  - {id: payments, name: Payments, slack_channel: C0PAYMENTS, members: [alice, bob], lead: erin}
services:
  - {name: payments-api, kind: service, match: ["payments-api"], team: payments}
agents:
  - {id: deployer, team: payments, trust: trusted}
escalation:
  policies:
    - name: seconds
      steps:
        - {notify: team_lead, after: 1s}
        - {notify: secondary, after: 2s}
        - {notify: admin, after: 3s}
        - {notify: team_channel, after: 4s}
  by_urgency: {critical: seconds}
`

// secondsSteps is what each step of secondsConfig records (notify, told) and says in the
// thread; exhaustedAfter is when the chain ends, since it started.
var (
	secondsSteps = []struct {
		notify, told, thread string
		after                time.Duration
	}{
		{"team_lead", "erin", "escalated to <@U0ERIN> (team_lead).", time.Second},
		{"secondary", "alice,bob", "escalated to <@U0ALICE>, <@U0BOB> (secondary).", 2 * time.Second},
		{"admin", "carol", "escalated to <@U0CAROL> (admin).", 3 * time.Second},
		{"team_channel", "payments", "escalated to the payments channel (team_channel).", 4 * time.Second},
	}
	exhaustedAfter = 5 * time.Second
)

const noResponse = "❗ No response after"

// deliver records a critical action for payments and delivers its notification (id 1 of
// a fresh database) to the team channel at the given time, so that its escalation lives
// in that message's thread.
func deliver(t *testing.T, e *env, at time.Time) *mandate.Notification {
	t.Helper()
	ctx := context.Background()
	a := e.record(t, "Deploy payments-api v1.42", mandate.PathMonitored, mandate.UrgencyCritical, "payments")
	e.notification(t, 1, a)
	_, ts, err := e.api.PostMessageContext(ctx, "C0PAYMENTS", slack.MsgOptionText("the notification", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.deliveries.Delivered(ctx, 1, "C0PAYMENTS", ts, at); err != nil {
		t.Fatal(err)
	}
	return e.notification(t, 1, a)
}

// crashPoint is where a replica dies.
type crashPoint int

const (
	// beforeTake: the replica has picked up step 0's job and read the escalation,
	// nothing more: the step is not claimed.
	beforeTake crashPoint = iota + 1
	// afterTell: the replica has claimed step 0 and said so in the thread.
	afterTell
)

// death kills the first replica to reach its crash point where it stands, as if the
// process were gone: the context its queue was started with is cancelled (River stops
// fetching), and whatever the replica is running stops there and never returns while
// the test runs, so River's row for the job stays running under a client that will
// never finish it.
type death struct {
	point    crashPoint
	once     sync.Once
	victim   chan *escReplica
	client   string // the dead River client's id, as river_job.attempted_by records it
	released chan struct{}
}

func newDeath(point crashPoint) *death {
	return &death{point: point, victim: make(chan *escReplica, 1), released: make(chan struct{})}
}

// reach is crash point p, reached by r running a job with ctx: the first replica to
// reach the death's point dies.
func (d *death) reach(ctx context.Context, r *escReplica, p crashPoint) {
	if p == d.point {
		d.once.Do(func() {
			d.client = river.ClientFromContext[pgx.Tx](ctx).ID()
			r.dead.Store(true)
			r.kill()
			d.victim <- r
		})
	}
	d.check(r)
}

// check stops a dead replica where it stands. Once the test is over, its stopped calls
// panic, which River recovers, so that its queue can be stopped.
func (d *death) check(r *escReplica) {
	if r.dead.Load() {
		<-d.released
		panic(fmt.Sprintf("replica %s is dead", r.name))
	}
}

func (d *death) release() { close(d.released) }

// escReplica is one `mandate serve`'s share of escalations: its own database pool, Slack
// messenger and job queue working JobEscalate.
type escReplica struct {
	name       string
	esc        *escalation.Escalator
	kill       context.CancelFunc // cancels the context the queue was started with
	dead       atomic.Bool
	stepped    atomic.Int32 // steps this replica took
	noResponse atomic.Int32 // chains it declared unanswered
}

func newEscReplica(t *testing.T, e *env, name string, d *death, rescueAfter time.Duration) *escReplica {
	t.Helper()
	r := &escReplica{name: name}
	db, deliveries, messenger := openReplica(t, e)
	r.esc = &escalation.Escalator{Notifications: deliveries, Messenger: dyingMessenger{messenger, r, d},
		Config: messenger.Config, Now: time.Now, Log: discardLogger(),
		Stepped:    func(string) { r.stepped.Add(1) },
		NoResponse: func() { r.noResponse.Add(1) }}
	queue, err := postgres.NewQueue(db, postgres.QueueOptions{RescueAfter: rescueAfter,
		Handlers: map[postgres.JobKind]postgres.Handler{postgres.JobEscalate: func(ctx context.Context, id int64, attempt int) error {
			d.check(r) // a dead replica runs nothing more
			return r.esc.Run(ctx, id, attempt)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	r.esc.Store = dyingStore{postgres.NewEscalationStore(db, queue), r, d}
	ctx, cancel := context.WithCancel(context.Background())
	r.kill = cancel
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		queue.Stop(ctx)
	})
	return r
}

// openReplica opens a replica's own database pool, and its own notify.Slack on e's
// slackfake.
func openReplica(t *testing.T, e *env) (*postgres.DB, *postgres.DeliveryStore, *notify.Slack) {
	t.Helper()
	db, err := postgres.Open(context.Background(), e.db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	deliveries := postgres.NewDeliveryStore(db)
	messenger := &notify.Slack{API: slack.New(e.fake.BotToken(), slack.OptionAPIURL(e.fake.URL()+"/api/")),
		Store: deliveries, Actors: postgres.NewActorStore(db), Config: func() *config.Config { return e.cfg }, Log: discardLogger()}
	return db, deliveries, messenger
}

// dyingStore is a replica's escalation store with its crash point before the claim.
type dyingStore struct {
	escalation.Store
	r *escReplica
	d *death
}

func (s dyingStore) Get(ctx context.Context, id int64) (*postgres.Escalation, error) {
	esc, err := s.Store.Get(ctx, id)
	s.d.reach(ctx, s.r, beforeTake)
	return esc, err
}

// dyingMessenger is a replica's messenger with its crash point after step 0 is told.
type dyingMessenger struct {
	escalation.Messenger
	r *escReplica
	d *death
}

func (m dyingMessenger) DM(ctx context.Context, person, text string) error {
	m.d.check(m.r)
	return m.Messenger.DM(ctx, person, text)
}

func (m dyingMessenger) TeamChannel(ctx context.Context, team, text string) error {
	m.d.check(m.r)
	return m.Messenger.TeamChannel(ctx, team, text)
}

func (m dyingMessenger) Thread(ctx context.Context, n *mandate.Notification, text string) error {
	m.d.check(m.r)
	err := m.Messenger.Thread(ctx, n, text)
	if strings.Contains(text, secondsSteps[0].thread) {
		m.d.reach(ctx, m.r, afterTell)
	}
	return err
}

// TestEscalationSurvivesKilledReplica: two replicas work one escalation; the one that
// picked up its first step dies there, without stopping its queue. The other carries
// the chain to its end: every step is taken once, on time or later but never early, and
// said once in the thread; nobody answering is said once.
func TestEscalationSurvivesKilledReplica(t *testing.T) {
	cases := []struct {
		name  string
		point crashPoint
		// rescueAfter is the queues' QueueOptions.RescueAfter.
		rescueAfter time.Duration
		// stepped is how many steps the dead replica took.
		stepped int32
	}{
		// Dead having claimed step 0 and told it: the claim scheduled step 1, so the
		// other replica goes on at once. The dead replica's job is never needed again:
		// River's rescue of it, after rescueAfter, finds nothing to do.
		{name: "AfterTellingStep0", point: afterTell, rescueAfter: 10 * time.Minute, stepped: 1},
		// Dead having picked up step 0's job, before claiming the step: nothing is
		// committed, so the chain waits for River to rescue the job (running for over
		// RescueAfter, at the leader's next rescuer pass, every 30 s), which the other
		// replica then runs from step 0, catching up.
		{name: "BeforeTakingStep0", point: beforeTake, rescueAfter: 10 * time.Second, stepped: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, parseConfig(t, secondsConfig))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			d := newDeath(c.point)
			a, b := newEscReplica(t, e, "a", d, c.rescueAfter), newEscReplica(t, e, "b", d, c.rescueAfter)
			t.Cleanup(d.release) // before the queues stop
			conn := connect(t, e)

			n := deliver(t, e, time.Now())
			a.esc.Begin(ctx, n)
			var dead, alive *escReplica
			select {
			case dead = <-d.victim:
			case <-ctx.Done():
				t.Fatal("no replica picked up step 0")
			}
			alive = a
			if dead == a {
				alive = b
			}
			t.Logf("replica %s died (River client %s); %s carries on", dead.name, d.client, alive.name)

			if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
				return m.ThreadTS == n.TS && strings.HasPrefix(m.Text, noResponse)
			}); err != nil {
				t.Fatalf("the chain did not end: %v\nthread:\n%s", err, threadText(e, n))
			}
			settle(t, ctx, conn, n.ID, d.client)
			checkChain(t, ctx, e, conn, n, 0)
			checkNotEarly(t, ctx, conn, n.ID)
			if got := dead.stepped.Load(); got != c.stepped {
				t.Errorf("the dead replica took %d steps, want %d", got, c.stepped)
			}
			if got, want := alive.stepped.Load(), int32(len(secondsSteps))-c.stepped; got != want {
				t.Errorf("the live replica took %d steps, want %d", got, want)
			}
			if got := a.noResponse.Load() + b.noResponse.Load(); got != 1 {
				t.Errorf("%d chains declared unanswered, want 1", got)
			}

			if c.point == afterTell {
				// The dead replica's job is still River's running job: nothing waited
				// for it. Rescued, minutes on, it runs again on a live replica.
				if got := deadJobs(t, ctx, conn, n.ID, d.client); got != 1 {
					t.Fatalf("%d jobs running on the dead replica, want 1", got)
				}
				if err := alive.esc.Run(ctx, n.ID, 2); err != nil {
					t.Fatal(err)
				}
				checkChain(t, ctx, e, conn, n, 0)
			}
		})
	}
}

// connect opens a connection of the test's own to e's database.
func connect(t *testing.T, e *env) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// settle waits until no escalation job of notification id can still do anything: each
// is finished, or running on the dead River client, where it stays.
func settle(t *testing.T, ctx context.Context, conn *pgx.Conn, id int64, deadClient string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		var states string
		if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(state::text, ','), '') FROM river_job
			WHERE kind = $1 AND (args->>'id')::bigint = $2 AND state NOT IN ('completed', 'cancelled', 'discarded')
			AND NOT (state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $3)`,
			string(postgres.JobEscalate), id, deadClient).Scan(&n, &states); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("escalation jobs of notification %d still to run: %s", id, states)
		}
	}
}

// deadJobs counts notification id's escalation jobs River has running on deadClient.
func deadJobs(t *testing.T, ctx context.Context, conn *pgx.Conn, id int64, deadClient string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND (args->>'id')::bigint = $2
		AND state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $3`,
		string(postgres.JobEscalate), id, deadClient).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func threadText(e *env, n *mandate.Notification) string {
	var lines []string
	for _, m := range e.fake.Thread(n.Channel, n.TS) {
		lines = append(lines, m.Text)
	}
	return strings.Join(lines, "\n")
}

// checkChain checks notification n's escalation by secondsConfig ran to its end: every
// step recorded once, in order, telling whom it should; each said once in the thread and
// its people DMed once, but for the first untold steps, claimed by a replica that died
// before telling them, which nobody tells again; the chain exhausted, said once.
func checkChain(t *testing.T, ctx context.Context, e *env, conn *pgx.Conn, n *mandate.Notification, untold int) {
	t.Helper()
	steps := recordedSteps(t, ctx, conn, n.ID)
	if len(steps) != len(secondsSteps) {
		t.Errorf("%d steps recorded, want %d: %+v", len(steps), len(secondsSteps), steps)
	}
	for i, s := range steps {
		if i >= len(secondsSteps) {
			break
		}
		if want := secondsSteps[i]; s.n != i || s.notify != want.notify || s.told != want.told {
			t.Errorf("step record %d: step %d %s told %s, want step %d %s told %s", i, s.n, s.notify, s.told, i, want.notify, want.told)
		}
	}
	var state string
	if err := conn.QueryRow(ctx, `SELECT state FROM escalations WHERE notification_id = $1`, n.ID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "exhausted" {
		t.Errorf("escalation %s, want exhausted", state)
	}

	thread := e.fake.Thread(n.Channel, n.TS)
	count := func(text string) int {
		c := 0
		for _, m := range thread {
			if strings.Contains(m.Text, text) {
				c++
			}
		}
		return c
	}
	told := func(i int) int {
		if i < untold {
			return 0
		}
		return 1
	}
	for i, s := range secondsSteps {
		if got, want := count(s.thread), told(i); got != want {
			t.Errorf("step %d (%s) said %d times in the thread, want %d", i, s.notify, got, want)
		}
		if s.notify == "team_channel" {
			var posts int
			for _, m := range e.fake.Messages(n.Channel) {
				if m.ThreadTS == "" && strings.Contains(m.Text, "Escalated to you") {
					posts++
				}
			}
			if want := told(i); posts != want {
				t.Errorf("escalated %d times in the team channel, want %d", posts, want)
			}
			continue
		}
		for _, p := range strings.Split(s.told, ",") {
			if got, want := len(e.dms(p)), told(i); got != want {
				t.Errorf("%s got %d DMs, want %d", p, got, want)
			}
		}
	}
	if got := count(noResponse); got != 1 {
		t.Errorf("no response said %d times, want 1", got)
	}
	if got, want := len(thread), len(secondsSteps)-untold+1; got != want {
		t.Errorf("%d messages in the thread, want %d:\n%s", got, want, threadText(e, n))
	}
}

// stepRecord is a row of escalation_steps; after is since the chain started.
type stepRecord struct {
	n            int
	notify, told string
	after        time.Duration
}

func recordedSteps(t *testing.T, ctx context.Context, conn *pgx.Conn, id int64) []stepRecord {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT s.step, s.notify, array_to_string(s.told, ','), s.at - e.started_at
		FROM escalation_steps s JOIN escalations e USING (notification_id) WHERE notification_id = $1 ORDER BY s.step, s.id`, id)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stepRecord, error) {
		var s stepRecord
		err := r.Scan(&s.n, &s.notify, &s.told, &s.after)
		return s, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

// checkNotEarly checks that no step of notification id's escalation was taken before it
// was due, by the database's clock, which both recorded the steps and ran their jobs.
func checkNotEarly(t *testing.T, ctx context.Context, conn *pgx.Conn, id int64) {
	t.Helper()
	for _, s := range recordedSteps(t, ctx, conn, id) {
		if s.n < len(secondsSteps) && s.after < secondsSteps[s.n].after {
			t.Errorf("step %d (%s) taken %s after the start, before it was due (%s)", s.n, s.notify, s.after, secondsSteps[s.n].after)
		}
	}
}

// errDied is what a replica's store returns when the replica dies.
var errDied = errors.New("replica died")

// diesAfterTake is a replica's store that dies once its claim of a step has committed,
// before the replica tells anyone.
type diesAfterTake struct{ escalation.Store }

func (s diesAfterTake) TakeNext(ctx context.Context, id int64, step int, notify string, told []string, next time.Time) (bool, error) {
	if _, err := s.Store.TakeNext(ctx, id, step, notify, told, next); err != nil {
		return false, err
	}
	return false, errDied
}

// readStore is a store whose Get returns what another job read: the job runs at the same
// time as that one.
type readStore struct {
	escalation.Store
	read *postgres.Escalation
}

func (s readStore) Get(context.Context, int64) (*postgres.Escalation, error) {
	read := *s.read
	return &read, nil
}

// TestEscalationReplicaDiesAfterTake plays, job by job on a clock of its own, what River
// does with an escalation when the replica that claimed its first step dies before
// telling anyone: the claim scheduled step 1, whose job the other replica runs when it
// is due; the dead replica's job, rerun (after its error, or rescued), waits for each
// step rather than take it early and, racing each step's own job, never takes a step
// twice. Step 0's messages are lost with the replica, and not sent twice.
func TestEscalationReplicaDiesAfterTake(t *testing.T) {
	e := newEnv(t, parseConfig(t, secondsConfig))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t, e)
	start := time.Now().Truncate(time.Second)
	now := start
	clock := func() time.Time { return now }
	noResponses := 0
	replica := func(store func(escalation.Store) escalation.Store) *escalation.Escalator {
		db, deliveries, messenger := openReplica(t, e)
		queue, err := postgres.NewQueue(db, postgres.QueueOptions{}) // schedules steps; the test runs them
		if err != nil {
			t.Fatal(err)
		}
		return &escalation.Escalator{Store: store(postgres.NewEscalationStore(db, queue)), Notifications: deliveries,
			Messenger: messenger, Config: messenger.Config, Now: clock, Log: discardLogger(), NoResponse: func() { noResponses++ }}
	}
	a := replica(func(s escalation.Store) escalation.Store { return diesAfterTake{s} })
	b := replica(func(s escalation.Store) escalation.Store { return s })
	n := deliver(t, e, start)
	a.Begin(ctx, n)

	now = start.Add(secondsSteps[0].after)
	if err := a.Run(ctx, n.ID, 1); !errors.Is(err, errDied) {
		t.Fatalf("step 0 on the dying replica: %v, want it dead", err)
	}
	if steps := recordedSteps(t, ctx, conn, n.ID); len(steps) != 1 {
		t.Fatalf("steps %+v, want step 0 claimed", steps)
	}
	if got, want := jobTimes(t, ctx, conn, n.ID, start), []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("escalation jobs due %v after the start, want %v: step 0's and, scheduled with its claim, step 1's", got, want)
	}

	// Every step from 1, and then the end of the chain, has two jobs: its own, scheduled
	// with the claim of the step before, and the dead replica's, rerun (which, losing a
	// race, waits for the next step). Run before the step is due, a job waits for it.
	// Run when it is due, the first takes the step; the second, had it read the chain at
	// the same time as the first, does nothing, and reading it after, waits for the next.
	for k := 1; k <= len(secondsSteps); k++ {
		due, next := start.Add(exhaustedAfter), time.Duration(0)
		if k < len(secondsSteps) {
			due, next = start.Add(secondsSteps[k].after), time.Second
		}
		now = due.Add(-250 * time.Millisecond)
		var retry postgres.RetryAfter
		if err := b.Run(ctx, n.ID, 2); !errors.As(err, &retry) || retry.D != 250*time.Millisecond {
			t.Fatalf("step %d run 250 ms early: %v, want it to wait 250 ms", k, err)
		}
		if got := len(recordedSteps(t, ctx, conn, n.ID)); got != k {
			t.Fatalf("%d steps recorded before step %d was due, want %d", got, k, k)
		}

		now = due
		read, err := b.Store.Get(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Run(ctx, n.ID, 1); err != nil {
			t.Fatalf("step %d, first job: %v", k, err)
		}
		if got, want := len(recordedSteps(t, ctx, conn, n.ID)), min(k+1, len(secondsSteps)); got != want {
			t.Fatalf("%d steps recorded once step %d was due, want %d", got, k, want)
		}
		racer := *b
		racer.Store = readStore{b.Store, read}
		if err := racer.Run(ctx, n.ID, 2); err != nil {
			t.Fatalf("step %d, second job at once: %v", k, err)
		}
		err = b.Run(ctx, n.ID, 2)
		switch {
		case next == 0 && err != nil:
			t.Fatalf("the chain's end, second job: %v", err)
		case next > 0 && (!errors.As(err, &retry) || retry.D != next):
			t.Fatalf("step %d, second job: %v, want it to wait %s for step %d", k, err, next, k+1)
		}
	}

	checkChain(t, ctx, e, conn, n, 1)
	if noResponses != 1 {
		t.Errorf("%d chains declared unanswered, want 1", noResponses)
	}
	if got, want := jobTimes(t, ctx, conn, n.ID, start), []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second,
		4 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("escalation jobs due %v after the start, want %v: one per step and one for the end", got, want)
	}
}

// jobTimes lists when notification id's escalation jobs are due, since start.
func jobTimes(t *testing.T, ctx context.Context, conn *pgx.Conn, id int64, start time.Time) []time.Duration {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT scheduled_at FROM river_job WHERE kind = $1 AND (args->>'id')::bigint = $2 ORDER BY scheduled_at`,
		string(postgres.JobEscalate), id)
	if err != nil {
		t.Fatal(err)
	}
	times, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (time.Duration, error) {
		var at time.Time
		err := r.Scan(&at)
		return at.Sub(start), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return times
}
