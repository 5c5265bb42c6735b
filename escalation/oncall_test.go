package escalation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/escalation"
	"github.com/mandatehq/mandate/postgres"
)

// TestOnCallStepFollowsTheSun runs the "oncall" step of real escalation chains (Postgres,
// notify.Slack against slackfake, PagerDuty on-call from a fake REST API): alice in New
// York is the primary on-call, bob in London the second level. At 07:00 in New York the
// step goes to bob and the thread says why; at 10:14 it goes to alice.
func TestOnCallStepFollowsTheSun(t *testing.T) {
	cfg := parseConfig(t, sunConfig)
	day := utc("2026-03-03 00:00")
	pd := newFakePagerDuty(t,
		onCall{user: "PALICE", name: "Alice", email: "alice@acme.test", level: 1, schedule: "PSCHED1", start: day, end: day.Add(24 * time.Hour)},
		onCall{user: "PBOB", name: "Bob", email: "bob@acme.test", level: 2, schedule: "PSCHED2", start: day, end: day.Add(24 * time.Hour)},
	)
	e := newEnv(t, cfg)
	queue, err := postgres.NewQueue(e.db, postgres.QueueOptions{}) // inserts the next steps, works none
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewEscalationStore(e.db, queue)
	ctx := context.Background()

	cases := []struct {
		name, now, want, notWant, why string
	}{
		{name: "NightInNewYork", now: "2026-03-03 12:00", want: "bob", notWant: "alice",
			why: "escalated to <@U0BOB> (oncall). Follow-the-sun: bob is on call (level 2) and it is 12:00 in Europe/London; alice, the primary on-call, is off hours (Tue 07:00 in America/New_York)."},
		{name: "MorningInNewYork", now: "2026-03-03 15:14", want: "alice", notWant: "bob",
			why: "escalated to <@U0ALICE> (oncall). Follow-the-sun: alice is on call and it is 10:14 in America/New_York."},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := utc(c.now)
			clock := func() time.Time { return now }
			owners := resolver(t, cfg, pd, clock)
			before := map[string]int{c.want: len(e.dms(c.want)), c.notWant: len(e.dms(c.notWant))}

			a := e.record(t, "Deploy payments-api "+c.name, mandate.PathMonitored, mandate.UrgencyCritical, "payments")
			id := int64(i + 1)
			e.notification(t, id, a)
			_, ts, err := e.api.PostMessageContext(ctx, "C0PAYMENTS", slack.MsgOptionText("the notification", false))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.deliveries.Delivered(ctx, id, "C0PAYMENTS", ts, now); err != nil {
				t.Fatal(err)
			}
			esc := &escalation.Escalator{Store: store, Notifications: e.deliveries, Messenger: e.slack,
				Config: func() *config.Config { return cfg }, Owners: owners, Now: clock, Log: discardLogger()}
			esc.Begin(ctx, e.notification(t, id, a))
			if err := esc.Run(ctx, id, 1); err != nil {
				t.Fatal(err)
			}

			var thread []string
			for _, m := range e.fake.Thread("C0PAYMENTS", ts) {
				thread = append(thread, m.Text)
			}
			if !strings.Contains(strings.Join(thread, "\n"), c.why) {
				t.Errorf("thread:\n%s\nwant a reply containing %q", strings.Join(thread, "\n"), c.why)
			}
			steps, err := store.Steps(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != 1 || steps[0] != [2]string{"oncall", c.want} {
				t.Errorf("steps %q, want one oncall step telling %s", steps, c.want)
			}
			if got := len(e.dms(c.want)) - before[c.want]; got != 1 {
				t.Errorf("%s got %d new DMs, want 1", c.want, got)
			}
			if got := len(e.dms(c.notWant)) - before[c.notWant]; got != 0 {
				t.Errorf("%s got %d new DMs, want none", c.notWant, got)
			}
		})
	}
}
