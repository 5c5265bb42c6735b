package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

var quiet = slog.New(slog.DiscardHandler)

// channelEnv is a migrated database with one recorded action whose notifications go to a
// team and a webhook, and a queue that works nothing (tests run the handlers).
type channelEnv struct {
	db         *postgres.DB
	queue      *postgres.Queue
	deliveries *postgres.DeliveryStore
	actionID   string
	team       int64 // notification ids
	webhook    int64
}

func newChannelEnv(t *testing.T, webhookURL string) *channelEnv {
	t.Helper()
	ctx := context.Background()
	db := pgtest.DB(t)
	if err := postgres.NewActorStore(db).SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
		t.Fatal(err)
	}
	q, err := postgres.NewQueue(db, postgres.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(db, postgres.ActionStoreOptions{Queue: q, Deliver: true})
	t.Cleanup(actions.Close)
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42",
		Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}, Environment: "production", Reversibility: mandate.Reversible,
		OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Decision: mandate.Decision{Path: mandate.PathFlagged, Urgency: mandate.UrgencyHigh, Rule: "prod-deploys", Reasons: []string{"rule prod-deploys matched"},
			Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"}, {Kind: mandate.TargetWebhook, ID: webhookURL, Reason: "named by rule prod-deploys"}}}}
	raw, _, err := actions.Record(ctx, a, []byte("sha"))
	if err != nil {
		t.Fatal(err)
	}
	var ans mandate.Answer
	json.Unmarshal(raw, &ans)
	e := &channelEnv{db: db, queue: q, deliveries: postgres.NewDeliveryStore(db), actionID: ans.ActionID}
	ns, err := postgres.NewRoutingStore(db).Notifications(ctx, ans.ActionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		switch mandate.TargetKind(n.Kind) {
		case mandate.TargetTeam:
			e.team = n.ID
		case mandate.TargetWebhook:
			e.webhook = n.ID
		}
	}
	if e.team == 0 || e.webhook == 0 {
		t.Fatalf("notifications %+v", ns)
	}
	return e
}

func (e *channelEnv) channel(t *testing.T, id int64, channel string) postgres.ChannelOutcome {
	t.Helper()
	outs, err := e.deliveries.Channels(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Channel == channel {
			return o
		}
	}
	return postgres.ChannelOutcome{}
}

// scripted is a webhook receiver that verifies each request's signature and answers with
// the next of its statuses (the last one repeats).
type scripted struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	header   http.Header
	bodies   [][]byte
	verified []error
}

