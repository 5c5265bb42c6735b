package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// notificationStates is "kind:state" for each of an action's notifications, by the API.
func (e *slackEnv) notificationStates(t *testing.T, actionID string) string {
	t.Helper()
	var out []string
	ns, _ := e.get(t, "/v1/actions/"+actionID+"/notifications", e2eAdmin)["notifications"].([]any)
	for _, n := range ns {
		m, _ := n.(map[string]any)
		out = append(out, fmt.Sprint(m["target_kind"], ":", m["state"]))
	}
	return strings.Join(out, " ")
}

// TestWebhookTargets: a routing rule's webhook target gets the action as signed JSON,
// retried when the receiver fails, and is recorded as delivered; it never reaches Slack.
func TestWebhookTargets(t *testing.T) {
	const secret = "whsec_e2e"
	type hit struct {
		body   map[string]any
		verify error
	}
	hits := make(chan hit, 10)
	var mu sync.Mutex
	calls := 0
	playbook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		hits <- hit{m, notify.VerifySignature(secret, r.Header.Get("X-Mandate-Signature"), b, time.Now(), time.Minute)}
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			http.Error(w, "playbook runner restarting", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(playbook.Close)
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return strings.Replace(s, "  rules:\n", "  rules:\n    - name: config-playbook\n      when: {types: [config_change]}\n"+
			"      then: {path: monitored_execute, targets: [{webhook: \""+playbook.URL+"/run?token=abc\"}]}\n"+
			"    - name: gone-playbook\n      when: {types: [restart]}\n"+
			"      then: {path: monitored_execute, targets: [{webhook: \""+playbook.URL+"/gone\"}]}\n", 1)
	}), "MANDATE_WEBHOOK_SECRET", secret)
	ctx := waitCtx(t)
	ans := e.post(t, "/v1/actions", e.token, `{"type":"config_change","summary":"Raise pod limits","resources":[{"kind":"config","name":"k8s/prod.yaml"}],"environment":"production"}`)
	id := ans["action_id"].(string)
	for i := range 2 { // the 503, then the retry
		select {
		case h := <-hits:
			data, _ := h.body["data"].(map[string]any)
			action, _ := data["action"].(map[string]any)
			decision, _ := action["decision"].(map[string]any)
			if h.verify != nil || h.body["event"] != notify.WebhookEvent || action["action_id"] != id || decision["rule"] != "config-playbook" {
				t.Errorf("request %d: %v (signature: %v)", i+1, h.body, h.verify)
			}
		case <-ctx.Done():
			t.Fatalf("the playbook got %d of 2 requests", i)
		}
	}
	e.logs.waitFor(t, notify.WebhookDeliveredMessage, 1)
	// The owners' team and dan (owner of infra-config) in Slack, the webhook delivered.
	if got := e.notificationStates(t, id); !strings.Contains(got, "webhook:delivered") || strings.Contains(got, "failed") {
		t.Errorf("notifications: %s", got)
	}
	for _, m := range e.fake.Messages("C0PLATFORM") {
		if strings.Contains(text(m), "token=abc") {
			t.Errorf("the webhook URL reached Slack: %s", text(m))
		}
	}

	// A receiver that answers 404 will not get better: the notification fails at once,
	// and status names the failing channel.
	gone := e.post(t, "/v1/actions", e.token, `{"type":"restart","summary":"Restart deploy-runner","resources":[{"kind":"service","name":"deploy-runner"}],"environment":"production"}`)
	e.logs.waitFor(t, "webhook notification not delivered", 1)
	if got := e.notificationStates(t, gone["action_id"].(string)); !strings.Contains(got, "webhook:failed") {
		t.Errorf("notifications: %s", got)
	}
	st := e.get(t, "/v1/status", e.token)
	if degraded := fmt.Sprint(st["degraded"]); st["status"] != "degraded" || !strings.Contains(degraded, "webhook: 1 delivery failed") || !strings.Contains(degraded, "404") {
		t.Errorf("status %v", st)
	}
}

// TestEscalationPolicyTargets: a rule's escalation_policy target escalates actions whose
// urgency has no policy: in the Slack message's thread when the owners were told there,
// else from the target itself, by DM.
func TestEscalationPolicyTargets(t *testing.T) {
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		s = strings.Replace(s, "  rules:\n", "  rules:\n"+
			"    - name: config-escalates\n      when: {types: [config_change]}\n      then: {path: monitored_execute, targets: [{escalation_policy: fast}]}\n"+
			"    - name: quiet-restarts\n      when: {types: [restart]}\n      then: {path: monitored_execute, notify_owners: false, targets: [{escalation_policy: fast}]}\n", 1)
		return s + "\nescalation:\n  policies:\n    - name: fast\n      steps:\n        - {notify: team_lead, after: 1s}\n"
	}))
	ctx := waitCtx(t)

	ans := e.post(t, "/v1/actions", e.token, `{"type":"config_change","summary":"Raise pod limits","resources":[{"kind":"config","name":"k8s/prod.yaml"}],"environment":"production"}`)
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PLATFORM" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.ThreadTS == msg.TS && strings.Contains(m.Text, "escalated to <@U0ERIN> (team_lead)")
	}); err != nil {
		t.Fatalf("no escalation in the thread: %v", err)
	}
	e.logs.waitFor(t, escalation.TargetStartedMessage, 1)
	if got := e.notificationStates(t, ans["action_id"].(string)); !strings.Contains(got, "escalation_policy:delivered") {
		t.Errorf("notifications: %s", got)
	}

	// Nobody told in Slack: the chain starts from the target and DMs the team lead.
	ans = e.post(t, "/v1/actions", e.token, `{"type":"restart","summary":"Restart deploy-runner","resources":[{"kind":"service","name":"deploy-runner"}],"environment":"production"}`)
	dm := mustDM(t, e.fake, "U0ERIN")
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == dm && strings.Contains(m.Text, "Escalated to you") && strings.Contains(m.Text, "Restart deploy-runner")
	}); err != nil {
		t.Fatalf("no escalation DM: %v", err)
	}
	if got := e.notificationStates(t, ans["action_id"].(string)); got != "escalation_policy:delivered" {
		t.Errorf("notifications: %s", got)
	}
}

