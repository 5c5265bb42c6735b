package handlers_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/bot"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/handlers"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// TestAskBeforeTheDeliveryIsRecorded: a question asked from a message whose post has not
// been recorded on its notification yet (pressed within milliseconds of the post) still
// lands in that message's thread: the modal remembers the message.
func TestAskBeforeTheDeliveryIsRecorded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := config.Load("../examples/quickstart/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := pgtest.DB(t)
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	fake.AddUser("U0BOB", "bob", "bob@acme.test", "UTC")
	fake.AddChannel("C0PAYMENTS", "payments", "U0BOB")

	if err := postgres.NewActorStore(db).SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(actions.Close)
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42",
		Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}, Environment: "production", Reversibility: mandate.Reversible,
		OccurredAt: time.Now(), Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "builtin:default",
			Reasons: []string{"default"}, Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"}}}}
	sum := sha256.Sum256([]byte(a.Summary))
	if _, _, err := actions.Record(ctx, a, sum[:]); err != nil {
		t.Fatal(err)
	}
	deliveries := postgres.NewDeliveryStore(db)
	n, err := deliveries.Get(ctx, 1) // the action's only notification, in a fresh database
	if err != nil || n.Channel != "" || n.Action.Summary != a.Summary {
		t.Fatalf("the undelivered notification: %+v %v", n, err)
	}

	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.URL()+"/api/"))
	h := &handlers.Handlers{API: api, Deliveries: deliveries, Config: func() *config.Config { return cfg }, Now: time.Now, Log: log}
	runner := &bot.Bot{Client: socketmode.New(api), Handler: h, Log: log}
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := fake.WaitConnected(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	// The post Slack took, whose answer the notification does not hold yet.
	_, ts, err := api.PostMessageContext(ctx, "C0PAYMENTS", slack.MsgOptionText("deployer deployed payments-api", false))
	if err != nil {
		t.Fatal(err)
	}

	meta := blocks.AskMetadata{NotificationID: n.ID, Channel: "C0PAYMENTS", TS: ts}.String()
	if _, err := fake.SubmitView("U0BOB", blocks.AskCallbackID, meta, map[string]map[string]string{"q": {"q_input": "Why during the freeze?"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.WaitMessage(waitCtx(t), func(m slackfake.Message) bool {
		return m.Channel == "C0PAYMENTS" && m.ThreadTS == ts && strings.Contains(m.Text, "Why during the freeze?")
	}); err != nil {
		t.Fatalf("the question is not in the message's thread: %v", err)
	}
	qs, err := deliveries.Questions(ctx, n.Action.ID)
	if err != nil || len(qs) != 1 || qs[0].AskedBy != "bob" {
		t.Errorf("questions the agent reads: %+v %v", qs, err)
	}
}
