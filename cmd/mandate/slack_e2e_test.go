package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// slackEnv is `mandate serve` running in-process against slackfake and a fresh database.
type slackEnv struct {
	fake  *slackfake.Server
	addr  string
	token string // the deployer's
	logs  *logLines
	dbURL string
}

const e2eAdmin = "e2e-admin"

func startSlackServe(t *testing.T) *slackEnv {
	t.Helper()
	return startSlackServeWith(t, "../../examples/quickstart/mandate.yaml")
}

func startSlackServeWith(t *testing.T, configPath string, extra ...string) *slackEnv {
	t.Helper()
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	for _, u := range []struct{ id, name string }{{"U0ALICE", "alice"}, {"U0BOB", "bob"}, {"U0CAROL", "carol"}, {"U0DAN", "dan"}, {"U0ERIN", "erin"}, {"U0FRANK", "frank"}} {
		fake.AddUser(u.id, u.name, u.name+"@acme.test", "UTC")
	}
	fake.AddChannel("C0PAYMENTS", "payments")
	fake.AddChannel("C0PLATFORM", "platform")
	fake.AddChannel("C0DATA", "data")
	e := &slackEnv{fake: fake, addr: freeAddr(t), logs: newLogLines(), dbURL: pgtest.URL(t)}
	vars := map[string]string{
		"DATABASE_URL": e.dbURL, "MANDATE_CONFIG": configPath, "MANDATE_LISTEN": e.addr,
		"SLACK_BOT_TOKEN": fake.BotToken(), "SLACK_APP_TOKEN": fake.AppToken(), "MANDATE_SLACK_API_URL": fake.URL() + "/api/",
		"MANDATE_ADMIN_TOKEN": e2eAdmin,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &environ{stdout: e.logs, stderr: e.logs, getenv: func(k string) string { return vars[k] }}, []string{"serve"})
	}()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("MANDATE_TEST_GOROUTINES") != "" {
			// Where a stuck server is stuck, before stopping it.
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 2)
			t.Logf("goroutines:\n%s", b.String())
		}
		cancel()
		<-done
		if t.Failed() {
			t.Logf("the server's log:\n%s", e.logs.String())
		}
	})
	e.logs.waitFor(t, servingMessage, 1)
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if e.token, err = postgres.NewActorStore(db).CreateToken(ctx, "deployer"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *slackEnv) post(t *testing.T, path, token, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("%s: %d %s", path, res.StatusCode, b)
	}
	return m
}

// waitCtx bounds a test's waits: a failure stops the test instead of hanging it. It is a
// limit, not a budget.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func text(m slackfake.Message) string {
	return m.Text + "\n" + strings.Join(slackfake.RenderText(m.Blocks), "\n")
}

const deployAction = `{"type":"deploy","summary":"Deploy payments-api v1.42","resources":[{"kind":"service","name":"payments-api"}],"environment":"production"}`

