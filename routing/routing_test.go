package routing_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/routing"
)

type fixed struct{ s *ownership.Snapshot }

func (f fixed) Snapshot() *ownership.Snapshot { return f.s }

// The owning team of payments-* works in Los Angeles; business hours are every day so the
// DST cases can fall on a Sunday.
const testConfig = `org:
  timezone: Europe/Berlin
  business_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: "09:00", end: "17:00"}
  fallback: {team: platform}
  review_deadline: 4h
people: [{id: alice}, {id: bob}, {id: erin}, {id: wanda}]
teams:
  - {id: payments, members: [bob], timezone: America/Los_Angeles}
  - {id: platform, members: [erin, alice]}
services:
  - {name: payments-service, kind: service, match: ["payments-*"], team: payments, owners: [bob], sensitivity: critical}
  - {name: billing-db, kind: table, match: ["billing.*"], team: payments, sensitivity: high}
  - {name: docs, kind: bucket, match: ["docs-*"], team: platform, sensitivity: low}
routing:
  rate: {max: 3, window: 10m}
  failures: {max: 2, window: 1h}
  rules:
    - name: migrations
      when: {types: [db_migration], environments: [production]}
      then: {path: flagged_execute, urgency: high, review_deadline: 1h, targets: [{person: erin}, {webhook: "https://hooks.acme.test/migrations"}]}
    - name: payments-charges
      when: {types: ["payment_*"], teams: [payments]}
      then: {path: gated_execute, urgency: critical, notify_owners: false, targets: [{escalation_policy: PPAY}]}
    - name: quiet-docs
      when: {resources: ["bucket:docs-*"], kinds: [bucket], min_sensitivity: low}
      then: {path: monitored_execute, urgency: info}
    - name: restricted-anything
      when: {trust: [restricted]}
      then: {path: flagged_execute}
    - name: night-deletes
      when: {types: [delete], hours: outside, reversibility: [irreversible]}
      then: {path: gated_execute, urgency: high}
  watches:
    - {person: wanda, resources: ["table:billing.*"]}
escalation:
  policies:
    - {name: PPAY, steps: [{notify: oncall, after: 1m}]}
`

type env struct {
	cfg     *config.Config
	router  *routing.Router
	tracker *routing.Tracker
}

type incidents map[string]int

func (m incidents) OnResource(key string, _ time.Time) int { return m["on:"+key] }
func (m incidents) CausedBy(actor, key string, _ time.Time) int {
	return m["by:"+actor+":"+key]
}

type patterns []routing.PatternHit

func (p patterns) Match(*mandate.Action) []routing.PatternHit { return p }

func newEnv(t testing.TB, opt routing.Options) *env {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ownership.Build(cfg, ownership.Sources{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if opt.Tracker == nil {
		opt.Tracker = routing.NewTracker()
	}
	r, err := routing.New(cfg, fixed{snap}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return &env{cfg: cfg, router: r, tracker: opt.Tracker}
}

var (
	trusted    = &mandate.Actor{ID: "deployer", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustTrusted}
	newbie     = &mandate.Actor{ID: "rookie", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustNew}
	restricted = &mandate.Actor{ID: "jailed", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustRestricted}
)

// Noon in Los Angeles and in Berlin on a Wednesday: inside business hours for the
// payments team and for platform (Berlin, the org's zone) respectively.
var (
	noonLA     = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	noonBerlin = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
)

func act(typ, env string, rev mandate.Reversibility, keys ...string) *mandate.Action {
	a := &mandate.Action{Type: typ, Environment: env, Reversibility: rev}
	for _, k := range keys {
		r, _ := mandate.ParseResourceKey(k)
		a.Resources = append(a.Resources, r)
	}
	return a
}

func targets(d mandate.Decision) []string {
	var out []string
	for _, t := range d.Targets {
		out = append(out, string(t.Kind)+":"+t.ID)
	}
	return out
}

func hasReason(d mandate.Decision, sub string) bool {
	return slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, sub) })
}

