package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/ingest"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/routing"
)

// servingMessage is logged once the server accepts requests; tools that start a server
// wait for it.
const servingMessage = "mandate serving"

// liveReloadedMessage is logged each time the watches and snoozes are (re)loaded.
const liveReloadedMessage = "watches and snoozes loaded"

var serveCmd = &command{
	name:    "serve",
	usage:   "mandate serve [--config FILE] [--listen ADDR]",
	summary: "run the Mandate server (HTTP API; Slack when configured)",
	help: `
Runs the server. On start it creates the database if missing, applies pending migrations
(under an advisory lock, so replicas may start together), loads and validates the config,
and syncs the agents it declares. The HTTP API listens on --listen.

Without SLACK_BOT_TOKEN and SLACK_APP_TOKEN the server still records and routes actions;
notifications wait durably in Postgres, and /v1/status says Slack is not configured.

SIGHUP reloads the config; a config that fails validation is rejected with its errors
logged and the running config kept. SIGINT or SIGTERM stop the server gracefully.`,
	run: runServe,
}

// runServe is the server's start-up and shutdown, step by step. Each step uses what the
// steps before it built.
func runServe(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
	listen := fs.String("listen", env.env("MANDATE_LISTEN", "127.0.0.1:8080"), "HTTP listen address (env MANDATE_LISTEN)")
	debugListen := fs.String("debug-listen", env.getenv("MANDATE_DEBUG_LISTEN"), "address for Go's pprof endpoints (env MANDATE_DEBUG_LISTEN); off when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))

	cfg, err := config.Load(*configPath)
	if err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	db, err := openMigrated(ctx, env, log)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := newServer(ctx, env, log, db, cfg, *configPath)
	if err != nil {
		return err
	}

	// Durable jobs (River on Postgres): notification deliveries, escalation steps and gate
	// expiries. Every handler is registered before the queue is created; the stores that
	// schedule jobs get the queue after.
	if err := s.buildChannels(ctx, cfg); err != nil {
		return err
	}
	s.buildEscalation()
	s.buildDigests()
	s.buildIncidents()
	if err := s.openQueue(); err != nil {
		return err
	}
	s.connectQueue()
	if err := s.buildLearning(ctx); err != nil {
		return err
	}
	s.openActions(cfg)
	defer s.actions.Close()
	s.buildAPI()
	if err := s.buildRouting(ctx, cfg); err != nil {
		return err
	}

	// What starts from here on runs until runServe returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.startListeners(ctx)
	s.startMonitors(ctx)
	if err := s.queue.Start(ctx); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	defer s.queue.Stop(context.WithoutCancel(ctx))
	if s.slack != nil {
		if err := s.slack.start(ctx, s.actions, log); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	// Registered before serving starts, so a SIGHUP right after the "serving" line is a
	// reload, not the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, log, hup, *configPath, func(cfg *config.Config) error { return s.reload(ctx, cfg) })

	return s.serve(ctx, *listen, *debugListen)
}

// server holds what runServe's steps build, for the steps after them. A field is nil
// until its step has run, and stays nil when what it stands for is not configured
// (Slack, PagerDuty, email, on-call escalation without Slack).
type server struct {
	env        *environ
	log        *slog.Logger
	db         *postgres.DB
	configPath string
	current    *configBox // the config in force, swapped on reload
	registry   *prometheus.Registry
	actors     *postgres.ActorStore
	owners     *ownership.Resolver

	// Delivery channels (wire_delivery.go).
	slack         *slackSetup
	slackStatus   func() string
	pd            *notify.PagerDuty
	email         *notify.Email
	webhookSecret string
	gates         *postgres.GateStore
	deliveries    *postgres.DeliveryStore
	escalator     *escalation.Escalator
	handoffs      *escalation.Handoffs
	scheduler     *digests.Scheduler

	// Incidents and what they teach (wire_incidents.go).
	incidentIndex *incidents.Index
	incidentSvc   *incidents.Service
	incidentStore *postgres.IncidentStore
	matcher       *incidents.Matcher
	learner       *incidents.Learner
	hits          *incidents.HitRecorder

	// jobs are the queue's handlers, all registered before openQueue creates it.
	jobs    map[postgres.JobKind]postgres.Handler
	queue   *postgres.Queue
	actions *postgres.ActionStore
	api     *ingest.Server // the HTTP API

	// Routing's state shared by every router (wire_routing.go).
	tracker   *routing.Tracker
	live      *routing.Live
	liveStore *postgres.LiveStore
}

// newServer starts with what every later step uses: the agents cfg declares, synced as
// actors; cfg as the config in force; ownership; and the metrics registry.
func newServer(ctx context.Context, env *environ, log *slog.Logger, db *postgres.DB, cfg *config.Config, configPath string) (*server, error) {
	s := &server{env: env, log: log, db: db, configPath: configPath, current: &configBox{},
		actors: postgres.NewActorStore(db), jobs: map[postgres.JobKind]postgres.Handler{}}
	if err := s.actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
		return nil, fmt.Errorf("sync agents: %w", err)
	}
	s.current.set(cfg)
	clients, err := ownershipClients(env, cfg)
	if err != nil {
		return nil, err
	}
	s.owners = ownership.NewResolver(ownership.Options{Clients: clients, Store: postgres.NewOwnershipStore(db), Logger: log})
	if err := s.owners.SetConfig(ctx, cfg, "start"); err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, nil
}

// openQueue creates the job queue with the handlers the steps before registered, and has
// the elected leader insert the digest schedule's tick every minute.
func (s *server) openQueue() error {
	queue, err := postgres.NewQueue(s.db, postgres.QueueOptions{Logger: s.log, Handlers: s.jobs})
	if err != nil {
		return err
	}
	if err := queue.Periodic(postgres.JobScheduleTick, time.Minute); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	s.queue = queue
	return nil
}

// connectQueue gives the queue to the stores that schedule jobs as they write.
func (s *server) connectQueue() {
	if s.pd != nil {
		s.pd.Pages = postgres.NewPageStore(s.db, s.queue)
	}
	if s.escalator != nil {
		escalator := s.escalator
		escalator.Store = postgres.NewEscalationStore(s.db, s.queue)
		s.handoffs.Store = postgres.NewOnCallStore(s.db, s.queue)
		s.slack.notifier.OnDelivered = func(ctx context.Context, n *mandate.Notification) { escalator.Begin(ctx, n) }
	}
	if s.slack != nil {
		// Interventions schedule the PagerDuty answers in their own transaction.
		s.slack.handlers.Deliveries = s.deliveries.WithQueue(s.queue)
	}
	s.incidentStore = postgres.NewIncidentStore(s.db, s.queue)
	s.incidentSvc.Store = s.incidentStore
	if s.slack != nil {
		s.slack.handlers.SetIncidents(s.incidentSvc)
	}
}

// openActions opens the action store. It queues each action's jobs in the transaction
// that records it, deliveries only when Slack is there to deliver them.
func (s *server) openActions(cfg *config.Config) {
	s.actions = postgres.NewActionStore(s.db, postgres.ActionStoreOptions{Queue: s.queue, Deliver: s.slack != nil,
		GateTimeout: cfg.Routing.GateTimeout.Duration})
	if s.slack != nil {
		s.slack.handlers.Actions = s.actions
	}
}

// buildAPI builds the HTTP API. Its routing policy is set by buildRouting.
func (s *server) buildAPI() {
	s.api = ingest.New(ingest.Config{
		Actions:     incidents.ObserveHits(s.actions, s.hits),
		Postmortem:  s.learner.Markdown,
		Actors:      s.actors,
		Ownership:   s.owners,
		Feedback:    postgres.NewRoutingStore(s.db),
		Health:      s.db,
		AdminToken:  s.env.getenv("MANDATE_ADMIN_TOKEN"),
		Questions:   postgres.NewDeliveryStore(s.db),
		Gates:       s.gates,
		SlackStatus: s.slackStatus,
		Degraded:    channelTrouble(s.deliveries),
		Logger:      s.log,
		Registry:    s.registry,
		Incidents:   s.incidentSvc,
	})
}

// startListeners keeps this replica's in-memory state current with every replica's
// changes (LISTEN/NOTIFY): incident patterns, action and gate states, watches and
// snoozes, and routing's incidents. It also starts the writer of pattern hits.
func (s *server) startListeners(ctx context.Context) {
	reloadPatterns := func() {
		if err := s.matcher.Load(ctx); err != nil {
			s.log.Warn("cannot reload incident patterns; keeping the previous ones", "err", err)
		}
	}
	go s.db.Listen(ctx, postgres.LearningChannel, func(string) { reloadPatterns() }, reloadPatterns, nil)
	go s.hits.Run(ctx)
	go s.db.Listen(ctx, postgres.StateChannel, s.api.StateChanged, s.api.ResyncStates, func(err error) {
		s.log.Warn("state listener lost its connection; reconnecting", "err", err)
	})
	reloadLive := func() { s.reloadLive(ctx) }
	go s.db.Listen(ctx, postgres.LiveChannel, func(string) { reloadLive() }, reloadLive, nil)
	go s.db.Listen(ctx, postgres.GateChannel, s.api.GateChanged, s.api.ResyncStates, nil)
	s.followIncidents(ctx)
}

// startMonitors starts the watchers every replica runs until ctx ends: the heartbeat
// monitor, the ownership refresh and the on-call handoffs.
func (s *server) startMonitors(ctx context.Context) {
	// The backup webhook is signed when a secret is set; unsigned otherwise, since it
	// may be a chat's incoming webhook that could not check a signature anyway.
	alarm := &notify.Alarm{Webhook: &notify.Webhook{Secret: s.webhookSecret, AllowUnsigned: true}, Email: s.email, Config: s.current.get}
	backlog := func(ctx context.Context) (int64, error) { return s.actions.DeliveryBacklog(ctx, backlogAge) }
	go newMonitor(s.current.get, s.db.Ping, backlog, postgres.NewAlertStore(s.db), alarm, s.log).run(ctx)
	go s.owners.Run(ctx)
	if s.handoffs != nil {
		// Checks now and after every ownership refresh; every replica runs it, and
		// Postgres makes each handoff one message.
		go s.handoffs.Run(ctx)
	}
}

// reload puts a config SIGHUP loaded in force. Nothing changes when its router cannot be
// built.
func (s *server) reload(ctx context.Context, cfg *config.Config) error {
	router, err := s.newRouter(cfg)
	if err != nil {
		return err
	}
	if err := s.actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
		return fmt.Errorf("sync agents: %w", err)
	}
	if err := s.owners.SetConfig(ctx, cfg, "config reload"); err != nil {
		return fmt.Errorf("ownership: %w", err)
	}
	s.apply(cfg, router)
	return nil
}

