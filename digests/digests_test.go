package digests_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

// orgYAML is the organisation of pgtest.SeedDigestWeek: payments (alice, bob) and
// platform (carol) have channels; search has neither channel nor email; erin is the
// admin, told by DM.
const orgYAML = `
org:
  timezone: Europe/Berlin
  fallback: {team: platform}
  admins: [erin]
people:
  - {id: alice, slack: U0ALICE, email: alice@acme.test}
  - {id: bob, slack: U0BOB, email: bob@acme.test}
  - {id: carol, slack: U0CAROL}
  - {id: erin, slack: U0ERIN, email: erin@acme.test}
teams:
  - {id: payments, name: Payments, slack_channel: C0PAY, members: [alice, bob]}
  - {id: platform, name: Platform, slack_channel: C0PLAT, members: [carol]}
  - {id: search}
routing:
  rules:
    - name: prod-deploys
      when: {types: [deploy]}
      then: {path: flagged_execute, urgency: high}
digests:
  email: true
`

func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("mandate.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// env is a seeded database, the org's config and a fake Slack.
type env struct {
	db   *postgres.DB
	cfg  *config.Config
	fake *slackfake.Server
	api  *slack.Client
}

func setup(t *testing.T) *env {
	t.Helper()
	db, _ := pgtest.DigestWeekDB(t)
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL", "U0ERIN"} {
		fake.AddUser(u, strings.ToLower(u[2:]), "", "Europe/Berlin")
	}
	fake.AddChannel("C0PAY", "payments", "U0ALICE", "U0BOB")
	fake.AddChannel("C0PLAT", "platform", "U0CAROL")
	return &env{db: db, cfg: parseConfig(t, orgYAML), fake: fake,
		api: slack.New(fake.BotToken(), slack.OptionAPIURL(fake.URL()+"/api/"))}
}

func (e *env) builder() *digests.Builder {
	return &digests.Builder{Store: postgres.NewDigestStore(e.db), Config: func() *config.Config { return e.cfg }}
}

// mailbox records the digest emails sent; fail, if set, fails a send.
type mailbox struct {
	mu   sync.Mutex
	sent []digests.Email
	fail func(m digests.Email) error
}

func (m *mailbox) send(_ context.Context, e digests.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(e); err != nil {
			return err
		}
	}
	m.sent = append(m.sent, e)
	return nil
}

func (m *mailbox) to() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.sent {
		out = append(out, e.To)
	}
	slices.Sort(out)
	return out
}

// scheduler is one replica's scheduler on the shared database.
func (e *env) scheduler(name string, mail *mailbox) *digests.Scheduler {
	s := &digests.Scheduler{Builder: e.builder(), Runs: postgres.NewDigestStore(e.db), Config: func() *config.Config { return e.cfg },
		Slack: e.api, Replica: name}
	if mail != nil {
		s.Email = mail.send
	}
	return s
}

// posts are the digest messages in a channel (DMs included, by user).
func (e *env) posts(t *testing.T, channel string) []slackfake.Message {
	t.Helper()
	if strings.HasPrefix(channel, "U") {
		dm, ok := e.fake.DM(channel)
		if !ok {
			return nil
		}
		channel = dm
	}
	return e.fake.Messages(channel)
}

var berlin = pgtest.Berlin

