// Package ingest is Mandate's HTTP API: agents and tools report actions, post results,
// read the activity stream and long-poll their run state; admins pause and resume agents.
// It authenticates bearer tokens, validates bodies (problem+json errors naming each bad
// field), and leaves storage to the stores and decisions to the router.
package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/ownership"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// Health reports on the server's dependencies for /readyz and /v1/status.
type Health interface {
	Ping(ctx context.Context) error
	SchemaStatus(ctx context.Context) (current, latest int32, err error)
}

// Ownership explains who owns what; *ownership.Resolver implements it.
type Ownership interface {
	Explain(key string) (mandate.Ownership, error)
	Coverage(ctx context.Context) (*ownership.Coverage, error)
	Health() (built time.Time, sources map[string]ownership.SourceHealth)
}

// Config wires a Server.
type Config struct {
	Actions    mandate.ActionStore
	Actors     mandate.ActorStore
	Ownership  Ownership
	Feedback   RoutingFeedback
	Questions  Questions
	Gates      Gates
	Health     Health
	AdminToken string // MANDATE_ADMIN_TOKEN; empty disables admin access
	// SlackStatus says how Slack delivery stands ("not configured", "connected", …).
	SlackStatus func() string
	Logger      *slog.Logger
	Registry    *prometheus.Registry // where metrics are registered; a new one when nil
	Now         func() time.Time     // time.Now when nil
	// TokenCacheTTL is how long a verified token is trusted without asking the database:
	// revocation takes effect within it. Default 5 s.
	TokenCacheTTL time.Duration
	// Incidents, when set, serves /v1/incidents and runs the auto-open rules on results.
	Incidents Incidents
	// Postmortem, when set, serves GET /v1/incidents/{number}/postmortem.md (404 without).
	Postmortem func(ctx context.Context, number int64) (string, error)

	// Degraded, if set, names other troubles that leave the server working but degraded
	// (delivery channels that keep failing), one line each.
	Degraded func(ctx context.Context) []string
}

// Server is the HTTP API. Create it with New.
type Server struct {
	Config
	log      *slog.Logger
	policy   atomic.Pointer[policy]
	handler  http.Handler
	hub      *stateHub
	gateHub  *stateHub
	tokens   sync.Map // sha256(token) -> tokenEntry
	adminSHA [32]byte

	requestDuration *prometheus.HistogramVec
	actionsTotal    *prometheus.CounterVec
	configInfo      atomic.Pointer[ConfigInfo]
}

// policy is what the configuration in force says about new actions: how to route them,
// and the declared agents (team, trust), so ingest need not ask the database who an agent
// is on every request.
type policy struct {
	router mandate.Router
	agents map[string]mandate.Actor
}

type tokenEntry struct {
	agentID string
	expires time.Time
}

// ConfigInfo describes the loaded configuration, for /v1/status.
type ConfigInfo struct {
	Path     string    `json:"path"`
	LoadedAt time.Time `json:"loaded_at"`
	Agents   int       `json:"agents"`
	Teams    int       `json:"teams"`
	Services int       `json:"services"`
}