func TestDecisions(t *testing.T) {
	e := newEnv(t, routing.Options{})
	cases := []struct {
		name    string
		action  *mandate.Action
		actor   *mandate.Actor
		at      time.Time
		path    mandate.Path
		urgency mandate.Urgency
		rule    string
		targets []string
		reason  string
	}{
		{"ReadOnlyIsAuto", act("read", "production", mandate.Reversible, "table:billing.invoices"), trusted, noonLA,
			mandate.PathAuto, mandate.UrgencyInfo, "builtin:read-only", nil, "read-only"},
		{"IrreversibleCriticalProductionIsGated", act("deploy", "production", mandate.Irreversible, "service:payments-api"), trusted, noonLA,
			mandate.PathGated, mandate.UrgencyCritical, "builtin:irreversible-critical-production", []string{"team:payments", "person:bob"}, "waits for a human"},
		{"IrreversibleCriticalStagingIsMonitored", act("deploy", "staging", mandate.Irreversible, "service:payments-api"), trusted, noonLA,
			mandate.PathMonitored, mandate.UrgencyHigh, "builtin:default", []string{"team:payments", "person:bob"}, "payments-api is critical"},
		{"DefaultIsMonitored", act("deploy", "production", mandate.Reversible, "queue:jobs"), trusted, noonBerlin,
			mandate.PathMonitored, mandate.UrgencyNormal, "builtin:default", []string{"team:platform"}, "no routing rule applies"},
		{"RuleWithTargetsAndDeadline", act("db_migration", "production", mandate.Reversible, "table:billing.invoices"), trusted, noonLA,
			mandate.PathFlagged, mandate.UrgencyHigh, "migrations",
			[]string{"team:payments", "person:erin", "webhook:https://hooks.acme.test/migrations", "person:wanda"}, "rule migrations matched: type db_migration; environment production"},
		{"RuleOnOwningTeamWithoutOwners", act("payment_charge", "production", mandate.Reversible, "service:payments-api"), trusted, noonLA,
			mandate.PathGated, mandate.UrgencyCritical, "payments-charges", []string{"escalation_policy:PPAY"}, "team platform/payments"},
		{"RuleOnResourceKindAndSensitivity", act("upload", "production", mandate.Reversible, "bucket:docs-site"), trusted, noonBerlin,
			mandate.PathMonitored, mandate.UrgencyInfo, "quiet-docs", []string{"team:platform"}, "rule quiet-docs"},
		{"TrustRule", act("upload", "production", mandate.Reversible, "queue:jobs"), restricted, noonBerlin,
			mandate.PathFlagged, mandate.UrgencyNormal, "restricted-anything", []string{"team:platform"}, "in the owners' review queue"},
		{"NewAgentIsFlagged", act("deploy", "production", mandate.Reversible, "queue:jobs"), newbie, noonBerlin,
			mandate.PathFlagged, mandate.UrgencyNormal, "builtin:default", []string{"team:platform"}, "agent rookie is new"},
		{"NewAgentReadStaysAuto", act("read", "production", mandate.Reversible, "queue:jobs"), newbie, noonBerlin,
			mandate.PathAuto, mandate.UrgencyInfo, "builtin:read-only", nil, "read-only"},
		{"WatcherIsTold", act("deploy", "staging", mandate.Reversible, "table:billing.invoices"), trusted, noonLA,
			mandate.PathMonitored, mandate.UrgencyHigh, "builtin:default", []string{"team:payments", "person:wanda"}, "billing.invoices is high"},
		{"OutsideHoursRaisesUrgency", act("deploy", "staging", mandate.Reversible, "table:billing.invoices"), trusted, noonLA.Add(-5 * time.Hour),
			mandate.PathMonitored, mandate.UrgencyCritical, "builtin:default", []string{"team:payments", "person:wanda"}, "outside business hours in America/Los_Angeles: urgency raised to critical"},
		{"OutsideHoursRule", act("delete", "production", mandate.Irreversible, "queue:jobs"), trusted, noonBerlin.Add(12 * time.Hour),
			mandate.PathGated, mandate.UrgencyCritical, "night-deletes", []string{"team:platform"}, "outside business hours in Europe/Berlin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := e.router.Route(c.action, c.actor, mandate.RouteOptions{At: c.at, DryRun: true})
			if d.Path != c.path || d.Urgency != c.urgency || d.Rule != c.rule || !slices.Equal(targets(d), c.targets) || !hasReason(d, c.reason) {
				t.Errorf("got %s/%s rule %q targets %v reasons %q\nwant %s/%s rule %q targets %v reason containing %q",
					d.Path, d.Urgency, d.Rule, targets(d), d.Reasons, c.path, c.urgency, c.rule, c.targets, c.reason)
			}
			for _, tg := range d.Targets {
				if tg.Reason == "" {
					t.Errorf("target %s:%s says not how it was found", tg.Kind, tg.ID)
				}
			}
			if (d.Path == mandate.PathFlagged) != (d.ReviewBy != nil) {
				t.Errorf("path %s with review_by %v", d.Path, d.ReviewBy)
			}
		})
	}
	t.Run("ReviewDeadline", func(t *testing.T) {
		d := e.router.Route(act("db_migration", "production", mandate.Reversible, "table:billing.x"), trusted, mandate.RouteOptions{At: noonLA, DryRun: true})
		if d.ReviewBy == nil || !d.ReviewBy.Equal(noonLA.Add(time.Hour)) {
			t.Errorf("rule deadline: review_by %v, want %v", d.ReviewBy, noonLA.Add(time.Hour))
		}
		d = e.router.Route(act("deploy", "production", mandate.Reversible, "queue:jobs"), newbie, mandate.RouteOptions{At: noonLA, DryRun: true})
		if d.ReviewBy == nil || !d.ReviewBy.Equal(noonLA.Add(4*time.Hour)) {
			t.Errorf("org deadline: review_by %v, want %v", d.ReviewBy, noonLA.Add(4*time.Hour))
		}
	})
}

