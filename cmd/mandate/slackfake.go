package main

import (
	"context"
	"fmt"

	"github.com/mandatehq/mandate/slackfake"
)

var slackfakeCmd = &command{
	name:    "slackfake",
	usage:   "mandate slackfake [--listen ADDR] [--user ID=NAME]... [--channel ID=NAME]...",
	summary: "serve a Slack stand-in (Web API + Socket Mode) for trying Mandate without a workspace",
	help: `
Serves slackfake, the Slack stand-in Mandate's tests use, on --listen: the Web API under
/api/ and Socket Mode under /link/. Point a server at it with
  SLACK_BOT_TOKEN=xoxb-slackfake SLACK_APP_TOKEN=xapp-slackfake \
  MANDATE_SLACK_API_URL=http://ADDR/api/ mandate serve
and every message, update and envelope is printed here as it happens. The quickstart's
people and channels are seeded; add more with --user and --channel. Stop with Ctrl-C.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		listen := fs.String("listen", "127.0.0.1:8090", "address to serve on")
		var users, channels multiFlag
		fs.Var(&users, "user", "seed a user, ID=NAME (repeatable)")
		fs.Var(&channels, "channel", "seed a channel, ID=NAME (repeatable)")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fake := slackfake.New(slackfake.Options{})
		for _, u := range []string{"U0ALICE=alice", "U0BOB=bob", "U0CAROL=carol", "U0DAN=dan", "U0ERIN=erin", "U0FRANK=frank"} {
			users = append([]string{u}, users...)
		}
		for _, u := range users {
			id, name, ok := cutPair(u)
			if !ok {
				return usageError{fmt.Sprintf("--user %q: write ID=NAME", u)}
			}
			fake.AddUser(id, name, name+"@acme.test", "UTC")
		}
		channels = append([]string{"C0PAYMENTS=payments", "C0PLATFORM=platform", "C0DATA=data"}, channels...)
		for _, ch := range channels {
			id, name, ok := cutPair(ch)
			if !ok {
				return usageError{fmt.Sprintf("--channel %q: write ID=NAME", ch)}
			}
			fake.AddChannel(id, name)
		}
		fake.OnEvent(func(e slackfake.Event) { fmt.Fprintln(env.stdout, e.String()) })
		if err := fake.Serve(*listen); err != nil {
			return err
		}
		defer fake.Close()
		fmt.Fprintf(env.stderr, "slackfake serving on http://%s: SLACK_BOT_TOKEN=%s SLACK_APP_TOKEN=%s MANDATE_SLACK_API_URL=http://%s/api/\n",
			*listen, fake.BotToken(), fake.AppToken(), *listen)
		<-ctx.Done()
		return nil
	},
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cutPair(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