// New builds the server. Call SetPolicy before serving actions.
func New(cfg Config) *Server {
	s := &Server{Config: cfg, hub: newStateHub(), gateHub: newStateHub()}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.log = s.Logger
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.TokenCacheTTL == 0 {
		s.TokenCacheTTL = 5 * time.Second
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if s.SlackStatus == nil {
		s.SlackStatus = func() string { return "not configured" }
	}
	if s.AdminToken != "" {
		s.adminSHA = sha256.Sum256([]byte(s.AdminToken))
	}
	s.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mandate_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "method", "code"})
	s.actionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mandate_actions_total",
		Help: "Actions recorded (replays not counted), by action type and intervention path.",
	}, []string{"type", "path"})
	s.Registry.MustRegister(s.requestDuration, s.actionsTotal)

	mux := http.NewServeMux()
	s.route(mux, "POST /v1/actions", s.postAction)
	s.route(mux, "GET /v1/actions", s.listActions)
	s.route(mux, "GET /v1/actions/{id}", s.getAction)
	s.route(mux, "POST /v1/actions/{id}/result", s.postResult)
	s.route(mux, "POST /v1/agents/{id}/pause", s.pauseAgent)
	s.route(mux, "POST /v1/agents/{id}/resume", s.resumeAgent)
	s.route(mux, "GET /v1/agents/{id}/state", s.agentState)
	s.route(mux, "POST /v1/route/dry-run", s.dryRun)
	s.route(mux, "GET /v1/gates/{id}", s.gate)
	s.route(mux, "POST /v1/gates/{id}/approve", s.decideGate)
	s.route(mux, "POST /v1/gates/{id}/deny", s.decideGate)
	s.route(mux, "GET /v1/actions/{id}/notifications", s.listNotifications)
	s.route(mux, "GET /v1/actions/{id}/questions", s.listQuestions)
	s.route(mux, "POST /v1/notifications/{id}/feedback", s.notificationFeedback)
	s.route(mux, "POST /v1/routing/missed", s.routingMissed)
	s.route(mux, "GET /v1/routing/stats", s.routingStats)
	s.route(mux, "GET /v1/ownership/explain", s.explainOwnership)
	s.route(mux, "GET /v1/ownership/coverage", s.ownershipCoverage)
	s.route(mux, "GET /v1/status", s.status)
	s.routeIncidents(mux)
	s.route(mux, "GET /healthz", s.healthz)
	s.route(mux, "GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.handler = mux
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetPolicy installs the router and the declared agents used for new actions; config
// reloads call it again.
func (s *Server) SetPolicy(r mandate.Router, agents []mandate.Actor) {
	p := &policy{router: r, agents: make(map[string]mandate.Actor, len(agents))}
	for _, a := range agents {
		p.agents[a.ID] = a
	}
	s.policy.Store(p)
}

// SetConfigInfo records what configuration is in force, for /v1/status.
func (s *Server) SetConfigInfo(info ConfigInfo) { s.configInfo.Store(&info) }

// StateChanged wakes requests long-polling the state of actor id. It is called for every
// notification on postgres.StateChannel, whichever replica made the change.
func (s *Server) StateChanged(id string) { s.hub.notify(id) }

// ResyncStates wakes every long-poll so each re-reads its state; called after the
// notification listener (re)connects, since notifications are lost while it is down.
func (s *Server) ResyncStates() { s.hub.notifyAll(); s.gateHub.notifyAll() }

// route registers h under pattern with timing and a per-route metric label.
func (s *Server) route(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	obs := s.requestDuration.MustCurryWith(prometheus.Labels{"route": pattern[len(methodOf(pattern))+1:]})
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		obs.WithLabelValues(r.Method, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	})
}

func methodOf(pattern string) string {
	for i, c := range pattern {
		if c == ' ' {
			return pattern[:i]
		}
	}
	return ""
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets long-polls and streams flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// principal is who a request acts as: the admin, or one agent.
type principal struct {
	admin   bool
	agentID string
}

// authenticate checks the bearer token. Agent tokens are verified by the store, then
// trusted for TokenCacheTTL so ingest at thousands of requests a second does not ask the
// database each time.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := cutPrefixFold(h, "Bearer ")
	if !ok || token == "" {
		return principal{}, mandate.Errorf(mandate.EUNAUTHORIZED, "missing bearer token: send Authorization: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(token))
	if s.AdminToken != "" && subtle.ConstantTimeCompare(sum[:], s.adminSHA[:]) == 1 {
		return principal{admin: true}, nil
	}
	now := s.Now()
	if v, ok := s.tokens.Load(sum); ok {
		if e := v.(tokenEntry); now.Before(e.expires) {
			return principal{agentID: e.agentID}, nil
		}
		s.tokens.Delete(sum)
	}
	agentID, err := s.Actors.Authenticate(r.Context(), token)
	if err != nil {
		return principal{}, err
	}
	s.tokens.Store(sum, tokenEntry{agentID: agentID, expires: now.Add(s.TokenCacheTTL)})
	return principal{agentID: agentID}, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