func TestDue(t *testing.T) {
	cfg := parseConfig(t, `
org: {timezone: Europe/Berlin, fallback: {team: a}}
teams:
  - {id: a}
  - {id: ny, timezone: America/New_York}
  - {id: fri, digest_schedule: "CRON_TZ=Asia/Tokyo 0 8 * * FRI"}
  - {id: none, digest_schedule: "off"}
digests: {nag_schedule: "30 8 * * MON-FRI"}
`)
	monday := time.Date(2026, 11, 23, 9, 0, 0, 0, berlin)
	kinds := func(runs []mandate.DigestRun) string {
		var out []string
		for _, r := range runs {
			out = append(out, r.Kind+":"+r.Team+"@"+r.Start.Format("Mon 02 15:04 MST")+"→"+r.End.Format("Mon 02 15:04 MST"))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name string
		now  time.Time
		nag  bool
		want string
	}{
		{"a second early", monday.Add(-time.Second), false, ""},
		// Team a and the admins at 09:00 Berlin; the nag (08:30) is due as well.
		{"on time", monday, true, "team:a@Mon 16 09:00 CET→Mon 23 09:00 CET admin:@Mon 16 09:00 CET→Mon 23 09:00 CET nag:@Mon 23 08:30 CET→Mon 23 08:30 CET"},
		{"no nag without a nag func", monday, false, "team:a@Mon 16 09:00 CET→Mon 23 09:00 CET admin:@Mon 16 09:00 CET→Mon 23 09:00 CET"},
		// Caught up for 24 hours, in New York's morning too; the nag only for 6 hours.
		{"a day late", monday.Add(23 * time.Hour), true, "team:a@Mon 16 09:00 CET→Mon 23 09:00 CET team:ny@Mon 16 09:00 EST→Mon 23 09:00 EST admin:@Mon 16 09:00 CET→Mon 23 09:00 CET"},
		{"too late", monday.Add(24*time.Hour + time.Second), true, "team:ny@Mon 16 09:00 EST→Mon 23 09:00 EST nag:@Tue 24 08:30 CET→Tue 24 08:30 CET"},
		// Friday 08:00 in Tokyo is Friday 00:00 in Berlin, the team's zone.
		{"tokyo friday", time.Date(2026, 11, 20, 0, 0, 0, 0, berlin), false, "team:fri@Fri 13 00:00 CET→Fri 20 00:00 CET"},
	} {
		if got := kinds(digests.Due(cfg, c.now, c.nag)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// Across the end of summer time the week still runs from Monday 09:00 to Monday
	// 09:00 by the wall clock: 7 days and an hour.
	runs := digests.Due(cfg, time.Date(2026, 10, 26, 9, 0, 0, 0, berlin), false)
	if len(runs) == 0 || runs[0].Team != "a" || !runs[0].Start.Equal(time.Date(2026, 10, 19, 9, 0, 0, 0, berlin)) ||
		runs[0].End.Sub(runs[0].Start) != 7*24*time.Hour+time.Hour {
		t.Errorf("week across the DST change: %+v", runs)
	}
}

// TestBuilder: the builder judges the seeded figures: targets, rates, flags, Slack ids,
// suggestions, and the admins' line per team.
func TestBuilder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	week := digests.Period{Start: pgtest.WeekStart, End: pgtest.WeekEnd}
	d, err := e.builder().Team(ctx, "payments", week)
	if err != nil {
		t.Fatal(err)
	}
	if d.TeamName != "Payments" || len(d.Days) != 7 {
		t.Errorf("team name %q, %d days", d.TeamName, len(d.Days))
	}
	var tti []string
	for _, x := range d.TTI {
		tti = append(tti, fmt.Sprintf("%s %v/%v target %v met %v", x.Kind, x.P50, x.P95, x.Target, x.Met()))
	}
	if got, want := strings.Join(tti, "; "), "acknowledged 2m0s/4m42s target 5m0s met true; approved 11m0s/11m0s target 10m0s met false; paused 30s/30s target 1m0s met true"; got != want {
		t.Errorf("TTI:\n got %s\nwant %s", got, want)
	}
	var rules []string
	for _, r := range d.Rules {
		rules = append(rules, fmt.Sprintf("%s fp %.3f fn %.3f flagged %v", r.Rule, r.FPRate, r.FNRate, r.Flagged))
	}
	if got, want := strings.Join(rules, "; "), "prod-deploys fp 0.667 fn 0.200 flagged true; default fp 0.250 fn 0.400 flagged false; migrations fp 0.000 fn 0.333 flagged false"; got != want {
		t.Errorf("rules:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join([]string{d.Overdue[0].OwnerRef, d.Overdue[1].OwnerRef, d.Overdue[2].OwnerRef}, " "); got != "U0BOB U0BOB U0ALICE" {
		t.Errorf("overdue owners' Slack ids: %s", got)
	}
	if got := d.Notifications.ResponseRate(); got != 0.75 {
		t.Errorf("response rate %v, want 0.75", got)
	}
	wantSuggestions := []mandate.DigestSuggestion{
		{Kind: "rule", Subject: "prod-deploys", Text: "Rule prod-deploys: 2 of 3 answers said not relevant (67 % false positives, over 30 %). " +
			"Consider raising its when.min_sensitivity (now any) or making it monitored_execute (now flagged_execute)."},
		{Kind: "ownership", Subject: "table:billing.invoices", Text: "INC-3: dave should have been told about db_migration on table:billing.invoices and was not. " +
			"Add an ownership rule for table:billing.invoices (a services entry in mandate.yaml, or a CODEOWNERS line) naming dave."},
		{Kind: "ownership", Subject: "bucket:tmp-exports", Text: "INC-4: bob should have been told about bucket_write on bucket:tmp-exports and was not. " +
			"Add an ownership rule for bucket:tmp-exports (a services entry in mandate.yaml, or a CODEOWNERS line) naming bob."},
	}
	if !slices.Equal(d.Suggestions, wantSuggestions) {
		t.Errorf("suggestions:\n got %q\nwant %q", d.Suggestions, wantSuggestions)
	}

	admin, err := e.builder().Admin(ctx, week)
	if err != nil {
		t.Fatal(err)
	}
	// platform: A6 and A7; N6 (carol, on A4) needed an answer and got one; A6 and A7
	// touch unowned resources; INC-3 and INC-4; items 5 and 6 (INC-4's).
	wantTeams := []mandate.DigestTeam{
		{Team: "Payments", Actions: 7, NeedAnswer: 4, Answered: 3, Unowned: 2, Incidents: 2, Overdue: 3},
		{Team: "Platform", Actions: 2, NeedAnswer: 1, Answered: 1, Unowned: 2, Incidents: 2, Overdue: 2},
		{Team: "search"},
	}
	if !slices.Equal(admin.Teams, wantTeams) {
		t.Errorf("admins' team lines:\n got %+v\nwant %+v", admin.Teams, wantTeams)
	}
	// The admins see carol's miss on INC-4 as well: one suggestion naming both.
	if got := admin.Suggestions[len(admin.Suggestions)-1].Text; !strings.HasPrefix(got, "INC-4: bob, carol should have been told about bucket_write on bucket:tmp-exports and were not.") {
		t.Errorf("admins' last suggestion: %s", got)
	}
	if _, err := e.builder().Team(ctx, "nobody", week); mandate.ErrorCode(err) != mandate.ENOTFOUND {
		t.Errorf("unknown team: %v", err)
	}
	// A preview is the seven days before now, in the team's zone.
	p, err := e.builder().Preview(ctx, "payments", pgtest.WeekEnd)
	if err != nil || p.Actions.Total != 7 || !p.Start.Equal(pgtest.WeekStart) {
		t.Errorf("preview: %v actions from %v, %v", p.Actions.Total, p.Start, err)
	}
}

func TestTextAndHTML(t *testing.T) {
	e := setup(t)
	d, err := e.builder().Admin(context.Background(), digests.Period{Start: pgtest.WeekStart, End: pgtest.WeekEnd})
	if err != nil {
		t.Fatal(err)
	}
	text := digests.Text(d)
	for _, want := range []string{
		"Weekly digest · all teams\nMon 16 Nov 09:00 → Mon 23 Nov 09:00 CET\n",
		"\nACTIONS: 8\n  █▁█▅▅▅▅ Mon–Sun (2 0 2 1 1 1 1)\n  By agent: deployer 3 · migrator 3 · crawler 2\n  By path: monitored 4 · flagged 2 · gated 2\n",
		"\nNOTIFICATIONS: 12\n  10 delivered\n",
		"  Answered: 3 of 4 that needed an answer (75 %)\n",
		"  ✅ acknowledged: 2 m / 4 m 42 s vs 5 m (3)\n  ⚠ approved: 11 m / 11 m vs 10 m (1)\n  ✅ paused: 20 s / 29 s vs 1 m (2)\n",
		"  ✅ default: 25 % not relevant (1 of 4) · 3 missed (38 %) · 5 notifications\n",
		"  ⚠ prod-deploys: 67 % not relevant (2 of 3) · 1 missed (20 %) · 4 notifications\n",
		"  ⚠ 3 actions touched resources nobody owns:\n  bucket:tmp-exports (2)\n  service:legacy-cron (1)\n",
		"  4 escalated past the first people told (6 steps)\n  1 answered · 2 no response · 1 still waiting\n",
		"\nINCIDENTS: 3 OPENED, 1 REPEAT\n",
		"  INC-3 Invoice table locked — critical, open · repeat of INC-1\n",
		"  INC-4: Quota dashboard — carol, due 2026-11-01\n",
		"\nTEAMS\n  Payments: 7 actions · 3 of 4 answered · 2 unowned · 2 incidents · 3 overdue\n",
		"  search: 0 actions · nothing needed an answer · 0 unowned · 0 incidents · 0 overdue\n",
		"\nSUGGESTED CHANGES\n  Rule prod-deploys: 2 of 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if got := digests.Subject(d); got != "Weekly digest · all teams · 16 Nov–23 Nov 2026" {
		t.Errorf("subject %q", got)
	}
	d.Incidents.List[0].Title = `<script>alert("x")</script>`
	page := digests.HTML(d)
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "<h3>Suggested changes</h3>") {
		t.Errorf("HTML not escaped or incomplete:\n%s", page)
	}
}

// TestSendsOnceAcrossReplicas: two replicas ticking at the same moment, many times,
// post each digest once: the team channels, the admin's DM, and one email per person.
func TestSendsOnceAcrossReplicas(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	mail := &mailbox{}
	replicas := []*digests.Scheduler{e.scheduler("one", mail), e.scheduler("two", mail)}
	now := pgtest.WeekEnd.Add(30 * time.Second)
	var wg sync.WaitGroup
	for _, s := range replicas {
		for range 5 {
			wg.Go(func() {
				if err := s.Tick(ctx, now); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for _, ch := range []string{"C0PAY", "C0PLAT", "U0ERIN"} {
		if n := len(e.posts(t, ch)); n != 1 {
			t.Errorf("%s got %d digests, want 1", ch, n)
		}
	}
	if n := len(e.fake.Calls("chat.postMessage")); n != 3 {
		t.Errorf("%d chat.postMessage calls, want 3", n)
	}
	if got := mail.to(); !slices.Equal(got, []string{"alice@acme.test", "bob@acme.test", "erin@acme.test"}) {
		t.Errorf("emails to %v", got)
	}
	pay := e.posts(t, "C0PAY")[0]
	if !strings.Contains(string(pay.Blocks), "Weekly digest · Payments") || !strings.Contains(string(pay.Blocks), `*Actions* · 7`) {
		t.Errorf("payments' digest:\n%s", pay.Blocks)
	}
	if admin := e.posts(t, "U0ERIN")[0]; !strings.Contains(string(admin.Blocks), "Weekly digest · all teams") {
		t.Errorf("admin's digest:\n%s", admin.Blocks)
	}
	for _, m := range mail.sent {
		if m.Subject == "" || !strings.Contains(m.Text, "ACTIONS:") || !strings.Contains(m.HTML, "<h3>") {
			t.Errorf("email to %s: %q", m.To, m.Subject)
		}
	}
	// Later the same day: nothing new. A week later: the next digests.
	if err := replicas[1].Tick(ctx, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Calls("chat.postMessage")); n != 3 {
		t.Errorf("a later tick posted again: %d calls", n)
	}
	if err := replicas[0].Tick(ctx, now.AddDate(0, 0, 7)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.posts(t, "C0PAY")); n != 2 {
		t.Errorf("next week: payments has %d digests, want 2", n)
	}
}

// TestSendsOnceWithRiverReplicas: two queue clients on one database, each with the
// periodic tick registered, as two `mandate serve` replicas are. However many ticks run,
// and on whichever replica, each digest is posted once.
func TestSendsOnceWithRiverReplicas(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := pgtest.WeekEnd.Add(30 * time.Second)
	ticks := make(chan string, 100)
	for _, name := range []string{"one", "two"} {
		s := e.scheduler(name, nil)
		s.Now = func() time.Time { return now }
		q, err := postgres.NewQueue(e.db, postgres.QueueOptions{Handlers: map[postgres.JobKind]postgres.Handler{
			postgres.JobScheduleTick: func(ctx context.Context, id int64, attempt int) error {
				err := s.Job(ctx, id, attempt)
				ticks <- name
				return err
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Periodic(postgres.JobScheduleTick, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })
	}
	timeout := time.After(60 * time.Second)
	for n := 0; n < 3; n++ {
		select {
		case <-ticks:
		case <-timeout:
			t.Fatalf("only %d ticks ran", n)
		}
	}
	for _, ch := range []string{"C0PAY", "C0PLAT", "U0ERIN"} {
		if n := len(e.posts(t, ch)); n != 1 {
			t.Errorf("%s got %d digests after 3 ticks, want 1", ch, n)
		}
	}
	if n := len(e.fake.Calls("chat.postMessage")); n != 3 {
		t.Errorf("%d chat.postMessage calls, want 3", n)
	}
}

// TestRetriesNeverRepeat: a post Slack made but whose answer was lost, and an email that
// failed, are retried by a later tick: the post is found, not repeated; only the failed
// email is sent again.
func TestRetriesNeverRepeat(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.cfg.Digests.Email = true
	failBob := true
	mail := &mailbox{fail: func(m digests.Email) error {
		if m.To == "bob@acme.test" && failBob {
			failBob = false
			return errors.New("451 try again later")
		}
		return nil
	}}
	s := e.scheduler("one", mail)
	run := mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: "payments", Start: pgtest.WeekStart, End: pgtest.WeekEnd}
	e.fake.Fail("chat.postMessage", slackfake.Fault{Status: 500, Applied: true})
	now := pgtest.WeekEnd.Add(time.Minute)
	if sent, err := s.Send(ctx, e.cfg, run, now); !sent || err == nil {
		t.Fatalf("first attempt: sent %v, err %v; want a failure", sent, err)
	}
	if got := mail.to(); !slices.Equal(got, []string{"alice@acme.test"}) {
		t.Errorf("after the first attempt, emails to %v", got)
	}
	// Before the retry time nobody takes it up; after, the retry finishes the run.
	if sent, err := s.Send(ctx, e.cfg, run, now.Add(30*time.Second)); sent || err != nil {
		t.Errorf("retried before its time: sent %v, %v", sent, err)
	}
	if sent, err := s.Send(ctx, e.cfg, run, now.Add(time.Minute)); !sent || err != nil {
		t.Fatalf("retry: sent %v, %v", sent, err)
	}
	if n := len(e.posts(t, "C0PAY")); n != 1 {
		t.Errorf("payments has %d digests, want 1 (the lost answer's post, found again)", n)
	}
	if n := len(e.fake.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d chat.postMessage calls, want 1", n)
	}
	if got := mail.to(); !slices.Equal(got, []string{"alice@acme.test", "bob@acme.test"}) {
		t.Errorf("emails to %v, want alice once and bob once", got)
	}
	if sent, _ := s.Send(ctx, e.cfg, run, now.AddDate(0, 0, 1)); sent {
		t.Error("a finished run ran again")
	}
	st, err := postgres.NewDigestStore(e.db).Run(ctx, run)
	if err != nil || st.Attempts != 2 || st.Finished == nil {
		t.Errorf("run status %+v, %v", st, err)
	}
}

// TestNagScheduledOnce: the daily nag runs once per scheduled time across replicas, is
// retried when it fails, and does not run when there is no nag to run.
func TestNagScheduledOnce(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.cfg.Digests.Schedule = config.ScheduleOff // only the nag here
	var mu sync.Mutex
	var calls []time.Time
	fail := true
	nag := func(_ context.Context, now time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, now)
		if fail {
			fail = false
			return errors.New("database busy")
		}
		return nil
	}
	replicas := []*digests.Scheduler{e.scheduler("one", nil), e.scheduler("two", nil)}
	for _, s := range replicas {
		s.Nag = nag
	}
	nine := time.Date(2026, 11, 24, 9, 0, 0, 0, berlin) // the default nag: 09:00 in the org's zone
	var wg sync.WaitGroup
	for _, s := range replicas {
		wg.Go(func() { s.Tick(ctx, nine.Add(10*time.Second)) })
	}
	wg.Wait()
	if len(calls) != 1 {
		t.Fatalf("nag ran %d times, want 1", len(calls))
	}
	// The failure is retried a minute later, once.
	for _, s := range replicas {
		s.Tick(ctx, nine.Add(2*time.Minute))
	}
	if len(calls) != 2 {
		t.Fatalf("after the retry, nag ran %d times, want 2", len(calls))
	}
	for _, s := range replicas {
		if err := s.Tick(ctx, nine.Add(time.Hour)); err != nil {
			t.Error(err)
		}
	}
	if len(calls) != 2 {
		t.Errorf("nag ran again the same day: %d", len(calls))
	}
	replicas[0].Tick(ctx, nine.AddDate(0, 0, 1))
	if len(calls) != 3 || !calls[2].Equal(nine.AddDate(0, 0, 1)) {
		t.Errorf("next day: calls %v", calls)
	}
	if posts := e.fake.Calls("chat.postMessage"); len(posts) != 0 {
		t.Errorf("digests off, yet %d posts", len(posts))
	}
	// Without a nag function nothing is claimed: a replica that has one still runs it.
	none := e.scheduler("three", nil)
	if err := none.Tick(ctx, nine.AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	replicas[1].Tick(ctx, nine.AddDate(0, 0, 2).Add(time.Minute))
	if len(calls) != 4 {
		t.Errorf("a replica without a nag blocked the nag: %d calls", len(calls))
	}
}

// TestNowhereToSend: a team without channel or email, and a replica without Slack, send
// nothing and claim nothing, so a replica that can send still does.
func TestNowhereToSend(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.cfg.Digests.Email = false
	blind := e.scheduler("blind", nil)
	blind.Slack = nil
	if err := blind.Tick(ctx, pgtest.WeekEnd); err != nil {
		t.Fatal(err)
	}
	search := mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: "search", Start: pgtest.WeekStart, End: pgtest.WeekEnd}
	if sent, err := e.scheduler("one", nil).Send(ctx, e.cfg, search, pgtest.WeekEnd); sent || err != nil {
		t.Errorf("search (no channel, no email): sent %v, %v", sent, err)
	}
	if err := e.scheduler("one", nil).Tick(ctx, pgtest.WeekEnd.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.posts(t, "C0PAY")); n != 1 {
		t.Errorf("payments got %d digests after a replica without Slack ticked first, want 1", n)
	}
}

// TestManualSend: a digest sent by hand goes out once for its period, marked manual.
func TestManualSend(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := e.scheduler("cli", nil)
	now := time.Date(2026, 11, 25, 15, 4, 0, 0, berlin)
	p := digests.WeekEnding(now, berlin)
	run := mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: "payments", Start: p.Start, End: p.End, Manual: true}
	if sent, err := s.Send(ctx, e.cfg, run, now); !sent || err != nil {
		t.Fatalf("manual send: %v, %v", sent, err)
	}
	if sent, err := s.Send(ctx, e.cfg, run, now); sent || err != nil {
		t.Errorf("second manual send of the same period: %v, %v", sent, err)
	}
	if n := len(e.posts(t, "C0PAY")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
	if st, err := postgres.NewDigestStore(e.db).Run(ctx, run); err != nil || !st.Manual {
		t.Errorf("run %+v, %v: not marked manual", st, err)
	}
}
