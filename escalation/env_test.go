package escalation_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/pagerduty"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// onCall is one entry the fake PagerDuty lists.
type onCall struct {
	user, name, email string
	level             int
	schedule          string
	start, end        time.Time
}

// fakePagerDuty serves GET /oncalls from whatever the test last set.
type fakePagerDuty struct {
	*httptest.Server
	entries atomic.Pointer[[]onCall]
}

func newFakePagerDuty(t *testing.T, entries ...onCall) *fakePagerDuty {
	f := &fakePagerDuty{}
	f.set(entries...)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oncalls" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var list []any
		for _, e := range *f.entries.Load() {
			list = append(list, map[string]any{
				"user":              map[string]any{"id": e.user, "type": "user", "summary": e.name, "name": e.name, "email": e.email},
				"escalation_level":  e.level,
				"escalation_policy": map[string]any{"id": "PPOLICY", "type": "escalation_policy_reference"},
				"schedule":          map[string]any{"id": e.schedule, "type": "schedule_reference"},
				"start":             e.start.UTC().Format(time.RFC3339),
				"end":               e.end.UTC().Format(time.RFC3339),
			})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"oncalls": list, "limit": 100, "offset": 0, "more": false})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePagerDuty) set(entries ...onCall) { f.entries.Store(&entries) }

// resolver is an ownership resolver reading on-call from pd, at the clock now.
func resolver(t *testing.T, cfg *config.Config, pd *fakePagerDuty, now func() time.Time) *ownership.Resolver {
	t.Helper()
	r := ownership.NewResolver(ownership.Options{Clients: ownership.Clients{PagerDuty: pagerduty.New("pd-token", pd.URL, nil)},
		Now: now, Logger: discardLogger()})
	if err := r.SetConfig(context.Background(), cfg, "start"); err != nil {
		t.Fatal(err)
	}
	return r
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is a fresh database with the config's agents, and Slack (slackfake) reached through
// the real notify.Slack.
type env struct {
	cfg        *config.Config
	db         *postgres.DB
	actions    *postgres.ActionStore
	deliveries *postgres.DeliveryStore
	fake       *slackfake.Server
	api        *slack.Client
	slack      *notify.Slack
}

func newEnv(t *testing.T, cfg *config.Config) *env {
	t.Helper()
	ctx := context.Background()
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	for _, p := range cfg.People {
		fake.AddUser(p.Slack, p.ID, p.Email, "UTC")
	}
	for _, team := range cfg.Teams {
		fake.AddChannel(team.SlackChannel, team.ID)
	}
	db := pgtest.DB(t)
	actors := postgres.NewActorStore(db)
	var agents []mandate.Actor
	for _, a := range cfg.Agents {
		agents = append(agents, mandate.Actor{ID: a.ID, Team: a.Team, Trust: mandate.Trust(a.Trust)})
	}
	if err := actors.SyncAgents(ctx, agents); err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(actions.Close)
	deliveries := postgres.NewDeliveryStore(db)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.URL()+"/api/"))
	return &env{cfg: cfg, db: db, actions: actions, deliveries: deliveries, fake: fake, api: api,
		slack: &notify.Slack{API: api, Store: deliveries, Actors: actors, Config: func() *config.Config { return cfg }, Log: discardLogger()}}
}

// record stores an action by deployer on service:payments-api for the given teams,
// told to the first team. Its one notification is the next id of a fresh database.
func (e *env) record(t *testing.T, summary string, path mandate.Path, urgency mandate.Urgency, teams ...string) *mandate.Action {
	t.Helper()
	a := &mandate.Action{
		ActorID: "deployer", Type: "deploy", Summary: summary,
		Resources:   []mandate.Resource{{Kind: "service", Name: "payments-api"}},
		Environment: "production", Reversibility: mandate.Reversible, OccurredAt: time.Now(),
		Decision: mandate.Decision{Path: path, Urgency: urgency, Rule: "test", Reasons: []string{"test"},
			Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: teams[0]}}},
		Teams: teams,
	}
	sum := sha256.Sum256([]byte(summary))
	if _, _, err := e.actions.Record(context.Background(), a, sum[:]); err != nil {
		t.Fatal(err)
	}
	return a
}

// notification reads notification id and checks it is action a's.
func (e *env) notification(t *testing.T, id int64, a *mandate.Action) *mandate.Notification {
	t.Helper()
	n, err := e.deliveries.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n.Action.ID != a.ID {
		t.Fatalf("notification %d is of action %s, want %s (%s)", id, n.Action.ID, a.ID, a.Summary)
	}
	return n
}

// dms lists the direct messages person has received.
func (e *env) dms(person string) []slackfake.Message {
	p, _ := e.cfg.Person(person)
	ch, ok := e.fake.DM(p.Slack)
	if !ok {
		return nil
	}
	return e.fake.Messages(ch)
}

// logRecorder is a slog handler that lets a test wait for a message.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	wake  chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{wake: make(chan struct{})} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	close(l.wake)
	l.wake = make(chan struct{})
	return nil
}

// count is how many lines start with msg; wait blocks until there are n.
func (l *logRecorder) count(msg string) (int, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.HasPrefix(line, msg) {
			n++
		}
	}
	return n, l.wake
}

func (l *logRecorder) wait(t *testing.T, ctx context.Context, msg string, n int) {
	t.Helper()
	for {
		got, wake := l.count(msg)
		if got >= n {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("waited for %d log lines %q, got %d:\n%s", n, msg, got, strings.Join(l.lines, "\n"))
		}
	}
}