func newScripted(t *testing.T, secret string, statuses ...int) *scripted {
	t.Helper()
	s := &scripted{statuses: statuses, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var verr error
		if secret != "" {
			verr = VerifySignature(secret, r.Header.Get("X-Mandate-Signature"), body, time.Now(), time.Minute)
		} else if r.Header.Get("X-Mandate-Signature") != "" {
			verr = errors.New("signed without a secret")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.bodies, s.verified = append(s.bodies, body), append(s.verified, verr)
		status := s.statuses[0]
		if len(s.statuses) > 1 {
			s.statuses = s.statuses[1:]
		}
		for k, v := range s.header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

// got returns the i-th request's body and signature check.
func (s *scripted) got(i int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i], s.verified[i]
}

func (s *scripted) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// TestWebhooksDeliver: a webhook notification is posted signed, retried while the
// receiver fails (after its Retry-After when it gives one), recorded as delivered by the
// webhook channel once it answers 2xx, and never sent again after that.
func TestWebhooksDeliver(t *testing.T) {
	rcv := newScripted(t, testSecret, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusNoContent)
	rcv.header.Set("Retry-After", "7")
	e := newChannelEnv(t, rcv.URL+"/playbooks/deploy?token=s3cret")
	ctx := context.Background()
	w := &Webhooks{Webhook: &Webhook{Secret: testSecret}, Store: e.deliveries, Log: quiet}

	err := w.Deliver(ctx, e.webhook, 1)
	var after postgres.RetryAfter
	var perm postgres.Permanent
	if err == nil || errors.As(err, &perm) || !Retryable(err) {
		t.Fatalf("503: %v, want a retryable error", err)
	}
	n, _ := e.deliveries.Get(ctx, e.webhook)
	if n.State != "queued" || n.Attempts != 1 {
		t.Errorf("after a 503: state %s, attempts %d", n.State, n.Attempts)
	}
	if err := w.Deliver(ctx, e.webhook, 2); !errors.As(err, &after) || after.D != 7*time.Second {
		t.Fatalf("429 with Retry-After 7: %v", err)
	}
	if err := w.Deliver(ctx, e.webhook, 3); err != nil {
		t.Fatalf("204: %v", err)
	}
	n, _ = e.deliveries.Get(ctx, e.webhook)
	if n.State != "delivered" || n.Delivered == nil || n.Attempts != 3 {
		t.Errorf("after the 204: state %s, attempts %d, delivered %v", n.State, n.Attempts, n.Delivered)
	}
	if o := e.channel(t, e.webhook, postgres.ChannelWebhook); o.State != "confirmed" || strings.Contains(o.Detail, "s3cret") || !strings.Contains(o.Detail, "/playbooks/deploy") {
		t.Errorf("webhook channel = %+v (the token must not be stored)", o)
	}
	if err := w.Deliver(ctx, e.webhook, 4); err != nil || rcv.requests() != 3 {
		t.Errorf("a delivered notification was sent again: %v, %d requests", err, rcv.requests())
	}

	body, verr := rcv.got(2)
	if verr != nil {
		t.Fatalf("the receiver could not verify the signature: %v", verr)
	}
	var got struct {
		Event string `json:"event"`
		Text  string `json:"text"`
		Data  struct {
			NotificationID    int64          `json:"notification_id"`
			Action            mandate.Action `json:"action"`
			SuggestedRecovery string         `json:"suggested_recovery"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	a := got.Data.Action
	if got.Event != WebhookEvent || got.Data.NotificationID != e.webhook || a.ID != e.actionID || a.Decision.Rule != "prod-deploys" ||
		a.Decision.Path != mandate.PathFlagged || len(a.Resources) != 1 || got.Data.SuggestedRecovery == "" ||
		!strings.Contains(got.Text, "Deploy payments-api v1.42") {
		t.Errorf("body %s", body)
	}
}

// TestWebhooksGiveUp: what retrying cannot fix fails the notification at once, with the
// reason on the webhook channel; so do retries past MaxAttempts, and a missing secret.
func TestWebhooksGiveUp(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		status  int
		secret  string
		attempt int
		want    string
		calls   int
	}{
		{"NotFound", http.StatusNotFound, testSecret, 1, "404", 1},
		{"TooManyAttempts", http.StatusBadGateway, testSecret, 10, "502", 1},
		{"NoSecret", http.StatusNoContent, "", 1, "MANDATE_WEBHOOK_SECRET is not set", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			rcv := newScripted(t, testSecret, c.status)
			e := newChannelEnv(t, rcv.URL+"/hook")
			w := &Webhooks{Store: e.deliveries, Log: quiet}
			if c.secret != "" {
				w.Webhook = &Webhook{Secret: c.secret}
			}
			var perm postgres.Permanent
			if err := w.Deliver(ctx, e.webhook, c.attempt); !errors.As(err, &perm) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Deliver: %v, want a permanent error saying %q", err, c.want)
			}
			n, _ := e.deliveries.Get(ctx, e.webhook)
			if o := e.channel(t, e.webhook, postgres.ChannelWebhook); n.State != "failed" || o.State != "failed" || !strings.Contains(o.Detail, c.want) {
				t.Errorf("state %s, channel %+v", n.State, o)
			}
			if rcv.requests() != c.calls {
				t.Errorf("%d requests, want %d", rcv.requests(), c.calls)
			}
		})
	}
	t.Run("NotAWebhook", func(t *testing.T) {
		e := newChannelEnv(t, "https://hooks.acme.test/x")
		w := &Webhooks{Webhook: &Webhook{Secret: testSecret}, Store: e.deliveries, Log: quiet}
		var perm postgres.Permanent
		if err := w.Deliver(ctx, e.team, 1); !errors.As(err, &perm) {
			t.Errorf("a team notification given to the webhook deliverer: %v", err)
		}
	})
}

// TestAnswersFromSlackReachPagerDuty: a page Mandate opened is acknowledged when someone
// acknowledges in Slack and resolved when someone decides; each answer is sent once, a
// failed one is retried, and nobody is paged again about what was answered.
func TestAnswersFromSlackReachPagerDuty(t *testing.T) {
	ctx := context.Background()
	e := newChannelEnv(t, "https://hooks.acme.test/x")
	pdSrv := newPDServer(t)
	pd := pdSrv.pagerDuty()
	pages := postgres.NewPageStore(e.db, e.queue)
	pd.Pages = pages
	var told []string
	answers := &Answers{PagerDuty: pd, Log: quiet, Answered: func(_ context.Context, p *postgres.Page, event string) {
		told = append(told, event+" "+p.DedupKey)
	}}
	n, err := e.deliveries.Get(ctx, e.team)
	if err != nil {
		t.Fatal(err)
	}
	key := NotificationDedupKey(n.ID)
	noEvent := func(why string) {
		t.Helper()
		select {
		case ev := <-pdSrv.events:
			t.Errorf("%s: PagerDuty got %v", why, ev)
		default:
		}
	}

	if err := pd.EscalateToPagerDuty(ctx, n); err != nil {
		t.Fatal(err)
	}
	if ev := pdSrv.next(t); ev["event_action"] != "trigger" || ev["dedup_key"] != key {
		t.Fatalf("trigger %v", ev)
	}
	ps, err := pages.ForAction(ctx, e.actionID)
	if err != nil || len(ps) != 1 || ps[0].State != "triggered" || ps[0].Reason != PageEscalation || ps[0].NotificationID != n.ID {
		t.Fatalf("pages after the trigger: %+v, %v", ps, err)
	}
	id := ps[0].ID
	if err := answers.Run(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	noEvent("nobody answered yet")

	d := e.deliveries.WithQueue(e.queue)
	intervene := func(kind string) {
		t.Helper()
		if _, _, err := d.Intervene(ctx, mandate.Intervention{NotificationID: n.ID, ActionID: e.actionID, Kind: kind, SlackUser: "U0ALICE", Allowed: true, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	intervene("acknowledged")
	if err := answers.Run(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	if ev := pdSrv.next(t); ev["event_action"] != "acknowledge" || ev["dedup_key"] != key {
		t.Errorf("after an acknowledgement in Slack: %v", ev)
	}
	if err := answers.Run(ctx, id, 2); err != nil { // the job ran twice
		t.Fatal(err)
	}
	noEvent("acknowledged twice")

	// Paused in Slack: resolve. PagerDuty fails once; the answer is retried.
	intervene("paused")
	pdSrv.respond = func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		http.Error(w, "upstream", http.StatusBadGateway)
	}
	if err := answers.Run(ctx, id, 1); err == nil || !Retryable(err) {
		t.Fatalf("PagerDuty 502: %v, want a retryable error", err)
	}
	pdSrv.next(t)
	if p, _ := pages.Get(ctx, id); p.State != "acknowledged" || !strings.Contains(p.LastError, "502") {
		t.Errorf("after the failed resolve: %+v", p)
	}
	pdSrv.respond = nil
	if err := answers.Run(ctx, id, 2); err != nil {
		t.Fatal(err)
	}
	if ev := pdSrv.next(t); ev["event_action"] != "resolve" || ev["dedup_key"] != key {
		t.Errorf("after a pause in Slack: %v", ev)
	}
	if p, _ := pages.Get(ctx, id); p.State != "resolved" || p.LastError != "" {
		t.Errorf("page %+v", p)
	}
	if want := []string{"acknowledge " + key, "resolve " + key}; strings.Join(told, "|") != strings.Join(want, "|") {
		t.Errorf("told %q, want %q", told, want)
	}
	// The escalation paging again (a repeated step) pages nobody: it was answered.
	if err := pd.EscalateToPagerDuty(ctx, n); err != nil {
		t.Fatal(err)
	}
	noEvent("paged again after the answer")
}

// TestFallbackRecordsEachChannel: a notification Slack could not deliver goes to
// PagerDuty (recorded as a page, so an answer can resolve it) and email, and each
// channel's confirmation is recorded.
func TestFallbackRecordsEachChannel(t *testing.T) {
	ctx := context.Background()
	e := newChannelEnv(t, "https://hooks.acme.test/x")
	pdSrv := newPDServer(t)
	pd := pdSrv.pagerDuty()
	pd.Pages = postgres.NewPageStore(e.db, e.queue)
	email, mails := newSMTPServer(t, nil)
	cfg := testConfig(t, "")
	fb := &Fallback{PagerDuty: pd, Email: email, Config: func() *config.Config { return cfg }, Channels: e.deliveries}
	n, err := e.deliveries.Get(ctx, e.team)
	if err != nil {
		t.Fatal(err)
	}
	if err := fb.Deliver(ctx, n, errors.New("slack: 500")); err != nil {
		t.Fatal(err)
	}
	if ev := pdSrv.next(t); ev["event_action"] != "trigger" {
		t.Errorf("PagerDuty got %v", ev)
	}
	if m := <-mails; strings.Join(m.to, ",") != "alice@acme.test,bob@acme.test" {
		t.Errorf("owners' email to %v", m.to)
	}
	if m := <-mails; strings.Join(m.to, ",") != "erin@acme.test" {
		t.Errorf("admins' email to %v", m.to)
	}
	if o := e.channel(t, n.ID, postgres.ChannelPagerDuty); o.State != "confirmed" || o.Detail != NotificationDedupKey(n.ID) {
		t.Errorf("pagerduty channel %+v", o)
	}
	if o := e.channel(t, n.ID, postgres.ChannelEmail); o.State != "confirmed" || o.Detail != "alice@acme.test, bob@acme.test" {
		t.Errorf("email channel %+v", o)
	}
	ps, _ := pd.Pages.(*postgres.PageStore).ForAction(ctx, e.actionID)
	if len(ps) != 1 || ps[0].Reason != PageSlackFallback || ps[0].State != "triggered" {
		t.Errorf("pages %+v", ps)
	}
}

func testConfig(t *testing.T, orgExtra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(`org:
  admins: [erin]
  fallback: {team: platform}
`+orgExtra+`people:
  - {id: alice, email: alice@acme.test}
  - {id: bob, email: bob@acme.test}
  - {id: erin, email: erin@acme.test}
teams:
  - {id: payments, members: [alice, bob]}
  - {id: platform, members: [erin]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAlarm: alerts about Mandate itself go to the backup webhook (signed with a secret,
// with a "text" chat webhooks show; unsigned without one) and by email to the admins.
func TestAlarm(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	al := Alert{Event: AlertDegraded, Status: "degraded", Problem: "database unreachable", Text: "Mandate is degraded: database unreachable",
		Detail: "connection refused", Host: "mandate-1", Since: at, At: at}

	signed := newScripted(t, testSecret, http.StatusOK)
	email, mails := newSMTPServer(t, nil)
	cfg := testConfig(t, "  backup_webhook: "+signed.URL+"/backup\n")
	a := &Alarm{Webhook: &Webhook{Secret: testSecret, AllowUnsigned: true}, Email: email, Config: func() *config.Config { return cfg }}
	if got := strings.Join(a.Channels(), ","); got != "webhook,email" {
		t.Fatalf("channels %q", got)
	}
	for _, ch := range a.Channels() {
		if err := a.Send(ctx, ch, al); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
	}
	var body struct {
		Event string         `json:"event"`
		Text  string         `json:"text"`
		Data  map[string]any `json:"data"`
	}
	raw, verr := signed.got(0)
	if err := json.Unmarshal(raw, &body); err != nil || verr != nil {
		t.Fatalf("backup webhook body %s (%v), signature %v", raw, err, verr)
	}
	if body.Event != AlertDegraded || body.Text != al.Text || body.Data["problem"] != "database unreachable" || body.Data["host"] != "mandate-1" {
		t.Errorf("backup webhook body %s", raw)
	}
	m := <-mails
	if strings.Join(m.to, ",") != "erin@acme.test" || !strings.Contains(string(m.data), "Subject: [mandate] Mandate is degraded: database unreachable") ||
		!strings.Contains(string(m.data), "connection refused") {
		t.Errorf("admin email to %v:\n%s", m.to, m.data)
	}

	// No secret: the backup webhook still hears, unsigned.
	unsigned := newScripted(t, "", http.StatusOK)
	cfg2 := testConfig(t, "  backup_webhook: "+unsigned.URL+"\n")
	a2 := &Alarm{Webhook: &Webhook{AllowUnsigned: true}, Config: func() *config.Config { return cfg2 }}
	if got := strings.Join(a2.Channels(), ","); got != "webhook" {
		t.Errorf("channels without SMTP %q", got)
	}
	if err := a2.Send(ctx, AlarmWebhook, al); err != nil || unsigned.requests() != 1 {
		t.Fatalf("unsigned: %v, %d requests", err, unsigned.requests())
	}
	if _, verr := unsigned.got(0); verr != nil {
		t.Error(verr)
	}
	if err := a2.Send(ctx, AlarmEmail, al); err == nil {
		t.Error("email without SMTP succeeded")
	}
	// A playbook webhook never goes unsigned.
	if err := (&Webhook{}).Send(ctx, unsigned.URL, "x", nil); err == nil || Retryable(err) {
		t.Errorf("unsigned Send without AllowUnsigned: %v", err)
	}
}
