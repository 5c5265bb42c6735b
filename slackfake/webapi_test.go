package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate/slackfake"
)

func TestAuthTest(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)

	res, err := apiClient(f, f.BotToken()).AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != "UBOT" || res.TeamID != "T0FAKE" || res.BotID != "B0FAKE" || res.User != "mandate" {
		t.Errorf("auth.test = %+v", res)
	}

	_, err = apiClient(f, "xoxb-wrong").AuthTestContext(ctx)
	slackErr(t, err, "invalid_auth")
	_, err = apiClient(f, "").AuthTestContext(ctx)
	slackErr(t, err, "not_authed")
	_, err = apiClient(f, f.AppToken()).AuthTestContext(ctx)
	slackErr(t, err, "not_allowed_token_type")

	calls := f.Calls("auth.test")
	if len(calls) != 4 {
		t.Fatalf("recorded %d auth.test calls, want 4", len(calls))
	}
	if calls[0].Token != f.BotToken() || calls[0].Error != "" || calls[1].Token != "xoxb-wrong" || calls[1].Error != "invalid_auth" {
		t.Errorf("calls = %+v", calls)
	}
	if _, ok := calls[0].Params["token"]; ok {
		t.Error("token repeated in Params")
	}
}

func TestAppsConnectionsOpenNeedsAppToken(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	_, url, err := apiClient(f, f.BotToken()).StartSocketModeContext(ctx)
	if err != nil || !strings.HasPrefix(url, "ws://") || !strings.Contains(url, "/link/?ticket=1") {
		t.Fatalf("apps.connections.open = %q, %v", url, err)
	}
	c := f.Calls("apps.connections.open")[0]
	if c.Token != f.AppToken() || c.HTTPMethod != "POST" {
		t.Errorf("call = %+v", c)
	}
	bad := slack.New(f.BotToken(), slack.OptionAppLevelToken(f.BotToken()), slack.OptionAPIURL(f.URL()+"/api/"))
	_, _, err = bad.StartSocketModeContext(ctx)
	slackErr(t, err, "not_allowed_token_type")
}

func TestMessages(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())

	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*deploy* by agent-7", false, false), nil, nil),
		slack.NewActionBlock("inc_actions", slack.NewButtonBlockElement("ack_incident", "inc-42", pt("Acknowledge"))),
	}
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("deploy", false), slack.MsgOptionBlocks(blocks...))
	if err != nil || ch != "C1" || ts != "1700000000.000001" {
		t.Fatalf("postMessage = %s %s %v", ch, ts, err)
	}
	// By name, and a thread reply; ts values are consecutive.
	_, ts2, err := api.PostMessageContext(ctx, "#general", slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts))
	if err != nil || ts2 != "1700000000.000002" {
		t.Fatalf("reply = %s %v", ts2, err)
	}
	m, ok := f.Message("C1", ts)
	if !ok || m.Text != "deploy" || m.User != "UBOT" || len(m.History) != 1 {
		t.Fatalf("stored = %+v", m)
	}
	if got := slackfake.RenderText(m.Blocks); strings.Join(got, "|") != "*deploy* by agent-7|[Acknowledge]" {
		t.Errorf("blocks render as %q", got)
	}
	if th := f.Thread("general", ts); len(th) != 1 || th[0].Text != "reply" || th[0].ThreadTS != ts {
		t.Errorf("thread = %+v", th)
	}
	if n := len(f.Messages("C1")); n != 2 {
		t.Errorf("Messages = %d, want 2", n)
	}

	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("deploy (acked)", false))
	if err != nil {
		t.Fatal(err)
	}
	m, _ = f.Message("C1", ts)
	if m.Text != "deploy (acked)" || m.Updates() != 1 || m.History[0].Text != "deploy" || len(m.Blocks) == 0 {
		t.Errorf("after text-only update = %+v", m)
	}
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("cleared", false), slack.MsgOptionBlocks())
	if err != nil {
		t.Fatal(err)
	}
	if m, _ = f.Message("C1", ts); m.Blocks != nil || m.Updates() != 2 {
		t.Errorf("blocks=[] should clear blocks: %+v", m)
	}
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", "1700000000.999999", slack.MsgOptionText("x", false))
	slackErr(t, err, "message_not_found")

	_, _, err = api.PostMessageContext(ctx, "C404", slack.MsgOptionText("x", false))
	slackErr(t, err, "channel_not_found")
	_, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false), slack.MsgOptionTS("1.2"))
	slackErr(t, err, "thread_not_found")

	ets, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("only you", false))
	if err != nil || ets == "" {
		t.Fatalf("postEphemeral = %q %v", ets, err)
	}
	if e := f.Ephemerals("C1"); len(e) != 1 || e[0].Recipient != "U1" || e[0].TS != ets || !e[0].Ephemeral {
		t.Errorf("ephemerals = %+v", e)
	}
	_, err = api.PostEphemeralContext(ctx, "C1", "alice", slack.MsgOptionText("x", false))
	slackErr(t, err, "user_not_found")

	link, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: "C1", Ts: ts})
	if err != nil || link != f.URL()+"/archives/C1/p1700000000000001" {
		t.Errorf("permalink = %q %v", link, err)
	}
	if c := f.Calls("chat.getPermalink")[0]; c.HTTPMethod != "GET" || c.Token != f.BotToken() || c.Params["message_ts"] != ts {
		t.Errorf("permalink call = %+v", c)
	}
	_, err = api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: "C1", Ts: "9.9"})
	slackErr(t, err, "message_not_found")

	post := f.Calls("chat.postMessage")[0]
	if post.Token != f.BotToken() || post.Params["channel"] != "C1" || !strings.Contains(post.Params["blocks"], "ack_incident") {
		t.Errorf("postMessage call = %+v", post)
	}
}