// TestSlackPauseLoop: an action is posted to the owners' channel and DM; pressing Pause
// pauses the agent (its next action is halted), the message says who paused it, and the
// intervention's TTI is exported.
func TestSlackPauseLoop(t *testing.T) {
	e := startSlackServe(t)
	ctx := waitCtx(t)
	first := e.post(t, "/v1/actions", e.token, deployAction)
	if first["next"] != "proceed" {
		t.Fatalf("before the pause: %v", first)
	}
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := text(msg); !strings.Contains(got, "deployer") || !strings.Contains(got, "payments-api") || !strings.Contains(got, "[Pause agent]") && !strings.Contains(got, "Pause") {
		t.Errorf("team channel message:\n%s", got)
	}
	dm, err := e.fake.WaitDM(ctx, "U0ALICE")
	if err != nil {
		t.Fatalf("no DM was opened with alice, an owner of payments-service: %v", err)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == dm }); err != nil {
		t.Fatal(err)
	}

	if _, err := e.fake.ClickButton("U0ALICE", msg, "pause_agent"); err != nil {
		t.Fatal(err)
	}
	updated, err := e.fake.WaitUpdate(ctx, msg.Channel, msg.TS, func(m slackfake.Message) bool { return strings.Contains(text(m), "Paused by") })
	if err != nil {
		t.Fatal(err)
	}
	if got := text(updated); !strings.Contains(got, "U0ALICE") || !strings.Contains(got, "after notification") {
		t.Errorf("updated message:\n%s", got)
	}
	second := e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", "v1.43", 1))
	halt, _ := second["halt"].(map[string]any)
	if second["next"] != "halt" || halt["paused_by"] != "alice" {
		t.Errorf("after the pause: %v", second)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == msg.Channel && m.ThreadTS == msg.TS && strings.Contains(m.Text, "aused")
	}); err != nil {
		t.Errorf("no thread note about the pause: %v", err)
	}
	res, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `mandate_tti_seconds_count{kind="paused"} 1`) {
		t.Errorf("TTI of the pause not exported")
	}

	t.Run("ResumeIsRefusedToOthers", func(t *testing.T) {
		if _, err := e.fake.ClickButton("U0FRANK", msg, "resume_agent"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.WaitEphemeral(ctx, func(m slackfake.Message) bool {
			return m.Recipient == "U0FRANK" && strings.Contains(m.Text, "Only the owners")
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SlashCommands", func(t *testing.T) {
		ack, err := e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", "status")
		if err != nil || !strings.Contains(string(ack), "deployer") {
			t.Errorf("status: %s %v", ack, err)
		}
		ack, _ = e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", "pause")
		if !strings.Contains(string(ack), "Usage: `/mandate pause AGENT [reason]`") {
			t.Errorf("pause without agent: %s", ack)
		}
		ack, _ = e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", "frobnicate")
		if !strings.Contains(string(ack), "Unknown command") {
			t.Errorf("unknown: %s", ack)
		}
		ack, _ = e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", "who service:payments-api")
		if !strings.Contains(string(ack), "payments-service") {
			t.Errorf("who: %s", ack)
		}
		for cmd, want := range map[string]string{
			"help":                        "/mandate who RESOURCE",
			"":                            "/mandate status",
			"recent deployer":             "Deploy payments-api v1.42",
			"recent service:payments-api": "deployer deploy",
			"recent a b":                  "Usage: `/mandate recent [AGENT|RESOURCE]`",
			"who":                         "Usage: `/mandate who RESOURCE",
			"who nokind":                  "Usage:",
			"pause ghost":                 "There is no agent",
			"resume deployer now":         "Usage: `/mandate resume AGENT`",
			"unwatch service:x-*":         "You were not watching",
		} {
			ack, err := e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", cmd)
			if err != nil || !strings.Contains(string(ack), want) {
				t.Errorf("/mandate %s: %s %v; want %q", cmd, ack, err, want)
			}
		}
		ack, _ = e.fake.SlashCommand("U0ERIN", "C0PLATFORM", "/mandate", "resume deployer")
		if !strings.Contains(string(ack), "resumed deployer") {
			t.Errorf("resume: %s", ack)
		}
		if third := e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", "v1.44", 1)); third["next"] != "proceed" {
			t.Errorf("after resume: %v", third)
		}
	})
}

// TestSlackFailuresAreRetried: a 429 with Retry-After and a 5xx delay a notification but
// do not lose or double it, and a dropped socket loses no button press.
func TestSlackFailuresAreRetried(t *testing.T) {
	e := startSlackServe(t)
	ctx := waitCtx(t)
	e.fake.Fail("chat.postMessage", slackfake.Fault{Status: 429, RetryAfter: 1, Times: 1})
	e.fake.Fail("conversations.open", slackfake.Fault{Status: 503, Times: 1})
	e.post(t, "/v1/actions", e.token, deployAction)
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" })
	if err != nil {
		t.Fatal(err)
	}
	// The DM needs conversations.open, which failed once with a 503 and is retried.
	// (Match functions run under the fake's lock: they must not call back into it.)
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return strings.HasPrefix(m.Channel, "D") }); err != nil {
		t.Fatal(err)
	}
	if calls := e.fake.Calls("conversations.open"); len(calls) < 2 {
		t.Errorf("conversations.open called %d times, want a retry after the 503", len(calls))
	}
	if n := len(e.fake.Messages("C0PAYMENTS")); n != 1 {
		t.Errorf("%d messages in the team channel, want exactly 1", n)
	}

	gen := e.fake.Generation()
	if err := e.fake.DropConn(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.ClickButton("U0BOB", msg, "acknowledge"); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.WaitConnected(ctx, gen+1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitUpdate(ctx, msg.Channel, msg.TS, func(m slackfake.Message) bool { return strings.Contains(text(m), "Acknowledged") }); err != nil {
		t.Fatal(err)
	}
}

// TestServeChecksSlackTokens: bad or half-set tokens stop serve at start with a message
// naming what is wrong.
func TestServeChecksSlackTokens(t *testing.T) {
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	base := map[string]string{"DATABASE_URL": pgtest.URL(t), "MANDATE_CONFIG": "../../examples/quickstart/mandate.yaml",
		"MANDATE_LISTEN": freeAddr(t), "MANDATE_SLACK_API_URL": fake.URL() + "/api/"}
	cases := []struct {
		name, bot, app, want string
	}{
		{"OnlyBot", fake.BotToken(), "", "SLACK_APP_TOKEN is not"},
		{"OnlyApp", "", fake.AppToken(), "SLACK_BOT_TOKEN is not"},
		{"SwappedTokens", fake.AppToken(), fake.BotToken(), "must be the bot token, starting xoxb-"},
		{"RejectedBotToken", "xoxb-wrong", fake.AppToken(), "slack rejected SLACK_BOT_TOKEN (invalid_auth)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]string{"SLACK_BOT_TOKEN": c.bot, "SLACK_APP_TOKEN": c.app}
			for k, v := range base {
				vars[k] = v
			}
			code, _, errOut := runCLI(t, vars, "serve")
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, c.want)
			}
		})
	}
}

