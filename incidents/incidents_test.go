package incidents_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/slackfake"
)

// TestOpenBringsEveryoneIntoTheChannel: an incident opened from Slack is attributed to
// the deploy before it, spans the teams of the deploy's blast radius, gets its channel
// with the owners, team members, leads and reporter invited, a topic and a header with
// the causes and the buttons, and pages PagerDuty.
func TestOpenBringsEveryoneIntoTheChannel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	deploy := e.record(t, "deployer", "deploy", 25, paymentsAPI, terraform) // 5 min before
	older := e.record(t, "code-reviewer", "code_change", 0, paymentsAPI)    // 30 min before
	e.record(t, "data-pipeline", "s3_delete", 28, warehouse)                // another resource
	e.record(t, "deployer", "deploy", 31, paymentsAPI)                      // after the opening

	inc, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "Payments API: 5xx on checkout!", Severity: mandate.SeverityHigh,
		Resources: []mandate.Resource{paymentsAPI}, OpenedBy: "carol", Via: mandate.ViaSlack})
	if err != nil {
		t.Fatal(err)
	}
	if inc.Number != 1 || inc.State != mandate.IncidentOpen || !inc.OpenedAt.Equal(e.t0.Add(30*time.Minute)) {
		t.Errorf("incident %+v", inc)
	}
	var causes []string
	for _, c := range inc.Causes {
		causes = append(causes, c.ActionID)
	}
	if !slices.Equal(causes, []string{deploy.ID, older.ID}) {
		t.Fatalf("causes %v, want the deploy then the older code change", causes)
	}
	if c := inc.Causes[0]; c.Rank != 1 || c.State != mandate.CauseCandidate || !strings.Contains(c.Reason, "deploy on service:payments-api (critical) 5 m before") {
		t.Errorf("first cause %+v", c)
	}
	if !slices.Equal(inc.Teams, []string{"payments", "platform"}) || !inc.MultiTeam {
		t.Errorf("teams %v multi=%v; want payments and platform (terraform is in the deploy's blast radius)", inc.Teams, inc.MultiTeam)
	}

	e.wait(t, postgres.JobIncidentChannel, 1)
	ch, ok := e.fake.Channel("inc-1-payments-api-5xx-on-checkout")
	if !ok {
		t.Fatalf("no channel inc-1-payments-api-5xx-on-checkout among %v", e.fake.Channels())
	}
	for _, u := range []string{"U0ALICE", "U0BOB", "U0DAN", "U0ERIN", "U0CAROL"} {
		if !slices.Contains(ch.Members, u) {
			t.Errorf("%s not invited: members %v", u, ch.Members)
		}
	}
	if slices.Contains(ch.Members, "U0FRANK") {
		t.Errorf("frank owns nothing affected but was invited")
	}
	if !strings.HasPrefix(ch.Topic, "INC-1 [high, open] Payments API") {
		t.Errorf("topic %q", ch.Topic)
	}
	msgs := e.fake.Messages(ch.ID)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the channel, want the header", len(msgs))
	}
	header := strings.Join(slackfake.RenderText(msgs[0].Blocks), "\n")
	for _, want := range []string{"INC-1", "Multi-team incident", "Team Payments", "Team Platform", "config:terraform/main.tf",
		"deployer deploy", "[✅ Confirm cause]", "[⏸ Pause all causing agents]", "[👤 Assign owner]", "[🩹 Mitigated]", "[✅ Resolved]"} {
		if !strings.Contains(header, want) {
			t.Errorf("header lacks %q:\n%s", want, header)
		}
	}
	ev := e.page(t)
	if ev.Action != "trigger" || ev.DedupKey != "mandate-incident-1" || ev.Payload.Severity != "error" || !strings.Contains(ev.Payload.Summary, "INC-1 (high)") {
		t.Errorf("page %+v", ev)
	}
	e.wait(t, postgres.JobIncidentPage, 1)
	stored, _ := e.store.Get(ctx, 1)
	if stored.Channel != ch.ID || stored.ChannelName != ch.Name || stored.HeaderTS != msgs[0].TS || stored.PagedAt == nil {
		t.Errorf("recorded channel %q %q header %q paged %v", stored.Channel, stored.ChannelName, stored.HeaderTS, stored.PagedAt)
	}
	if n := e.svc.Index.OnResource(paymentsAPI.Key(), e.t0); n != 1 {
		t.Errorf("index: %d incidents on payments-api", n)
	}
	if n := e.svc.Index.CausedBy("deployer", terraform.Key(), e.t0); n != 1 {
		t.Errorf("index: deployer caused %d on terraform", n)
	}
}