func TestConversations(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())

	// A user id is not a channel until the DM is opened.
	_, _, err := api.PostMessageContext(ctx, "U1", slack.MsgOptionText("hi", false))
	slackErr(t, err, "channel_not_found")
	dm, noOp, already, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil || !strings.HasPrefix(dm.ID, "D") || noOp || already {
		t.Fatalf("open = %+v %v %v %v", dm, noOp, already, err)
	}
	dm2, _, already, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil || dm2.ID != dm.ID || !already {
		t.Errorf("second open = %s already=%v %v, want %s", dm2.ID, already, err, dm.ID)
	}
	ch, _, err := api.PostMessageContext(ctx, "U1", slack.MsgOptionText("hi", false))
	if err != nil || ch != dm.ID {
		t.Errorf("post to user = %s %v, want %s", ch, err, dm.ID)
	}
	if id, ok := f.DM("U1"); !ok || id != dm.ID {
		t.Errorf("DM(U1) = %s %v", id, ok)
	}

	inc, err := api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-42"})
	if err != nil || !strings.HasPrefix(inc.ID, "C") || inc.Name != "inc-42" {
		t.Fatalf("create = %+v %v", inc, err)
	}
	_, err = api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "inc-42"})
	slackErr(t, err, "name_taken")
	_, err = api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: "Inc 42"})
	slackErr(t, err, "invalid_name_specials")

	if _, err := api.InviteUsersToConversationContext(ctx, inc.ID, "U1", "U2"); err != nil {
		t.Fatal(err)
	}
	_, err = api.InviteUsersToConversationContext(ctx, inc.ID, "U1")
	slackErr(t, err, "already_in_channel")
	_, err = api.InviteUsersToConversationContext(ctx, inc.ID, "alice")
	slackErr(t, err, "user_not_found")

	got, err := api.SetTopicOfConversationContext(ctx, inc.ID, "INC-42: db down")
	if err != nil || got.Topic.Value != "INC-42: db down" {
		t.Fatalf("setTopic = %+v %v", got, err)
	}
	c, ok := f.Channel("#inc-42")
	if !ok || c.Topic != "INC-42: db down" || strings.Join(c.Members, ",") != "UBOT,U1,U2" {
		t.Errorf("channel = %+v", c)
	}
}