// getText GETs path and returns the body of a 200 answer.
func (e *slackEnv) getText(t *testing.T, path, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

// get GETs path and returns the JSON object of a 200 answer.
func (e *slackEnv) get(t *testing.T, path, token string) map[string]any {
	t.Helper()
	b := e.getText(t, path, token)
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return m
}

// TestSlackAskFoldHomeAndFeedback: the ask modal's question reaches the thread and the
// agent; repeats fold into one message; App Home shows the status; not_relevant is routing
// feedback.
func TestSlackAskFoldHomeAndFeedback(t *testing.T) {
	e := startSlackServe(t)
	ctx := waitCtx(t)
	first := e.post(t, "/v1/actions", e.token, deployAction)
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Ask", func(t *testing.T) {
		if _, err := e.fake.ClickButton("U0BOB", msg, "ask"); err != nil {
			t.Fatal(err)
		}
		view, err := e.fake.WaitView(ctx, func(v slackfake.View) bool { return v.CallbackID == "ask_question" })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.SubmitView("U0BOB", "ask_question", view.PrivateMetadata, map[string]map[string]string{"q": {"q_input": "Why now, during the freeze?"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
			return m.ThreadTS == msg.TS && strings.Contains(m.Text, "Why now, during the freeze?")
		}); err != nil {
			t.Fatal(err)
		}
		qs := e.get(t, "/v1/actions/"+first["action_id"].(string)+"/questions", e.token)["questions"].([]any)
		if len(qs) != 1 || qs[0].(map[string]any)["asked_by"] != "bob" {
			t.Errorf("questions the agent reads: %v", qs)
		}
	})

	t.Run("RepeatsFold", func(t *testing.T) {
		for _, v := range []string{"v1.50", "v1.51", "v1.52"} {
			e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", v, 1))
		}
		if _, err := e.fake.WaitUpdate(ctx, msg.Channel, msg.TS, func(m slackfake.Message) bool {
			return strings.Contains(text(m), "+3 more actions")
		}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range e.fake.Messages("C0PAYMENTS") {
			if m.ThreadTS == "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d top-level messages in the team channel, want 1 (the repeats fold into it)", n)
		}
	})

	t.Run("NotRelevantIsFeedback", func(t *testing.T) {
		if _, err := e.fake.ClickButton("U0BOB", msg, "not_relevant"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.WaitUpdate(ctx, msg.Channel, msg.TS, func(m slackfake.Message) bool {
			return strings.Contains(text(m), "not relevant")
		}); err != nil {
			t.Fatal(err)
		}
		stats := e.get(t, "/v1/routing/stats", e.token)["rules"].([]any)
		found := false
		for _, s := range stats {
			if r := s.(map[string]any); r["rule"] == "builtin:default" && r["not_relevant"] == 1.0 {
				found = true
			}
		}
		if !found {
			t.Errorf("routing stats lack the not-relevant mark: %v", stats)
		}
	})

	t.Run("AppHome", func(t *testing.T) {
		if _, err := e.fake.OpenHome("U0ERIN"); err != nil {
			t.Fatal(err)
		}
		home, err := e.fake.WaitHome(ctx, "U0ERIN", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(slackfake.RenderText(home.Blocks), "\n"); !strings.Contains(got, "agents") {
			t.Errorf("home view:\n%s", got)
		}
	})
}

// TestSlackWatchAndSnooze: /mandate watch makes the watcher hear of actions; /mandate
// snooze silences them; mistakes get the right form.
func TestSlackWatchAndSnooze(t *testing.T) {
	e := startSlackServe(t)
	ctx := waitCtx(t)
	// Changes reach the router through NOTIFY; the server logs each reload: once at start
	// and once when its listener connects, then once per change.
	e.logs.waitFor(t, liveReloadedMessage, 2)
	reloads := e.logs.count(liveReloadedMessage)
	ack, err := e.fake.SlashCommand("U0FRANK", "C0DATA", "/mandate", "watch service:payments-*")
	if err != nil || !strings.Contains(string(ack), "You will be told") {
		t.Fatalf("watch: %s %v", ack, err)
	}
	e.logs.waitFor(t, liveReloadedMessage, reloads+1)
	if d := e.post(t, "/v1/route/dry-run", e.token, deployAction); !strings.Contains(fmt.Sprint(d["targets"]), "frank") {
		t.Fatalf("the watch did not reach routing: %v", d["targets"])
	}
	e.post(t, "/v1/actions", e.token, deployAction)
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return strings.HasPrefix(m.Channel, "D") && strings.Contains(text(m), "payments-api")
	}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"watch payments", "snooze service:payments-* forever", "snooze no-such-rule 1h", "watch"} {
		ack, _ := e.fake.SlashCommand("U0FRANK", "C0DATA", "/mandate", bad)
		if !strings.Contains(string(ack), "Usage:") {
			t.Errorf("%q: %s", bad, ack)
		}
	}
	reloads = e.logs.count(liveReloadedMessage)
	ack, _ = e.fake.SlashCommand("U0BOB", "C0PAYMENTS", "/mandate", "snooze service:payments-* 1h")
	if !strings.Contains(string(ack), "snoozed resource service:payments-*") {
		t.Fatalf("snooze: %s", ack)
	}
	e.logs.waitFor(t, liveReloadedMessage, reloads+1)
	quiet := e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", "v1.60", 1))
	notes := e.get(t, "/v1/actions/"+quiet["action_id"].(string)+"/notifications", e2eAdmin)["notifications"].([]any)
	if len(notes) != 0 || !strings.Contains(fmt.Sprint(quiet["decision"]), "snoozed by bob") {
		t.Errorf("a snoozed action notified %d: %v", len(notes), quiet["decision"])
	}
}