// TestBusinessHoursEdges checks the owning team's local time: 08:59 is outside, 09:00
// inside, on both sides of the US spring-forward (2026-03-08, 02:00 PST → 03:00 PDT).
func TestBusinessHoursEdges(t *testing.T) {
	e := newEnv(t, routing.Options{})
	la, _ := time.LoadLocation("America/Los_Angeles")
	cases := []struct {
		at      time.Time
		outside bool
	}{
		{time.Date(2026, 11, 25, 8, 59, 0, 0, la), true},
		{time.Date(2026, 11, 25, 9, 0, 0, 0, la), false},
		{time.Date(2026, 11, 25, 16, 59, 0, 0, la), false},
		{time.Date(2026, 11, 25, 17, 0, 0, 0, la), true},
		{time.Date(2026, 3, 7, 16, 30, 0, 0, time.UTC), true},  // 08:30 PST, the day before
		{time.Date(2026, 3, 8, 16, 30, 0, 0, time.UTC), false}, // 09:30 PDT: same UTC time, now inside
		{time.Date(2026, 3, 8, 15, 59, 0, 0, time.UTC), true},  // 08:59 PDT
		{time.Date(2026, 3, 8, 16, 0, 0, 0, time.UTC), false},  // 09:00 PDT
		{time.Date(2026, 3, 8, 10, 30, 0, 0, time.UTC), true},  // in the skipped hour (02:30 does not exist; 03:30 PDT)
	}
	for _, c := range cases {
		d := e.router.Route(act("deploy", "staging", mandate.Reversible, "service:payments-api"), trusted, mandate.RouteOptions{At: c.at, DryRun: true})
		if got := hasReason(d, "outside business hours in America/Los_Angeles"); got != c.outside {
			t.Errorf("%s (%s in LA): outside=%v, want %v", c.at.UTC().Format(time.RFC3339), c.at.In(la).Format("15:04 MST"), got, c.outside)
		}
	}
}