// TestPagerDutyAnsweredFromSlack: an escalation that pages PagerDuty is acknowledged
// there when someone acknowledges in Slack, and resolved when someone says it looks OK.
func TestPagerDutyAnsweredFromSlack(t *testing.T) {
	pdURL, events := startPagerDuty(t)
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return s + "\nescalation:\n  policies:\n    - name: page\n      steps:\n        - {notify: pagerduty, after: 1s}\n  by_urgency: {critical: page, high: page}\n"
	}), "PAGERDUTY_ROUTING_KEY", "R0UTINGKEY1234", "MANDATE_PAGERDUTY_EVENTS_URL", pdURL)
	ctx := waitCtx(t)
	e.post(t, "/v1/actions", e.token, deployAction)
	// An answer given while its trigger is still on its way is sent again once the
	// trigger is confirmed (it may have reached PagerDuty first): repeats are fine.
	seen := map[string]bool{}
	next := func(want string) map[string]any {
		t.Helper()
		for {
			select {
			case ev := <-events:
				action := fmt.Sprint(ev["event_action"])
				if action == want {
					seen[action] = true
					return ev
				}
				if !seen[action] {
					t.Fatalf("PagerDuty got %v, want %s", ev, want)
				}
			case <-ctx.Done():
				t.Fatalf("PagerDuty got no %s", want)
			}
		}
	}
	key := next("trigger")["dedup_key"]
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.ClickButton("U0ALICE", msg, "acknowledge"); err != nil {
		t.Fatal(err)
	}
	if ev := next("acknowledge"); ev["dedup_key"] != key {
		t.Errorf("acknowledged %v, want %v", ev["dedup_key"], key)
	}
	if _, err := e.fake.ClickButton("U0BOB", msg, "looks_ok"); err != nil {
		t.Fatal(err)
	}
	if ev := next("resolve"); ev["dedup_key"] != key {
		t.Errorf("resolved %v, want %v", ev["dedup_key"], key)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.ThreadTS == msg.TS && strings.Contains(m.Text, "PagerDuty incident resolved")
	}); err != nil {
		t.Errorf("the thread does not say the incident was resolved: %v", err)
	}
}

// TestDatabaseOutageTellsAdmins: with the database unreachable, the backup webhook and
// the admins' email hear "Mandate is degraded" once, however many beats the outage lasts,
// and hear again when it is back.
func TestDatabaseOutageTellsAdmins(t *testing.T) {
	backup, beats := newHookBox(t), newHookBox(t)
	port, mail := startMailbox(t)
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return strings.Replace(s, "org:\n", "org:\n  heartbeat_url: "+beats.URL+"\n  heartbeat_every: 1s\n  backup_webhook: "+backup.URL+"\n", 1)
	}), "MANDATE_SMTP_HOST", "127.0.0.1", "MANDATE_SMTP_PORT", fmt.Sprint(port), "MANDATE_SMTP_FROM", "mandate@acme.test", "MANDATE_SMTP_TLS", "none")
	ctx := waitCtx(t)

	// The database stops taking connections, and those it had are cut.
	admin := adminConn(t)
	name := dbName(t, e.dbURL)
	allow := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %v", pgx.Identifier{name}.Sanitize(), on)); err != nil {
			t.Fatal(err)
		}
		if !on {
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
				t.Fatal(err)
			}
		}
	}
	allow(false)
	t.Cleanup(func() {
		admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", pgx.Identifier{name}.Sanitize()))
	})

	e.logs.waitFor(t, "admins told", 2) // the backup webhook and the email
	// Three more beats say degraded; nobody is told again.
	beats.waitCount(ctx, t, "degraded: database unreachable", 3)
	if got := backup.take(); len(got) != 1 || got[0] != notify.AlertDegraded+"|Mandate is degraded: database unreachable" {
		t.Errorf("backup webhook during the outage: %q", got)
	}
	if mails := drain(mail); len(mails) != 1 || !strings.Contains(mails[0], "To: erin@acme.test") || !strings.Contains(mails[0], "Mandate is degraded: database unreachable") {
		t.Errorf("admin mail during the outage: %q", mails)
	}

	allow(true)
	e.logs.waitFor(t, "admins told", 4)
	if got := backup.take(); len(got) != 1 || !strings.HasPrefix(got[0], notify.AlertRecovered+"|Mandate recovered") {
		t.Errorf("backup webhook after the outage: %q", got)
	}
	if mails := drain(mail); len(mails) != 1 || !strings.Contains(mails[0], "Mandate recovered") {
		t.Errorf("admin mail after the outage: %q", mails)
	}
}

// adminConn connects to the test server's maintenance database.
func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbName(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}