// TestSlackNeverPostsTwice: Slack posts the message but the answer is lost (a 500 after the
// fact); the retry finds the message in the channel's history instead of posting again.
func TestSlackNeverPostsTwice(t *testing.T) {
	e := startSlackServe(t)
	ctx := waitCtx(t)
	e.fake.Fail("chat.postMessage", slackfake.Fault{Status: 500, Applied: true, Times: 1})
	e.post(t, "/v1/actions", e.token, `{"type":"deploy","summary":"ship","resources":[{"kind":"config","name":"k8s/ingress"}],"environment":"production"}`)
	// infra-config (team platform, owner dan): one post to #platform, one DM to dan; the
	// first of them is the one whose answer was lost.
	if _, err := e.fake.WaitCalls(ctx, "conversations.history", 1); err != nil {
		t.Fatal(err)
	}
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PLATFORM" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.ClickButton("U0DAN", msg, "acknowledge"); err != nil {
		t.Fatal(err)
	}
	// The acknowledgement updates the one message: its ts was recorded from the history.
	if _, err := e.fake.WaitUpdate(ctx, msg.Channel, msg.TS, func(m slackfake.Message) bool { return strings.Contains(text(m), "Acknowledged") }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return strings.HasPrefix(m.Channel, "D") }); err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, m := range append(e.fake.Messages("C0PLATFORM"), e.fake.Messages(mustDM(t, e.fake, "U0DAN"))...) {
		if m.ThreadTS == "" {
			top++
		}
	}
	if top != 2 {
		t.Errorf("%d notification messages, want exactly 2 (the channel and the DM, each once)", top)
	}
}