// serve serves the HTTP API on listen, and pprof on debugListen when set, until ctx ends;
// then it shuts the API down gracefully.
func (s *server) serve(ctx context.Context, listen, debugListen string) error {
	if debugListen != "" {
		// pprof registers on http.DefaultServeMux, which nothing else here uses.
		go func() {
			s.log.Warn("debug listener stopped", "err", http.ListenAndServe(debugListen, http.DefaultServeMux))
		}()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // long-polls hold a response up to 60 s
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info(servingMessage, "addr", ln.Addr().String(), "config", s.configPath, "database", s.db.Name(), "slack", s.slackStatus())
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer done()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// channelTrouble lists, for status, the delivery channels that failed in the last hour.
func channelTrouble(deliveries *postgres.DeliveryStore) func(ctx context.Context) []string {
	return func(ctx context.Context) []string {
		lines, err := deliveries.Degraded(ctx, time.Now().Add(-time.Hour))
		if err != nil {
			return nil // the database check before it already says what is wrong
		}
		return lines
	}
}

// openMigrated opens DATABASE_URL (creating the database if missing) and applies pending
// migrations.
func openMigrated(ctx context.Context, env *environ, log *slog.Logger) (*postgres.DB, error) {
	return openMigratedURL(ctx, env.databaseURL(), log)
}

// openMigratedURL is openMigrated for an explicit database URL.
func openMigratedURL(ctx context.Context, url string, log *slog.Logger) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	from, to, err := db.Migrate(ctx, func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) })
	if err != nil {
		db.Close()
		return nil, err
	}
	if from != to {
		log.Info("database migrated", "from", from, "to", to)
	}
	return db, nil
}

// reloadOnHUP reloads the config on every SIGHUP until ctx ends. A config that fails to
// load is logged and the running one kept.
func reloadOnHUP(ctx context.Context, log *slog.Logger, hup <-chan os.Signal, path string, apply func(*config.Config) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.Load(path)
		if err == nil {
			err = apply(cfg)
		}
		if err != nil {
			log.Error("config reload rejected; keeping the running config", "config", path, "err", err.Error())
			continue
		}
		log.Info("config reloaded", "config", path, "agents", len(cfg.Agents), "teams", len(cfg.Teams), "services", len(cfg.Services))
	}
}

// agentsOf lists the agents cfg declares as actors.
func agentsOf(cfg *config.Config) []mandate.Actor {
	out := make([]mandate.Actor, len(cfg.Agents))
	for i, a := range cfg.Agents {
		out[i] = mandate.Actor{ID: a.ID, Type: mandate.ActorAgent, Team: a.Team, Trust: mandate.Trust(a.Trust)}
	}
	return out
}
