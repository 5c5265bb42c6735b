package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/slackfake"
)

var demoCmd = &command{
	name:    "demo",
	usage:   "mandate demo [--config FILE] [--speed F] [--database URL]",
	summary: "watch a scripted agent fleet meet Mandate and a stand-in Slack, no workspace needed",
	help: `
Runs the real Mandate server in this process, against local PostgreSQL and an in-process
stand-in for Slack (slackfake) seeded with the config's people (people[].slack) and team
channels (teams[].slack_channel), then plays a scripted fleet through the real HTTP API
(POST /v1/actions with agent tokens) and prints the Slack conversation as it happens:

  1. code-reviewer (trust new) edits auth files that CODEOWNERS gives to the security team:
     flagged for review; the security lead presses [Looks OK].
  2. deployer (trusted) ships payments-service to production: the owners are told.
  3. migration-agent writes a migration to the billing tables in production: the
     production-migrations rule flags it for the table owners and the data team.
  4. An owner of payments-service presses [Pause agent] on the deployer's message; the
     deployer's next deploy is answered "next: halt".
  5. Time to intervention per notification, mandate_tti_seconds from /metrics, and the
     /mandate status answer.
  6. The learning loop: an admin resumes the deployer; its release fails with data loss on
     the critical payments-service; the config's incidents.auto_open rule opens INC-1 with
     its channel and the owners in it; an owner presses [Pause all causing agents] there and
     the team lead [Resolved]; the postmortem draft is posted (its outline is shown); the
     deployer, resumed, sends the same release and its owners are warned "⚠ This looks
     similar to incident #1".

The script needs the agents code-reviewer, deployer and migration-agent in the config
(examples/demo/mandate.yaml has them, with CODEOWNERS and a catalog beside it), and for
scene 6 an incidents.auto_open rule for data loss on payments-service and an org admin.

By default the demo uses the database mandate_demo on the DATABASE_URL server and starts it
afresh each run (it is dropped and recreated: the demo's own, nothing else is touched).
--database (or MANDATE_DEMO_DATABASE_URL) names another database, used as it is: give it
an empty one (the demo refuses one that holds its agents' actions from an earlier run). --speed scales the pauses between steps (2 is twice as fast); waits for
Slack are never shortened. Nothing listens beyond 127.0.0.1. Exit status 1 with the reason
when anything does not happen as scripted.`,
	run: runDemo,
}

// demoAgents are the agents the script plays; the config must declare them.
var demoAgents = []string{"code-reviewer", "deployer", "migration-agent"}

// demoWait bounds each wait for an effect (a Slack post, an update, the server starting).
const demoWait = 20 * time.Second

