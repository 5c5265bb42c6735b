package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// TestDigestCommand: `/mandate digest` previews the caller's team's week, any team's by
// id or name, and the admins' digest for admins only; mistakes say how to ask.
func TestDigestCommand(t *testing.T) {
	ctx := context.Background()
	db, _ := pgtest.DigestWeekDB(t)
	cfg, err := config.Parse("mandate.yaml", []byte(`
org: {timezone: Europe/Berlin, fallback: {team: platform}, admins: [erin]}
people:
  - {id: alice, slack: U0ALICE}
  - {id: carol, slack: U0CAROL}
  - {id: erin, slack: U0ERIN}
teams:
  - {id: payments, name: Payments, members: [alice]}
  - {id: platform, name: Platform, lead: carol}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := &Handlers{Config: func() *config.Config { return cfg }, Now: func() time.Time { return pgtest.WeekEnd },
		Log: slog.New(slog.DiscardHandler)}
	ask := func(user, text string) (string, string) {
		t.Helper()
		ack := h.SlashCommand(ctx, slack.SlashCommand{Command: "/mandate", UserID: user, ChannelID: "C1", Text: text})
		raw, err := json.Marshal(ack)
		if err != nil {
			t.Fatal(err)
		}
		m := ack.(map[string]any)
		if m["response_type"] != "ephemeral" {
			t.Errorf("%s: answer is not ephemeral: %s", text, raw)
		}
		return m["text"].(string), string(raw)
	}
	if text, _ := ask("U0ALICE", "digest"); !strings.Contains(text, "not set up") {
		t.Errorf("without a previewer: %q", text)
	}
	h.SetDigests(&digests.Builder{Store: postgres.NewDigestStore(db), Config: func() *config.Config { return cfg }})

	for _, c := range []struct {
		user, text string
		want       []string // in the answer's text
		blocks     string   // in its blocks; "" for a text-only answer
	}{
		{"U0ALICE", "digest", []string{"Weekly digest · Payments: 7 actions, 8 notifications, 2 incidents"}, `*Actions* · 7`}, // bob is no member here: N4 is not theirs,
		{"U0ALICE", "digest platform", []string{"Weekly digest · Platform: 2 actions"}, "Weekly digest · Platform"},
		{"U0ALICE", "digest PAYMENTS", []string{"Weekly digest · Payments"}, "only you see it"},
		{"U0CAROL", "digest", []string{"Weekly digest · Platform"}, "Weekly digest · Platform"}, // the lead's team
		{"U0ERIN", "digest", []string{"Weekly digest · all teams: 8 actions"}, "*Teams*"},       // an admin in no team
		{"U0ERIN", "digest admin", []string{"Weekly digest · all teams"}, "*Teams*"},
		{"U0ALICE", "digest admin", []string{"Only org admins", "Usage: `/mandate digest [TEAM]`"}, ""},
		{"U0ALICE", "digest nope", []string{`There is no team "nope" in mandate.yaml. Teams: payments, platform.`}, ""},
		{"U0ALICE", "digest a b", []string{"Name at most one team."}, ""},
		{"U0NOBODY", "digest", []string{"You are not in any team in mandate.yaml: name one. Teams: payments, platform."}, ""},
	} {
		text, raw := ask(c.user, c.text)
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s by %s: text %q lacks %q", c.text, c.user, text, w)
			}
		}
		switch {
		case c.blocks == "" && strings.Contains(raw, `"blocks"`):
			t.Errorf("%s by %s: a refusal carries blocks: %s", c.text, c.user, raw)
		case c.blocks != "" && !strings.Contains(raw, c.blocks):
			t.Errorf("%s by %s: blocks lack %q: %s", c.text, c.user, c.blocks, raw)
		}
	}
}