// TestChannelNameTakenAndSlackOutage: a taken name gets a suffix, and Slack failing with
// a 503 is retried by the queue without a second channel.
func TestChannelNameTakenAndSlackOutage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddChannel("C0TAKEN", "inc-1-db-down")
	e.fake.Fail("conversations.create", slackfake.Fault{Status: 503})
	inc, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "DB down", Severity: mandate.SeverityLow,
		Resources: []mandate.Resource{{Kind: "table", Name: "billing.invoices"}}, OpenedBy: "bob", Via: mandate.ViaSlack})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(t, postgres.JobIncidentChannel, inc.Number)
	ch, ok := e.fake.Channel("inc-1-db-down-2")
	if !ok {
		t.Fatalf("no channel inc-1-db-down-2: %v", e.fake.Channels())
	}
	var names []string
	for _, c := range e.fake.Calls("conversations.create") {
		names = append(names, c.Params["name"]+":"+c.Error)
	}
	if want := []string{"inc-1-db-down:fatal_error", "inc-1-db-down:name_taken", "inc-1-db-down-2:"}; !slices.Equal(names, want) {
		t.Errorf("conversations.create calls %v, want %v", names, want)
	}
	if msgs := e.fake.Messages(ch.ID); len(msgs) != 1 {
		t.Errorf("%d messages in the channel, want the header", len(msgs))
	}
	if msgs := e.fake.Messages("C0TAKEN"); len(msgs) != 0 {
		t.Errorf("the taken channel got %d messages", len(msgs))
	}
	select {
	case ev := <-e.pd:
		t.Errorf("a low severity incident paged: %+v", ev)
	default:
	}
}

// TestHeaderPostedButNotRecorded: Slack posts the header but the answer is lost (a 503
// from a proxy); the retried job finds the header in the channel instead of posting a
// second one.
func TestHeaderPostedButNotRecorded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.Fail("chat.postMessage", slackfake.Fault{Status: 503, Applied: true})
	inc, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "DB down", Severity: mandate.SeverityLow,
		Resources: []mandate.Resource{{Kind: "table", Name: "billing.invoices"}}, OpenedBy: "bob", Via: mandate.ViaSlack})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(t, postgres.JobIncidentChannel, inc.Number)
	ch, _ := e.fake.Channel("inc-1-db-down")
	msgs := e.fake.Messages(ch.ID)
	if len(msgs) != 1 {
		t.Fatalf("%d headers after a lost answer, want 1", len(msgs))
	}
	if n := len(e.fake.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
	if stored, _ := e.store.Get(ctx, inc.Number); stored.HeaderTS != msgs[0].TS {
		t.Errorf("header ts %q, want the one posted %q", stored.HeaderTS, msgs[0].TS)
	}
}

