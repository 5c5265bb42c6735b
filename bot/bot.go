// Package bot is the Slack Socket Mode runtime: it keeps the connection, acks every
// envelope at once (Slack wants an answer within 3 s) and hands the work to a bounded pool
// of workers, so a slow handler never stalls the websocket reader (and its pings).
package bot

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// Handler does the work behind envelopes. Commands and view submissions answer in the
// ack, so they must be quick; block actions and events run after the ack.
type Handler interface {
	SlashCommand(ctx context.Context, cmd slack.SlashCommand) any
	ViewSubmission(ctx context.Context, cb slack.InteractionCallback) any
	BlockAction(ctx context.Context, cb slack.InteractionCallback)
	Event(ctx context.Context, ev slackevents.EventsAPIEvent)
}

// Bot runs a Socket Mode connection.
type Bot struct {
	Client  *socketmode.Client
	Handler Handler
	Log     *slog.Logger
	Workers int // block actions and events handled at once; default 16

	mu        sync.Mutex
	connected bool
	seen      map[string]time.Time // event ids already handled (Slack retries events)
}

// Connected reports whether the websocket is up, for status pages.
func (b *Bot) Connected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.connected
}

// Run connects and serves until ctx ends.
func (b *Bot) Run(ctx context.Context) error {
	workers := b.Workers
	if workers <= 0 {
		workers = 16
	}
	b.seen = map[string]time.Time{}
	work := make(chan func(), 256)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for f := range work {
				b.safely(f)
			}
		})
	}
	defer func() { close(work); wg.Wait() }()
	go func() {
		// RunContext reconnects by itself; it returns only when ctx ends or on fatal auth
		// errors (invalid_auth, token_revoked, …).
		if err := b.Client.RunContext(ctx); ctx.Err() == nil {
			b.setConnected(false)
			b.Log.Error("slack socket mode stopped; check SLACK_APP_TOKEN", "err", err)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case evt := <-b.Client.Events:
			b.dispatch(ctx, evt, work)
		}
	}
}

func (b *Bot) safely(f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.Log.Error("slack handler panicked", "panic", r)
		}
	}()
	f()
}

func (b *Bot) setConnected(v bool) {
	b.mu.Lock()
	b.connected = v
	b.mu.Unlock()
}

// ack answers an envelope within Slack's deadline.
func (b *Bot) ack(ctx context.Context, req *socketmode.Request, payload any) {
	if req == nil {
		return
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := b.Client.AckCtx(actx, req.EnvelopeID, payload); err != nil {
		b.Log.Warn("slack ack failed", "envelope", req.EnvelopeID, "err", err)
	}
}

func (b *Bot) dispatch(ctx context.Context, evt socketmode.Event, work chan<- func()) {
	switch evt.Type {
	case socketmode.EventTypeConnected, socketmode.EventTypeHello:
		b.setConnected(true)
	case socketmode.EventTypeConnecting, socketmode.EventTypeConnectionError, socketmode.EventTypeDisconnect:
		b.setConnected(false)
	case socketmode.EventTypeInvalidAuth:
		b.setConnected(false)
		b.Log.Error("slack rejected the app token (invalid_auth): check SLACK_APP_TOKEN")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			b.ack(ctx, evt.Request, nil)
			return
		}
		// Answered in the ack: an immediate, usually ephemeral, reply.
		var payload any
		b.safely(func() { payload = b.Handler.SlashCommand(ctx, cmd) })
		b.ack(ctx, evt.Request, payload)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			b.ack(ctx, evt.Request, nil)
			return
		}
		switch cb.Type {
		case slack.InteractionTypeViewSubmission:
			var payload any
			b.safely(func() { payload = b.Handler.ViewSubmission(ctx, cb) })
			b.ack(ctx, evt.Request, payload)
		case slack.InteractionTypeBlockActions:
			b.ack(ctx, evt.Request, nil)
			work <- func() { b.Handler.BlockAction(ctx, cb) }
		default:
			b.ack(ctx, evt.Request, nil)
		}
	case socketmode.EventTypeEventsAPI:
		b.ack(ctx, evt.Request, nil)
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok || b.duplicate(evt.Request) {
			return
		}
		work <- func() { b.Handler.Event(ctx, ev) }
	case socketmode.EventTypeErrorBadMessage:
		// An event slack-go cannot parse is still acked, or Slack resends it forever.
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var req socketmode.Request
			if json.Unmarshal(bad.Message, &req) == nil && req.EnvelopeID != "" {
				b.ack(ctx, &req, nil)
			}
		}
	}
}

// duplicate reports whether an events_api envelope's event was handled already (Slack
// retries events whose ack it did not see).
func (b *Bot) duplicate(req *socketmode.Request) bool {
	if req == nil {
		return false
	}
	var p struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(req.Payload, &p) != nil || p.EventID == "" {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if _, ok := b.seen[p.EventID]; ok {
		return true
	}
	if len(b.seen) > 10000 {
		for id, at := range b.seen {
			if now.Sub(at) > time.Hour {
				delete(b.seen, id)
			}
		}
	}
	b.seen[p.EventID] = now
	return false
}
