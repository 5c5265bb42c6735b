package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/bot"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/handlers"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
)

// slackSetup is Slack wired to the rest: the Web API client, delivery through the durable
// queue, and the Socket Mode bot.
type slackSetup struct {
	api      *slack.Client
	notifier *notify.Slack
	bot      *bot.Bot
	handlers *handlers.Handlers
}

// slackTokens reads and checks the Slack environment. configured is false when neither
// token is set; a half-set or malformed pair is an error that names what is wrong.
func slackTokens(env *environ) (botToken, appToken, apiURL string, configured bool, err error) {
	botToken, appToken = env.getenv("SLACK_BOT_TOKEN"), env.getenv("SLACK_APP_TOKEN")
	apiURL = env.env("MANDATE_SLACK_API_URL", slack.APIURL)
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	switch {
	case botToken == "" && appToken == "":
		return "", "", "", false, nil
	case botToken == "":
		return "", "", "", false, errors.New("SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: set both, or neither to run without Slack")
	case appToken == "":
		return "", "", "", false, errors.New("SLACK_BOT_TOKEN is set but SLACK_APP_TOKEN is not: Socket Mode needs the app-level token (xapp-…) with connections:write")
	case !strings.HasPrefix(botToken, "xoxb-"):
		return "", "", "", false, errors.New("SLACK_BOT_TOKEN must be the bot token, starting xoxb- (OAuth & Permissions → Bot User OAuth Token)")
	case !strings.HasPrefix(appToken, "xapp-"):
		return "", "", "", false, errors.New("SLACK_APP_TOKEN must be an app-level token, starting xapp- (Basic Information → App-Level Tokens, scope connections:write)")
	}
	return botToken, appToken, apiURL, true, nil
}

// newSlack connects Slack: it checks the bot token with auth.test (and says clearly what is
// wrong), and builds delivery and the bot. Nothing runs until start.
func newSlack(ctx context.Context, botToken, appToken, apiURL string, db *postgres.DB, cfgNow func() *config.Config,
	owners *ownership.Resolver, log *slog.Logger, registry *prometheus.Registry, status func(context.Context) (blocks.Status, error)) (*slackSetup, error) {
	api := slack.New(botToken, slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(apiURL))
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	who, err := api.AuthTestContext(actx)
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "invalid_auth" || se.Err == "not_authed" || se.Err == "token_revoked" || se.Err == "account_inactive") {
			return nil, fmt.Errorf("slack rejected SLACK_BOT_TOKEN (%s): copy the Bot User OAuth Token again from the app's OAuth & Permissions page", se.Err)
		}
		return nil, fmt.Errorf("cannot reach Slack at %s to check the tokens (auth.test): %w", apiURL, err)
	}
	log.Info("slack connected", "team", who.Team, "bot", who.User, "bot_id", who.BotID)

	tti := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mandate_tti_seconds",
		Help:    "Time from a notification's delivery to the first human response, by response kind.",
		Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"kind"})
	deliveryLatency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mandate_notification_delivery_seconds",
		Help:    "Time from an action's commit to its notification's post in Slack.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	registry.MustRegister(tti, deliveryLatency)

	deliveries := postgres.NewDeliveryStore(db)
	actors := postgres.NewActorStore(db)
	n := &notify.Slack{API: api, Store: deliveries, Actors: actors, Config: cfgNow, Log: log,
		Delivered: func(_ *mandate.Notification, latency time.Duration) { deliveryLatency.Observe(latency.Seconds()) }}
	h := &handlers.Handlers{API: api, Deliveries: deliveries, Actors: actors,
		Actions:  postgres.NewActionStore(db, postgres.ActionStoreOptions{Committers: 1}),
		Feedback: postgres.NewRoutingStore(db), Live: postgres.NewLiveStore(db), Gates: postgres.NewGateStore(db), Owners: owners, Notifier: n, Config: cfgNow,
		Status: status, Now: time.Now, Log: log, TTI: tti}
	sm := socketmode.New(api)
	return &slackSetup{api: api, notifier: n, handlers: h,
		bot: &bot.Bot{Client: sm, Handler: h, Log: log}}, nil
}

// start queues what waited for Slack and connects the bot until ctx ends.
func (s *slackSetup) start(ctx context.Context, actions *postgres.ActionStore, log *slog.Logger) error {
	if n, err := actions.EnqueuePending(ctx); err != nil {
		return fmt.Errorf("queue pending notifications: %w", err)
	} else if n > 0 {
		log.Info("queued notifications that waited for Slack", "count", n)
	}
	go s.bot.Run(ctx)
	return nil
}

// status says how Slack stands, for /readyz and /v1/status.
func (s *slackSetup) status() string {
	if s.bot.Connected() {
		return "connected"
	}
	return "connecting"
}

// configBox holds the config in force for components that read it on every use.
type configBox struct{ p atomic.Pointer[config.Config] }

func (b *configBox) get() *config.Config  { return b.p.Load() }
func (b *configBox) set(c *config.Config) { b.p.Store(c) }