// TestLifecycle: pause the causing agents, confirm and dismiss causes, assign a
// commander, mitigate, resolve: each is recorded, shown in the header, and resolving pages
// PagerDuty's resolve and calls OnResolved once.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	resolved := make(chan *mandate.Incident, 5)
	e.svc.OnResolved = func(_ context.Context, inc *mandate.Incident) { resolved <- inc }
	deploy := e.record(t, "deployer", "deploy", 20, paymentsAPI)
	review := e.record(t, "code-reviewer", "code_change", 25, paymentsAPI)
	inc, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "Checkout broken", Severity: mandate.SeverityCritical,
		Resources: []mandate.Resource{paymentsAPI}, OpenedBy: "alice", Via: mandate.ViaSlack})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(t, postgres.JobIncidentChannel, inc.Number)
	if ev := e.page(t); ev.Action != "trigger" || ev.Payload.Severity != "critical" {
		t.Errorf("page %+v", ev)
	}
	e.wait(t, postgres.JobIncidentPage, inc.Number)
	inc, _ = e.store.Get(ctx, inc.Number)

	if _, changed, err := e.svc.DecideCause(ctx, inc.Number, deploy.ID, true, "alice"); err != nil || !changed {
		t.Fatalf("confirm: %v %v", changed, err)
	}
	if _, changed, err := e.svc.DecideCause(ctx, inc.Number, review.ID, false, "alice"); err != nil || !changed {
		t.Fatalf("dismiss: %v %v", changed, err)
	}
	if n := e.svc.Index.CausedBy("code-reviewer", paymentsAPI.Key(), e.t0); n != 0 {
		t.Errorf("a dismissed cause still counts against its actor: %d", n)
	}
	paused, already, err := e.svc.PauseCauses(ctx, inc.Number, "alice")
	if err != nil || !slices.Equal(paused, []string{"deployer"}) || len(already) != 0 {
		t.Fatalf("pause causes: %v %v %v; want only the confirmed cause's agent", paused, already, err)
	}
	if a, _ := e.actors.Actor(ctx, "deployer"); !a.State.Paused || a.State.PausedBy != "alice" {
		t.Errorf("deployer %+v", a.State)
	}
	if a, _ := e.actors.Actor(ctx, "code-reviewer"); a.State.Paused {
		t.Errorf("the dismissed cause's agent was paused")
	}
	if paused, already, _ := e.svc.PauseCauses(ctx, inc.Number, "bob"); len(paused) != 0 || !slices.Equal(already, []string{"deployer"}) {
		t.Errorf("again: %v %v", paused, already)
	}
	if _, _, err := e.svc.Assign(ctx, inc.Number, "frank", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Assign(ctx, inc.Number, "nobody", "alice"); mandate.ErrorCode(err) != mandate.EINVALID {
		t.Errorf("assign an unknown person: %v", err)
	}
	ch, _ := e.fake.Channel(inc.Channel)
	if !slices.Contains(ch.Members, "U0FRANK") {
		t.Errorf("the commander was not invited: %v", ch.Members)
	}
	if _, _, err := e.svc.Transition(ctx, inc.Number, mandate.IncidentMitigated, "frank"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.WaitUpdate(waitCtx(t), inc.Channel, inc.HeaderTS, func(m slackfake.Message) bool {
		text := strings.Join(slackfake.RenderText(m.Blocks), "\n")
		return strings.Contains(text, "*State:* mitigated") && strings.Contains(text, "<@U0FRANK>") && !strings.Contains(text, "[🩹 Mitigated]")
	}); err != nil {
		t.Errorf("header not updated: %v", err)
	}
	e.mu.Lock()
	e.now = e.now.Add(45 * time.Minute)
	e.mu.Unlock()
	if _, _, err := e.svc.Transition(ctx, inc.Number, mandate.IncidentResolved, "frank"); err != nil {
		t.Fatal(err)
	}
	if ev := e.page(t); ev.Action != "resolve" || ev.DedupKey != "mandate-incident-1" {
		t.Errorf("resolve page %+v", ev)
	}
	e.wait(t, postgres.JobIncidentResolved, inc.Number)
	select {
	case got := <-resolved:
		if got.Number != inc.Number || got.State != mandate.IncidentResolved {
			t.Errorf("OnResolved got %+v", got)
		}
	default:
		t.Fatal("OnResolved was not called")
	}
	if _, err := e.fake.WaitMessage(waitCtx(t), func(m slackfake.Message) bool {
		return m.Channel == inc.Channel && strings.Contains(m.Text, "INC-1 is resolved, 45m0s after")
	}); err != nil {
		t.Error(err)
	}
	// A second resolution changes nothing and hands nothing on again.
	if _, changed, err := e.svc.Transition(ctx, inc.Number, mandate.IncidentResolved, "frank"); err != nil || changed {
		t.Errorf("resolve again: %v %v", changed, err)
	}
	if err := e.svc.Resolved(ctx, inc.Number, 2); err != nil || len(resolved) != 0 {
		t.Errorf("a rerun resolution job called OnResolved again (%v)", err)
	}

	_, entries, err := e.svc.Timeline(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, en := range entries {
		if en.Kind == mandate.TimelineIncident {
			events = append(events, en.Event)
		}
	}
	want := []string{"opened", "channel", "paged", "cause_confirmed", "cause_dismissed", "paused", "assigned", "mitigated", "resolved"}
	if !sameSet(events, want) {
		t.Errorf("incident events %v, want %v", events, want)
	}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestAutoOpenRule: a failed action with failure mode data_loss on a critical resource
// opens one incident, however often its result is reported; other results do not.
func TestAutoOpenRule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	report := func(a *mandate.Action, status mandate.ActionStatus, mode string) *mandate.Action {
		t.Helper()
		got, err := e.actions.ReportResult(ctx, a.ActorID, a.ID, mandate.ActionResult{Status: status, FailureMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	cases := []struct {
		name   string
		res    mandate.Resource
		status mandate.ActionStatus
		mode   string
	}{
		{"Succeeded", paymentsAPI, mandate.StatusSucceeded, ""},
		{"OtherFailureMode", paymentsAPI, mandate.StatusFailed, "timeout"},
		{"NotCritical", warehouse, mandate.StatusFailed, "data_loss"},
	}
	for _, c := range cases {
		a := report(e.record(t, "deployer", "db_write", 20, c.res), c.status, c.mode)
		if err := e.svc.ActionResult(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if list, _ := e.store.List(ctx, mandate.IncidentFilter{}); len(list) != 0 {
		t.Fatalf("%d incidents from results no rule matches", len(list))
	}
	a := report(e.record(t, "deployer", "db_write", 20, paymentsAPI, terraform), mandate.StatusFailed, "data_loss")
	for range 3 {
		if err := e.svc.ActionResult(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := e.store.List(ctx, mandate.IncidentFilter{})
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1", len(list))
	}
	inc, _ := e.store.Get(ctx, list[0].Number)
	if inc.Via != "rule" || inc.OpenedBy != "rule:data-loss-on-critical" || inc.Trigger != a.ID || inc.Severity != mandate.SeverityHigh ||
		len(inc.Causes) == 0 || inc.Causes[0].ActionID != a.ID ||
		inc.Title != "data-loss-on-critical: deployer db_write failed (data_loss) on service:payments-api and 1 more" {
		t.Errorf("incident %+v", inc)
	}
	e.wait(t, postgres.JobIncidentChannel, inc.Number)
}

// TestOpenRejectsBadInput: every bad field is named and nothing is stored.
func TestOpenRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		req    mandate.IncidentRequest
		fields []string
	}{
		{"Empty", mandate.IncidentRequest{}, []string{"title", "severity", "via", "opened_by"}},
		{"Resource", mandate.IncidentRequest{Title: "x", Severity: "high", Via: "api", OpenedBy: "a",
			Resources: []mandate.Resource{{Kind: "service"}, {Kind: "service", Name: "has space"}, paymentsAPI}}, []string{"resources[0]", "resources[1]"}},
		{"UnknownCause", mandate.IncidentRequest{Title: "x", Severity: "low", Via: "api", OpenedBy: "a",
			Causes: []string{"0190a0a0-0000-7000-8000-000000000000", "nope"}}, []string{"cause_action_ids[0]", "cause_action_ids[1]"}},
		{"LongTitle", mandate.IncidentRequest{Title: strings.Repeat("x", 201), Severity: "low", Via: "api", OpenedBy: "a"}, []string{"title"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.Open(ctx, c.req)
			merr, ok := err.(*mandate.Error)
			if !ok || merr.Code != mandate.EINVALID {
				t.Fatalf("err %v, want invalid", err)
			}
			var got []string
			for _, f := range merr.Fields {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, c.fields) {
				t.Errorf("fields %v, want %v", got, c.fields)
			}
		})
	}
	if list, _ := e.store.List(ctx, mandate.IncidentFilter{}); len(list) != 0 {
		t.Errorf("%d incidents stored from bad requests", len(list))
	}
}

// TestNamedCausesRankFirst: causes the reporter names rank above attribution's own, and
// their resources count when the request names none.
func TestNamedCausesRankFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	recent := e.record(t, "deployer", "deploy", 29, paymentsAPI)
	named := e.record(t, "data-pipeline", "s3_delete", 10, paymentsAPI, warehouse)
	inc, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "Exports gone", Severity: mandate.SeverityMedium,
		Causes: []string{named.ID}, OpenedBy: "carol", Via: mandate.ViaAPI})
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Causes) != 2 || inc.Causes[0].ActionID != named.ID || inc.Causes[1].ActionID != recent.ID ||
		!strings.HasPrefix(inc.Causes[0].Reason, "named when the incident was opened") {
		t.Errorf("causes %+v", inc.Causes)
	}
	if len(inc.Resources) != 2 || !slices.Equal(inc.Teams, []string{"payments", "data"}) {
		t.Errorf("resources %v teams %v", inc.Resources, inc.Teams)
	}
	raw, _ := json.Marshal(inc)
	if !strings.Contains(string(raw), `"number":1`) || strings.Contains(string(raw), "page_resolved") {
		t.Errorf("incident JSON %s", raw)
	}
}

func TestIndexLoad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.record(t, "deployer", "deploy", 20, paymentsAPI, terraform)
	if _, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "One", Severity: mandate.SeverityLow, Resources: []mandate.Resource{paymentsAPI},
		OpenedBy: "bob", Via: mandate.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Open(ctx, mandate.IncidentRequest{Title: "Two", Severity: mandate.SeverityLow, Resources: []mandate.Resource{paymentsAPI},
		Causes: []string{a.ID}, OpenedBy: "bob", Via: mandate.ViaAPI, At: e.t0.Add(40 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	x := incidents.NewIndex()
	if err := x.Load(ctx, e.store, e.t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got, want int
		what      string
	}{
		{x.Len(), 2, "incidents"},
		{x.OnResource(paymentsAPI.Key(), e.t0), 2, "on payments-api"},
		{x.OnResource(paymentsAPI.Key(), e.t0.Add(35*time.Minute)), 1, "on payments-api since the second"},
		{x.OnResource(terraform.Key(), e.t0), 0, "on terraform (blast radius only)"},
		{x.CausedBy("deployer", terraform.Key(), e.t0), 2, "by deployer on terraform"},
		{x.CausedBy("code-reviewer", paymentsAPI.Key(), e.t0), 0, "by code-reviewer"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if err := x.Load(ctx, e.store, e.t0.Add(35*time.Minute)); err != nil || x.Len() != 1 {
		t.Errorf("reload since later: %d (%v)", x.Len(), err)
	}
	if err := x.Refresh(ctx, e.store, 1); err != nil || x.Len() != 2 {
		t.Errorf("refresh: %d (%v)", x.Len(), err)
	}
}
