package escalation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/escalation"
)

// sunConfig has people around the world; business hours are the default mon–fri
// 09:00–17:00, read in each person's zone.
const sunConfig = `
org:
  name: Acme
  timezone: America/New_York
  fallback: {team: payments}
people:
  - {id: alice, slack: U0ALICE, email: alice@acme.test, timezone: America/New_York}
  - {id: bob, slack: U0BOB, email: bob@acme.test, timezone: Europe/London}
  - {id: carol, slack: U0CAROL, email: carol@acme.test, timezone: Asia/Kolkata}
  - {id: dan, slack: U0DAN, email: dan@acme.test, timezone: Australia/Sydney}
  - {id: erin, slack: U0ERIN, email: erin@acme.test}
  - {id: frank, slack: U0FRANK, email: frank@acme.test}
teams:
  - {id: payments, name: Payments, slack_channel: C0PAYMENTS, members: [alice, bob, carol, dan], lead: erin, pagerduty: {schedule: PSCHED1}}
  - {id: tokyo, slack_channel: C0TOKYO, timezone: Asia/Tokyo, members: [frank, erin]}
services:
  - {name: payments-api, kind: service, match: ["payments-api"], team: payments}
agents:
  - {id: deployer, team: payments, trust: trusted}
escalation:
  policies:
    - name: sun
      steps: [{notify: oncall, after: 1s}]
  by_urgency: {critical: sun}
`

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("mandate.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestChooseOnCall(t *testing.T) {
	cfg := parseConfig(t, sunConfig)
	// alice and bob are on call (levels 1 and 2); carol and dan are the team's other members.
	payments := []escalation.Candidate{
		{Person: "alice", OnCall: true, Level: 1, Team: "payments"},
		{Person: "bob", OnCall: true, Level: 2, Team: "payments"},
		{Person: "carol", Team: "payments"},
		{Person: "dan", Team: "payments"},
	}
	aliceOnly := payments[:1]
	cases := []struct {
		name       string
		now        string // UTC
		primary    string
		candidates []escalation.Candidate
		want       string
		inHours    bool
		why        string
	}{
		{name: "PrimaryInHours", now: "2026-03-03 15:14", primary: "alice", candidates: payments, want: "alice", inHours: true,
			why: "alice is on call and it is 10:14 in America/New_York"},
		{name: "SecondLevelWhenPrimaryAsleep", now: "2026-03-03 12:00", primary: "alice", candidates: payments, want: "bob", inHours: true,
			why: "bob is on call (level 2) and it is 12:00 in Europe/London; alice, the primary on-call, is off hours (Tue 07:00 in America/New_York)"},
		{name: "TeamMemberWhenNobodyOnCallIsAwake", now: "2026-03-03 06:00", primary: "alice", candidates: payments, want: "carol", inHours: true,
			why: "carol is on team payments and it is 11:30 in Asia/Kolkata; alice, the primary on-call, is off hours (Tue 01:00 in America/New_York)"},
		{name: "SydneyMondayMorning", now: "2026-03-02 00:00", primary: "alice", candidates: payments, want: "dan", inHours: true,
			why: "dan is on team payments and it is 11:00 in Australia/Sydney; alice, the primary on-call, is off hours (Sun 19:00 in America/New_York)"},
		{name: "WeekendFallsBackToPrimary", now: "2026-03-07 15:00", primary: "alice", candidates: payments, want: "alice",
			why: "nobody on call or on the owning team is in business hours; alice is the primary on-call (Sat 10:00 in America/New_York)"},
		// US daylight saving time starts on 2026-03-08: 13:30 UTC is 08:30 in New York on
		// the Friday before and 09:30 on the Monday after.
		{name: "BeforeUSDST", now: "2026-03-06 13:30", primary: "alice", candidates: payments, want: "bob", inHours: true,
			why: "bob is on call (level 2) and it is 13:30 in Europe/London; alice, the primary on-call, is off hours (Fri 08:30 in America/New_York)"},
		{name: "AfterUSDST", now: "2026-03-09 13:30", primary: "alice", candidates: payments, want: "alice", inHours: true,
			why: "alice is on call and it is 09:30 in America/New_York"},
		// UK summer time starts on 2026-03-29: 08:30 UTC is 08:30 in London before, 09:30 after.
		{name: "BeforeUKDST", now: "2026-03-27 08:30", primary: "alice", candidates: payments, want: "carol", inHours: true,
			why: "carol is on team payments and it is 14:00 in Asia/Kolkata; alice, the primary on-call, is off hours (Fri 04:30 in America/New_York)"},
		{name: "AfterUKDST", now: "2026-03-30 08:30", primary: "alice", candidates: payments, want: "bob", inHours: true,
			why: "bob is on call (level 2) and it is 09:30 in Europe/London; alice, the primary on-call, is off hours (Mon 04:30 in America/New_York)"},
		// Sydney leaves daylight saving time on 2026-04-05: 22:30 UTC on a Monday is 09:30
		// Tuesday there before, 08:30 after.
		{name: "SydneyDaylightTime", now: "2026-03-30 22:30", primary: "alice", candidates: payments, want: "dan", inHours: true,
			why: "dan is on team payments and it is 09:30 in Australia/Sydney; alice, the primary on-call, is off hours (Mon 18:30 in America/New_York)"},
		{name: "SydneyStandardTime", now: "2026-04-06 22:30", primary: "alice", candidates: payments, want: "alice",
			why: "nobody on call or on the owning team is in business hours; alice is the primary on-call (Mon 18:30 in America/New_York)"},
		// Hours include their start and exclude their end.
		{name: "StartOfDay", now: "2026-03-03 14:00", primary: "alice", candidates: aliceOnly, want: "alice", inHours: true,
			why: "alice is on call and it is 09:00 in America/New_York"},
		{name: "EndOfDay", now: "2026-03-03 22:00", primary: "alice", candidates: aliceOnly, want: "alice",
			why: "nobody on call or on the owning team is in business hours; alice is the primary on-call (Tue 17:00 in America/New_York)"},
		// frank sets no zone: his team's (Tokyo) applies; erin in the same team sets none
		// either, but is listed second.
		{name: "TeamZoneForPersonWithout", now: "2026-03-03 01:00", primary: "erin",
			candidates: []escalation.Candidate{{Person: "frank", Team: "tokyo"}, {Person: "erin", Team: "tokyo"}}, want: "frank", inHours: true,
			why: "frank is on team tokyo and it is 10:00 in Asia/Tokyo; erin, the primary on-call, is off hours (Mon 20:00 in America/New_York)"},
		// erin has no zone and no team context: the org's.
		{name: "OrgZoneForPersonWithout", now: "2026-03-03 15:00", primary: "",
			candidates: []escalation.Candidate{{Person: "erin", Team: "payments"}}, want: "erin", inHours: true,
			why: "erin is on team payments and it is 10:00 in America/New_York"},
		// A primary no source lists (a lead standing in for on-call) is tried first.
		{name: "PrimaryNotACandidateInHours", now: "2026-03-03 15:00", primary: "erin",
			candidates: []escalation.Candidate{{Person: "bob", Team: "payments"}}, want: "erin", inHours: true,
			why: "erin is the primary on-call and it is 10:00 in America/New_York"},
		{name: "PrimaryNotACandidateAsleep", now: "2026-03-03 12:00", primary: "erin",
			candidates: []escalation.Candidate{{Person: "bob", Team: "payments"}}, want: "bob", inHours: true,
			why: "bob is on team payments and it is 12:00 in Europe/London; erin, the primary on-call, is off hours (Tue 07:00 in America/New_York)"},
		{name: "PrimaryNotACandidateWeekend", now: "2026-03-07 15:00", primary: "erin", candidates: nil, want: "erin",
			why: "nobody on call or on the owning team is in business hours; erin is the primary on-call (Sat 10:00 in America/New_York)"},
		{name: "Nobody", now: "2026-03-03 15:00", primary: "", candidates: nil, want: "", why: "nobody is on call"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := escalation.ChooseOnCall(cfg, c.primary, c.candidates, utc(c.now))
			if got.Person != c.want || got.InHours != c.inHours || got.Why != c.why {
				t.Errorf("at %s UTC got %q (in hours %v): %s\nwant %q (in hours %v): %s", c.now, got.Person, got.InHours, got.Why, c.want, c.inHours, c.why)
			}
		})
	}
}

// TestChooseOnCallBusinessHours: the org's business_hours, not a built-in 9 to 5, decide.
func TestChooseOnCallBusinessHours(t *testing.T) {
	cfg := parseConfig(t, strings.Replace(sunConfig, "  fallback: {team: payments}\n",
		"  fallback: {team: payments}\n  business_hours: {days: [sat, sun], start: \"06:00\", end: \"08:00\"}\n", 1))
	candidates := []escalation.Candidate{{Person: "bob", OnCall: true, Level: 1, Team: "payments"}}
	if got := escalation.ChooseOnCall(cfg, "bob", candidates, utc("2026-03-07 07:00")); got.Person != "bob" || !got.InHours {
		t.Errorf("Saturday 07:00 in London: %+v, want bob in hours", got)
	}
	if got := escalation.ChooseOnCall(cfg, "bob", candidates, utc("2026-03-03 12:00")); got.InHours {
		t.Errorf("Tuesday noon is outside weekend hours: %+v", got)
	}
}
