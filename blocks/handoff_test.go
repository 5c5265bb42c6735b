package blocks

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func handoff() Handoff {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return Handoff{
		Person: "U0DAN", Teams: []string{"Payments", "Data"}, Rotation: "PagerDuty schedule PSCHED1", From: "U0CAROL",
		Since: t0.Add(-5 * time.Minute), Now: t0, Zone: london,
		Gates: []HandoffItem{{Actor: "deployer", Type: "db_migration", Summary: "Drop column users.legacy_id",
			Since: t0.Add(-3 * time.Minute), Until: t0.Add(12 * time.Minute)}},
		Escalations: []HandoffItem{{Actor: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42",
			Since: t0.Add(-7 * time.Minute), Policy: "builtin:critical", Step: 1}},
		Unanswered: []HandoffItem{{Actor: "cleanup-bot", Type: "delete", Summary: "Delete <!channel> bucket prod-logs",
			Since: t0.Add(-3 * time.Hour)}},
	}
}

func TestHandoffGolden(t *testing.T) {
	cases := map[string]func() Handoff{
		"handoff": handoff,
		"handoff_quiet": func() Handoff {
			return Handoff{Person: "U0DAN", Teams: []string{"Payments"}, Rotation: "PagerDuty schedule PSCHED1", Now: t0}
		},
		"handoff_incidents_and_more": func() Handoff {
			h := handoff()
			h.From = "Carol (not in mandate.yaml)"
			h.Incidents = []HandoffIncident{{Title: "Payments API 5xx", Severity: "high", Channel: "C0INC1", Opened: t0.Add(-40 * time.Minute)}}
			for i := range 14 {
				h.Unanswered = append(h.Unanswered, HandoffItem{Actor: "cleanup-bot", Type: "delete", Summary: fmt.Sprintf("Delete object %d", i), Since: t0.Add(-time.Duration(i) * time.Minute)})
			}
			h.UnansweredTotal = 40
			return h
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			v := rendered{Text: HandoffText(h())}
			checkLimits(t, encode(t, v))
			checkGolden(t, name, v)
		})
	}
}

// TestHandoffTextIsSafeAndBounded: agent text cannot ping a channel, and a flood of open
// items still fits one Slack message, counted rather than dropped silently.
func TestHandoffTextIsSafeAndBounded(t *testing.T) {
	h := handoff()
	long := strings.Repeat("x", 5000)
	for range 500 {
		h.Gates = append(h.Gates, HandoffItem{Actor: long, Type: long, Summary: long, Since: t0, Until: t0.Add(time.Hour)})
	}
	text := HandoffText(h)
	if strings.Contains(text, "<!channel>") {
		t.Errorf("unescaped <!channel> in %q", text)
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		t.Errorf("%d runes, limit %d", n, maxText)
	}
	if !strings.Contains(text, "*Open gates* (501)") {
		t.Errorf("gate count missing:\n%s", text)
	}
}
