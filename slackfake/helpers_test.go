package slackfake_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/mandatehq/mandate/slackfake"
)

// newFake starts a fake with users alice and bob and channel #general.
func newFake(t *testing.T, opts slackfake.Options) *slackfake.Server {
	t.Helper()
	f := slackfake.New(opts)
	f.Start()
	t.Cleanup(f.Close)
	f.AddUser("U1", "alice", "alice@example.com", "Europe/Berlin")
	f.AddUser("U2", "bob", "Bob@Example.com", "America/New_York")
	f.AddChannel("C1", "general", "U1", "U2")
	return f
}

func apiClient(f *slackfake.Server, token string) *slack.Client {
	return slack.New(token, slack.OptionAppLevelToken(f.AppToken()), slack.OptionAPIURL(f.URL()+"/api/"))
}

// testCtx bounds every wait, so a broken test fails instead of hanging. The
// bound is a failure limit, never something a test measures.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runClient runs a real socketmode client against f and feeds every event
// to handle from the goroutine that reads Events.
func runClient(t *testing.T, f *slackfake.Server, handle func(*socketmode.Client, socketmode.Event)) *socketmode.Client {
	t.Helper()
	sm := socketmode.New(apiClient(f, f.BotToken()))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sm.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				handle(sm, evt)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return sm
}

func slackErr(t *testing.T, err error, want string) {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != want {
		t.Fatalf("err = %v (%T), want SlackErrorResponse %q", err, err, want)
	}
}
