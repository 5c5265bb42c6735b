package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/config"
)

// y joins lines into a file, so a case's line numbers are its slice indexes + 1.
func y(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// head is a minimal valid config (lines 1–6); cases that only need to add a
// section append to it, starting at line 7.
var head = []string{
	"org:",                      // 1
	"  fallback: {team: t}",     // 2
	"people:",                   // 3
	"  - {id: a}",               // 4
	"teams:",                    // 5
	"  - {id: t, members: [a]}", // 6
}

func withHead(extra ...string) string { return y(append(slices.Clone(head), extra...)...) }

type errorCase struct {
	name string
	file string
	// want lists the expected errors in order, each "LINE: substring"; the
	// file must produce exactly these, so cascades are caught too.
	want []string
}

var errorCases = []errorCase{
	// ---- YAML itself ----
	{"syntax error", y(
		"org:",
		"  fallback: {team: t",
		"people: []",
	), []string{"2: YAML syntax error: did not find expected ',' or '}'"}},
	// When the construct opens on line 1, yaml.v3 only knows where it
	// noticed the problem: here, the next line.
	{"syntax error opened on line 1", y(
		"org: [a, b",
		"teams: [{id: t}]",
	), []string{"2: YAML syntax error: did not find expected ',' or ']'"}},
	{"bad indentation", y(
		"org:",
		"  fallback: {team: t}",
		"people:",
		"  - id: a",
		"     name: A",
		"teams: [{id: t}]",
	), []string{"5: YAML syntax error: mapping values are not allowed in this context"}},
	{"dedented key", y(
		"org:",
		"    name: Acme",
		"  fallback: {team: t}",
	), []string{"3: YAML syntax error: did not find expected key"}},
	{"unknown anchor", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - *someone",
	), []string{`4: YAML syntax error: unknown anchor "someone"`}},
	{"invalid UTF-8", y(
		"org:",
		"  fallback: {team: t}",
		"  name: \xff\xfe",
	), []string{"3: YAML syntax error: invalid leading UTF-8 octet"}},
	{"control character", y(
		"org:",
		"  fallback: {team: t}",
		"  name: a\x01b",
	), []string{"3: YAML syntax error: control characters are not allowed"}},
	{"tab indentation", y(
		"org:",
		"\tfallback: {team: t}",
	), []string{"2: YAML syntax error: found character that cannot start any token"}},
	{"duplicate key in org", y(
		"org:",
		"  fallback: {team: t}",
		"  name: Acme",
		"  name: Acme Corp",
		"teams: [{id: t}]",
	), []string{`4: org: duplicate key "name" (first at line 3)`}},
	{"duplicate top-level key", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"teams: [{id: u}]",
	), []string{`3: duplicate key "teams" (first at line 2)`}},
	{"duplicate key in flow mapping", withHead(
		"agents:",
		"  - {id: x, team: t, team: t}",
	), []string{`8: agents[0]: duplicate key "team" (first at line 8)`}},
	{"empty file", "", []string{"1: empty file"}},
	{"only comments", y("# nothing yet", "# still nothing"), []string{"1: empty file"}},
	{"empty document", y("---", "..."), []string{"1: empty file"}},
	{"top level is a list", y("- org", "- people"), []string{`1: the top level must be a mapping with org, people, teams, services and agents, got a list`}},
	{"top level is a scalar", y("hello"), []string{`1: the top level must be a mapping`}},
	{"second document", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"---",
		"org: {}",
	), []string{"3: unexpected second YAML document"}},
	{"alias to its own list", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people: &p",
		"  - *p",
	), []string{"4: people[0]: expected a mapping, got a list"}},
	{"merge of a scalar", y(
		"org:",
		"  <<: nope",
		"  fallback: {team: t}",
		"teams: [{id: t}]",
	), []string{`2: org: << merges mappings, got "nope"`}},

	// ---- unknown keys ----
	{"unknown key in org", y(
		"org:",
		"  name: Acme",
		"  fallback: {team: t}",
		"  timezone: UTC",
		"  colour: blue",
		"teams: [{id: t}]",
	), []string{`5: unknown key "colour" in org`}},
	{"unknown key with suggestion", withHead(
		"agents:",
		"  - {id: x, team: t, trsut: new}",
	), []string{`8: unknown key "trsut" in agents[0] (did you mean "trust"?)`}},
	{"unknown top-level key", withHead(
		"servics: []",
	), []string{`7: unknown key "servics" at the top level (did you mean "services"?)`}},
	{"location is not a key", y(
		"org:",
		"  fallback: {team: t}",
		"  location: UTC",
		"teams: [{id: t}]",
	), []string{`3: unknown key "location" in org`}},
	{"non-string key", y(
		"org:",
		"  fallback: {team: t}",
		"  ? [a, b]",
		"  : c",
		"teams: [{id: t}]",
	), []string{`3: org: keys must be plain strings, got a list`}},

	// ---- wrong types ----
	{"members is a string", y(
		"org: {fallback: {team: t}}",
		"people: [{id: alice}]",
		"teams:",
		"  - id: t",
		"    members: alice",
	), []string{`5: teams[0].members: expected a list, got "alice"`}},
	{"admins is a mapping", y(
		"org:",
		"  fallback: {team: t}",
		"  admins: {a: 1}",
		"teams: [{id: t}]",
	), []string{`3: org.admins: expected a list, got a mapping`}},
	{"name is a list", withHead(
		"agents:",
		"  - id: x",
		"    team: t",
		"    name: [a, b]",
	), []string{`10: agents[0].name: expected a string, got a list`}},
	{"org is a list", y(
		"org: [a]",
		"teams: [{id: t}]",
	), []string{`1: org: expected a mapping, got a list`}},
	{"people is a mapping", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  alice: {name: Alice}",
	), []string{`4: people: expected a list, got a mapping`}},
	{"list item is a scalar", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - alice",
	), []string{`4: people[0]: expected a mapping, got "alice"`}},
	{"fallback is a string", y(
		"org: {fallback: platform}",
		"teams: [{id: platform}]",
	), []string{`1: org.fallback: expected a mapping, got "platform"`}},

	// ---- durations ----
	{"bad duration", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: soon",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: invalid duration "soon"`}},
	{"duration without unit", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: 3600",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: invalid duration "3600"`}},
	{"zero duration", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: 0s",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: duration "0s" must be greater than zero`}},
	{"negative duration", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: -5m",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: duration "-5m" must be greater than zero`}},
	{"fractional days", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: 1.5d",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: invalid duration "1.5d"`}},
	{"duration is a list", y(
		"org:",
		"  fallback: {team: t}",
		"  review_deadline: [4h]",
		"teams: [{id: t}]",
	), []string{`3: org.review_deadline: expected a string, got a list`}},

	// ---- required fields ----
	{"person without id", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - {id: a}",
		"  - {name: Nobody}",
	), []string{"5: people[1].id: required"}},
	{"person with empty id", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - id: \"\"",
		"    name: Nobody",
	), []string{"4: people[0].id: required"}},
	{"team without id", withHead(
		"  - {name: Nameless}",
	), []string{"7: teams[1].id: required"}},
	{"service without name", withHead(
		"services:",
		"  - {kind: service, match: [x], team: t}",
	), []string{"8: services[0].name: required"}},
	{"service without kind", withHead(
		"services:",
		"  - name: api",
		"    match: [api-*]",
		"    team: t",
	), []string{"8: services[0].kind: required"}},
	{"agent without id", withHead(
		"agents:",
		"  - {team: t}",
	), []string{"8: agents[0].id: required"}},
	{"agent without team", withHead(
		"agents:",
		"  - id: bot",
		"    trust: new",
	), []string{"8: agents[0].team: required"}},
	{"missing org", y(
		"people: [{id: a}]",
		"teams: [{id: t}]",
	), []string{"1: org.fallback: required"}},
	{"fallback missing", y(
		"org:",
		"  name: Acme",
		"teams: [{id: t}]",
	), []string{"1: org.fallback: required"}},
	{"fallback with both", y(
		"org:",
		"  fallback: {team: t, person: a}",
		"people: [{id: a}]",
		"teams: [{id: t}]",
	), []string{"2: org.fallback: set exactly one of team or person"}},
	{"backup webhook not a URL", y(
		"org:",
		"  fallback: {team: t}",
		"  heartbeat_url: https://hc.acme.test/ping",
		"  backup_webhook: hooks.acme.test/mandate",
		"teams: [{id: t}]",
	), []string{`4: org.backup_webhook: "hooks.acme.test/mandate" must be an absolute http:// or https:// URL`}},
	{"heartbeat url without host", y(
		"org:",
		"  fallback: {team: t}",
		"  heartbeat_url: \"https://\"",
		"teams: [{id: t}]",
	), []string{`3: org.heartbeat_url: "https://" must be an absolute http:// or https:// URL`}},

	// ---- references ----
	{"unknown admin", y(
		"org:",
		"  admins: [a, zed]",
		"  fallback: {team: t}",
		"people: [{id: a}]",
		"teams: [{id: t}]",
	), []string{`2: org.admins[1]: unknown person "zed"`}},
	{"unknown fallback team", y(
		"org:",
		"  fallback: {team: platfrom}",
		"teams: [{id: platform}]",
	), []string{`2: org.fallback.team: unknown team "platfrom" (did you mean "platform"?)`}},
	{"unknown fallback person", y(
		"org:",
		"  fallback:",
		"    person: erin",
		"people: [{id: a}]",
	), []string{`3: org.fallback.person: unknown person "erin"`}},
	{"unknown member", y(
		"org: {fallback: {team: t}}",
		"people:",
		"  - {id: alice}",
		"  - {id: bob}",
		"teams:",
		"  - {id: t, members: [alice]}",
		"  - id: u",
		"    members:",
		"      - alice",
		"      - bob",
		"      - zed",
	), []string{`11: teams[1].members[2]: unknown person "zed"`}},
	{"member listed twice", withHead(
		"  - {id: u, members: [a, a]}",
	), []string{`7: teams[1].members[1]: "a" is listed twice`}},
	{"empty member", withHead(
		"  - {id: u, members: [a, ~]}",
	), []string{`7: teams[1].members[1]: empty person id`}},
	{"unknown lead", withHead(
		"  - {id: u, members: [a], lead: boss}",
	), []string{`7: teams[1].lead: unknown person "boss"`}},
	{"unknown service team", withHead(
		"services:",
		"  - name: api",
		"    kind: service",
		"    team: tt",
	), []string{`10: services[0].team: unknown team "tt"`}},
	{"unknown team with suggestion", withHead(
		"  - {id: payments}",
		"agents:",
		"  - {id: bot, team: paymnets}",
	), []string{`9: agents[0].team: unknown team "paymnets" (did you mean "payments"?)`}},
	{"unknown service owner", withHead(
		"services:",
		"  - {name: api, kind: service, team: t, owners: [a, b]}",
	), []string{`8: services[0].owners[1]: unknown person "b"`}},
	{"unknown agent team", withHead(
		"agents:",
		"  - {id: bot, team: t}",
		"  - {id: bot2, team: ops}",
	), []string{`9: agents[1].team: unknown team "ops"`}},

	// ---- duplicate ids ----
	{"duplicate person", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - {id: alice}",
		"  - {id: carol}",
		"  - {id: alice}",
	), []string{`6: people[2]: duplicate id "alice" (first at line 4)`}},
	{"duplicate team", withHead(
		"  - {id: t}",
	), []string{`7: teams[1]: duplicate id "t" (first at line 6)`}},
	{"duplicate service", withHead(
		"services:",
		"  - {name: api, kind: service}",
		"  - {name: api, kind: table}",
	), []string{`9: services[1]: duplicate name "api" (first at line 8)`}},
	{"duplicate agent", withHead(
		"agents:",
		"  - id: bot",
		"    team: t",
		"  - id: bot",
		"    team: t",
	), []string{`10: agents[1]: duplicate id "bot" (first at line 8)`}},

	// ---- time zones ----
	{"bad org timezone", y(
		"org:",
		"  fallback: {team: t}",
		"  timezone: Mars/Base",
		"teams: [{id: t}]",
	), []string{`3: org.timezone: unknown time zone "Mars/Base"`}},
	{"Local timezone", y(
		"org:",
		"  fallback: {team: t}",
		"  timezone: Local",
		"teams: [{id: t}]",
	), []string{`3: org.timezone: "Local" depends on the host`}},
	{"bad person timezone", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"people:",
		"  - {id: a}",
		"  - {id: b, timezone: Europe/Berln}",
	), []string{`5: people[1].timezone: unknown time zone "Europe/Berln"`}},
	{"bad team timezone", withHead(
		"  - id: u",
		"    timezone: EST5EDT-ish",
	), []string{`8: teams[1].timezone: unknown time zone "EST5EDT-ish"`}},

	// ---- business hours ----
	{"bad day", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days: [mon, tue, funday]",
		"    start: \"09:00\"",
		"    end: \"17:00\"",
		"teams: [{id: t}]",
	), []string{`4: org.business_hours.days[2]: unknown day "funday"`}},
	{"capitalised day", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days:",
		"      - mon",
		"      - Tue",
		"    start: \"09:00\"",
		"    end: \"17:00\"",
		"teams: [{id: t}]",
	), []string{`6: org.business_hours.days[1]: unknown day "Tue"`}},
	{"duplicate day", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours: {days: [mon, mon], start: \"09:00\", end: \"17:00\"}",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours.days[1]: duplicate day "mon"`}},
	{"no days", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours: {days: [], start: \"09:00\", end: \"17:00\"}",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours.days: required`}},
	{"bad start", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days: [mon]",
		"    start: 9am",
		"    end: \"17:00\"",
		"teams: [{id: t}]",
	), []string{`5: org.business_hours.start: "9am" is not a time of day; write HH:MM`}},
	{"hour out of range", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days: [mon]",
		"    start: \"09:00\"",
		"    end: \"25:00\"",
		"teams: [{id: t}]",
	), []string{`6: org.business_hours.end: "25:00" is not a time of day`}},
	{"single-digit hour", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours: {days: [mon], start: \"9:00\", end: \"17:00\"}",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours.start: "9:00" is not a time of day`}},
	{"missing end", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days: [mon]",
		"    start: \"09:00\"",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours.end: required`}},
	{"start after end", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours:",
		"    days: [mon]",
		"    start: \"18:00\"",
		"    end: \"09:00\"",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours: start "18:00" must be before end "09:00"`}},
	{"start equals end", y(
		"org:",
		"  fallback: {team: t}",
		"  business_hours: {days: [mon], start: \"09:00\", end: \"09:00\"}",
		"teams: [{id: t}]",
	), []string{`3: org.business_hours: start "09:00" must be before end "09:00"`}},

	// ---- services ----
	{"bad glob", withHead(
		"services:",
		"  - name: api",
		"    kind: service",
		"    match:",
		"      - \"api-*\"",
		"      - \"api-[\"",
	), []string{`12: services[0].match[1]: bad glob pattern "api-["`}},
	{"empty pattern", withHead(
		"services:",
		"  - {name: api, kind: service, match: [\"\"]}",
	), []string{`8: services[0].match[0]: empty pattern`}},
	{"bad sensitivity", y(
		"org: {fallback: {team: t}}",
		"teams: [{id: t}]",
		"services:",
		"  - name: api",
		"    kind: service",
		"    sensitivity: extreme",
	), []string{`6: services[0].sensitivity: must be one of low, normal, high, critical, not "extreme"`}},

	// ---- agents and teams ----
	{"bad trust", withHead(
		"agents:",
		"  - {id: bot, team: t, trust: total}",
	), []string{`8: agents[0].trust: must be one of new, trusted, restricted, not "total"`}},
	{"bad team github", withHead(
		"  - {id: u, github: payments}",
	), []string{`7: teams[1].github: "payments" is not a GitHub team`}},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("test.yaml", []byte(tc.file))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if cfg != nil {
				t.Errorf("got a Config alongside errors")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want config.Errors: %v", err, err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				line, sub, _ := strings.Cut(w, ": ")
				got := errs[i].Error()
				if prefix := "test.yaml:" + line + ": "; !strings.HasPrefix(got, prefix) {
					t.Errorf("error %d = %q, want prefix %q", i, got, prefix)
				}
				if !strings.Contains(got, sub) {
					t.Errorf("error %d = %q, want it to contain %q", i, got, sub)
				}
			}
		})
	}
}

func TestAllErrorsCollected(t *testing.T) {
	file := y(
		"org:",                                 // 1
		"  timezone: Mars/Base",                // 2
		"  fallback: {team: t}",                // 3
		"people: [{id: a}]",                    // 4
		"teams:",                               // 5
		"  - id: t",                            // 6
		"    members: [a, ghost]",              // 7
		"agents:",                              // 8
		"  - {id: bot, team: t, trust: maybe}", // 9
	)
	_, err := config.Parse("mandate.yaml", []byte(file))
	want := strings.Join([]string{
		`mandate.yaml:2: org.timezone: unknown time zone "Mars/Base"`,
		`mandate.yaml:7: teams[0].members[1]: unknown person "ghost"`,
		`mandate.yaml:9: agents[0].trust: must be one of new, trusted, restricted, not "maybe"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	if errs := err.(config.Errors); len(errs) != 3 {
		t.Fatalf("got %d errors, want 3", len(errs))
	}
}