func TestRateRuleFlagsAndAggregates(t *testing.T) {
	e := newEnv(t, routing.Options{})
	a := act("deploy", "staging", mandate.Reversible, "queue:jobs")
	route := func(at time.Time, dry bool) mandate.Decision {
		return e.router.Route(a, trusted, mandate.RouteOptions{At: at, DryRun: dry})
	}
	for i := range 3 {
		if d := route(noonLA.Add(time.Duration(i)*time.Minute), false); d.Path != mandate.PathMonitored || d.Aggregate != "" {
			t.Fatalf("action %d within the limit: %s %q", i+1, d.Path, d.Aggregate)
		}
	}
	if d := route(noonLA.Add(3*time.Minute), true); d.Path != mandate.PathFlagged {
		t.Errorf("a dry run over the limit is not flagged: %s", d.Path)
	}
	d := route(noonLA.Add(3*time.Minute), false)
	if d.Path != mandate.PathFlagged || d.Aggregate != "rate:deployer:queue:jobs" || !hasReason(d, "more than 3 actions on queue:jobs") {
		t.Errorf("4th action: %s aggregate %q reasons %q", d.Path, d.Aggregate, d.Reasons)
	}
	// The dry run did not count: after the window, we are back under the limit.
	if d := route(noonLA.Add(20*time.Minute), false); d.Path != mandate.PathMonitored {
		t.Errorf("after the window: %s", d.Path)
	}
	if d := route(noonLA.Add(20*time.Minute), false); d.Aggregate != "" {
		t.Errorf("other actor or resource aggregated: %q", d.Aggregate)
	}
}

func TestTrackRecordIncidentsAndPatterns(t *testing.T) {
	e := newEnv(t, routing.Options{
		Incidents: incidents{"on:service:payments-api": 1, "by:deployer:queue:jobs": 2},
		Patterns:  patterns{{Incident: "INC-7", Summary: "bad migration", Link: "https://mandate/inc/7/postmortem.md"}},
	})
	d := e.router.Route(act("deploy", "staging", mandate.Reversible, "service:payments-api"), trusted, mandate.RouteOptions{At: noonLA, DryRun: true})
	if d.Urgency != mandate.UrgencyCritical || !hasReason(d, "had 1 incident(s)") || !hasReason(d, "⚠ This looks similar to incident INC-7") {
		t.Errorf("incident on resource: %s %q", d.Urgency, d.Reasons)
	}
	d = e.router.Route(act("deploy", "staging", mandate.Reversible, "queue:jobs"), trusted, mandate.RouteOptions{At: noonLA, DryRun: true})
	if d.Path != mandate.PathFlagged || !hasReason(d, "deployer caused 2 incident(s) on queue:jobs") {
		t.Errorf("incidents caused by the actor: %s %q", d.Path, d.Reasons)
	}

	f := newEnv(t, routing.Options{})
	for range 2 {
		f.router.ObserveResult("deployer", mandate.StatusFailed, noonLA.Add(-10*time.Minute))
	}
	f.router.ObserveResult("deployer", mandate.StatusSucceeded, noonLA)
	d = f.router.Route(act("deploy", "staging", mandate.Reversible, "queue:jobs"), trusted, mandate.RouteOptions{At: noonLA, DryRun: true})
	if d.Path != mandate.PathFlagged || !hasReason(d, "had 2 failed actions in the last 1h") {
		t.Errorf("failing agent: %s %q", d.Path, d.Reasons)
	}
	d = f.router.Route(act("deploy", "staging", mandate.Reversible, "queue:jobs"), trusted, mandate.RouteOptions{At: noonLA.Add(2 * time.Hour), DryRun: true})
	if d.Path != mandate.PathMonitored {
		t.Errorf("failures older than the window still flag: %s", d.Path)
	}
}

