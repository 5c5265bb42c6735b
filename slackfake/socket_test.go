package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/mandatehq/mandate/slackfake"
)

func pt(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// postIncident posts a message with Acknowledge/Resolve buttons, as the bot
// would, and returns its ts.
func postIncident(t *testing.T, ctx context.Context, f *slackfake.Server) string {
	t.Helper()
	_, ts, err := apiClient(f, f.BotToken()).PostMessageContext(ctx, "C1", slack.MsgOptionText("INC-42", false),
		slack.MsgOptionBlocks(
			slack.NewHeaderBlock(pt("INC-42")),
			slack.NewActionBlock("inc_actions",
				slack.NewButtonBlockElement("ack_incident", "inc-42", pt("Acknowledge")),
				slack.NewButtonBlockElement("resolve_incident", "inc-42", pt("Resolve")))))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func recv[T any](t *testing.T, ctx context.Context, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("nothing received: %v", ctx.Err())
		panic("unreachable")
	}
}

func TestSocketModeRoundTrip(t *testing.T) {
	// A short ping interval exercises the ping path during the test.
	f := newFake(t, slackfake.Options{PingInterval: 10 * time.Millisecond})
	ctx := testCtx(t)
	api := apiClient(f, f.BotToken())
	ts := postIncident(t, ctx, f)

	hello := make(chan struct{}, 1)
	cmds := make(chan slack.SlashCommand, 1)
	actions := make(chan slack.InteractionCallback, 1)
	subs := make(chan slack.InteractionCallback, 1)
	events := make(chan slackevents.EventsAPIEvent, 2)
	runClient(t, f, func(sm *socketmode.Client, evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeHello:
			select {
			case hello <- struct{}{}:
			default:
			}
		case socketmode.EventTypeSlashCommand:
			cmds <- evt.Data.(slack.SlashCommand)
			_ = sm.Ack(*evt.Request, map[string]any{"text": "on call: alice"})
		case socketmode.EventTypeInteractive:
			cb := evt.Data.(slack.InteractionCallback)
			switch cb.Type {
			case slack.InteractionTypeBlockActions:
				_ = sm.Ack(*evt.Request)
				actions <- cb
			case slack.InteractionTypeViewSubmission:
				subs <- cb
				_ = sm.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"q": "too short"}))
			}
		case socketmode.EventTypeEventsAPI:
			_ = sm.Ack(*evt.Request)
			events <- evt.Data.(slackevents.EventsAPIEvent)
		case socketmode.EventTypeErrorBadMessage:
			t.Errorf("client could not parse an envelope: %+v", evt.Data)
		}
	})
	recv(t, ctx, hello)

	// Slash command, answered in the ack.
	ack, err := f.SlashCommand("U1", "C1", "/mandate", "who")
	if err != nil || string(ack) != `{"text":"on call: alice"}` {
		t.Fatalf("slash ack = %s, %v", ack, err)
	}
	cmd := recv(t, ctx, cmds)
	if cmd.Command != "/mandate" || cmd.Text != "who" || cmd.UserID != "U1" || cmd.UserName != "alice" ||
		cmd.ChannelID != "C1" || cmd.ChannelName != "general" || cmd.ResponseURL == "" || cmd.TriggerID == "" || cmd.TeamID != "T0FAKE" {
		t.Errorf("slash command = %+v", cmd)
	}
	if e := f.Ephemerals("C1"); len(e) != 1 || e[0].Text != "on call: alice" || e[0].Recipient != "U1" {
		t.Errorf("the ack's text should show as an ephemeral message: %+v", e)
	}

	// Block action on the stored message.
	msg, _ := f.Message("C1", ts)
	if ack, err := f.ClickButton("U1", msg, "ack_incident"); err != nil || ack != nil {
		t.Fatalf("click ack = %s, %v", ack, err)
	}
	cb := recv(t, ctx, actions)
	if n := len(cb.ActionCallback.BlockActions); n != 1 || len(cb.ActionCallback.AttachmentActions) != 0 {
		t.Fatalf("block actions = %d, attachment actions = %d", n, len(cb.ActionCallback.AttachmentActions))
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "ack_incident" || a.Value != "inc-42" || a.BlockID != "inc_actions" || a.Text.Text != "Acknowledge" {
		t.Errorf("action = %+v", a)
	}
	if cb.User.ID != "U1" || cb.Channel.ID != "C1" || cb.Message.Timestamp != ts || cb.Container.MessageTs != ts ||
		cb.ResponseURL == "" || cb.TriggerID == "" || len(cb.Message.Blocks.BlockSet) != 2 {
		t.Errorf("callback = %+v", cb)
	}
	if _, err := f.ClickButton("U1", msg, "no_such_button"); err == nil {
		t.Error("clicking a missing button should fail")
	}

	// The bot replaces the message through the response_url.
	_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cb.ResponseURL, slack.ResponseTypeEphemeral),
		slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("Acknowledged by alice", false))
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.WaitUpdate(ctx, "C1", ts, func(m slackfake.Message) bool { return strings.Contains(m.Text, "Acknowledged") })
	if err != nil || up.History[1].Via != "response_url" {
		t.Fatalf("update = %+v, %v", up, err)
	}

	// The bot opens a modal with the action's trigger; the user submits it.
	modal := slack.ModalViewRequest{Type: slack.VTModal, CallbackID: "ask_question", PrivateMetadata: `{"channel":"C1"}`,
		Title: pt("Ask"), Submit: pt("Send"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("q", pt("Question"), nil, slack.NewPlainTextInputBlockElement(nil, "q_input")),
			slack.NewInputBlock("sev", pt("Severity"), nil, slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, nil, "sev_sel",
				slack.NewOptionBlockObject("high", pt("High"), nil), slack.NewOptionBlockObject("low", pt("Low"), nil))),
		}}}
	opened, err := api.OpenViewContext(ctx, cb.TriggerID, modal)
	if err != nil {
		t.Fatal(err)
	}
	ack, err = f.SubmitView("U1", "ask_question", "", map[string]map[string]string{"q": {"q_input": "why?"}, "sev": {"sev_sel": "high"}})
	if err != nil || !strings.Contains(string(ack), `"response_action":"errors"`) {
		t.Fatalf("submit ack = %s, %v", ack, err)
	}
	sub := recv(t, ctx, subs)
	if sub.View.ID != opened.ID || sub.View.CallbackID != "ask_question" || sub.View.PrivateMetadata != `{"channel":"C1"}` || sub.User.ID != "U1" {
		t.Errorf("submitted view = %+v", sub.View)
	}
	if v := sub.View.State.Values["q"]["q_input"]; v.Value != "why?" || v.Type != "plain_text_input" {
		t.Errorf("q = %+v", v)
	}
	if v := sub.View.State.Values["sev"]["sev_sel"]; v.SelectedOption.Value != "high" || v.SelectedOption.Text.Text != "High" {
		t.Errorf("sev = %+v", v)
	}
	if vs := f.Views(); vs[0].Errors["q"] != "too short" || vs[0].Closed {
		t.Errorf("errors ack should keep the modal open with errors: %+v", vs[0])
	}

	// Events API: Home tab and a mention.
	if _, err := f.OpenHome("U2"); err != nil {
		t.Fatal(err)
	}
	ev := recv(t, ctx, events)
	home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
	if ev.Type != slackevents.CallbackEvent || !ok || home.User != "U2" || home.Tab != "home" || !strings.HasPrefix(home.Channel, "D") {
		t.Errorf("home event = %+v / %+v", ev, ev.InnerEvent.Data)
	}
	if _, err := f.SendEvent(json.RawMessage(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1700000000.000300","channel":"C1","event_ts":"1700000000.000300"}`)); err != nil {
		t.Fatal(err)
	}
	ev = recv(t, ctx, events)
	if m, ok := ev.InnerEvent.Data.(*slackevents.AppMentionEvent); !ok || m.Text != "<@UBOT> hi" || m.Channel != "C1" {
		t.Errorf("mention = %+v", ev.InnerEvent.Data)
	}

	// Nothing reconnected along the way, and every envelope went out once.
	if g := f.Generation(); g != 1 {
		t.Errorf("generation = %d, want 1", g)
	}
	for _, e := range f.Envelopes() {
		if e.RetryAttempt != 0 || e.Generation != 1 {
			t.Errorf("envelope %+v", e)
		}
	}
	if n := len(f.Acks()); n != 5 {
		t.Errorf("%d acks, want 5", n)
	}
}

