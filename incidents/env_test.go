package incidents_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// env is the incident service on a fresh database, the quickstart organisation,
// slackfake, a PagerDuty stand-in and a running job queue whose incident jobs report
// when they finish.
type env struct {
	svc      *incidents.Service
	store    *postgres.IncidentStore
	actions  *postgres.ActionStore
	actors   *postgres.ActorStore
	fake     *slackfake.Server
	pd       chan pdEvent
	done     chan job // incident jobs that finished without error
	finished map[job]int
	t0       time.Time
	mu       sync.Mutex
	now      time.Time
	seq      int
}

type job struct {
	kind   postgres.JobKind
	number int64
}

type pdEvent struct {
	Action   string `json:"event_action"`
	DedupKey string `json:"dedup_key"`
	Payload  struct {
		Summary  string `json:"summary"`
		Severity string `json:"severity"`
	} `json:"payload"`
}

const autoOpen = `
incidents:
  auto_open:
    - name: data-loss-on-critical
      when: {result: failed, failure_mode: data_loss, min_sensitivity: critical}
      severity: high
`

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	quick := "../examples/quickstart/mandate.yaml"
	data, err := os.ReadFile(quick)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(quick, append(data, autoOpen...))
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.DB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{fake: slackfake.New(slackfake.Options{}), pd: make(chan pdEvent, 10), done: make(chan job, 100), finished: map[job]int{},
		t0: time.Now().UTC().Truncate(time.Second).Add(-time.Hour)}
	e.now = e.t0.Add(30 * time.Minute)
	e.fake.Start()
	t.Cleanup(e.fake.Close)
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ERIN", "U0FRANK"} {
		e.fake.AddUser(u, u[2:], u[2:]+"@acme.test", "UTC")
	}
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev pdEvent
		json.NewDecoder(r.Body).Decode(&ev)
		e.pd <- ev
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev.DedupKey+`"}`)
	}))
	t.Cleanup(pd.Close)

	e.actors = postgres.NewActorStore(db)
	var agents []mandate.Actor
	for _, a := range cfg.Agents {
		agents = append(agents, mandate.Actor{ID: a.ID, Type: mandate.ActorAgent, Team: a.Team, Trust: mandate.Trust(a.Trust)})
	}
	if err := e.actors.SyncAgents(ctx, agents); err != nil {
		t.Fatal(err)
	}
	e.actions = postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(e.actions.Close)
	owners := ownership.NewResolver(ownership.Options{Store: postgres.NewOwnershipStore(db), Logger: log, Now: e.clock})
	if err := owners.SetConfig(ctx, cfg, "start"); err != nil {
		t.Fatal(err)
	}
	e.svc = &incidents.Service{
		Actors: e.actors, Owners: owners, Config: func() *config.Config { return cfg },
		Slack:     slack.New(e.fake.BotToken(), slack.OptionAPIURL(e.fake.URL()+"/api/")),
		PagerDuty: &notify.PagerDuty{RoutingKey: "R0UTINGKEY0000", Endpoint: pd.URL},
		Index:     incidents.NewIndex(), Now: e.clock, Log: log,
	}
	report := func(kind postgres.JobKind, h postgres.Handler) postgres.Handler {
		return func(ctx context.Context, id int64, attempt int) error {
			err := h(ctx, id, attempt)
			if err == nil {
				e.done <- job{kind, id}
			}
			return err
		}
	}
	queue, err := postgres.NewQueue(db, postgres.QueueOptions{Logger: log, Handlers: map[postgres.JobKind]postgres.Handler{
		postgres.JobIncidentChannel:  report(postgres.JobIncidentChannel, e.svc.OpenChannel),
		postgres.JobIncidentPage:     report(postgres.JobIncidentPage, e.svc.Page),
		postgres.JobIncidentResolved: report(postgres.JobIncidentResolved, e.svc.Resolved),
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.store = postgres.NewIncidentStore(db, queue)
	e.svc.Store = e.store
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Stop(context.Background()) })
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// record stores an action of actor on resources, minutes after t0, and returns it.
func (e *env) record(t *testing.T, actor, typ string, minutes int, resources ...mandate.Resource) *mandate.Action {
	t.Helper()
	e.seq++
	a := &mandate.Action{ActorID: actor, Type: typ, Summary: typ + " number " + string(rune('A'+e.seq)), Resources: resources,
		Environment: "production", Reversibility: mandate.Reversible, OccurredAt: e.t0.Add(time.Duration(minutes) * time.Minute),
		Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "default", Reasons: []string{"test"}}}
	sum := sha256.Sum256([]byte(a.Summary))
	raw, _, err := e.actions.Record(context.Background(), a, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var ans mandate.Answer
	json.Unmarshal(raw, &ans)
	stored, err := e.actions.Get(context.Background(), ans.ActionID)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// wait waits for an incident job to finish (or finds it finished already).
func (e *env) wait(t *testing.T, kind postgres.JobKind, number int64) {
	t.Helper()
	ctx := waitCtx(t)
	want := job{kind, number}
	for e.finished[want] == 0 {
		select {
		case j := <-e.done:
			e.finished[j]++
		case <-ctx.Done():
			t.Fatalf("job %s for INC-%d did not finish", kind, number)
		}
	}
	e.finished[want]--
}

// page waits for the next PagerDuty event.
func (e *env) page(t *testing.T) pdEvent {
	t.Helper()
	select {
	case ev := <-e.pd:
		return ev
	case <-waitCtx(t).Done():
		t.Fatal("PagerDuty was not called")
	}
	return pdEvent{}
}

// waitCtx bounds a wait; it is a limit, not a budget: jobs retried after a Slack failure
// wait for River's backoff (about a second for the first retry).
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var (
	paymentsAPI = mandate.Resource{Kind: "service", Name: "payments-api"}
	terraform   = mandate.Resource{Kind: "config", Name: "terraform/main.tf"}
	warehouse   = mandate.Resource{Kind: "bucket", Name: "warehouse-exports"}
)