func mustDM(t *testing.T, fake *slackfake.Server, user string) string {
	t.Helper()
	dm, ok := fake.DM(user)
	if !ok {
		t.Fatalf("no DM with %s", user)
	}
	return dm
}

// quickstartWith copies the quickstart config (and its CODEOWNERS and catalog) to a
// temporary directory with edit applied to mandate.yaml, and returns its path.
func quickstartWith(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"mandate.yaml", "CODEOWNERS", "catalog-info.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../examples/quickstart", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "mandate.yaml" {
			b = []byte(edit(string(b)))
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	return filepath.Join(dir, "mandate.yaml")
}

// TestSlackEscalation: with nobody answering, the chain tells the team lead, then the
// admin, then records no response; an answer stops a chain.
func TestSlackEscalation(t *testing.T) {
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return s + "\nescalation:\n  policies:\n    - name: fast\n      steps:\n        - {notify: team_lead, after: 1s}\n        - {notify: admin, after: 2s}\n  by_urgency: {critical: fast, high: fast}\n"
	}))
	ctx := waitCtx(t)
	e.post(t, "/v1/actions", e.token, deployAction)
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"escalated to <@U0BOB> (team_lead)", "escalated to <@U0ERIN> (admin)", "No response after"} {
		if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.ThreadTS == msg.TS && strings.Contains(m.Text, want) }); err != nil {
			t.Fatalf("thread lacks %q: %v", want, err)
		}
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return strings.HasPrefix(m.Channel, "D") && strings.Contains(m.Text, "Escalated to you")
	}); err != nil {
		t.Fatal(err)
	}
	// Counted before the thread says so.
	metrics := e.getText(t, "/metrics", e.token)
	for _, want := range []string{`mandate_escalation_steps_total{notify="team_lead"} 1`, `mandate_escalation_steps_total{notify="admin"} 1`, "mandate_escalations_unanswered_total 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	t.Run("AnswerStopsTheChain", func(t *testing.T) {
		answered := e.logs.count("escalation stopped: someone answered")
		e.post(t, "/v1/actions", e.token, strings.ReplaceAll(deployAction, "payments-api", "payments-worker"))
		second, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
			return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" && strings.Contains(m.Text+string(m.Blocks), "payments-worker")
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.ClickButton("U0ALICE", second, "acknowledge"); err != nil {
			t.Fatal(err)
		}
		e.logs.waitFor(t, "escalation stopped: someone answered", answered+1)
		for _, m := range e.fake.Messages("C0PAYMENTS") {
			if m.ThreadTS == second.TS && strings.Contains(m.Text, "escalated to") {
				t.Errorf("escalated after the answer: %s", m.Text)
			}
		}
	})
}