// TestSocketmodeHandlerDispatch checks that slack-go's own router finds the
// fake's envelopes by action id, callback id and command: it needs block_id
// on every action.
func TestSocketmodeHandlerDispatch(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	ts := postIncident(t, ctx, f)

	sm := socketmode.New(apiClient(f, f.BotToken()))
	h := socketmode.NewSocketmodeHandler(sm)
	got := make(chan string, 3)
	h.HandleInteractionBlockAction("resolve_incident", func(evt *socketmode.Event, c *socketmode.Client) {
		cb := evt.Data.(slack.InteractionCallback)
		_ = c.Ack(*evt.Request)
		got <- "action " + cb.ActionCallback.BlockActions[0].Value
	})
	h.HandleSlashCommand("/mandate", func(evt *socketmode.Event, c *socketmode.Client) {
		_ = c.Ack(*evt.Request)
		got <- "command " + evt.Data.(slack.SlashCommand).Text
	})
	h.HandleViewSubmission("ask_question", func(evt *socketmode.Event, c *socketmode.Client) {
		_ = c.Ack(*evt.Request)
		got <- "view " + evt.Data.(slack.InteractionCallback).View.State.Values["q"]["q_input"].Value
	})
	h.HandleDefault(func(*socketmode.Event, *socketmode.Client) {})
	hctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.RunEventLoopContext(hctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	if _, err := f.PressButton("U1", "C1", ts, "resolve_incident", "", "inc-42"); err != nil {
		t.Fatal(err)
	}
	if v := recv(t, ctx, got); v != "action inc-42" {
		t.Errorf("got %q", v)
	}
	if _, err := f.SlashCommand("U1", "C1", "/mandate", "status"); err != nil {
		t.Fatal(err)
	}
	if v := recv(t, ctx, got); v != "command status" {
		t.Errorf("got %q", v)
	}
	if _, err := f.SubmitView("U1", "ask_question", "{}", map[string]map[string]string{"q": {"q_input": "why?"}}); err != nil {
		t.Fatal(err)
	}
	if v := recv(t, ctx, got); v != "view why?" {
		t.Errorf("got %q", v)
	}
}

func TestDisconnectReconnectDeliversPushedEnvelope(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	got := make(chan *socketmode.Request, 4)
	runClient(t, f, func(sm *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			_ = sm.Ack(*evt.Request)
			got <- evt.Request
		}
	})
	if err := f.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Disconnect(); err != nil {
		t.Fatal(err)
	}
	// Pushed while the client is reconnecting: it waits for the new
	// connection instead of going to the retiring one.
	d := f.Push(f.SlashCommandEnvelope("U1", "C1", "/mandate", "who"))
	if _, err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	req := recv(t, ctx, got)
	if req.EnvelopeID != d.ID || req.RetryAttempt != 0 {
		t.Errorf("request = %+v", req)
	}
	if n := len(f.Calls("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", n)
	}
	if env := f.Envelopes(); len(env) != 1 || env[0].Generation != 2 {
		t.Errorf("envelopes = %+v, want one on connection 2", env)
	}
}

