package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/bot"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/handlers"
	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

var _ handlers.Incidents = (*incidents.Service)(nil)

// incidentBot is the bot with incidents, on slackfake and a fresh database, the
// quickstart organisation, and a running job queue.
type incidentBot struct {
	fake       *slackfake.Server
	actions    *postgres.ActionStore
	actors     *postgres.ActorStore
	deliveries *postgres.DeliveryStore
	routing    *postgres.RoutingStore
	notifier   *notify.Slack
	svc        *incidents.Service
	pd         chan pdEvent
	done       chan incidentJob // incident jobs that finished without error
	finished   map[incidentJob]int
}

// pdEvent is what the PagerDuty stand-in received.
type pdEvent struct {
	Action   string `json:"event_action"`
	DedupKey string `json:"dedup_key"`
	Payload  struct {
		Severity string `json:"severity"`
	} `json:"payload"`
}

type incidentJob struct {
	kind   postgres.JobKind
	number int64
}

func startIncidentBot(t *testing.T) *incidentBot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := config.Load("../examples/quickstart/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := pgtest.DB(t)
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	t.Cleanup(fake.Close)
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ERIN", "U0FRANK", "U0ZED"} {
		fake.AddUser(u, strings.ToLower(u[2:]), strings.ToLower(u[2:])+"@acme.test", "UTC")
	}
	fake.AddChannel("C0PAYMENTS", "payments")
	fake.AddChannel("C0PLATFORM", "platform")

	b := &incidentBot{fake: fake, actors: postgres.NewActorStore(db), deliveries: postgres.NewDeliveryStore(db), routing: postgres.NewRoutingStore(db),
		pd: make(chan pdEvent, 10), done: make(chan incidentJob, 100), finished: map[incidentJob]int{}}
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev pdEvent
		json.NewDecoder(r.Body).Decode(&ev)
		b.pd <- ev
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev.DedupKey+`"}`)
	}))
	t.Cleanup(pd.Close)
	var agents []mandate.Actor
	for _, a := range cfg.Agents {
		agents = append(agents, mandate.Actor{ID: a.ID, Type: mandate.ActorAgent, Team: a.Team, Trust: mandate.Trust(a.Trust)})
	}
	if err := b.actors.SyncAgents(ctx, agents); err != nil {
		t.Fatal(err)
	}
	b.actions = postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(b.actions.Close)
	owners := ownership.NewResolver(ownership.Options{Store: postgres.NewOwnershipStore(db), Logger: log})
	if err := owners.SetConfig(ctx, cfg, "start"); err != nil {
		t.Fatal(err)
	}
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.URL()+"/api/"))
	cfgNow := func() *config.Config { return cfg }
	b.notifier = &notify.Slack{API: api, Store: b.deliveries, Actors: b.actors, Config: cfgNow, Log: log}
	b.svc = &incidents.Service{Actors: b.actors, Owners: owners, Config: cfgNow, Slack: api, Index: incidents.NewIndex(), Log: log,
		PagerDuty: &notify.PagerDuty{RoutingKey: "R0UTINGKEY0000", Endpoint: pd.URL}}
	report := func(kind postgres.JobKind, h postgres.Handler) postgres.Handler {
		return func(ctx context.Context, id int64, attempt int) error {
			err := h(ctx, id, attempt)
			if err == nil {
				select {
				case b.done <- incidentJob{kind, id}:
				default: // a test that does not wait for jobs lets them pass
				}
			}
			return err
		}
	}
	queue, err := postgres.NewQueue(db, postgres.QueueOptions{Logger: log, Handlers: map[postgres.JobKind]postgres.Handler{
		postgres.JobIncidentChannel:  report(postgres.JobIncidentChannel, b.svc.OpenChannel),
		postgres.JobIncidentPage:     report(postgres.JobIncidentPage, b.svc.Page),
		postgres.JobIncidentResolved: report(postgres.JobIncidentResolved, b.svc.Resolved),
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.svc.Store = postgres.NewIncidentStore(db, queue)
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := &handlers.Handlers{API: api, Deliveries: b.deliveries, Actors: b.actors, Actions: b.actions, Feedback: b.routing,
		Live: postgres.NewLiveStore(db), Gates: postgres.NewGateStore(db), Owners: owners, Notifier: b.notifier, Config: cfgNow,
		Now: time.Now, Log: log}
	h.SetIncidents(b.svc)
	runner := &bot.Bot{Client: socketmode.New(api), Handler: h, Log: log}
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; queue.Stop(context.Background()) })
	if err := fake.WaitConnected(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	return b
}

// wait waits for an incident job to finish (or finds it finished already).
func (b *incidentBot) wait(t *testing.T, kind postgres.JobKind, number int64) {
	t.Helper()
	ctx := waitCtx(t)
	want := incidentJob{kind, number}
	for b.finished[want] == 0 {
		select {
		case j := <-b.done:
			b.finished[j]++
		case <-ctx.Done():
			t.Fatalf("job %s for INC-%d did not finish", kind, number)
		}
	}
	b.finished[want]--
}

// page waits for the next PagerDuty event.
func (b *incidentBot) page(t *testing.T) pdEvent {
	t.Helper()
	select {
	case ev := <-b.pd:
		return ev
	case <-waitCtx(t).Done():
		t.Fatal("PagerDuty was not called")
	}
	return pdEvent{}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func render(m slackfake.Message) string {
	return m.Text + "\n" + strings.Join(slackfake.RenderText(m.Blocks), "\n")
}

// notify records a deploy on payments-api by deployer and posts its notification to
// the payments channel.
func (b *incidentBot) notifyDeploy(t *testing.T) (*mandate.Action, slackfake.Message) {
	t.Helper()
	ctx := context.Background()
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42",
		Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}, Environment: "production", Reversibility: mandate.Reversible,
		OccurredAt: time.Now().Add(-5 * time.Minute),
		Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "builtin:default", Reasons: []string{"default"},
			Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"}}}}
	sum := sha256.Sum256([]byte(a.Summary))
	raw, _, err := b.actions.Record(ctx, a, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var ans mandate.Answer
	json.Unmarshal(raw, &ans)
	notes, err := b.routing.Notifications(ctx, ans.ActionID)
	if err != nil || len(notes) != 1 {
		t.Fatalf("notifications %v %v", notes, err)
	}
	if err := b.notifier.Deliver(ctx, notes[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	msg, err := b.fake.WaitMessage(waitCtx(t), func(m slackfake.Message) bool { return m.Channel == "C0PAYMENTS" && m.ThreadTS == "" })
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := b.actions.Get(ctx, ans.ActionID)
	return stored, msg
}

// header waits for the header of INC-number in its channel and returns it as it is now.
func (b *incidentBot) header(t *testing.T, number int64) slackfake.Message {
	t.Helper()
	ref := "INC-" + string(rune('0'+number))
	m, err := b.fake.WaitMessage(waitCtx(t), func(m slackfake.Message) bool {
		return m.Channel != "C0PAYMENTS" && m.Channel != "C0PLATFORM" && m.ThreadTS == "" && strings.Contains(m.Text, ref)
	})
	if err != nil {
		t.Fatal(err)
	}
	now, _ := b.fake.Message(m.Channel, m.TS)
	return now
}

// TestIncidentFromNotificationAndHeaderButtons: "Open incident" on a notification opens
// an incident with the action as its first cause; in its channel, a non-owner may not
// pause the causing agents but an owner may; anyone linked confirms a cause; an owner
// assigns a commander through the modal and resolves it.
func TestIncidentFromNotificationAndHeaderButtons(t *testing.T) {
	b := startIncidentBot(t)
	ctx := waitCtx(t)
	deploy, msg := b.notifyDeploy(t)
	if !strings.Contains(render(msg), "[🚨 Open incident]") {
		t.Fatalf("no Open incident button:\n%s", render(msg))
	}
	if _, err := b.fake.ClickButton("U0ZED", msg, blocks.ActionOpenIncident); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitEphemeral(ctx, func(m slackfake.Message) bool {
		return m.Recipient == "U0ZED" && strings.Contains(m.Text, "not linked")
	}); err != nil {
		t.Errorf("an unlinked user opened an incident: %v", err)
	}
	if _, err := b.fake.ClickButton("U0BOB", msg, blocks.ActionOpenIncident); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.ThreadTS == msg.TS && strings.Contains(m.Text, "<@U0BOB> opened *INC-1*")
	}); err != nil {
		t.Fatalf("no thread note: %v", err)
	}
	if _, err := b.fake.ClickButton("U0ALICE", msg, blocks.ActionOpenIncident); err != nil { // a second press
		t.Fatal(err)
	}
	if _, err := b.fake.WaitEphemeral(ctx, func(m slackfake.Message) bool {
		return m.Recipient == "U0ALICE" && strings.Contains(m.Text, "INC-1 was opened from this action already (open)")
	}); err != nil {
		t.Errorf("a second press: %v", err)
	}
	header := b.header(t, 1)
	inc, err := b.svc.Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := b.svc.List(context.Background(), mandate.IncidentFilter{}); len(list) != 1 {
		t.Errorf("%d incidents from two presses, want 1", len(list))
	}
	if len(inc.Causes) == 0 || inc.Causes[0].ActionID != deploy.ID || inc.OpenedBy != "bob" || inc.Resources[0] != deploy.Resources[0] {
		t.Fatalf("incident %+v", inc)
	}

	if _, err := b.fake.ClickButton("U0FRANK", header, blocks.ActionPauseCauses); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitEphemeral(ctx, func(m slackfake.Message) bool {
		return m.Recipient == "U0FRANK" && strings.Contains(m.Text, "Only the owners of INC-1's resources")
	}); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.actors.Actor(context.Background(), "deployer"); a.State.Paused {
		t.Fatal("a non-owner paused the agent")
	}
	if _, err := b.fake.ClickButton("U0ALICE", header, blocks.ActionPauseCauses); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(m.Text, "<@U0ALICE> paused deployer")
	}); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.actors.Actor(context.Background(), "deployer"); !a.State.Paused || a.State.PausedBy != "alice" {
		t.Errorf("deployer %+v", a.State)
	}

	if _, err := b.fake.ClickButton("U0FRANK", header, blocks.ActionConfirmCause); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitUpdate(ctx, header.Channel, header.TS, func(m slackfake.Message) bool {
		return strings.Contains(render(m), "✅ confirmed")
	}); err != nil {
		t.Errorf("header not updated after the confirmation: %v", err)
	}

	if _, err := b.fake.ClickButton("U0BOB", header, blocks.ActionAssignOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitView(ctx, func(v slackfake.View) bool { return v.CallbackID == blocks.IncidentAssignCallback && v.User == "U0BOB" }); err != nil {
		t.Fatal(err)
	}
	ack, err := b.fake.SubmitView("U0BOB", blocks.IncidentAssignCallback, "", map[string]map[string]string{
		blocks.IncidentAssignBlock: {blocks.IncidentAssignInput: "U0ZED"}})
	if err != nil || !strings.Contains(string(ack), "people[].slack") {
		t.Errorf("assigning an unlinked user: %s %v", ack, err)
	}
	if _, err := b.fake.SubmitView("U0BOB", blocks.IncidentAssignCallback, "", map[string]map[string]string{
		blocks.IncidentAssignBlock: {blocks.IncidentAssignInput: "U0CAROL"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(m.Text, "<@U0CAROL> is now the incident commander")
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := b.fake.ClickButton("U0CAROL", header, blocks.ActionResolved); err != nil { // the commander
		t.Fatal(err)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(m.Text, "INC-1 is resolved")
	}); err != nil {
		t.Fatal(err)
	}
	inc, _ = b.svc.Get(context.Background(), 1)
	if inc.State != mandate.IncidentResolved || inc.Commander != "carol" || inc.Causes[0].State != mandate.CauseConfirmed || inc.Causes[0].DecidedBy != "frank" {
		t.Errorf("incident after the buttons: %s commander %q cause %+v", inc.State, inc.Commander, inc.Causes[0])
	}
}

// TestIncidentSlashCommands: opening from /mandate incident, its mistakes, and the
// timeline in the incident's channel.
func TestIncidentSlashCommands(t *testing.T) {
	b := startIncidentBot(t)
	b.notifyDeploy(t)
	for text, want := range map[string]string{
		"incident":                       "Say what is wrong.",
		"incident --sev urgent x":        `"urgent" is not a severity`,
		"incident x --resource payments": `"payments" is not a resource`,
		"incident --sev high":            "Give the incident a title",
		"incident x --colour red":        "Unknown option `--colour`",
		"incident timeline":              "This is not an incident channel",
		"incident timeline 99":           "No timeline: no incident INC-99",
		"incident timeline nine":         `"nine" is not an incident number`,
		"incident list":                  "No open incidents.",
	} {
		if got := b.command(t, "U0ERIN", "C0PLATFORM", text); !strings.Contains(got, want) {
			t.Errorf("%q: %s; want %q", text, got, want)
		}
	}
	if got := b.command(t, "U0ZED", "C0PLATFORM", "incident Broken"); !strings.Contains(got, "not linked") {
		t.Errorf("unlinked user: %s", got)
	}
	got := b.command(t, "U0ERIN", "C0PLATFORM", `incident "Payments 5xx" --sev=critical --resource service:payments-api`)
	if !strings.Contains(got, "in_channel: 🚨 <@U0ERIN> opened *INC-1* (critical): Payments 5xx") || !strings.Contains(got, "Likely cause: deployer deploy") {
		t.Fatalf("open: %s", got)
	}
	header := b.header(t, 1)
	ch, _ := b.fake.Channel(header.Channel)
	if ch.Name != "inc-1-payments-5xx" {
		t.Errorf("channel %q", ch.Name)
	}
	got = b.command(t, "U0ALICE", header.Channel, "incident timeline")
	if !strings.Contains(got, "INC-1 · Payments 5xx") || !strings.Contains(got, "deployer deploy: Deploy payments-api v1.42") ||
		!strings.Contains(got, "notified team:payments") || !strings.Contains(got, "INC-1 opened (critical)") {
		t.Errorf("timeline: %s", got)
	}
	if got := b.command(t, "U0ALICE", "C0PLATFORM", "incident timeline INC-1"); !strings.Contains(got, "INC-1 · Payments 5xx") {
		t.Errorf("timeline INC-1: %s", got)
	}
	if got := b.command(t, "U0ALICE", "C0PLATFORM", "incident list"); !strings.Contains(got, "*INC-1* (critical, open) Payments 5xx") {
		t.Errorf("list: %s", got)
	}
}

// command types /mandate text as user in channel and returns the ack as
// "response_type: text".
func (b *incidentBot) command(t *testing.T, user, channel, text string) string {
	t.Helper()
	raw, err := b.fake.SlashCommand(user, channel, "/mandate", text)
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(raw, &ack); err != nil {
		t.Fatalf("ack %s: %v", raw, err)
	}
	return ack.ResponseType + ": " + ack.Text
}

// TestIncidentSeverityCommand: `/mandate incident sev` refuses what is wrong, and those
// who may not respond, without changing anything; a responder raises the severity in the
// incident's channel (the number left out), which pages PagerDuty once and shows in the
// header; raising it further from elsewhere does not page again; resolving resolves the
// page.
func TestIncidentSeverityCommand(t *testing.T) {
	b := startIncidentBot(t)
	ctx := waitCtx(t)
	b.notifyDeploy(t)
	if got := b.command(t, "U0ERIN", "C0PLATFORM", "incident Payments slow --resource service:payments-api"); !strings.Contains(got, "opened *INC-1* (medium)") {
		t.Fatalf("open: %s", got)
	}
	b.wait(t, postgres.JobIncidentChannel, 1)
	header := b.header(t, 1)

	for _, c := range []struct{ user, channel, text, want string }{
		{"U0ALICE", "C0PLATFORM", "incident sev", "Give the new severity, and the incident unless you are in its channel."},
		{"U0ALICE", "C0PLATFORM", "incident sev 1 2 high", "Give the new severity, and the incident unless you are in its channel."},
		{"U0ALICE", "C0PLATFORM", "incident sev 1 urgent", `"urgent" is not a severity: use low, medium, high or critical.`},
		{"U0ALICE", "C0PLATFORM", "incident sev one high", `"one" is not an incident number.`},
		{"U0ALICE", "C0PLATFORM", "incident sev high", "This is not an incident channel: name the incident, e.g. `/mandate incident sev 42`."},
		{"U0ALICE", "C0PLATFORM", "incident sev 9 high", "Cannot change the severity: no incident INC-9"},
		{"U0ZED", header.Channel, "incident sev high", "not linked"},
		{"U0FRANK", header.Channel, "incident sev critical", "Only the owners of INC-1's resources, their team leads, whoever is on call, its commander or an org admin may change its severity."},
		{"U0ALICE", header.Channel, "incident sev medium", "ephemeral: INC-1 is medium already."},
	} {
		if got := b.command(t, c.user, c.channel, c.text); !strings.Contains(got, c.want) {
			t.Errorf("%s in %s: %q: %s; want %q", c.user, c.channel, c.text, got, c.want)
		}
	}
	if inc, _ := b.svc.Get(context.Background(), 1); inc.Severity != mandate.SeverityMedium {
		t.Fatalf("refused commands changed the severity to %s", inc.Severity)
	}

	if got := b.command(t, "U0ALICE", header.Channel, "incident SEV High"); got != "ephemeral: INC-1 is now high (was medium)." {
		t.Errorf("raise: %s", got)
	}
	if ev := b.page(t); ev.Action != "trigger" || ev.DedupKey != "mandate-incident-1" || ev.Payload.Severity != "error" {
		t.Errorf("page %+v", ev)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && m.Text == "📈 <@U0ALICE> raised the severity of INC-1 from medium to *high*. PagerDuty is paged."
	}); err != nil {
		t.Error(err)
	}
	if _, err := b.fake.WaitUpdate(ctx, header.Channel, header.TS, func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "INC-1 (high, open)") && strings.Contains(render(m), "PagerDuty paged")
	}); err != nil {
		t.Errorf("the header does not show the page: %v", err)
	}

	want := "ephemeral: INC-1 is now critical (was high). Its channel <#" + header.Channel + "> has been told."
	if got := b.command(t, "U0ALICE", "C0PLATFORM", "incident sev INC-1 critical"); got != want {
		t.Errorf("raise again: %s; want %s", got, want)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && m.Text == "📈 <@U0ALICE> raised the severity of INC-1 from high to *critical*."
	}); err != nil {
		t.Error(err)
	}
	if _, _, err := b.svc.Transition(context.Background(), 1, mandate.IncidentResolved, "alice"); err != nil {
		t.Fatal(err)
	}
	// A second trigger would have been queued before the resolution: the next event
	// PagerDuty hears is the resolution.
	if ev := b.page(t); ev.Action != "resolve" || ev.DedupKey != "mandate-incident-1" {
		t.Errorf("after resolving, PagerDuty got %+v; want the page resolved", ev)
	}
	b.wait(t, postgres.JobIncidentPage, 1) // the trigger
	b.wait(t, postgres.JobIncidentPage, 1) // the resolution
	select {
	case ev := <-b.pd:
		t.Errorf("PagerDuty got another event: %+v", ev)
	default:
	}
}
