package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
)

// buildChannels builds the delivery channels the environment configures, and registers
// the jobs that deliver on them: gate expiries (which page PagerDuty when set), webhook
// targets, and Slack deliveries.
func (s *server) buildChannels(ctx context.Context, cfg *config.Config) error {
	// Slack is optional: without tokens, notifications wait durably as 'pending'.
	botToken, appToken, apiURL, slackOn, err := slackTokens(s.env)
	if err != nil {
		return err
	}
	s.slackStatus = func() string { return "not configured" }
	s.gates = postgres.NewGateStore(s.db)
	// PagerDuty Events API v2, when a routing key is set: expired gates and escalations
	// that exhaust Slack page someone.
	if key := s.env.getenv("PAGERDUTY_ROUTING_KEY"); key != "" {
		s.pd = &notify.PagerDuty{RoutingKey: key, Endpoint: s.env.getenv("MANDATE_PAGERDUTY_EVENTS_URL")}
	}
	if s.email, err = emailFrom(s.env); err != nil {
		return err
	}
	s.deliveries = postgres.NewDeliveryStore(s.db)
	// Webhook targets of routing rules (playbooks) are delivered with or without Slack,
	// always signed: without MANDATE_WEBHOOK_SECRET they fail, saying so.
	s.webhookSecret = s.env.getenv("MANDATE_WEBHOOK_SECRET")
	playbooks := &notify.Webhooks{Store: s.deliveries, Log: s.log}
	if s.webhookSecret != "" {
		playbooks.Webhook = &notify.Webhook{Secret: s.webhookSecret}
	} else if n := webhookTargets(cfg); n > 0 {
		s.log.Warn("routing rules name webhook targets but MANDATE_WEBHOOK_SECRET is not set: their notifications will fail", "targets", n)
	}
	// The action store is opened after the queue; the gate job reads it when it runs.
	s.jobs[postgres.JobExpireGate] = expireGate(s.gates, func() *postgres.ActionStore { return s.actions }, s.pd, s.log)
	s.jobs[postgres.JobWebhook] = playbooks.Deliver
	if !slackOn {
		return nil
	}
	return s.connectSlack(ctx, botToken, appToken, apiURL)
}

// connectSlack connects Slack and delivers notifications on it, falling back to
// PagerDuty and email (those configured) when Slack fails for too long.
func (s *server) connectSlack(ctx context.Context, botToken, appToken, apiURL string) error {
	sl, err := newSlack(ctx, botToken, appToken, apiURL, s.db, s.current.get, s.owners, s.log, s.registry, s.status)
	if err != nil {
		return err
	}
	s.slack = sl
	s.jobs[postgres.JobDeliver] = sl.notifier.Deliver
	s.slackStatus = sl.status
	fb := fallbackFrom(s.pd, s.email, s.current.get)
	if fb == nil {
		return nil
	}
	fb.Channels = s.deliveries
	sl.notifier.Fallback = fb
	if v := s.env.getenv("MANDATE_SLACK_FALLBACK_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("MANDATE_SLACK_FALLBACK_AFTER %q is not a positive duration such as 5m", v)
		}
		sl.notifier.FallbackAfter = d
	}
	return nil
}

// status is the /mandate status summary and App Home. It reads the action and incident
// stores when called, since Slack is built before them.
func (s *server) status(ctx context.Context) (blocks.Status, error) {
	return statusOf(ctx, s.current.get(), s.actions, s.owners, s.incidentStore)
}

// buildEscalation registers the jobs that follow a Slack delivery: escalation steps,
// on-call handoffs and escalation-policy targets (with Slack), and answering PagerDuty
// incidents from Slack (with PagerDuty).
func (s *server) buildEscalation() {
	if s.slack != nil {
		s.escalator = &escalation.Escalator{Notifications: s.deliveries, Messenger: s.slack.notifier,
			Config: s.current.get, Owners: s.owners, Now: time.Now, Log: s.log}
		if s.pd != nil {
			s.escalator.PagerDuty = s.pd.EscalateToPagerDuty
		}
		// Escalation is how "nobody answered" becomes visible: steps and chains that ran
		// out are counted for alerting, besides being recorded in Postgres.
		steps := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mandate_escalation_steps_total",
			Help: "Escalation steps taken, by whom they reached (the step's notify)."}, []string{"notify"})
		unanswered := prometheus.NewCounter(prometheus.CounterOpts{Name: "mandate_escalations_unanswered_total",
			Help: "Escalation chains that ran out with nobody answering."})
		s.registry.MustRegister(steps, unanswered)
		s.escalator.Stepped = func(notify string) { steps.WithLabelValues(notify).Inc() }
		s.escalator.NoResponse = unanswered.Inc
		s.jobs[postgres.JobEscalate] = s.escalator.Run
		// On-call handoffs: when PagerDuty's on-call for a team changes, the incoming
		// person gets one DM listing what is open for the team.
		s.handoffs = &escalation.Handoffs{Owners: s.owners, Messenger: s.slack.notifier, Config: s.current.get, Now: time.Now, Log: s.log}
		s.jobs[postgres.JobHandoff] = s.handoffs.Send
		// escalation_policy targets of routing rules start their policy's chain.
		s.jobs[postgres.JobEscalationTarget] = (&escalation.Targets{Escalator: s.escalator, Store: s.deliveries}).Run
	}
	if s.pd != nil {
		// A human's answer in Slack acknowledges or resolves the incidents Mandate opened
		// about the action, and the thread says so.
		answers := &notify.Answers{PagerDuty: s.pd, Log: s.log}
		if sl := s.slack; sl != nil {
			answers.Answered = func(ctx context.Context, p *postgres.Page, event string) {
				if n, err := s.deliveries.Get(ctx, p.NotificationID); err == nil {
					sl.notifier.Thread(ctx, n, fmt.Sprintf("📟 PagerDuty incident %sd: answered in Slack.", event))
				}
			}
		}
		s.jobs[postgres.JobAnswerPage] = answers.Run
	}
}

// buildDigests registers the schedule tick. Weekly digests and the daily nag of overdue
// action items: one periodic tick, inserted by the elected leader every minute (see
// openQueue), sends whatever schedule is due; digest_runs makes each run happen once
// across replicas and restarts.
func (s *server) buildDigests() {
	store := postgres.NewDigestStore(s.db)
	builder := &digests.Builder{Store: store, Config: s.current.get}
	s.scheduler = &digests.Scheduler{Builder: builder, Runs: store, Config: s.current.get, Now: time.Now, Log: s.log}
	if s.slack != nil {
		s.scheduler.Slack = s.slack.api
		s.slack.handlers.SetDigests(builder) // `/mandate digest [TEAM]`
	}
	if email := s.email; email != nil {
		s.scheduler.Email = func(ctx context.Context, m digests.Email) error {
			return email.Send(ctx, notify.Message{To: []string{m.To}, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
		}
	}
	s.jobs[postgres.JobScheduleTick] = s.scheduler.Job
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