func TestDropConnRedeliversUnackedEnvelope(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	reqs := make(chan *socketmode.Request, 4)
	var n atomic.Int32
	runClient(t, f, func(sm *socketmode.Client, evt socketmode.Event) {
		if evt.Type != socketmode.EventTypeEventsAPI {
			return
		}
		reqs <- evt.Request
		if n.Add(1) > 1 { // the first delivery is "lost" before its ack
			_ = sm.Ack(*evt.Request)
		}
	})
	if err := f.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	env, err := f.EventEnvelope(json.RawMessage(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1700000000.000300","channel":"C1","event_ts":"1700000000.000300"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := f.Push(env)
	first := recv(t, ctx, reqs)
	if err := f.DropConn(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	second := recv(t, ctx, reqs)
	if first.RetryAttempt != 0 || second.RetryAttempt != 1 || second.RetryReason != "timeout" || second.EnvelopeID != first.EnvelopeID {
		t.Errorf("first = %+v, second = %+v", first, second)
	}
	if string(first.Payload) != string(second.Payload) {
		t.Error("a retry must carry the same payload (and event_id)")
	}
	if g, a := f.Generation(), d.Attempts(); g != 2 || a != 2 {
		t.Errorf("generation = %d, attempts = %d; want 2, 2", g, a)
	}
	if err := f.DropConn(); err != nil { // the new connection drops too: nothing left to resend
		t.Fatal(err)
	}
	if err := f.WaitConnected(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Envelopes()); n != 2 {
		t.Errorf("%d envelope frames, want 2", n)
	}
}

func TestEnvelopeQueuedUntilConnected(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	d := f.Push(f.SlashCommandEnvelope("U1", "C1", "/mandate", "early"))
	if f.Connected() {
		t.Fatal("connected without a client")
	}
	if err := f.Disconnect(); !errors.Is(err, slackfake.ErrNotConnected) {
		t.Errorf("Disconnect without client = %v", err)
	}
	runClient(t, f, func(sm *socketmode.Client, evt socketmode.Event) {
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			_ = sm.Ack(*evt.Request)
		}
	})
	if _, err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if env := f.Envelopes(); len(env) != 1 || env[0].Generation != 1 || env[0].RetryAttempt != 0 {
		t.Errorf("envelopes = %+v", env)
	}
}

func TestNoAckTimesOut(t *testing.T) {
	f := newFake(t, slackfake.Options{AckTimeout: 20 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := f.SlashCommand("U1", "C1", "/mandate", "who"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if _, err := f.PressButton("U1", "C1", "1.000001", "a", "b", "v"); err == nil {
		t.Error("pressing a button on a missing message should fail")
	}
	// The abandoned envelope is not delivered to a client that connects later.
	runClient(t, f, func(*socketmode.Client, socketmode.Event) {})
	if err := f.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if env := f.Envelopes(); len(env) != 0 {
		t.Errorf("cancelled envelope was sent: %+v", env)
	}
}

func TestTranscript(t *testing.T) {
	f := newFake(t, slackfake.Options{})
	ctx := testCtx(t)
	events := make(chan slackfake.Event, 64)
	f.OnEvent(func(e slackfake.Event) { events <- e })
	runClient(t, f, func(sm *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeInteractive {
			_ = sm.Ack(*evt.Request)
		}
	})
	ts := postIncident(t, ctx, f)
	msg, _ := f.Message("C1", ts)
	if _, err := f.ClickButton("U1", msg, "ack_incident"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := apiClient(f, f.BotToken()).UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("acked", false), slack.MsgOptionBlocks()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var lines []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != string(slackfake.EventUpdate) {
		e := recv(t, ctx, events)
		if e.Kind == slackfake.EventConnect {
			continue
		}
		kinds = append(kinds, string(e.Kind))
		lines = append(lines, e.String())
	}
	if got := strings.Join(kinds, ","); got != "post,envelope,ack,update" {
		t.Errorf("kinds = %s", got)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"#general  mandate", "[Acknowledge] [Resolve]", "@alice pressed [Acknowledge]", "ack env-1", "mandate edited", "acked"} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q:\n%s", want, text)
		}
	}
	if n := len(f.Events()); n < 5 {
		t.Errorf("Events() = %d entries", n)
	}
}

// TestPingsKeepTheClientConnected lets the client see many of its ping
// intervals pass, counted in pongs rather than slept, and checks it never
// timed the connection out.
func TestPingsKeepTheClientConnected(t *testing.T) {
	f := newFake(t, slackfake.Options{PingInterval: 5 * time.Millisecond})
	ctx := testCtx(t)
	sm := socketmode.New(apiClient(f, f.BotToken()), socketmode.OptionPingInterval(100*time.Millisecond))
	cctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sm.RunContext(cctx) })
	wg.Go(func() {
		for {
			select {
			case <-cctx.Done():
				return
			case <-sm.Events:
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	// 60 pongs at 5 ms is about three of the client's 100 ms intervals.
	if err := f.WaitPongs(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if g := f.Generation(); g != 1 {
		t.Errorf("client reconnected (generation %d): it did not see the pings", g)
	}
}