func runDemo(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	configPath := fs.String("config", "examples/demo/mandate.yaml", "the organisation to play")
	speed := fs.Float64("speed", 1, "how fast to play: at 1 about half a second between steps, 2 twice as fast")
	database := fs.String("database", env.getenv("MANDATE_DEMO_DATABASE_URL"),
		"PostgreSQL URL of the database to use as it is (env MANDATE_DEMO_DATABASE_URL); default: mandate_demo on the DATABASE_URL server, started afresh")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if !(*speed > 0) {
		return usageError{"--speed must be greater than 0"}
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	for _, a := range demoAgents {
		if _, ok := cfg.Agent(a); !ok {
			return fmt.Errorf("%s declares no agent %q; the demo script plays %s (see examples/demo/mandate.yaml)",
				*configPath, a, strings.Join(demoAgents, ", "))
		}
	}
	dbURL := *database
	if dbURL == "" {
		dbURL = postgres.WithDatabase(env.databaseURL(), "mandate_demo")
		if err := dropDemoDatabase(ctx, dbURL); err != nil {
			return fmt.Errorf("start the demo database afresh: %w", err)
		}
	}
	d := &demo{env: env, cfg: cfg, configPath: *configPath, dbURL: dbURL, speed: *speed, tokens: map[string]string{}}
	return d.run(ctx)
}

// dropDemoDatabase drops the database mandate_demo of url's server, so the demo starts from
// nothing: no agent paused by an earlier run, no earlier message to fold into.
func dropDemoDatabase(ctx context.Context, url string) error {
	if postgres.WithDatabase(url, "mandate_demo") != url {
		return fmt.Errorf("refusing to drop the database of %q: only mandate_demo is the demo's own", url)
	}
	ctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	return postgres.DropDatabase(ctx, url)
}

// demo is one run of the script.
type demo struct {
	env        *environ
	cfg        *config.Config
	configPath string
	dbURL      string
	speed      float64

	fake    *slackfake.Server
	out     *demoPrinter
	base    string            // http://127.0.0.1:PORT
	tokens  map[string]string // agent → bearer token
	runID   string            // makes idempotency keys unique per run
	slackOf map[string]string // person id → Slack user id
	teamOf  map[string]string // channel id → team id
	posted  map[string]bool   // "channel ts" of the scripted actions' posts so far
}

func (d *demo) run(ctx context.Context) error {
	d.runID = strconv.FormatInt(time.Now().UnixNano(), 36)
	d.slackOf, d.teamOf, d.posted = map[string]string{}, map[string]string{}, map[string]bool{}
	names := map[string]string{} // Slack user id → person id, for mentions
	d.fake = slackfake.New(slackfake.Options{})
	for _, p := range d.cfg.People {
		if p.Slack == "" {
			continue
		}
		tz := "UTC"
		if p.Location != nil {
			tz = p.Location.String()
		}
		d.fake.AddUser(p.Slack, p.ID, p.Email, tz)
		d.slackOf[p.ID], names[p.Slack] = p.Slack, p.ID
	}
	for _, t := range d.cfg.Teams {
		if t.SlackChannel == "" {
			continue
		}
		var members []string
		for _, m := range t.Members {
			if id := d.slackOf[m]; id != "" {
				members = append(members, id)
			}
		}
		d.fake.AddChannel(t.SlackChannel, t.ID, members...)
		d.teamOf[t.SlackChannel] = t.ID
	}
	d.out = newDemoPrinter(d.env.stdout, names)
	d.fake.OnEvent(d.out.event)
	d.fake.Start()

	addr, err := demoFreeAddr()
	if err != nil {
		return err
	}
	d.base = "http://" + addr
	vars := map[string]string{
		"DATABASE_URL": d.dbURL, "MANDATE_LISTEN": addr, "MANDATE_CONFIG": d.configPath,
		"SLACK_BOT_TOKEN": d.fake.BotToken(), "SLACK_APP_TOKEN": d.fake.AppToken(),
		"MANDATE_SLACK_API_URL": d.fake.URL() + "/api/",
		"MANDATE_DEBUG_LISTEN":  "", "MANDATE_ADMIN_TOKEN": "",
		"PAGERDUTY_ROUTING_KEY": "", // the demo's incident pages nobody
	}
	serveEnv := &environ{getenv: func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return d.env.getenv(k)
	}}
	logs := newServeLog(servingMessage)
	serveEnv.stdout, serveEnv.stderr = logs, logs
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan int, 1)
	go func() {
		// runServe directly, not run: run's command list includes demo itself.
		err := runServe(serveCtx, serveCmd, serveEnv, []string{"--config", d.configPath, "--listen", addr})
		code := 0
		if err != nil {
			fmt.Fprintf(serveEnv.stderr, "mandate serve: %v\n", err)
			code = 1
		}
		done <- code
	}()
	defer func() {
		stopServe()
		<-done
		d.fake.Close() // delivers the last events to the printer
		d.out.close()
	}()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// Through the printer, which serialises with the Slack transcript's goroutine.
	d.out.say("Mandate demo: %s, %d agents, %d teams (%s)\nstarting mandate serve on %s with an in-process Slack stand-in…",
		d.cfg.Org.Name, len(d.cfg.Agents), len(d.cfg.Teams), d.configPath, addr)
	startCtx, startCancel := context.WithTimeout(ctx, demoWait)
	defer startCancel()
	select {
	case <-logs.found:
	case code := <-done:
		done <- code
		return fmt.Errorf("mandate serve exited (status %d) before serving%s", code, logs.tail())
	case <-startCtx.Done():
		return fmt.Errorf("mandate serve did not start within %s%s", demoWait, logs.tail())
	}
	if err := d.fake.WaitConnected(startCtx, 1); err != nil {
		return fmt.Errorf("the bot did not connect to the Slack stand-in: %w%s", err, logs.tail())
	}
	db, err := postgres.Open(ctx, d.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	actors := postgres.NewActorStore(db)
	for _, a := range demoAgents {
		if d.tokens[a], err = actors.CreateToken(ctx, a); err != nil {
			return fmt.Errorf("token for %s: %w", a, err)
		}
	}
	if err := d.checkFresh(ctx, db.Name()); err != nil {
		return err
	}
	d.out.say("ready: %s (database %s), agents hold fresh tokens; Slack as the owners see it:", d.base, db.Name())
	return d.script(ctx, db)
}

