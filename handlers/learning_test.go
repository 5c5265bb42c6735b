package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
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
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

var _ handlers.Learning = (*incidents.Learner)(nil)

// learnBot is the bot with postmortems on slackfake and a fresh database: one resolved
// incident (INC-1, commander bob, channel C0INC1) whose draft card is posted.
type learnBot struct {
	fake    *slackfake.Server
	learner *incidents.Learner
	store   *postgres.LearningStore
	routing *postgres.RoutingStore
	card    slackfake.Message
}

func startLearnBot(t *testing.T) *learnBot {
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
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ERIN", "U0ZED"} {
		fake.AddUser(u, strings.ToLower(u[2:]), strings.ToLower(u[2:])+"@acme.test", "UTC")
	}
	fake.AddChannel("C0INC1", "inc-1-payments-down", "U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ZED")

	actors := postgres.NewActorStore(db)
	if err := actors.SyncAgents(ctx, []mandate.Actor{{ID: "deployer", Type: mandate.ActorAgent, Team: "platform", Trust: mandate.TrustTrusted}}); err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(db, postgres.ActionStoreOptions{})
	t.Cleanup(actions.Close)
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42",
		Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}}, Environment: "production", Reversibility: mandate.Reversible,
		OccurredAt: time.Now().Add(-time.Hour), Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal,
			Rule: "builtin:default", Reasons: []string{"default"}}}
	sum := sha256.Sum256([]byte(a.Summary))
	raw, _, err := actions.Record(ctx, a, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var ans mandate.Answer
	json.Unmarshal(raw, &ans)
	incs := postgres.NewIncidentStore(db, nil)
	inc, _, err := incs.Open(ctx, &mandate.Incident{Title: "payments down", Severity: mandate.SeverityHigh, Resources: a.Resources,
		Teams: []string{"payments"}, OpenedBy: "alice", Via: mandate.ViaSlack, OpenedAt: time.Now().Add(-50 * time.Minute),
		Causes: []mandate.IncidentCause{{ActionID: ans.ActionID, Rank: 1, Score: 1, Reason: "deploy 10 min before"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := incs.SetChannel(ctx, inc.Number, "C0INC1", "inc-1-payments-down", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := incs.Assign(ctx, inc.Number, "bob", "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	if inc, _, err = incs.Transition(ctx, inc.Number, mandate.IncidentResolved, "bob", time.Now()); err != nil {
		t.Fatal(err)
	}

	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.URL()+"/api/"))
	b := &learnBot{fake: fake, store: postgres.NewLearningStore(db), routing: postgres.NewRoutingStore(db)}
	b.learner = &incidents.Learner{Store: b.store, Incidents: incs, Feedback: b.routing, Slack: api, Config: func() *config.Config { return cfg }, Log: log}
	h := &handlers.Handlers{API: api, Config: func() *config.Config { return cfg }, Now: time.Now, Log: log}
	h.SetLearning(b.learner)
	runner := &bot.Bot{Client: socketmode.New(api), Handler: h, Log: log}
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := fake.WaitConnected(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	b.learner.OnResolved(ctx, inc)
	if b.card, err = fake.WaitMessage(waitCtx(t), func(m slackfake.Message) bool {
		return m.Channel == "C0INC1" && m.ThreadTS == "" && strings.HasPrefix(m.Text, "Postmortem draft for INC-1")
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *learnBot) click(t *testing.T, user, actionID string) {
	t.Helper()
	msg, _ := b.fake.Message(b.card.Channel, b.card.TS)
	if _, err := b.fake.ClickButton(user, msg, actionID); err != nil {
		t.Fatal(err)
	}
}

// ephemeral waits for an ephemeral answer to user containing text.
func (b *learnBot) ephemeral(t *testing.T, user, text string) {
	t.Helper()
	if _, err := b.fake.WaitEphemeral(waitCtx(t), func(m slackfake.Message) bool {
		return m.Recipient == user && strings.Contains(m.Text, text)
	}); err != nil {
		t.Fatalf("no ephemeral to %s saying %q: %v", user, text, err)
	}
}

// cardUpdate waits for a version of the card whose text holds want.
func (b *learnBot) cardUpdate(t *testing.T, want string) slackfake.Message {
	t.Helper()
	m, err := b.fake.WaitUpdate(waitCtx(t), b.card.Channel, b.card.TS, func(m slackfake.Message) bool {
		return strings.Contains(strings.Join(slackfake.RenderText(m.Blocks), "\n"), want)
	})
	if err != nil {
		t.Fatalf("the card never showed %q: %v", want, err)
	}
	return m
}

func submitErrors(t *testing.T, ack json.RawMessage) map[string]string {
	t.Helper()
	var resp struct {
		Action string            `json:"response_action"`
		Errors map[string]string `json:"errors"`
	}
	if len(ack) > 0 && string(ack) != "null" {
		if err := json.Unmarshal(ack, &resp); err != nil {
			t.Fatalf("ack %s: %v", ack, err)
		}
	}
	return resp.Errors
}

// TestPostmortemButtons drives the card through Slack: publish refused without an action
// item; the modal refuses what is wrong, field by field, then adds the item; only the
// owner, the commander or an admin may mark it done; the card follows every change; an
// unlinked user cannot publish; close ends it.
func TestPostmortemButtons(t *testing.T) {
	b := startLearnBot(t)
	ctx := waitCtx(t)

	b.click(t, "U0BOB", blocks.ActionPublishPostmortem)
	b.ephemeral(t, "U0BOB", "Cannot publish the postmortem: the postmortem of INC-1 cannot be published yet: it needs at least one action item with an owner and a due date. Add one with")
	if pm, _ := b.store.GetPostmortem(ctx, 1); pm.State != mandate.PostmortemDraft {
		t.Fatalf("a refused publish changed the state to %q", pm.State)
	}

	b.click(t, "U0ALICE", blocks.ActionAddActionItem)
	if _, err := b.fake.WaitView(ctx, func(v slackfake.View) bool { return v.CallbackID == blocks.ItemCallbackID && v.User == "U0ALICE" }); err != nil {
		t.Fatal(err)
	}
	submit := func(values map[string]map[string]string) map[string]string {
		t.Helper()
		ack, err := b.fake.SubmitView("U0ALICE", blocks.ItemCallbackID, "", values)
		if err != nil {
			t.Fatal(err)
		}
		return submitErrors(t, ack)
	}
	errs := submit(map[string]map[string]string{blocks.ItemTitleBlock: {blocks.ItemTitleInput: " "}})
	for _, block := range []string{blocks.ItemTitleBlock, blocks.ItemOwnerBlock, blocks.ItemDueBlock} {
		if errs[block] == "" {
			t.Errorf("an empty form: no error on %s (%v)", block, errs)
		}
	}
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	errs = submit(map[string]map[string]string{
		blocks.ItemTitleBlock:  {blocks.ItemTitleInput: "Canary deploys"},
		blocks.ItemPersonBlock: {blocks.ItemPersonInput: "ghost"},
		blocks.ItemDueBlock:    {blocks.ItemDueInput: yesterday},
	})
	if !strings.Contains(errs[blocks.ItemPersonBlock], `There is no person "ghost"`) || !strings.Contains(errs[blocks.ItemDueBlock], "has passed") {
		t.Errorf("an unknown person and a past date: %v", errs)
	}
	errs = submit(map[string]map[string]string{
		blocks.ItemTitleBlock: {blocks.ItemTitleInput: "Canary deploys"},
		blocks.ItemOwnerBlock: {blocks.ItemOwnerInput: "U0ZED"},
		blocks.ItemDueBlock:   {blocks.ItemDueInput: time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)},
	})
	if !strings.Contains(errs[blocks.ItemOwnerBlock], "not linked to a person") {
		t.Errorf("an unlinked owner: %v", errs)
	}
	if items, _ := b.store.Items(ctx, 1); len(items) != 0 {
		t.Fatalf("refused forms stored items: %+v", items)
	}
	if errs := submit(map[string]map[string]string{
		blocks.ItemTitleBlock: {blocks.ItemTitleInput: "Canary deploys"},
		blocks.ItemOwnerBlock: {blocks.ItemOwnerInput: "U0DAN"},
		blocks.ItemDueBlock:   {blocks.ItemDueInput: time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)},
	}); len(errs) != 0 {
		t.Fatalf("a good form was refused: %v", errs)
	}
	b.cardUpdate(t, "Canary deploys")
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0INC1" && strings.HasPrefix(m.Text, "📌 <@U0ALICE> added an action item to INC-1: *Canary deploys* — owner <@U0DAN>")
	}); err != nil {
		t.Error(err)
	}

	// Done: carol is neither owner, commander nor admin.
	b.click(t, "U0CAROL", blocks.ActionItemDone)
	b.ephemeral(t, "U0CAROL", `Cannot mark it done: only its owner (dan), the incident commander (bob) or an org admin may mark "Canary deploys" done.`)
	b.click(t, "U0DAN", blocks.ActionItemDone)
	b.cardUpdate(t, "done by <@U0DAN>")

	b.click(t, "U0ZED", blocks.ActionClosePostmortem)
	b.ephemeral(t, "U0ZED", "not linked to a person in mandate.yaml")

	b.click(t, "U0BOB", blocks.ActionPublishPostmortem)
	published := b.cardUpdate(t, "*Published* by <@U0BOB>")
	if strings.Contains(string(published.Blocks), blocks.ActionPublishPostmortem) {
		t.Error("a published card still offers to publish")
	}
	b.click(t, "U0BOB", blocks.ActionClosePostmortem)
	closed := b.cardUpdate(t, "*Closed.*")
	if strings.Contains(string(closed.Blocks), `"actions"`) {
		t.Error("a closed card still has buttons")
	}
	if pm, _ := b.store.GetPostmortem(ctx, 1); pm.State != mandate.PostmortemClosed || pm.PublishedBy != "bob" {
		t.Errorf("after close: %+v", pm)
	}
}

// TestReminderDoneButton: the Done button on an overdue reminder marks the item done and
// turns the reminder into the record of it.
func TestReminderDoneButton(t *testing.T) {
	b := startLearnBot(t)
	ctx := waitCtx(t)
	if _, err := b.store.AddItem(ctx, mandate.ActionItem{Incident: 1, Title: "Alerts", Owner: "alice", Due: time.Now().UTC().AddDate(0, 0, -3)}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.learner.Nag(ctx, time.Now()); n != 1 || err != nil {
		t.Fatalf("nag: %d, %v", n, err)
	}
	dm, err := b.fake.WaitDM(ctx, "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	reminder, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool { return m.Channel == dm })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.ClickButton("U0ALICE", reminder, blocks.ActionItemDone); err != nil {
		t.Fatal(err)
	}
	if _, err := b.fake.WaitUpdate(ctx, dm, reminder.TS, func(m slackfake.Message) bool {
		return strings.Contains(strings.Join(slackfake.RenderText(m.Blocks), "\n"), "✅ Done: *Alerts* (INC-1) — marked by <@U0ALICE>") &&
			!strings.Contains(string(m.Blocks), blocks.ActionItemDone)
	}); err != nil {
		t.Fatal(err)
	}
	items, _ := b.store.Items(ctx, 1)
	if len(items) != 1 || items[0].State != mandate.ItemDone || items[0].DoneBy != "alice" {
		t.Errorf("items %+v", items)
	}
}

// TestMissedNotificationButton: during review, "Should have been notified" is refused to
// whoever may not review the incident; the modal refuses what is wrong, field by field,
// recording nothing; a good mark is a routing miss (in the rule's stats), a line in the
// channel, a count on the card and a suggestion in the postmortem; the same mark twice is
// refused; a person may be marked too.
func TestMissedNotificationButton(t *testing.T) {
	b := startLearnBot(t)
	ctx := waitCtx(t)
	inc, err := b.learner.Incidents.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cause := inc.Causes[0].ActionID

	b.click(t, "U0CAROL", blocks.ActionMissedNotification)
	b.ephemeral(t, "U0CAROL", "Cannot mark who should have been notified: only members of INC-1's teams (payments), its commander (bob) or an org admin may say who should have been notified.")
	b.click(t, "U0ZED", blocks.ActionMissedNotification)
	b.ephemeral(t, "U0ZED", "not linked to a person in mandate.yaml")

	b.click(t, "U0ALICE", blocks.ActionMissedNotification)
	view, err := b.fake.WaitView(ctx, func(v slackfake.View) bool { return v.CallbackID == blocks.MissedCallbackID && v.User == "U0ALICE" })
	if err != nil {
		t.Fatal(err)
	}
	if rendered := string(view.Blocks); !strings.Contains(rendered, cause) || !strings.Contains(rendered, "deployer deploy: Deploy payments-api v1.42") ||
		!strings.Contains(rendered, `"value":"platform"`) {
		t.Errorf("the modal lacks the cause or the teams: %s", rendered)
	}
	submit := func(user string, values map[string]map[string]string) map[string]string {
		t.Helper()
		ack, err := b.fake.SubmitView(user, blocks.MissedCallbackID, "", values)
		if err != nil {
			t.Fatal(err)
		}
		return submitErrors(t, ack)
	}
	for _, c := range []struct {
		name   string
		values map[string]map[string]string
		block  string // where the mistake is shown
		want   string
	}{
		{"Nothing", map[string]map[string]string{}, blocks.MissedPersonBlock, "Choose who should have been told"},
		{"NoCause", map[string]map[string]string{blocks.MissedTeamBlock: {blocks.MissedTeamInput: "platform"}}, blocks.MissedCauseBlock, "Choose the causing action."},
		{"Both", map[string]map[string]string{
			blocks.MissedCauseBlock:  {blocks.MissedCauseInput: cause},
			blocks.MissedPersonBlock: {blocks.MissedPersonInput: "U0DAN"},
			blocks.MissedTeamBlock:   {blocks.MissedTeamInput: "platform"},
		}, blocks.MissedTeamBlock, "Choose a person or a team, not both."},
		{"UnlinkedUser", map[string]map[string]string{
			blocks.MissedCauseBlock:  {blocks.MissedCauseInput: cause},
			blocks.MissedPersonBlock: {blocks.MissedPersonInput: "U0ZED"},
		}, blocks.MissedPersonBlock, "not linked to a person in mandate.yaml"},
		{"LongNote", map[string]map[string]string{
			blocks.MissedCauseBlock: {blocks.MissedCauseInput: cause},
			blocks.MissedTeamBlock:  {blocks.MissedTeamInput: "platform"},
			blocks.MissedNoteBlock:  {blocks.MissedNoteInput: strings.Repeat("x", blocks.MissedNoteMax+1)},
		}, blocks.MissedNoteBlock, "Is 2001 characters long; at most 2000."},
		{"UnknownTeam", map[string]map[string]string{
			blocks.MissedCauseBlock: {blocks.MissedCauseInput: cause},
			blocks.MissedTeamBlock:  {blocks.MissedTeamInput: "ghosts"},
		}, blocks.MissedTeamBlock, `There is no team "ghosts" in mandate.yaml.`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if errs := submit("U0ALICE", c.values); !strings.Contains(errs[c.block], c.want) {
				t.Errorf("errors %v; want %q on %s", errs, c.want, c.block)
			}
		})
	}
	if misses, err := b.routing.IncidentMisses(ctx, 1); err != nil || len(misses) != 0 {
		t.Fatalf("refused forms recorded misses: %+v, %v", misses, err)
	}

	if errs := submit("U0ALICE", map[string]map[string]string{
		blocks.MissedCauseBlock: {blocks.MissedCauseInput: cause},
		blocks.MissedTeamBlock:  {blocks.MissedTeamInput: "platform"},
		blocks.MissedNoteBlock:  {blocks.MissedNoteInput: "they run the ledger <!channel>"},
	}); len(errs) != 0 {
		t.Fatalf("a good form was refused: %v", errs)
	}
	if _, err := b.fake.WaitMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == "C0INC1" && m.Text == "🔕 <@U0ALICE> marked that team *Platform* should have been told about deployer's deploy (Deploy payments-api v1.42): “they run the ledger &lt;!channel&gt;”. The postmortem suggests the change."
	}); err != nil {
		t.Errorf("no line in the channel: %v", err)
	}
	b.cardUpdate(t, "Should have been notified: 1 mark")
	md, err := b.learner.Markdown(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "- [ ] Marked during review: team platform should have been told about deployer's deploy on `service:payments-api` and was not:"; !strings.Contains(md, want) {
		t.Errorf("the postmortem lacks %q:\n%s", want, md)
	}
	stats, err := b.routing.Stats(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	missed := map[string]int{}
	for _, st := range stats {
		missed[st.Rule] = st.Missed
	}
	if missed["builtin:default"] != 1 {
		t.Errorf("routing stats: %v misses per rule, want 1 on builtin:default", missed)
	}

	// The commander says the same again; then names a person.
	b.click(t, "U0BOB", blocks.ActionMissedNotification)
	if _, err := b.fake.WaitView(ctx, func(v slackfake.View) bool { return v.CallbackID == blocks.MissedCallbackID && v.User == "U0BOB" }); err != nil {
		t.Fatal(err)
	}
	if errs := submit("U0BOB", map[string]map[string]string{
		blocks.MissedCauseBlock: {blocks.MissedCauseInput: cause},
		blocks.MissedTeamBlock:  {blocks.MissedTeamInput: "platform"},
	}); !strings.Contains(errs[blocks.MissedTeamBlock], "Team platform is marked already") {
		t.Errorf("the same mark twice: %v", errs)
	}
	if errs := submit("U0BOB", map[string]map[string]string{
		blocks.MissedCauseBlock:  {blocks.MissedCauseInput: cause},
		blocks.MissedPersonBlock: {blocks.MissedPersonInput: "U0DAN"},
	}); len(errs) != 0 {
		t.Fatalf("marking dan was refused: %v", errs)
	}
	b.cardUpdate(t, "Should have been notified: 2 marks")
	misses, err := b.routing.IncidentMisses(ctx, 1)
	if err != nil || len(misses) != 2 || misses[0].Who != "team:platform" || misses[1].Who != "dan" || misses[1].ActionID != cause {
		t.Errorf("misses %+v, %v", misses, err)
	}
}
