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
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
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
	actors := postgres.NewActorStore(db)
	if err := actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
		return fmt.Errorf("sync agents: %w", err)
	}
	current := &configBox{}
	current.set(cfg)
	clients, err := ownershipClients(env, cfg)
	if err != nil {
		return err
	}
	owners := ownership.NewResolver(ownership.Options{Clients: clients, Store: postgres.NewOwnershipStore(db), Logger: log})
	if err := owners.SetConfig(ctx, cfg, "start"); err != nil {
		return fmt.Errorf("ownership: %w", err)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Slack is optional: without tokens, notifications wait durably as 'pending'.
	var actions *postgres.ActionStore
	var incidentStore *postgres.IncidentStore
	status := func(ctx context.Context) (blocks.Status, error) {
		return statusOf(ctx, current.get(), actions, owners, incidentStore)
	}
	botToken, appToken, apiURL, slackOn, err := slackTokens(env)
	if err != nil {
		return err
	}
	var sl *slackSetup
	slackStatus := func() string { return "not configured" }
	gates := postgres.NewGateStore(db)
	// PagerDuty Events API v2, when a routing key is set: expired gates and escalations
	// that exhaust Slack page someone.
	var pd *notify.PagerDuty
	if key := env.getenv("PAGERDUTY_ROUTING_KEY"); key != "" {
		pd = &notify.PagerDuty{RoutingKey: key, Endpoint: env.getenv("MANDATE_PAGERDUTY_EVENTS_URL")}
	}
	email, err := emailFrom(env)
	if err != nil {
		return err
	}
	deliveries := postgres.NewDeliveryStore(db)
	// Webhook targets of routing rules (playbooks) are delivered with or without Slack,
	// always signed: without MANDATE_WEBHOOK_SECRET they fail, saying so.
	secret := env.getenv("MANDATE_WEBHOOK_SECRET")
	playbooks := &notify.Webhooks{Store: deliveries, Log: log}
	if secret != "" {
		playbooks.Webhook = &notify.Webhook{Secret: secret}
	} else if n := webhookTargets(cfg); n > 0 {
		log.Warn("routing rules name webhook targets but MANDATE_WEBHOOK_SECRET is not set: their notifications will fail", "targets", n)
	}
	jobs := map[postgres.JobKind]postgres.Handler{
		postgres.JobExpireGate: expireGate(gates, func() *postgres.ActionStore { return actions }, pd, log),
		postgres.JobWebhook:    playbooks.Deliver,
	}
	if slackOn {
		if sl, err = newSlack(ctx, botToken, appToken, apiURL, db, current.get, owners, log, registry, status); err != nil {
			return err
		}
		jobs[postgres.JobDeliver] = sl.notifier.Deliver
		slackStatus = sl.status
		if fb := fallbackFrom(pd, email, current.get); fb != nil {
			fb.Channels = deliveries
			sl.notifier.Fallback = fb
			if v := env.getenv("MANDATE_SLACK_FALLBACK_AFTER"); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("MANDATE_SLACK_FALLBACK_AFTER %q is not a positive duration such as 5m", v)
				}
				sl.notifier.FallbackAfter = d
			}
		}
	}
	// Durable jobs (River on Postgres): notification deliveries, escalation steps and gate
	// expiries.
	var escalator *escalation.Escalator
	var handoffs *escalation.Handoffs
	if sl != nil {
		escalator = &escalation.Escalator{Notifications: deliveries, Messenger: sl.notifier,
			Config: current.get, Owners: owners, Now: time.Now, Log: log}
		if pd != nil {
			escalator.PagerDuty = pd.EscalateToPagerDuty
		}
		jobs[postgres.JobEscalate] = escalator.Run
		// On-call handoffs: when PagerDuty's on-call for a team changes, the incoming
		// person gets one DM listing what is open for the team.
		handoffs = &escalation.Handoffs{Owners: owners, Messenger: sl.notifier, Config: current.get, Now: time.Now, Log: log}
		jobs[postgres.JobHandoff] = handoffs.Send
		// escalation_policy targets of routing rules start their policy's chain.
		jobs[postgres.JobEscalationTarget] = (&escalation.Targets{Escalator: escalator, Store: deliveries}).Run
	}
	if pd != nil {
		// A human's answer in Slack acknowledges or resolves the incidents Mandate opened
		// about the action, and the thread says so.
		answers := &notify.Answers{PagerDuty: pd, Log: log}
		if sl != nil {
			answers.Answered = func(ctx context.Context, p *postgres.Page, event string) {
				if n, err := deliveries.Get(ctx, p.NotificationID); err == nil {
					sl.notifier.Thread(ctx, n, fmt.Sprintf("📟 PagerDuty incident %sd: answered in Slack.", event))
				}
			}
		}
		jobs[postgres.JobAnswerPage] = answers.Run
	}
	// Weekly digests and the daily nag of overdue action items: one periodic tick, inserted
	// by the elected leader every minute, sends whatever schedule is due; digest_runs makes
	// each run happen once across replicas and restarts.
	digestStore := postgres.NewDigestStore(db)
	digestBuilder := &digests.Builder{Store: digestStore, Config: current.get}
	scheduler := &digests.Scheduler{Builder: digestBuilder, Runs: digestStore, Config: current.get, Now: time.Now, Log: log}
	if sl != nil {
		scheduler.Slack = sl.api
		sl.handlers.SetDigests(digestBuilder) // `/mandate digest [TEAM]`
	}
	if email != nil {
		scheduler.Email = func(ctx context.Context, m digests.Email) error {
			return email.Send(ctx, notify.Message{To: []string{m.To}, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
		}
	}
	jobs[postgres.JobScheduleTick] = scheduler.Job
	// Incidents: opened from Slack, the API and the auto-open rules. Their channels, pages
	// and resolutions are durable jobs; routing counts them from an in-memory index.
	incidentIndex := incidents.NewIndex()
	incidentSvc := &incidents.Service{Actors: actors, Owners: owners, Config: current.get, PagerDuty: pd,
		Index: incidentIndex, Now: time.Now, Log: log}
	if sl != nil {
		incidentSvc.Slack = sl.api
	}
	jobs[postgres.JobIncidentChannel] = incidentSvc.OpenChannel
	jobs[postgres.JobIncidentPage] = incidentSvc.Page
	jobs[postgres.JobIncidentResolved] = incidentSvc.Resolved
	queue, err := postgres.NewQueue(db, postgres.QueueOptions{Logger: log, Handlers: jobs})
	if err != nil {
		return err
	}
	if err := queue.Periodic(postgres.JobScheduleTick, time.Minute); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	if pd != nil {
		pd.Pages = postgres.NewPageStore(db, queue)
	}
	if escalator != nil {
		escalator.Store = postgres.NewEscalationStore(db, queue)
		handoffs.Store = postgres.NewOnCallStore(db, queue)
		sl.notifier.OnDelivered = func(ctx context.Context, n *mandate.Notification) { escalator.Begin(ctx, n) }
	}
	if sl != nil {
		// Interventions schedule the PagerDuty answers in their own transaction.
		sl.handlers.Deliveries = deliveries.WithQueue(queue)
	}
	incidentStore = postgres.NewIncidentStore(db, queue)
	incidentSvc.Store = incidentStore
	if sl != nil {
		sl.handlers.SetIncidents(incidentSvc)
	}
	// What incidents teach: postmortem drafts, action items (and their daily nag), and the
	// patterns routing warns about. The matcher serves routing from memory; it is loaded
	// now, after each resolution, and whenever another replica announces a change.
	learnStore := postgres.NewLearningStore(db)
	matcher := &incidents.Matcher{Source: learnStore}
	if err := matcher.Load(ctx); err != nil {
		return fmt.Errorf("load incident patterns: %w", err)
	}
	learner := &incidents.Learner{Store: learnStore, Incidents: incidentStore, Feedback: postgres.NewRoutingStore(db),
		Matcher: matcher, Config: current.get, Log: log}
	if sl != nil {
		learner.Slack = sl.api
		sl.handlers.SetLearning(learner)
		scheduler.Nag = func(ctx context.Context, now time.Time) error { _, err := learner.Nag(ctx, now); return err }
	}
	incidentSvc.OnResolved = learner.OnResolved
	// Pattern hits are statistics: matched in memory after the action's commit and written
	// by one background writer, off the ingest path.
	hits := incidents.NewHitRecorder(matcher, learnStore, log)
	actions = postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: queue, Deliver: slackOn,
		GateTimeout: cfg.Routing.GateTimeout.Duration})
	defer actions.Close()
	if sl != nil {
		sl.handlers.Actions = actions
	}
	srv := ingest.New(ingest.Config{
		Actions:     incidents.ObserveHits(actions, hits),
		Postmortem:  learner.Markdown,
		Actors:      actors,
		Ownership:   owners,
		Feedback:    postgres.NewRoutingStore(db),
		Health:      db,
		AdminToken:  env.getenv("MANDATE_ADMIN_TOKEN"),
		Questions:   postgres.NewDeliveryStore(db),
		Gates:       gates,
		SlackStatus: slackStatus,
		Degraded:    channelTrouble(deliveries),
		Logger:      log,
		Registry:    registry,
		Incidents:   incidentSvc,
	})
	// The routing aggregates outlive config reloads; failures are warmed from Postgres so
	// a restart does not wipe agents' track records.
	tracker := routing.NewTracker()
	// Watches and snoozes set from Slack: loaded now, reloaded whenever any replica
	// changes them (NOTIFY), shared by every router.
	live := routing.NewLive()
	liveStore := postgres.NewLiveStore(db)
	reloadLive := func() {
		ws, ss, err := liveStore.Live(ctx, time.Now())
		if err == nil {
			err = live.Set(ws, ss)
		}
		if err != nil {
			log.Warn("cannot load watches and snoozes", "err", err)
			return
		}
		log.Info(liveReloadedMessage, "watches", len(ws), "snoozes", len(ss))
	}
	reloadLive()
	failures, err := actions.RecentFailures(ctx, time.Now().Add(-cfg.Routing.Failures.Window.Duration))
	if err != nil {
		return fmt.Errorf("load recent failures: %w", err)
	}
	for _, f := range failures {
		tracker.ObserveResult(f.Actor, mandate.StatusFailed, f.At)
	}
	newRouter := func(cfg *config.Config) (*routing.Router, error) {
		router, err := routing.New(cfg, owners, routing.Options{Tracker: tracker, Live: live, Incidents: incidentIndex, Patterns: matcher})
		if err != nil {
			return nil, fmt.Errorf("routing: %w", err)
		}
		return router, nil
	}
	apply := func(cfg *config.Config, router *routing.Router) {
		current.set(cfg)
		srv.SetPolicy(router, agentsOf(cfg))
		srv.SetConfigInfo(ingest.ConfigInfo{Path: *configPath, LoadedAt: time.Now().UTC(),
			Agents: len(cfg.Agents), Teams: len(cfg.Teams), Services: len(cfg.Services)})
	}
	router, err := newRouter(cfg)
	if err != nil {
		return err
	}
	apply(cfg, router)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reloadPatterns := func() {
		if err := matcher.Load(ctx); err != nil {
			log.Warn("cannot reload incident patterns; keeping the previous ones", "err", err)
		}
	}
	go db.Listen(ctx, postgres.LearningChannel, func(string) { reloadPatterns() }, reloadPatterns, nil)
	go hits.Run(ctx)
	go db.Listen(ctx, postgres.StateChannel, srv.StateChanged, srv.ResyncStates, func(err error) {
		log.Warn("state listener lost its connection; reconnecting", "err", err)
	})
	go db.Listen(ctx, postgres.LiveChannel, func(string) { reloadLive() }, reloadLive, nil)
	go db.Listen(ctx, postgres.GateChannel, srv.GateChanged, srv.ResyncStates, nil)
	// Routing's incident signals: every incident opened within routing.incident_window,
	// kept current from every replica's changes (NOTIFY), reloaded in full when the
	// listener (re)connects and hourly so old incidents drop out.
	loadIncidents := func() {
		since := time.Now().Add(-current.get().Routing.IncidentWindow.Duration)
		if err := incidentIndex.Load(ctx, incidentStore, since); err != nil {
			log.Warn("cannot load incidents for routing", "err", err)
		}
	}
	loadIncidents()
	go db.Listen(ctx, postgres.IncidentChannel, func(payload string) {
		n, err := strconv.ParseInt(payload, 10, 64)
		if err == nil {
			err = incidentIndex.Refresh(ctx, incidentStore, n)
		}
		if err != nil {
			log.Warn("cannot refresh an incident for routing", "incident", payload, "err", err)
		}
	}, loadIncidents, nil)
	go func() {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				loadIncidents()
			}
		}
	}()
	// The backup webhook is signed when a secret is set; unsigned otherwise, since it
	// may be a chat's incoming webhook that could not check a signature anyway.
	alarm := &notify.Alarm{Webhook: &notify.Webhook{Secret: secret, AllowUnsigned: true}, Email: email, Config: current.get}
	go newMonitor(current.get, db.Ping, func(ctx context.Context) (int64, error) { return actions.DeliveryBacklog(ctx, backlogAge) },
		postgres.NewAlertStore(db), alarm, log).run(ctx)
	go owners.Run(ctx)
	if handoffs != nil {
		// Checks now and after every ownership refresh; every replica runs it, and
		// Postgres makes each handoff one message.
		go handoffs.Run(ctx)
	}
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	defer queue.Stop(context.WithoutCancel(ctx))
	if sl != nil {
		if err := sl.start(ctx, actions, log); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	// Registered before serving starts, so a SIGHUP right after the "serving" line is a
	// reload, not the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, log, hup, *configPath, func(cfg *config.Config) error {
		router, err := newRouter(cfg)
		if err != nil {
			return err
		}
		if err := actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
			return fmt.Errorf("sync agents: %w", err)
		}
		if err := owners.SetConfig(ctx, cfg, "config reload"); err != nil {
			return fmt.Errorf("ownership: %w", err)
		}
		apply(cfg, router)
		return nil
	})

	if *debugListen != "" {
		// pprof registers on http.DefaultServeMux, which nothing else here uses.
		go func() {
			log.Warn("debug listener stopped", "err", http.ListenAndServe(*debugListen, http.DefaultServeMux))
		}()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // long-polls hold a response up to 60 s
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info(servingMessage, "addr", ln.Addr().String(), "config", *configPath, "database", db.Name(), "slack", slackStatus())
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer done()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// emailFrom builds email over SMTP from MANDATE_SMTP_HOST, _PORT, _USERNAME, _PASSWORD,
// _FROM and _TLS; nil when MANDATE_SMTP_HOST is not set.
func emailFrom(env *environ) (*notify.Email, error) {
	host := env.getenv("MANDATE_SMTP_HOST")
	if host == "" {
		return nil, nil
	}
	port := 0
	if v := env.getenv("MANDATE_SMTP_PORT"); v != "" {
		if _, err := fmt.Sscan(v, &port); err != nil || port <= 0 {
			return nil, fmt.Errorf("MANDATE_SMTP_PORT %q is not a port number", v)
		}
	}
	from := env.getenv("MANDATE_SMTP_FROM")
	if from == "" {
		return nil, errors.New("MANDATE_SMTP_HOST is set but MANDATE_SMTP_FROM is not: say which address Mandate's email comes from")
	}
	return &notify.Email{Host: host, Port: port, Username: env.getenv("MANDATE_SMTP_USERNAME"),
		Password: env.getenv("MANDATE_SMTP_PASSWORD"), From: from, TLS: env.getenv("MANDATE_SMTP_TLS")}, nil
}

// fallbackFrom builds the channels used when Slack fails for too long: PagerDuty and
// email, each if configured. It returns nil when neither is.
func fallbackFrom(pd *notify.PagerDuty, email *notify.Email, cfg func() *config.Config) *notify.Fallback {
	if pd == nil && email == nil {
		return nil
	}
	return &notify.Fallback{PagerDuty: pd, Email: email, Config: cfg}
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

// webhookTargets counts the webhook targets routing rules name.
func webhookTargets(cfg *config.Config) int {
	n := 0
	for _, r := range cfg.Routing.Rules {
		for _, t := range r.Then.Targets {
			if t.Webhook != "" {
				n++
			}
		}
	}
	return n
}

// expireGate is the gate-expiry job: a gate nobody decided in time expires (never
// approved by default) and its action is blocked.
func expireGate(gates *postgres.GateStore, actions func() *postgres.ActionStore, pd *notify.PagerDuty, log *slog.Logger) postgres.Handler {
	return func(ctx context.Context, key int64, attempt int) error {
		g, changed, due, err := gates.ExpireByKey(ctx, key, time.Now())
		switch {
		case err != nil && mandate.ErrorCode(err) == mandate.ENOTFOUND:
			return postgres.Permanent{Err: err}
		case err != nil:
			return err
		case !due:
			return postgres.RetryAfter{D: time.Until(g.ExpiresAt)}
		case !changed && attempt == 1:
			return nil // decided in time
		}
		if changed {
			log.Warn("gate expired: nobody decided in time, the action is blocked", "gate", g.ID)
		}
		if pd == nil || g.State != mandate.GateExpired {
			return nil
		}
		// Page someone; a retry after a failed page finds the gate expired already.
		a, err := actions().Get(ctx, g.ActionID)
		if err != nil {
			return err
		}
		return notify.JobError(pd.GateExpired(ctx, a))
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