func TestGraceAndFallbackTargets(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ownership.Build(cfg, ownership.Sources{Departures: []mandate.TeamDeparture{
		{Person: "alice", Team: "payments", At: noonLA.Add(-48 * time.Hour)},
	}}, noonLA)
	if err != nil {
		t.Fatal(err)
	}
	r, err := routing.New(cfg, fixed{snap}, routing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Route(act("deploy", "staging", mandate.Reversible, "service:payments-api", "queue:jobs", "service:payments-worker"), trusted,
		mandate.RouteOptions{At: noonLA, DryRun: true})
	want := []string{"team:payments", "person:bob", "person:alice", "team:platform"}
	if !slices.Equal(targets(d), want) {
		t.Errorf("targets %v, want %v (owners once each, alice in grace, the fallback for the queue)", targets(d), want)
	}
}

// BenchmarkRoute measures one decision with 500 rules and 10,000 services, ownership
// lookup included. It reports the median as well as the mean.
func BenchmarkRoute(b *testing.B) {
	var y strings.Builder
	y.WriteString("org: {timezone: UTC, fallback: {team: t0}}\npeople: [{id: p0}]\nteams:\n")
	for i := range 20 {
		fmt.Fprintf(&y, "  - {id: t%d, members: [p0]}\n", i)
	}
	y.WriteString("services:\n")
	kinds := []string{"service", "table", "bucket", "queue"}
	for i := range 10000 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&y, "  - {name: svc-%d, kind: %s, match: [\"svc%d-*\"], team: t%d, sensitivity: high}\n", i, kinds[i%4], i, i%20)
		case 1:
			fmt.Fprintf(&y, "  - {name: svc-%d, kind: %s, team: t%d}\n", i, kinds[i%4], i%20)
		default:
			fmt.Fprintf(&y, "  - {name: svc-%d, kind: %s, match: [\"app%d.*\", \"app%d-replica\"], team: t%d, owners: [p0]}\n", i, kinds[i%4], i, i, i%20)
		}
	}
	y.WriteString("routing:\n  rules:\n")
	types := []string{"deploy", "db_write", "code_change", "email_send", "payment_charge", "s3_delete", "scale", "rollback"}
	for i := range 500 {
		fmt.Fprintf(&y, "    - {name: r%d, when: {types: [%s], environments: [env%d], resources: [\"service:svc%d-*\"]}, then: {path: flagged_execute}}\n",
			i, types[i%len(types)], i, i*7)
	}
	cfg, err := config.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	snap, err := ownership.Build(cfg, ownership.Sources{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	r, err := routing.New(cfg, fixed{snap}, routing.Options{})
	if err != nil {
		b.Fatal(err)
	}
	actions := make([]*mandate.Action, 256)
	for i := range actions {
		actions[i] = act(types[i%len(types)], "production", mandate.Reversible,
			fmt.Sprintf("service:svc%d-api", (i*37)%10000), fmt.Sprintf("table:app%d.events", (i*101)%10000+2),
			fmt.Sprintf("queue:svc-%d", (i*13)%10000+1), "file:acme/api:src/x.go")
	}
	opt := mandate.RouteOptions{At: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), DryRun: true}
	samples := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		r.Route(actions[i%len(actions)], trusted, opt)
		samples = append(samples, time.Since(start))
		i++
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "median-ns/op")
}

func TestLiveWatchesAndSnoozes(t *testing.T) {
	live := routing.NewLive()
	e := newEnv(t, routing.Options{Live: live})
	a := act("deploy", "staging", mandate.Reversible, "service:payments-api")
	route := func(at time.Time) mandate.Decision {
		return e.router.Route(a, trusted, mandate.RouteOptions{At: at, DryRun: true})
	}
	if err := live.Set([]mandate.Watch{{Person: "erin", Pattern: "service:payments-*"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := targets(route(noonLA)); !slices.Contains(got, "person:erin") {
		t.Errorf("a watch set from Slack: targets %v lack erin", got)
	}
	until := noonLA.Add(time.Hour)
	if err := live.Set(nil, []mandate.Snooze{{Kind: "resource", Target: "service:payments-*", Until: until, By: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if d := route(noonLA); len(d.Targets) != 0 || !hasReason(d, "snoozed by bob") {
		t.Errorf("snoozed resource: targets %v reasons %q", targets(d), d.Reasons)
	}
	if d := route(until.Add(time.Minute)); len(d.Targets) == 0 {
		t.Errorf("after the snooze ends nobody is told")
	}
	if err := live.Set(nil, []mandate.Snooze{{Kind: "rule", Target: "builtin:irreversible-critical-production", Until: until, By: "bob"}}); err != nil {
		t.Fatal(err)
	}
	gated := act("deploy", "production", mandate.Irreversible, "service:payments-api")
	if d := e.router.Route(gated, trusted, mandate.RouteOptions{At: noonLA, DryRun: true}); len(d.Targets) == 0 {
		t.Errorf("a gated action was silenced by a snooze")
	}
}