// checkFresh refuses a database that already holds the script's agents' actions: their
// notifications would fold into messages of an earlier run, which this run's Slack never had.
func (d *demo) checkFresh(ctx context.Context, dbName string) error {
	for _, a := range demoAgents {
		status, raw, err := d.call(ctx, "GET", "/v1/actions?limit=1&actor="+a, d.tokens[a], nil)
		if err != nil {
			return err
		}
		var list struct {
			Actions []json.RawMessage `json:"actions"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &list) != nil {
			return fmt.Errorf("GET /v1/actions as %s: %d %s", a, status, raw)
		}
		if len(list.Actions) > 0 {
			return fmt.Errorf("the database %s already holds actions of %s from an earlier run; give --database an empty database, or leave it out to use mandate_demo, which the demo starts afresh", dbName, a)
		}
	}
	return nil
}

// Actions the script sends.
var (
	demoReview = map[string]any{
		"type": "code_change", "summary": "Refactor session token refresh (PR #4821)",
		"resources": []map[string]string{
			{"kind": "file", "repo": "acme/api", "path": "src/auth/session.go"},
			{"kind": "file", "repo": "acme/api", "path": "src/auth/token_refresh.go"},
		},
		"reversibility": "reversible",
	}
	demoDeploy = func(version string) map[string]any {
		return map[string]any{
			"type": "deploy", "summary": "Deploy payments-service " + version + " to production",
			"resources":   []map[string]string{{"kind": "service", "name": "payments-service"}},
			"environment": "production", "reversibility": "reversible",
			"params": map[string]string{"version": version},
		}
	}
	// demoRelease is a deploy that also migrates a billing table: not a repeat of the plain
	// deploys (whose messages it would fold into), and the action the incident scene breaks.
	demoRelease = map[string]any{
		"type": "deploy", "summary": "Deploy payments-service v2.15.0 to production, with ledger migration 0043",
		"resources": []map[string]string{
			{"kind": "service", "name": "payments-service"},
			{"kind": "table", "name": "billing.invoice_lines"},
		},
		"environment": "production", "reversibility": "reversible",
		"params": map[string]string{"version": "v2.15.0"},
	}
	demoMigration = map[string]any{
		"type": "db_migration", "summary": "Migration 0042: add invoices.tax_region, backfill invoice_lines",
		"resources": []map[string]string{
			{"kind": "table", "name": "billing.invoices"},
			{"kind": "table", "name": "billing.invoice_lines"},
		},
		"environment": "production", "reversibility": "reversible",
	}
)

// demoAnswer is what POST /v1/actions answers, as far as the demo reads it.
type demoAnswer struct {
	ActionID string `json:"action_id"`
	Status   string `json:"status"`
	Next     string `json:"next"`
	Decision struct {
		Path    string   `json:"path"`
		Urgency string   `json:"urgency"`
		Rule    string   `json:"rule"`
		Reasons []string `json:"reasons"`
		Targets []struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"targets"`
	} `json:"decision"`
	Halt *struct {
		PausedBy string `json:"paused_by"`
		Reason   string `json:"reason"`
	} `json:"halt"`
}

// sent is one scripted action and where Slack showed it.
type sent struct {
	agent  string
	action map[string]any
	answer demoAnswer
	posts  []slackfake.Message // top-level posts, team channels first
}

func (d *demo) script(ctx context.Context, db *postgres.DB) error {
	d.out.say("── 1. %s edits the auth code ──", d.agentLabel("code-reviewer"))
	review, err := d.act(ctx, "code-reviewer", demoReview, 1)
	if err != nil {
		return err
	}
	d.out.say("── 2. %s ships payments-service to production ──", d.agentLabel("deployer"))
	deploy, err := d.act(ctx, "deployer", demoDeploy("v2.14.0"), 2)
	if err != nil {
		return err
	}
	d.out.say("── 3. %s migrates the billing tables in production ──", d.agentLabel("migration-agent"))
	migration, err := d.act(ctx, "migration-agent", demoMigration, 3)
	if err != nil {
		return err
	}
	d.out.say("── 4. The owners respond ──")

	// The code review is flagged for review: its team channel's lead looks and says OK.
	if msg, who, ok := d.channelPost(review); ok {
		if err := d.press(ctx, msg, who, "looks_ok", "says this looks OK"); err != nil {
			return err
		}
	}

	// An owner of payments-service does not like the deploy and pauses the deployer.
	msg, owner, ok := d.channelPost(deploy)
	if !ok {
		return errors.New("the deployer's action was posted to no team channel, so nobody can pause it")
	}
	for _, t := range deploy.answer.Decision.Targets {
		if t.Kind == "person" && d.slackOf[t.ID] != "" {
			owner = t.ID // an owner in person, rather than the team's lead
			break
		}
	}
	if err := d.press(ctx, msg, owner, "pause_agent", "paused deployer"); err != nil {
		return err
	}
	d.pause(ctx, 1)
	halted, err := d.send(ctx, "deployer", demoDeploy("v2.14.1"), 4)
	if err != nil {
		return err
	}
	if halted.Next != "halt" || halted.Halt == nil {
		return fmt.Errorf("deployer was paused by %s, yet its next deploy was answered next: %s", owner, halted.Next)
	}
	if halted.Halt.PausedBy != owner {
		return fmt.Errorf("deployer's deploy was halted, paused by %q, want %q", halted.Halt.PausedBy, owner)
	}
	d.out.say("deployer ← halt: paused by %s (%s)\n    the deploy of v2.14.1 is recorded as %s and does not run", halted.Halt.PausedBy, halted.Halt.Reason, halted.Status)
	if err := d.settle(ctx); err != nil {
		return err
	}

	d.pause(ctx, 1)
	d.out.say("── 5. How fast people answered, and where things stand ──")
	if err := d.report(ctx, db, []sent{review, deploy, migration}); err != nil {
		return err
	}
	d.pause(ctx, 1)
	d.out.say("── 6. Something breaks, and Mandate learns from it ──")
	return d.incident(ctx)
}

// incident plays the learning loop: the resumed deployer's deploy fails with data loss on
// the critical payments-service, the config's auto-open rule opens an incident with its own
// channel, an owner pauses the deployer from there and the lead resolves it, the postmortem
// draft is posted, and the same deploy, once the deployer runs again, is warned about.
func (d *demo) incident(ctx context.Context) error {
	admin := d.cfg.Org.Admins
	if len(admin) == 0 || d.slackOf[admin[0]] == "" {
		return errors.New("the incident scene needs an org admin with a Slack user id to resume the deployer")
	}
	if err := d.resume(ctx, admin[0], "deployer"); err != nil {
		return err
	}
	failing, err := d.act(ctx, "deployer", demoRelease, 5)
	if err != nil {
		return err
	}
	d.pause(ctx, 1)
	result := map[string]any{"status": "failed", "failure_mode": "data_loss",
		"error": "migration 0043 dropped 1,204 rows from billing.invoice_lines"}
	d.out.say("deployer → POST /v1/actions/%s/result: failed (data_loss)\n    %q", failing.answer.ActionID, result["error"])
	status, raw, err := d.call(ctx, "POST", "/v1/actions/"+failing.answer.ActionID+"/result", d.tokens["deployer"], result)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /v1/actions/%s/result: %d %s", failing.answer.ActionID, status, raw)
	}
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	header, err := d.fake.WaitMessage(wctx, func(m slackfake.Message) bool {
		return m.ThreadTS == "" && strings.Contains(m.Text, "INC-") && strings.Contains(demoText(m), "ledger migration 0043")
	})
	if err != nil {
		return fmt.Errorf("the data loss on payments-service opened no incident channel (incidents.auto_open in %s): %w", d.configPath, err)
	}
	if err := d.settle(ctx); err != nil {
		return err
	}
	var inc struct {
		Number   int    `json:"number"`
		Severity string `json:"severity"`
		OpenedBy string `json:"opened_by"`
	}
	ch, _ := d.fake.Channel(header.Channel)
	var members []string
	for _, u := range ch.Members {
		if p := d.out.names[u]; p != "" {
			members = append(members, "@"+p)
		}
	}
	incidents, err := d.incidentsOf(ctx)
	if err != nil {
		return err
	}
	if len(incidents) == 0 {
		return errors.New("GET /v1/incidents lists no incident, though its channel was posted")
	}
	if err := json.Unmarshal(incidents[0], &inc); err != nil {
		return fmt.Errorf("GET /v1/incidents: %w", err)
	}
	d.out.say("INC-%d (%s) opened by %s; #%s has the people who own what broke: %s",
		inc.Number, inc.Severity, inc.OpenedBy, ch.Name, strings.Join(members, ", "))

	// An owner of payments-service pauses the deployer from the incident channel.
	owner := ""
	for _, t := range failing.answer.Decision.Targets {
		if t.Kind == "person" && d.slackOf[t.ID] != "" && slices.Contains(ch.Members, d.slackOf[t.ID]) {
			owner = t.ID
			break
		}
	}
	if owner == "" {
		return fmt.Errorf("no owner of payments-service was invited to #%s", ch.Name)
	}
	if err := d.pressIncident(ctx, header, owner, "pause_causes", "paused deployer"); err != nil {
		return err
	}
	// The team lead (else the owner) marks it resolved; the postmortem draft follows.
	lead := owner
	if _, p, ok := d.channelPost(failing); ok {
		lead = p
	}
	ref := fmt.Sprintf("INC-%d", inc.Number)
	if err := d.pressIncident(ctx, header, lead, "resolved", ref+" is resolved"); err != nil {
		return err
	}
	pctx, pcancel := context.WithTimeout(ctx, demoWait)
	defer pcancel()
	if _, err := d.fake.WaitMessage(pctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && m.ThreadTS != "" && strings.Contains(m.Text, "## Timeline")
	}); err != nil {
		return fmt.Errorf("no postmortem draft in #%s: %w", ch.Name, err)
	}
	if err := d.settle(ctx); err != nil {
		return err
	}
	path := fmt.Sprintf("/v1/incidents/%d/postmortem.md", inc.Number)
	status, raw, err = d.call(ctx, "GET", path, d.tokens["deployer"], nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, status, raw)
	}
	var headings []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "#") {
			headings = append(headings, l)
		}
	}
	d.out.say("GET %s, the draft for people to finish, in outline:\n%s", path, indent(strings.Join(headings, "\n")))

	// The fix is in; the deployer runs again and tries the same deploy.
	if err := d.resume(ctx, admin[0], "deployer"); err != nil {
		return err
	}
	again, err := d.act(ctx, "deployer", demoRelease, 6)
	if err != nil {
		return err
	}
	warned := slices.ContainsFunc(again.posts, func(m slackfake.Message) bool {
		return strings.Contains(demoText(m), "looks similar to incident #"+strconv.Itoa(inc.Number))
	})
	if !warned {
		return fmt.Errorf("the same deploy after %s carried no \"looks similar to incident #%d\" warning", ref, inc.Number)
	}
	warning := ""
	for _, r := range again.answer.Decision.Reasons {
		if strings.Contains(r, "looks similar") {
			warning = r
		}
	}
	d.out.say("Mandate remembered: the owners see, on the same deploy,\n    %s\nThe loop is closed: failure → incident → channel → pause → resolved → postmortem → a warning next time.", warning)
	return nil
}