// TestSlackGates: a gated action waits; the owner approves it in Slack and the agent's
// long-poll returns at once; a gate nobody decides expires through its durable timer.
func TestSlackGates(t *testing.T) {
	pdURL, paged := startPagerDuty(t)
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return strings.Replace(s, "routing:\n", "routing:\n  gate_timeout: 2s\n", 1)
	}), "PAGERDUTY_ROUTING_KEY", "R0UTINGKEY1234", "MANDATE_PAGERDUTY_EVENTS_URL", pdURL)
	ctx := waitCtx(t)
	charge := `{"type":"payment_charge","summary":"refund order 42","resources":[{"kind":"service","name":"payments-api"}],"environment":"production"}`
	ans := e.post(t, "/v1/actions", e.token, charge)
	if ans["next"] != "wait" {
		t.Fatalf("gated answer: %v", ans)
	}
	id := ans["action_id"].(string)
	msg, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0PAYMENTS" && strings.Contains(text(m), "refund order 42")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.ClickButton("U0FRANK", msg, "approve"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitEphemeral(ctx, func(m slackfake.Message) bool { return m.Recipient == "U0FRANK" }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.ClickButton("U0BOB", msg, "approve"); err != nil {
		t.Fatal(err)
	}
	g := e.get(t, "/v1/gates/"+id+"?wait=30s", e.token)
	if g["state"] != "approved" || g["decided_by"] != "bob" {
		t.Errorf("gate after bob's approval: %v", g)
	}

	other := e.post(t, "/v1/actions", e.token, strings.Replace(charge, "42", "43", 1))
	g = e.get(t, "/v1/gates/"+other["action_id"].(string)+"?wait=30s", e.token)
	if g["state"] != "expired" || g["decided_by"] != nil {
		t.Errorf("undecided gate after its 2 s timeout: %v", g)
	}
	select {
	case ev := <-paged:
		payload, _ := ev["payload"].(map[string]any)
		details, _ := payload["custom_details"].(map[string]any)
		if ev["event_action"] != "trigger" || ev["dedup_key"] != "mandate-gate-"+other["action_id"].(string) ||
			payload["source"] != "mandate" || details["action_id"] != other["action_id"] {
			t.Errorf("PagerDuty event for the expired gate: %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("an expired gate paged nobody")
	}
}

// TestHeartbeat: a running server pings org.heartbeat_url (the dead-man's switch).
func TestHeartbeat(t *testing.T) {
	beats := make(chan map[string]string, 10)
	monitor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		json.NewDecoder(r.Body).Decode(&b)
		select {
		case beats <- b:
		default:
		}
	}))
	t.Cleanup(monitor.Close)
	startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return strings.Replace(s, "org:\n", "org:\n  heartbeat_url: "+monitor.URL+"\n  heartbeat_every: 1s\n", 1)
	}))
	ctx := waitCtx(t)
	for range 2 {
		select {
		case b := <-beats:
			if b["service"] != "mandate" || b["status"] != "ok" {
				t.Errorf("heartbeat %v", b)
			}
		case <-ctx.Done():
			t.Fatal("no heartbeat")
		}
	}
}