func TestViews(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())
	modal := slack.ModalViewRequest{Type: slack.VTModal, CallbackID: "ask_question", PrivateMetadata: `{"c":"C1"}`,
		Title: pt("Ask a question"), Submit: pt("Send"), Close: pt("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("q", pt("Your question"), nil, slack.NewPlainTextInputBlockElement(pt("What changed?"), "q_input")),
		}}}

	_, err := api.OpenViewContext(ctx, "trig-unknown", modal)
	slackErr(t, err, "invalid_trigger_id")
	res, err := api.OpenViewContext(ctx, f.NewTrigger("U1"), modal)
	if err != nil || res.ID == "" || res.CallbackID != "ask_question" || res.Title.Text != "Ask a question" {
		t.Fatalf("views.open = %+v %v", res, err)
	}
	if c := f.Calls("views.open")[0]; c.Token != f.BotToken() || c.Params["view"] == "" {
		t.Errorf("views.open call = %+v", c)
	}

	modal.Title = pt("Thanks")
	upd, err := api.UpdateViewContext(ctx, modal, "", res.Hash, res.ID)
	if err != nil || upd.ID != res.ID || upd.Title.Text != "Thanks" {
		t.Fatalf("views.update = %+v %v", upd, err)
	}
	_, err = api.UpdateViewContext(ctx, modal, "", res.Hash, res.ID) // stale hash
	slackErr(t, err, "hash_conflict")
	_, err = api.UpdateViewContext(ctx, modal, "", "", "V404")
	slackErr(t, err, "not_found")
	if vs := f.Views(); len(vs) != 1 || vs[0].User != "U1" || vs[0].Title != "Thanks" || len(vs[0].History) != 2 {
		t.Errorf("views = %+v", vs)
	}

	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewHeaderBlock(pt("Your agents")),
	}}}
	pub, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U2", View: home})
	if err != nil || pub.ID == "" || pub.Type != slack.VTHomeTab {
		t.Fatalf("views.publish = %+v %v", pub, err)
	}
	pub2, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U2", View: home})
	if err != nil || pub2.ID != pub.ID {
		t.Errorf("home view id changed: %s → %s", pub.ID, pub2.ID)
	}
	if hv, ok := f.HomeView("U2"); !ok || strings.Join(slackfake.RenderText(hv.Blocks), "") != "Your agents" || len(hv.History) != 2 {
		t.Errorf("home = %+v", hv)
	}
}

func TestUsers(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())

	u, err := api.GetUserInfoContext(ctx, "U1")
	if err != nil || u.Name != "alice" || u.TZ != "Europe/Berlin" || u.Profile.Email != "alice@example.com" {
		t.Fatalf("users.info = %+v %v", u, err)
	}
	_, err = api.GetUserInfoContext(ctx, "U404")
	slackErr(t, err, "user_not_found")

	u, err = api.GetUserByEmailContext(ctx, "bob@example.com") // case-insensitive
	if err != nil || u.ID != "U2" {
		t.Fatalf("lookupByEmail = %+v %v", u, err)
	}
	_, err = api.GetUserByEmailContext(ctx, "nobody@example.com")
	slackErr(t, err, "users_not_found")
}

func TestFaults(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())
	post := func() error {
		_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
		return err
	}

	f.Fail("chat.postMessage", slackfake.Fault{Status: 429, RetryAfter: 1, Times: 2})
	for range 2 {
		var rl *slack.RateLimitedError
		if err := post(); !errors.As(err, &rl) || rl.RetryAfter != time.Second {
			t.Fatalf("err = %v (%T), want RateLimitedError 1s", err, err)
		}
	}
	if err := post(); err != nil {
		t.Fatalf("third call = %v, want success", err)
	}

	f.Fail("chat.postMessage", slackfake.Fault{Error: "channel_not_found"})
	slackErr(t, post(), "channel_not_found")

	f.Fail("chat.postMessage", slackfake.Fault{Status: 500})
	f.Fail("chat.postMessage", slackfake.Fault{Status: 503})
	for _, code := range []int{500, 503} {
		var sc slack.StatusCodeError
		if err := post(); !errors.As(err, &sc) || sc.Code != code {
			t.Fatalf("err = %v (%T), want StatusCodeError %d", err, err, code)
		}
	}

	// "*" applies to every method; negative Times lasts until ClearFaults.
	f.Fail("*", slackfake.Fault{Error: "fatal_error", Times: -1})
	slackErr(t, post(), "fatal_error")
	_, err := api.AuthTestContext(ctx)
	slackErr(t, err, "fatal_error")
	f.ClearFaults()
	if err := post(); err != nil {
		t.Fatal(err)
	}

	calls := f.Calls("chat.postMessage")
	if calls[0].Status != 429 || calls[0].Error != "ratelimited" || calls[2].Status != 200 || calls[4].Status != 500 {
		t.Errorf("recorded statuses wrong: %+v", calls)
	}
	if n := len(f.Messages("C1")); n != 2 {
		t.Errorf("%d messages stored, want 2 (failed calls store nothing)", n)
	}
}