// incidentsOf lists the incidents, newest first.
func (d *demo) incidentsOf(ctx context.Context) ([]json.RawMessage, error) {
	status, raw, err := d.call(ctx, "GET", "/v1/incidents?state=all", d.tokens["deployer"], nil)
	if err != nil {
		return nil, err
	}
	var list struct {
		Incidents []json.RawMessage `json:"incidents"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf("GET /v1/incidents: %d %s", status, raw)
	}
	return list.Incidents, nil
}

// resume acts as person typing /mandate resume AGENT in the agent's team channel.
func (d *demo) resume(ctx context.Context, person, agent string) error {
	d.pause(ctx, 1)
	channel := d.cfg.Teams[0].SlackChannel
	if a, ok := d.cfg.Agent(agent); ok {
		if ch := d.teamChannel(a.Team); ch != "" {
			channel = ch
		}
	}
	ack, err := d.fake.SlashCommand(d.slackOf[person], channel, "/mandate", "resume "+agent)
	if err != nil {
		return fmt.Errorf("/mandate resume %s: %w", agent, err)
	}
	if !strings.Contains(string(ack), "resumed "+agent) {
		return fmt.Errorf("/mandate resume %s as %s answered %s", agent, person, ack)
	}
	return d.settle(ctx)
}

// pressIncident acts as person pressing actionID on an incident channel's header and waits
// for the channel to be told (a post containing note).
func (d *demo) pressIncident(ctx context.Context, header slackfake.Message, person, actionID, note string) error {
	d.pause(ctx, 2)
	if _, err := d.fake.ClickButton(d.slackOf[person], header, actionID); err != nil {
		return fmt.Errorf("%s pressing %s: %w", person, actionID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	if _, err := d.fake.WaitMessage(wctx, func(m slackfake.Message) bool {
		return m.Channel == header.Channel && strings.Contains(d.out.plain(m.Text), note)
	}); err != nil {
		return fmt.Errorf("the incident channel was not told after %s pressed [%s]: %w", person, actionID, err)
	}
	return d.settle(ctx)
}

// act sends one scripted action and waits until Slack shows it to every target.
func (d *demo) act(ctx context.Context, agent string, action map[string]any, step int) (sent, error) {
	d.pause(ctx, 1)
	s := sent{agent: agent, action: action}
	var err error
	if s.answer, err = d.send(ctx, agent, action, step); err != nil {
		return s, err
	}
	if s.answer.Next != "proceed" {
		return s, fmt.Errorf("%s's %s was answered next: %s, want proceed", agent, action["type"], s.answer.Next)
	}
	summary := action["summary"].(string)
	want := 0
	for _, t := range s.answer.Decision.Targets {
		if t.Kind == "team" && d.teamChannel(t.ID) != "" || t.Kind == "person" && d.slackOf[t.ID] != "" {
			want++
		}
	}
	channels := map[string]bool{}
	for _, t := range s.answer.Decision.Targets {
		if t.Kind == "team" {
			channels[d.teamChannel(t.ID)] = true
		}
	}
	seen := map[string]bool{}
	for len(seen) < want {
		wctx, cancel := context.WithTimeout(ctx, demoWait)
		// Match functions run under the fake's lock: they read only their argument and seen,
		// which changes only between waits.
		m, err := d.fake.WaitMessage(wctx, func(m slackfake.Message) bool {
			key := m.Channel + " " + m.TS
			return m.ThreadTS == "" && !seen[key] && !d.posted[key] && (channels[m.Channel] || strings.HasPrefix(m.Channel, "D")) &&
				strings.Contains(demoText(m), summary)
		})
		cancel()
		if err != nil {
			return s, fmt.Errorf("%s's action %q reached %d of its %d Slack targets: %w", agent, summary, len(seen), want, err)
		}
		seen[m.Channel+" "+m.TS], d.posted[m.Channel+" "+m.TS] = true, true
		s.posts = append(s.posts, m)
	}
	// Team channels first, in the order of the decision's targets.
	slices.SortStableFunc(s.posts, func(a, b slackfake.Message) int {
		return d.targetRank(s.answer, a.Channel) - d.targetRank(s.answer, b.Channel)
	})
	return s, d.settle(ctx)
}

// send posts the action as agent and prints what the agent sees.
func (d *demo) send(ctx context.Context, agent string, action map[string]any, step int) (demoAnswer, error) {
	body := make(map[string]any, len(action)+1)
	for k, v := range action {
		body[k] = v
	}
	body["idempotency_key"] = fmt.Sprintf("demo-%s-%d", d.runID, step)
	var keys []string
	for _, r := range action["resources"].([]map[string]string) {
		if r["kind"] == "file" {
			keys = append(keys, "file:"+r["repo"]+":"+r["path"])
		} else {
			keys = append(keys, r["kind"]+":"+r["name"])
		}
	}
	env := ""
	if e, ok := action["environment"].(string); ok {
		env = " in " + e
	}
	d.out.say("%s → POST /v1/actions: %s%s\n    %q\n    %s", agent, action["type"], env, action["summary"], strings.Join(keys, ", "))
	var a demoAnswer
	status, raw, err := d.call(ctx, "POST", "/v1/actions", d.tokens[agent], body)
	if err != nil {
		return a, err
	}
	if status != http.StatusCreated {
		return a, fmt.Errorf("POST /v1/actions as %s: %d %s", agent, status, raw)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("POST /v1/actions as %s: %w", agent, err)
	}
	if a.Next == "halt" {
		return a, nil // the caller tells
	}
	var told []string
	for _, t := range a.Decision.Targets {
		told = append(told, t.Kind+" "+t.ID)
	}
	why := ""
	if len(a.Decision.Reasons) > 0 {
		why = "\n    why: " + strings.Join(a.Decision.Reasons, "; ")
	}
	d.out.say("%s ← next: %s · %s, urgency %s (rule %s)%s\n    told: %s", agent, a.Next, a.Decision.Path, a.Decision.Urgency,
		a.Decision.Rule, why, strings.Join(told, ", "))
	return a, nil
}

// press acts as person pressing the button actionID on msg, and waits for Slack to show it.
func (d *demo) press(ctx context.Context, msg slackfake.Message, person, actionID, note string) error {
	d.pause(ctx, 2)
	user := d.slackOf[person]
	if user == "" {
		return fmt.Errorf("%s has no Slack user id (people[].slack) to press [%s] with", person, actionID)
	}
	if _, err := d.fake.ClickButton(user, msg, actionID); err != nil {
		return fmt.Errorf("%s pressing %s: %w", person, actionID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	if _, err := d.fake.WaitUpdate(wctx, msg.Channel, msg.TS, func(m slackfake.Message) bool {
		return strings.Contains(demoText(m), "after notification")
	}); err != nil {
		return fmt.Errorf("the message %s pressed [%s] on was not updated: %w", person, actionID, err)
	}
	if _, err := d.fake.WaitMessage(wctx, func(m slackfake.Message) bool {
		return m.Channel == msg.Channel && m.ThreadTS == msg.TS && strings.Contains(m.Text, note)
	}); err != nil {
		return fmt.Errorf("no note in the thread after %s pressed [%s]: %w", person, actionID, err)
	}
	return d.settle(ctx)
}

// report prints each notification's TTI, the Prometheus histogram and /mandate status.
func (d *demo) report(ctx context.Context, db *postgres.DB, all []sent) error {
	deliveries := postgres.NewDeliveryStore(db)
	var b strings.Builder
	b.WriteString("Time to intervention (TTI), per notification:")
	for _, s := range all {
		var list struct {
			Notifications []struct {
				ID         int64  `json:"id"`
				TargetKind string `json:"target_kind"`
				Target     string `json:"target"`
			} `json:"notifications"`
		}
		path := "/v1/actions/" + s.answer.ActionID + "/notifications"
		status, raw, err := d.call(ctx, "GET", path, d.tokens[s.agent], nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", path, status, raw)
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		outcomes, err := deliveries.Outcomes(ctx, s.answer.ActionID)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n%s: %s", s.agent, s.action["summary"])
		for _, n := range list.Notifications {
			got, err := deliveries.Get(ctx, n.ID)
			if err != nil {
				return err
			}
			line := "no response yet"
			if got.Delivered == nil {
				line = "not delivered (" + got.State + ")"
			}
			for _, iv := range outcomes {
				if iv.NotificationID == n.ID && got.Delivered != nil {
					line = fmt.Sprintf("%s by %s after %s", iv.Kind, iv.PersonID, iv.At.Sub(*got.Delivered).Round(time.Millisecond))
					break
				}
			}
			fmt.Fprintf(&b, "\n    notification %d → %s %s: %s", n.ID, n.TargetKind, n.Target, line)
		}
	}
	d.out.say("%s", b.String())

	status, raw, err := d.call(ctx, "GET", "/metrics", "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /metrics: %d", status)
	}
	var tti []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "mandate_tti_seconds_sum") || strings.HasPrefix(l, "mandate_tti_seconds_count") {
			tti = append(tti, "    "+l)
		}
	}
	if len(tti) == 0 {
		return errors.New("GET /metrics exports no mandate_tti_seconds, though people pressed buttons")
	}
	d.out.say("Prometheus, GET /metrics:\n%s", strings.Join(tti, "\n"))

	asker := d.cfg.Org.Admins
	if len(asker) == 0 || d.slackOf[asker[0]] == "" {
		asker = []string{d.anyone()}
	}
	channel := d.cfg.Teams[0].SlackChannel
	if t, ok := d.cfg.Agent("deployer"); ok {
		if ch := d.teamChannel(t.Team); ch != "" {
			channel = ch
		}
	}
	d.out.hideEphemeral(d.slackOf[asker[0]]) // its answer is printed below, once
	ack, err := d.fake.SlashCommand(d.slackOf[asker[0]], channel, "/mandate", "status")
	if err != nil {
		return fmt.Errorf("/mandate status: %w", err)
	}
	var answer struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(ack, &answer); err != nil || answer.Text == "" {
		return fmt.Errorf("/mandate status answered %s", ack)
	}
	if err := d.settle(ctx); err != nil {
		return err
	}
	d.out.say("/mandate status answers %s:\n%s", asker[0], indent(d.out.plain(answer.Text)))
	if !strings.Contains(answer.Text, "deployer") {
		return fmt.Errorf("/mandate status does not list the paused deployer:\n%s", answer.Text)
	}
	return nil
}

// channelPost returns the action's post in its first team channel and that team's lead
// (or first member).
func (d *demo) channelPost(s sent) (slackfake.Message, string, bool) {
	for _, m := range s.posts {
		team, ok := d.teamOf[m.Channel]
		if !ok {
			continue
		}
		for _, t := range d.cfg.Teams {
			if t.ID != team {
				continue
			}
			for _, p := range append([]string{t.Lead}, t.Members...) {
				if d.slackOf[p] != "" {
					return m, p, true
				}
			}
		}
	}
	return slackfake.Message{}, "", false
}

// agentLabel is "deployer (trusted)".
func (d *demo) agentLabel(id string) string {
	if a, ok := d.cfg.Agent(id); ok && a.Trust != "" {
		return id + " (" + a.Trust + ")"
	}
	return id + " (new)"
}

func (d *demo) teamChannel(team string) string {
	for _, t := range d.cfg.Teams {
		if t.ID == team {
			return t.SlackChannel
		}
	}
	return ""
}

// targetRank orders posts: team channels in the order of the decision's targets, then DMs.
func (d *demo) targetRank(a demoAnswer, channel string) int {
	for i, t := range a.Decision.Targets {
		if t.Kind == "team" && d.teamChannel(t.ID) == channel {
			return i
		}
	}
	return len(a.Decision.Targets)
}

func (d *demo) anyone() string {
	for _, p := range d.cfg.People {
		if p.Slack != "" {
			return p.ID
		}
	}
	return ""
}

// settle waits until the printer has shown everything Slack has done so far, so that what
// the script prints next comes after it.
func (d *demo) settle(ctx context.Context) error {
	events := d.fake.Events()
	if len(events) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	return d.out.waitShown(ctx, events[len(events)-1].Seq)
}

// pause is presentation only: time for a human to read, scaled by --speed.
func (d *demo) pause(ctx context.Context, steps float64) {
	t := time.NewTimer(time.Duration(steps * float64(500*time.Millisecond) / d.speed))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// call makes one HTTP request to the server and returns the status and body.
func (d *demo) call(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// demoText is a message's fallback text and its rendered blocks.
func demoText(m slackfake.Message) string {
	return m.Text + "\n" + strings.Join(slackfake.RenderText(m.Blocks), "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func demoFreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// demoPrinter writes the transcript: Slack events (from the fake's OnEvent goroutine) and
// the script's own lines, one blank line between entries.
type demoPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	names    map[string]string   // Slack user id → person id
	labels   map[string]string   // "channel ts" → "notification N"
	versions map[string][]string // "channel ts" → the message's lines as last shown
	shown    int                 // the last event seq handled
	changed  chan struct{}       // closed and replaced whenever shown grows
	hidden   string              // a user whose ephemeral answers are not shown
	topics   map[string]string   // channel → its topic as last shown
	closed   bool
}

func newDemoPrinter(w io.Writer, names map[string]string) *demoPrinter {
	return &demoPrinter{w: w, names: names, labels: map[string]string{}, topics: map[string]string{}, versions: map[string][]string{}, changed: make(chan struct{})}
}

func (p *demoPrinter) write(text string) {
	if p.closed {
		return
	}
	fmt.Fprintf(p.w, "\n%s\n", strings.TrimRight(text, "\n"))
}

// say prints a line of the script's own.
func (p *demoPrinter) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(fmt.Sprintf(format, args...))
}

func (p *demoPrinter) hideEphemeral(user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hidden = user
}

func (p *demoPrinter) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// waitShown blocks until the event seq has been handled.
func (p *demoPrinter) waitShown(ctx context.Context, seq int) error {
	for {
		p.mu.Lock()
		shown, changed := p.shown, p.changed
		p.mu.Unlock()
		if shown >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("the transcript fell behind: %w", ctx.Err())
		}
	}
}

var slackMention = regexp.MustCompile(`<([@#!])([A-Za-z0-9]+)(?:\|([^>]*))?>`)

// plain turns Slack's mention syntax into names: <@U0ALICE> → @alice.
func (p *demoPrinter) plain(s string) string {
	return slackMention.ReplaceAllStringFunc(s, func(m string) string {
		g := slackMention.FindStringSubmatch(m)
		switch {
		case g[3] != "":
			return g[1] + g[3]
		case g[1] == "@" && p.names[g[2]] != "":
			return "@" + p.names[g[2]]
		case g[1] == "!":
			return "@" + g[2]
		}
		return g[1] + g[2]
	})
}

// event prints one Slack event; it runs on the fake's hook goroutine. A message is shown
// in full when posted in a channel; a direct message with the same notification by its
// first line; an update by the lines it changed.
func (p *demoPrinter) event(e slackfake.Event) {
	p.mu.Lock()
	defer func() {
		p.shown = e.Seq
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	where := e.ChannelName
	if where == "" {
		where = e.Channel
	}
	key := e.Channel + " " + e.TS
	var lines []string
	for _, l := range slackfake.RenderText(e.Blocks) {
		lines = append(lines, p.plain(l))
	}
	if len(lines) == 0 && e.Text != "" {
		lines = strings.Split(p.plain(e.Text), "\n")
	}
	switch e.Kind {
	case slackfake.EventPost:
		if e.ThreadTS != "" && len(lines) > 6 && strings.HasPrefix(lines[0], "```") {
			// A postmortem draft's Markdown: its first lines only.
			p.write(fmt.Sprintf("%s  %s replied in the thread of %s (Markdown, %d lines):\n%s\n    …", where, e.UserName, p.label(e.Channel, e.ThreadTS),
				len(lines), indent(strings.Join(lines[1:3], "\n"))))
			return
		}
		if e.ThreadTS != "" {
			p.write(fmt.Sprintf("%s  %s replied in the thread of %s:\n%s", where, e.UserName, p.label(e.Channel, e.ThreadTS), indent(strings.Join(lines, "\n"))))
			return
		}
		label := notificationLabel(e.Blocks)
		if label == "" {
			label = fmt.Sprintf("message %d", len(p.labels)+1)
		}
		p.labels[key], p.versions[key] = label, lines
		if strings.HasPrefix(e.Channel, "D") && len(lines) > 1 {
			p.write(fmt.Sprintf("%s  %s sent %s as a direct message (laid out as in the channel):\n%s", where, e.UserName, label, indent(lines[0])))
			return
		}
		p.write(fmt.Sprintf("%s  %s posted %s:\n%s", where, e.UserName, label, indent(strings.Join(lines, "\n"))))
	case slackfake.EventUpdate:
		before := p.versions[key]
		p.versions[key] = lines
		var changed, gone []string
		for _, l := range lines {
			if !slices.Contains(before, l) {
				changed = append(changed, l)
			}
		}
		for _, l := range before {
			if !slices.Contains(lines, l) {
				gone = append(gone, l)
			}
		}
		if len(changed) == 0 && len(gone) == 0 && len(before) == len(lines) {
			return // nothing the reader would see changed
		}
		if len(changed) == 0 && len(gone) > 0 && len(before) > 0 {
			changed = append([]string{"(no longer shows)"}, gone...)
		} else if len(changed) == 0 || len(before) == 0 {
			changed = lines
		} else if len(changed) < len(lines) {
			changed = append(changed, "(the rest unchanged)")
		}
		p.write(fmt.Sprintf("%s  %s updated %s:\n%s", where, e.UserName, p.label(e.Channel, e.TS), indent(strings.Join(changed, "\n"))))
	case slackfake.EventEphemeral:
		if e.User == p.hidden {
			return
		}
		p.write(fmt.Sprintf("%s  (only @%s sees this):\n%s", where, e.UserName, indent(strings.Join(lines, "\n"))))
	case slackfake.EventEnvelope:
		if e.RetryAttempt > 0 {
			return
		}
		what := p.plain(e.Summary)
		if i := strings.LastIndex(what, " on "); i >= 0 {
			if label, ok := p.labels[e.Channel+" "+what[i+len(" on "):]]; ok {
				what = what[:i] + " on " + label
			}
		}
		p.write(fmt.Sprintf("%s  @%s %s", where, e.UserName, what))
	case slackfake.EventChannel, slackfake.EventInvite:
		p.write(fmt.Sprintf("[%s %s]", e.UserName, p.plain(e.Summary)))
	case slackfake.EventTopic:
		if p.topics[e.Channel] == e.Text {
			return
		}
		p.topics[e.Channel] = e.Text
		p.write(fmt.Sprintf("%s  %s set the topic: %s", where, e.UserName, p.plain(e.Text)))
	case slackfake.EventConnect:
		if e.Generation == 1 {
			p.write("[mandate connected to Slack over Socket Mode]")
		}
	}
}

// label names the message at (channel, ts) as it was named when posted.
func (p *demoPrinter) label(channel, ts string) string {
	if l, ok := p.labels[channel+" "+ts]; ok {
		return l
	}
	return "message " + ts
}

// notificationLabel finds the notification id in a Mandate message's block ids
// ("summary:12") and returns "notification 12", or "" for other messages.
func notificationLabel(raw json.RawMessage) string {
	var bs []struct {
		BlockID string `json:"block_id"`
	}
	if json.Unmarshal(raw, &bs) != nil {
		return ""
	}
	for _, b := range bs {
		if kind, id, ok := strings.Cut(b.BlockID, ":"); ok {
			if _, err := strconv.ParseInt(id, 10, 64); err == nil {
				switch kind {
				case blocks.BlockIncidentTitle:
					return "the INC-" + id + " header"
				case blocks.BlockPostmortemTitle:
					return "the INC-" + id + " postmortem card"
				}
				return "notification " + id
			}
		}
	}
	return ""
}

// serveLog keeps the server's log: it signals when a line contains want, and keeps the
// last lines to explain a failure.
type serveLog struct {
	mu    sync.Mutex
	want  string
	found chan struct{}
	seen  bool
	buf   []byte
	lines []string
}

func newServeLog(want string) *serveLog { return &serveLog{want: want, found: make(chan struct{})} }

func (l *serveLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if !l.seen && strings.Contains(line, l.want) {
			l.seen = true
			close(l.found)
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > 20 {
			l.lines = l.lines[1:]
		}
	}
	return len(b), nil
}

// tail returns the last log lines, for an error message.
func (l *serveLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return "\nthe server's last log lines:\n" + indent(strings.Join(l.lines, "\n"))
}
