package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/slackfake"
)

// TestIncidentEndToEnd: an action fails with data loss on a critical service → an opt-in
// rule opens an incident → its channel is created with the owners invited and PagerDuty
// paged → an owner pauses the causing agent from the channel (its next action is halted)
// → the commander resolves it (PagerDuty resolved) → the timeline has it all, in order →
// the postmortem draft is posted and served → the same action again is warned about.
func TestIncidentEndToEnd(t *testing.T) {
	pdURL, pages := startPagerDuty(t)
	e := startSlackServeWith(t, quickstartWith(t, func(s string) string {
		return s + "\nincidents:\n  auto_open:\n    - {name: data-loss, when: {failure_mode: data_loss, min_sensitivity: critical}, severity: high}\n"
	}), "PAGERDUTY_ROUTING_KEY", "R0UTINGKEY0000", "MANDATE_PAGERDUTY_EVENTS_URL", pdURL)
	ctx := waitCtx(t)

	act := e.post(t, "/v1/actions", e.token, deployAction)
	id := act["action_id"].(string)
	e.post(t, "/v1/actions/"+id+"/result", e.token, `{"status":"failed","failure_mode":"data_loss","error":"orders table truncated"}`)

	header, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return strings.HasPrefix(m.Text, "🟠 INC-1 (high, open)") })
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := e.fake.Channel(header.Channel)
	if !strings.HasPrefix(ch.Name, "inc-1-data-loss-deployer-deploy-failed") {
		t.Errorf("channel %q", ch.Name)
	}
	for _, u := range []string{"U0ALICE", "U0BOB"} {
		if !slices.Contains(ch.Members, u) {
			t.Errorf("%s (payments) not invited: %v", u, ch.Members)
		}
	}
	if got := text(header); !strings.Contains(got, "deployer deploy: Deploy payments-api v1.42") || !strings.Contains(got, "failed (data_loss)") {
		t.Errorf("header:\n%s", got)
	}
	select {
	case ev := <-pages:
		if ev["event_action"] != "trigger" || ev["dedup_key"] != "mandate-incident-1" {
			t.Errorf("page %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("PagerDuty was not paged")
	}

	if _, err := e.fake.ClickButton("U0ALICE", header, "pause_causes"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(m.Text, "<@U0ALICE> paused deployer")
	}); err != nil {
		t.Fatal(err)
	}
	next := e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", "v1.43", 1))
	if next["next"] != "halt" {
		t.Errorf("the paused agent's next action: %v", next)
	}
	if _, err := e.fake.ClickButton("U0BOB", header, "resolved"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(m.Text, "INC-1 is resolved")
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-pages:
		if ev["event_action"] != "resolve" || ev["dedup_key"] != "mandate-incident-1" {
			t.Errorf("page %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("PagerDuty was not told of the resolution")
	}

	var tl struct {
		Incident map[string]any `json:"incident"`
		Entries  []struct {
			Kind  string `json:"kind"`
			Event string `json:"event"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(e.getText(t, "/v1/incidents/1/timeline", e2eAdmin)), &tl); err != nil {
		t.Fatalf("timeline: %v", err)
	}
	var got []string
	for _, en := range tl.Entries {
		got = append(got, en.Kind+"/"+en.Event)
	}
	// The notification is delivered while the result comes in: only its presence is sure.
	order := []string{"action/monitored_execute", "result/failed", "incident/opened", "incident/paused", "incident/resolved"}
	last := -1
	for _, want := range order {
		i := slices.Index(got, want)
		if i < 0 || i < last {
			t.Fatalf("timeline %v: %q missing or out of order (want %v in that order)", got, want, order)
		}
		last = i
	}
	if !slices.Contains(got, "notification/delivered") {
		t.Errorf("timeline %v has no notification", got)
	}
	// The halted action after the pause is in it too; routing flagged it, since its
	// actor caused an incident on the service.
	if !slices.Contains(got, "action/flagged_execute") {
		t.Errorf("timeline %v lacks the halted, flagged action", got)
	}
	if tl.Incident["state"] != "resolved" || tl.Incident["via"] != "rule" {
		t.Errorf("incident %v", tl.Incident)
	}
	ack, err := e.fake.SlashCommand("U0BOB", header.Channel, "/mandate", "incident timeline")
	if err != nil || !strings.Contains(string(ack), "INC-1") || !strings.Contains(string(ack), "marked resolved") {
		t.Errorf("timeline in the channel: %s %v", ack, err)
	}

	// On resolve, the postmortem draft is posted in the channel and served by the API,
	// with the timeline in order.
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && m.ThreadTS != "" && strings.Contains(m.Text, "## Timeline")
	}); err != nil {
		t.Fatalf("no postmortem draft in the channel: %v", err)
	}
	md := e.getText(t, "/v1/incidents/1/postmortem.md", e2eAdmin)
	for _, want := range []string{"# INC-1", "## Timeline", "## Affected systems", "## Who was involved", "## Root cause candidates", "## Impact", "## What we'll change", "## Action items", "Deploy payments-api v1.42"} {
		if !strings.Contains(md, want) {
			t.Errorf("postmortem lacks %q:\n%s", want, md)
		}
	}
	timeline := md[strings.Index(md, "## Timeline"):strings.Index(md, "## Affected systems")]
	last = -1
	for _, want := range []string{"| action |", "| result |", "INC-1 opened", "resolved"} {
		i := strings.Index(timeline, want)
		if i < 0 || i < last {
			t.Fatalf("postmortem timeline: %q missing or out of order:\n%s", want, timeline)
		}
		last = i
	}

	// The same kind of action again, once the agent runs again: the owners are warned it
	// looks like INC-1.
	e.post(t, "/v1/agents/deployer/resume", e2eAdmin, `{}`)
	e.post(t, "/v1/actions", e.token, strings.Replace(deployAction, "v1.42", "v1.44", 1))
	if _, err := e.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" && strings.Contains(text(m), "v1.44") && strings.Contains(text(m), "looks similar to incident #1")
	}); err != nil {
		for _, m := range e.fake.Messages("C0PAYMENTS") {
			t.Logf("message: %s", text(m))
		}
		t.Fatalf("the repeat action carried no pattern warning: %v", err)
	}
}