func TestWaitMessageFromAnotherGoroutine(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())
	errc := make(chan error, 1)
	go func() {
		for _, text := range []string{"first", "second"} {
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(text, false)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	m, err := f.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Text == "second" })
	if err != nil || m.TS != "1700000000.000002" {
		t.Fatalf("WaitMessage = %+v %v", m, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// WaitUpdate sees every version, even one already replaced.
	go func() {
		for _, text := range []string{"acked", "resolved"} {
			if _, _, _, err := api.UpdateMessageContext(ctx, "C1", m.TS, slack.MsgOptionText(text, false)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	up, err := f.WaitUpdate(ctx, "C1", m.TS, func(m slackfake.Message) bool { return m.Text == "acked" })
	if err != nil || up.Text != "acked" || up.Updates() != 1 {
		t.Fatalf("WaitUpdate = %+v %v", up, err)
	}
}

func TestWaitEndsOnCancelAndClose(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.WaitMessage(ctx, nil); !errors.Is(err, ctx.Err()) {
		t.Errorf("cancelled wait = %v", err)
	}
	done := make(chan error, 1)
	wctx := testCtx(t)
	go func() {
		_, err := f.WaitMessage(wctx, func(slackfake.Message) bool { return false })
		done <- err
	}()
	f.Close()
	if err := <-done; !errors.Is(err, slackfake.ErrClosed) {
		t.Errorf("wait after Close = %v", err)
	}
}

func TestResponseURLShapes(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())
	// A slash command's response_url: ephemeral by default, or in_channel.
	env := f.SlashCommandEnvelope("U1", "C1", "/mandate", "who")
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil || p.ResponseURL == "" {
		t.Fatalf("payload %s: %v", env.Payload, err)
	}
	_, _, err := api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("on call: alice", false))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeInChannel), slack.MsgOptionText("for everyone", false))
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Ephemerals("C1"); len(e) != 1 || e[0].Text != "on call: alice" || e[0].Recipient != "U1" {
		t.Errorf("ephemerals = %+v", e)
	}
	if ms := f.Messages("C1"); len(ms) != 1 || ms[0].Text != "for everyone" {
		t.Errorf("messages = %+v", ms)
	}
	if rp := f.ResponsePosts(); len(rp) != 2 || rp[1].ResponseType != "in_channel" || rp[0].User != "U1" {
		t.Errorf("response posts = %+v", rp)
	}
	f.Fail("response_url", slackfake.Fault{Status: 503})
	_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != 503 {
		t.Errorf("injected response_url fault = %v", err)
	}
}

// TestTokenPlacement sends the two encodings by hand: a form with token= in
// the body and JSON with a Bearer token.
func TestTokenPlacement(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	do := func(req *http.Request) map[string]any {
		t.Helper()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	form := url.Values{"token": {f.BotToken()}, "channel": {"C1"}, "text": {"form"}}
	req, _ := http.NewRequest("POST", f.URL()+"/api/chat.postMessage", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if out := do(req); out["ok"] != true || out["ts"] == nil {
		t.Errorf("form call = %v", out)
	}

	body := `{"channel":"C1","text":"json","blocks":[{"type":"divider"}]}`
	req, _ = http.NewRequest("POST", f.URL()+"/api/chat.postMessage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+f.BotToken())
	if out := do(req); out["ok"] != true {
		t.Errorf("json call = %v", out)
	}
	req, _ = http.NewRequest("POST", f.URL()+"/api/chat.postMessage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if out := do(req); out["ok"] != false || out["error"] != "not_authed" {
		t.Errorf("json call without token = %v", out)
	}
	req, _ = http.NewRequest("POST", f.URL()+"/api/no.such", nil)
	req.Header.Set("Authorization", "Bearer "+f.BotToken())
	if out := do(req); out["error"] != "unknown_method" {
		t.Errorf("unknown method = %v", out)
	}

	ms := f.Messages("C1")
	if len(ms) != 2 || ms[1].Text != "json" || string(ms[1].Blocks) != `[{"type":"divider"}]` {
		t.Errorf("messages = %+v", ms)
	}
	if c := f.Calls("chat.postMessage")[1]; c.Token != f.BotToken() || c.Params["channel"] != "C1" || len(c.Body) == 0 {
		t.Errorf("json call recorded as %+v", c)
	}
}