func TestErrorsSortedByLine(t *testing.T) {
	// Decoding errors (line 5) are found before semantic ones (line 2);
	// the report is still in file order.
	file := y(
		"org:",
		"  fallback: {team: nobody}",
		"teams:",
		"  - id: t",
		"    members: x",
	)
	_, err := config.Parse("f.yaml", []byte(file))
	errs, _ := err.(config.Errors)
	if len(errs) != 2 || errs[0].Line != 2 || errs[1].Line != 5 {
		t.Fatalf("got %v", err)
	}
	// Errors.Error sorts even a hand-built, unsorted list.
	es := config.Errors{{File: "f", Line: 9, Msg: "b"}, {File: "f", Line: 1, Msg: "a"}, {File: "f", Msg: "no line"}}
	if got, want := es.Error(), "f: no line\nf:1: a\nf:9: b"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestErrorCap(t *testing.T) {
	lines := []string{"org: {fallback: {team: t}}", "teams: [{id: t}]", "people:"}
	for range 500 {
		lines = append(lines, "  - {id: x, timezone: Nowhere/Land}")
	}
	_, err := config.Parse("big.yaml", []byte(y(lines...)))
	errs, _ := err.(config.Errors)
	if len(errs) != 100 || !strings.Contains(errs[99].Msg, "too many errors") {
		t.Fatalf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

func TestAliasBomb(t *testing.T) {
	// Each level references the previous one ten times: 10^9 names when
	// expanded. Parse must give up quickly instead of hanging.
	file := y(
		"a: &a [x, x, x, x, x, x, x, x, x, x]",
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]",
		"org:",
		"  admins: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]",
	)
	_, err := config.Parse("bomb.yaml", []byte(file))
	if err == nil || !strings.Contains(err.Error(), "bomb.yaml:") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadContract(t *testing.T) {
	cfg, err := config.Load("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Org.Name != "Acme" || cfg.Org.Location.String() != "Europe/Berlin" {
		t.Errorf("org = %q in %v", cfg.Org.Name, cfg.Org.Location)
	}
	if got := cfg.Org.BusinessHours; !slices.Equal(got.Days, []string{"mon", "tue", "wed", "thu", "fri"}) || got.Start != "09:00" || got.End != "18:00" {
		t.Errorf("business hours = %+v", got)
	}
	if !slices.Equal(cfg.Org.Admins, []string{"erin"}) || cfg.Org.Fallback != (config.Target{Team: "platform"}) {
		t.Errorf("admins %v, fallback %v", cfg.Org.Admins, cfg.Org.Fallback)
	}
	if cfg.Org.ReviewDeadline.Duration != 4*time.Hour {
		t.Errorf("review deadline = %v, want the 4h default", cfg.Org.ReviewDeadline)
	}
	if len(cfg.People) != 3 || len(cfg.Teams) != 2 || len(cfg.Services) != 2 || len(cfg.Agents) != 2 {
		t.Fatalf("counts: %d people, %d teams, %d services, %d agents", len(cfg.People), len(cfg.Teams), len(cfg.Services), len(cfg.Agents))
	}

	alice, ok := cfg.Person("alice")
	if !ok || alice.Name != "Alice Ng" || alice.Slack != "U0ALICE" || alice.Email != "alice@acme.test" || alice.GitHub != "alice-ng" || alice.Location.String() != "America/New_York" {
		t.Errorf("alice = %+v", alice)
	}
	pay, ok := cfg.Team("payments")
	if !ok || pay.SlackChannel != "C0PAYMENTS" || !slices.Equal(pay.Members, []string{"alice", "bob"}) || pay.Lead != "bob" {
		t.Errorf("payments = %+v", pay)
	}
	if pay.Location.String() != "Europe/Berlin" {
		t.Errorf("team without timezone should get the org's, got %v", pay.Location)
	}
	svc, ok := cfg.Service("payments-service")
	if !ok || svc.Sensitivity != config.SensitivityCritical || svc.Kind != "service" || !slices.Equal(svc.Match, []string{"payments-*"}) || !slices.Equal(svc.Owners, []string{"alice"}) {
		t.Errorf("payments-service = %+v", svc)
	}
	if db, _ := cfg.Service("billing-db"); db == nil || db.Sensitivity != "high" || db.Kind != "table" {
		t.Errorf("billing-db = %+v", db)
	}
	if a, _ := cfg.Agent("deployer"); a == nil || a.Trust != config.TrustTrusted || a.Team != "platform" {
		t.Errorf("deployer = %+v", a)
	}
	if a, _ := cfg.Agent("code-reviewer"); a == nil || a.Trust != config.TrustNew {
		t.Errorf("code-reviewer = %+v", a)
	}
	for _, miss := range []bool{
		func() bool { _, ok := cfg.Person("zed"); return ok }(),
		func() bool { _, ok := cfg.Team("zed"); return ok }(),
		func() bool { _, ok := cfg.Agent("zed"); return ok }(),
		func() bool { _, ok := cfg.Service("zed"); return ok }(),
	} {
		if miss {
			t.Error("lookup of an unknown id succeeded")
		}
	}
}

func TestQuickstartExample(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "examples", "quickstart", "mandate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Teams) != 3 || len(cfg.People) != 6 || len(cfg.Services) != 5 || len(cfg.Agents) != 3 {
		t.Errorf("counts: %d teams, %d people, %d services, %d agents", len(cfg.Teams), len(cfg.People), len(cfg.Services), len(cfg.Agents))
	}
	for id, trust := range map[string]string{"deployer": "trusted", "code-reviewer": "new"} {
		if a, ok := cfg.Agent(id); !ok || a.Trust != trust || a.Team != "platform" {
			t.Errorf("agent %s = %+v", id, a)
		}
	}
	if _, ok := cfg.Team("data"); !ok {
		t.Error("no data team")
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse("d.yaml", []byte(y(
		"org:",
		"  fallback: {person: a}",
		"people: [{id: a}]",
		"teams: [{id: t}]",
		"services: [{name: api, kind: service, team: t}]",
		"agents: [{id: bot, team: t}]",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Org.Location != time.UTC {
		t.Errorf("org location = %v, want UTC", cfg.Org.Location)
	}
	if p, _ := cfg.Person("a"); p.Location != time.UTC {
		t.Errorf("person location = %v, want the org's", p.Location)
	}
	if cfg.Org.ReviewDeadline.Duration != config.DefaultReviewDeadline {
		t.Errorf("review deadline = %v", cfg.Org.ReviewDeadline)
	}
	bh := cfg.Org.BusinessHours
	if !slices.Equal(bh.Days, config.DefaultBusinessHours.Days) || bh.Start != "09:00" || bh.End != "17:00" {
		t.Errorf("business hours = %+v", bh)
	}
	if s, _ := cfg.Service("api"); s.Sensitivity != config.SensitivityNormal {
		t.Errorf("sensitivity = %q, want normal", s.Sensitivity)
	}
	if a, _ := cfg.Agent("bot"); a.Trust != config.TrustNew {
		t.Errorf("trust = %q, want new", a.Trust)
	}
	if cfg.Org.Fallback.String() != "person:a" {
		t.Errorf("fallback = %v", cfg.Org.Fallback)
	}
	if cfg.Org.HeartbeatEvery.Duration != time.Minute || cfg.Org.HeartbeatURL != "" || cfg.Org.BackupWebhook != "" {
		t.Errorf("heartbeat every %v, url %q, backup webhook %q: want 1m and none", cfg.Org.HeartbeatEvery, cfg.Org.HeartbeatURL, cfg.Org.BackupWebhook)
	}
}

func TestBackupWebhook(t *testing.T) {
	cfg, err := config.Parse("b.yaml", []byte(y(
		"org:",
		"  fallback: {team: t}",
		"  heartbeat_url: https://hc.acme.test/ping/abc",
		"  heartbeat_every: 30s",
		"  backup_webhook: https://hooks.acme.test/mandate?token=x",
		"people: [{id: a}]",
		"teams: [{id: t, members: [a]}]",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Org; o.BackupWebhook != "https://hooks.acme.test/mandate?token=x" || o.HeartbeatEvery.Duration != 30*time.Second {
		t.Errorf("org = %+v", o)
	}
}

func TestMergeKeysAndAnchors(t *testing.T) {
	cfg, err := config.Parse("m.yaml", []byte(y(
		"org:",
		"  fallback: {team: t}",
		"people:",
		"  - &ny {id: a, timezone: America/New_York}",
		"  - {<<: *ny, id: b}",
		"teams:",
		"  - {id: t, members: &m [a, b]}",
		"  - {id: u, members: *m}",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := cfg.Person("b"); b.Location.String() != "America/New_York" {
		t.Errorf("merged person b = %+v", b)
	}
	if u, _ := cfg.Team("u"); !slices.Equal(u.Members, []string{"a", "b"}) {
		t.Errorf("aliased members = %v", u.Members)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "15m", want: 15 * time.Minute},
		{in: "4h", want: 4 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "", bad: true},
		{in: "d", bad: true},
		{in: "0d", bad: true},
		{in: "-1d", bad: true},
		{in: "1d-2h", bad: true},
		{in: "99999999999999999d", bad: true},
		{in: "106751d23h59m", bad: true}, // overflows int64 nanoseconds
		{in: "4", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := config.ParseDuration(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	cfg, err := config.Parse("d.yaml", []byte(y("org: {fallback: {team: t}, review_deadline: 2d}", "teams: [{id: t}]")))
	if err != nil || cfg.Org.ReviewDeadline.Duration != 48*time.Hour {
		t.Fatalf("review_deadline 2d: %v, %v", cfg, err)
	}
}

func TestBusinessHoursContains(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	weekdays := config.BusinessHours{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "18:00"}
	lateShift := config.BusinessHours{Days: []string{"sat"}, Start: "20:00", End: "24:00"}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name string
		bh   config.BusinessHours
		t    time.Time
		loc  *time.Location
		want bool
	}{
		// 2026-03-04 is a Wednesday. Berlin is UTC+1 in winter.
		{"berlin opening minute", weekdays, utc("2026-03-04T08:00:00Z"), berlin, true},
		{"berlin just before opening", weekdays, utc("2026-03-04T07:59:59Z"), berlin, false},
		{"berlin last minute", weekdays, utc("2026-03-04T16:59:59Z"), berlin, true},
		{"berlin closing time excluded", weekdays, utc("2026-03-04T17:00:00Z"), berlin, false},
		{"same instant is outside hours in new york", weekdays, utc("2026-03-04T08:00:00Z"), ny, false},
		{"new york afternoon", weekdays, utc("2026-03-04T20:00:00Z"), ny, true},
		// Friday 23:30 in New York is already Saturday in UTC.
		{"weekday taken in loc not UTC", weekdays, utc("2026-03-07T04:30:00Z"), ny, false},
		{"sunday UTC is saturday evening in new york", lateShift, utc("2026-03-08T03:00:00Z"), ny, true},
		{"same instant in UTC is sunday", lateShift, utc("2026-03-08T03:00:00Z"), time.UTC, false},
		{"sunday", weekdays, utc("2026-03-08T10:00:00Z"), berlin, false},
		// Berlin switches to UTC+2 on 2026-03-29; 09:00 is still 09:00 wall clock.
		{"after DST change", weekdays, utc("2026-03-30T07:00:00Z"), berlin, true},
		{"after DST change, an hour early", weekdays, utc("2026-03-30T06:30:00Z"), berlin, false},
		{"nil location is UTC", weekdays, utc("2026-03-04T09:00:00Z"), nil, true},
		{"end 24:00 includes 23:59", lateShift, utc("2026-03-07T23:59:00Z"), time.UTC, true},
		{"end 24:00 excludes next midnight", lateShift, utc("2026-03-08T00:00:00Z"), time.UTC, false},
		{"zero value contains nothing", config.BusinessHours{}, utc("2026-03-04T12:00:00Z"), time.UTC, false},
		{"invalid hours contain nothing", config.BusinessHours{Days: []string{"wed"}, Start: "9", End: "17:00"}, utc("2026-03-04T12:00:00Z"), time.UTC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.bh.Contains(tc.t, tc.loc); got != tc.want {
				t.Errorf("Contains(%v in %v) = %v, want %v", tc.t, tc.loc, got, tc.want)
			}
		})
	}

	org := config.Org{BusinessHours: weekdays, Location: berlin}
	if !org.InBusinessHours(utc("2026-03-04T08:30:00Z")) {
		t.Error("Org.InBusinessHours ignored the org's location")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
}

func TestLoadUsesPathInErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mandate.yaml")
	if err := os.WriteFile(p, []byte("org: {fallback: {team: x}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p)
	if want := p + `:1: org.fallback.team: unknown team "x"`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := config.Parse("u.yaml", []byte("org: {fallback: {team: x}}\n"))
	var e *config.Error
	if !errors.As(err, &e) || e.Line != 1 || e.File != "u.yaml" {
		t.Fatalf("errors.As(*Error) from %v: %+v", err, e)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range errorCases {
		f.Add([]byte(tc.file))
	}
	for _, name := range []string{"testdata/contract.yaml", "../examples/quickstart/mandate.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v; want exactly one", cfg != nil, err)
		}
		if err != nil {
			errs, ok := err.(config.Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error %T %v is not a non-empty config.Errors", err, err)
			}
			_ = err.Error()
			return
		}
		// A valid config has every reference resolvable.
		for _, tm := range cfg.Teams {
			for _, m := range tm.Members {
				if _, ok := cfg.Person(m); !ok {
					t.Fatalf("team %s member %q does not resolve", tm.ID, m)
				}
			}
		}
		if cfg.Org.Location == nil {
			t.Fatal("nil org location")
		}
	})
}

func TestMergeBomb(t *testing.T) {
	// One big anchored mapping merged many times: bounded by the same
	// budget as alias expansion.
	var b strings.Builder
	b.WriteString("org: &big {fallback: {team: t}")
	for i := range 2000 {
		fmt.Fprintf(&b, ", k%d: v", i)
	}
	b.WriteString("}\npeople:\n")
	for range 2000 {
		b.WriteString("  - {<<: [*big, *big, *big], id: x}\n")
	}
	// Without the budget this is 12 million merged keys; with it, Parse
	// stops early. (The unknown k* keys fill the report first.)
	_, err := config.Parse("merge.yaml", []byte(b.String()))
	if errs, _ := err.(config.Errors); len(errs) == 0 || len(errs) > 100 {
		t.Fatalf("got %d errors", len(errs))
	}
}
