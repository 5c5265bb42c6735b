package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/routing"
)

const adminToken = "test-admin-token"

// testEnv is a server on a fresh database with the quickstart config, and a token for the
// agents deployer and code-reviewer.
type testEnv struct {
	api      *Server
	http     *httptest.Server
	db       *postgres.DB
	actors   *postgres.ActorStore
	actions  *postgres.ActionStore
	owners   *ownership.Resolver
	deployer string // deployer's token
	reviewer string // code-reviewer's token
	mu       sync.Mutex
	now      time.Time
}

func newTestEnv(t *testing.T) *testEnv {
	return newTestEnvOn(t, pgtest.DB(t))
}

func newTestEnvOn(t *testing.T, db *postgres.DB) *testEnv {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load("../examples/quickstart/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{db: db, actors: postgres.NewActorStore(db), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	e.actions = postgres.NewActionStore(db, postgres.ActionStoreOptions{Now: e.clock})
	t.Cleanup(e.actions.Close)
	var agents []mandate.Actor
	for _, a := range cfg.Agents {
		agents = append(agents, mandate.Actor{ID: a.ID, Type: mandate.ActorAgent, Team: a.Team, Trust: mandate.Trust(a.Trust)})
	}
	if err := e.actors.SyncAgents(ctx, agents); err != nil {
		t.Fatal(err)
	}
	if e.deployer, err = e.actors.CreateToken(ctx, "deployer"); err != nil {
		t.Fatal(err)
	}
	if e.reviewer, err = e.actors.CreateToken(ctx, "code-reviewer"); err != nil {
		t.Fatal(err)
	}
	owners := ownership.NewResolver(ownership.Options{Store: postgres.NewOwnershipStore(db), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock})
	if err := owners.SetConfig(ctx, cfg, "start"); err != nil {
		t.Fatal(err)
	}
	e.owners = owners
	e.api = New(Config{Actions: e.actions, Actors: e.actors, Ownership: owners, Feedback: postgres.NewRoutingStore(db), Gates: postgres.NewGateStore(db), Health: db, AdminToken: adminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: e.clock})
	router, err := routing.New(cfg, owners, routing.Options{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.api.SetPolicy(router, agents)
	e.http = httptest.NewServer(e.api)
	t.Cleanup(e.http.Close)
	return e
}

func (e *testEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *testEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d %q is not a JSON object: %v", r.status, r.body, err)
	}
	return m
}

// problemFields returns the fields named by a problem+json answer, checking its shape.
func (r response) problemFields(t *testing.T) []string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != r.status || p.Detail == "" || p.Type == "" {
		t.Errorf("problem %+v does not describe status %d", p, r.status)
	}
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	return fields
}

func (e *testEnv) do(t *testing.T, method, path, token, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *testEnv) post(t *testing.T, path, token, body string) response {
	t.Helper()
	return e.do(t, "POST", path, token, "application/json", body)
}

const deployBody = `{"idempotency_key":"k1","type":"deploy","summary":"Deploy payments-api v1.2","resources":[{"kind":"service","name":"payments-api"},{"kind":"file","repo":"acme/api","path":"src/payments/charge.go"}],"environment":"production","reversibility":"reversible","params":{"version":"1.2"},"session":"s1","occurred_at":"2026-11-25T11:59:00Z"}`

func (e *testEnv) streamLen(t *testing.T) int {
	t.Helper()
	r := e.do(t, "GET", "/v1/actions?limit=500", adminToken, "", "")
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	return len(r.json(t)["actions"].([]any))
}

func TestPostActionAnswersAndReplays(t *testing.T) {
	e := newTestEnv(t)
	first := e.post(t, "/v1/actions", e.deployer, deployBody)
	if first.status != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", first.status, first.body)
	}
	ans := first.json(t)
	decision := ans["decision"].(map[string]any)
	if ans["action_id"] == "" || ans["next"] != "proceed" || decision["path"] != "monitored_execute" ||
		decision["rule"] == "" || len(decision["reasons"].([]any)) == 0 ||
		ans["agent_state"].(map[string]any)["state"] != "running" {
		t.Errorf("answer %s lacks action_id, decision, next or agent_state", first.body)
	}
	t.Run("ReplayReturnsFirstAnswer", func(t *testing.T) {
		// Same action, other field order and spacing: the same request.
		var m map[string]any
		json.Unmarshal([]byte(deployBody), &m)
		reordered, _ := json.MarshalIndent(m, "", "  ")
		again := e.post(t, "/v1/actions", e.deployer, string(reordered))
		if again.status != http.StatusOK || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: %d %s (replayed header %q), want 200 with the first answer", again.status, again.body, again.header.Get("Idempotent-Replayed"))
		}
	})
	t.Run("SameKeyOtherBodyConflicts", func(t *testing.T) {
		r := e.post(t, "/v1/actions", e.deployer, strings.Replace(deployBody, "v1.2", "v1.3", 1))
		if r.status != http.StatusConflict {
			t.Fatalf("status %d %s, want 409", r.status, r.body)
		}
		if got := r.problemFields(t); !slices.Equal(got, []string{"idempotency_key"}) {
			t.Errorf("fields %v, want [idempotency_key]", got)
		}
	})
	if n := e.streamLen(t); n != 1 {
		t.Errorf("stream holds %d actions, want 1", n)
	}
	t.Run("GetAction", func(t *testing.T) {
		id := ans["action_id"].(string)
		if r := e.do(t, "GET", "/v1/actions/"+id, e.deployer, "", ""); r.status != 200 || r.json(t)["summary"] != "Deploy payments-api v1.2" {
			t.Errorf("own action: %d %s", r.status, r.body)
		}
		if r := e.do(t, "GET", "/v1/actions/"+id, e.reviewer, "", ""); r.status != 404 {
			t.Errorf("another agent's action: %d, want 404", r.status)
		}
	})
}

func TestErrorClassesChangeNothing(t *testing.T) {
	e := newTestEnv(t)
	big := `{"type":"deploy","summary":"` + strings.Repeat("x", MaxBody) + `"}`
	cases := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		fields                                 []string
	}{
		{"MalformedJSON", "POST", "/v1/actions", e.deployer, "application/json", `{"type":`, 400, nil},
		{"NotAnObject", "POST", "/v1/actions", e.deployer, "application/json", `[1,2]`, 400, nil},
		{"TrailingData", "POST", "/v1/actions", e.deployer, "application/json", `{} {}`, 400, nil},
		{"EmptyBody", "POST", "/v1/actions", e.deployer, "application/json", ``, 400, nil},
		{"NoToken", "POST", "/v1/actions", "", "application/json", deployBody, 401, nil},
		{"BadToken", "POST", "/v1/actions", "mnd_nope_nope", "application/json", deployBody, 401, nil},
		{"AgentActsForAnother", "POST", "/v1/actions", e.deployer, "application/json", `{"actor":"alice","type":"read","summary":"x","resources":[{"kind":"service","name":"a"}]}`, 403, []string{"actor"}},
		{"AgentPauses", "POST", "/v1/agents/deployer/pause", e.deployer, "application/json", `{}`, 403, nil},
		{"UnknownEndpoint", "GET", "/v1/nothing", e.deployer, "", ``, 404, nil},
		{"UnknownActionResult", "POST", "/v1/actions/0190a0a0-0000-7000-8000-000000000000/result", e.deployer, "application/json", `{"status":"succeeded"}`, 404, nil},
		{"PauseUnknownAgent", "POST", "/v1/agents/ghost/pause", adminToken, "application/json", `{"reason":"x"}`, 404, nil},
		{"TooLarge", "POST", "/v1/actions", e.deployer, "application/json", big, 413, nil},
		{"WrongContentType", "POST", "/v1/actions", e.deployer, "text/plain", deployBody, 415, nil},
		{"NoContentType", "POST", "/v1/actions", e.deployer, "", deployBody, 415, nil},
		{"InvalidFields", "POST", "/v1/actions", e.deployer, "application/json",
			`{"type":"Deploy!","summary":" ","resources":[{"kind":"file","repo":"acme/api"},{"kind":"service"}],"reversibility":"maybe","params":[1],"occurred_at":"yesterday","colour":"red"}`,
			422, []string{"colour", "type", "summary", "resources[0].path", "resources[1].name", "reversibility", "params", "occurred_at"}},
		{"MissingResources", "POST", "/v1/actions", e.deployer, "application/json", `{"type":"deploy","summary":"x"}`, 422, []string{"resources"}},
		{"WrongType", "POST", "/v1/actions", e.deployer, "application/json", `{"type":"deploy","summary":5,"resources":[{"kind":"service","name":"a"}]}`, 422, []string{"summary"}},
		{"FutureOccurredAt", "POST", "/v1/actions", e.deployer, "application/json", `{"type":"deploy","summary":"x","resources":[{"kind":"service","name":"a"}],"occurred_at":"2026-11-25T14:00:00Z"}`, 422, []string{"occurred_at"}},
		{"AdminWithoutActor", "POST", "/v1/actions", adminToken, "application/json", `{"type":"deploy","summary":"x","resources":[{"kind":"service","name":"a"}]}`, 422, []string{"actor"}},
		{"BadListQuery", "GET", "/v1/actions?since=yesterday&limit=0&resource=nokind&colour=red", e.deployer, "", ``, 422, []string{"colour", "resource", "since", "limit"}},
		{"BadResult", "POST", "/v1/actions/0190a0a0-0000-7000-8000-000000000000/result", e.deployer, "application/json", `{"status":"done","duration_ms":-1}`, 422, []string{"status", "duration_ms"}},
		{"BadLongPoll", "GET", "/v1/agents/deployer/state?version=x&wait=2h", e.deployer, "", ``, 422, []string{"version", "wait"}},
		{"ReadOthersState", "GET", "/v1/agents/deployer/state", e.reviewer, "", ``, 403, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, c.token, c.ctype, c.body)
			if r.status != c.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, c.status)
			}
			got := r.problemFields(t)
			slices.Sort(got)
			want := slices.Clone(c.fields)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%s)", got, want, r.body)
			}
		})
	}
	if n := e.streamLen(t); n != 0 {
		t.Errorf("bad requests stored %d actions", n)
	}
	if n, _ := e.actions.PendingNotifications(context.Background()); n != 0 {
		t.Errorf("bad requests queued %d notifications", n)
	}
}

func TestPauseHaltResume(t *testing.T) {
	e := newTestEnv(t)
	action := `{"type":"deploy","summary":"roll out","resources":[{"kind":"service","name":"payments-api"}]}`
	if r := e.post(t, "/v1/actions", e.deployer, action); r.status != 201 || r.json(t)["next"] != "proceed" {
		t.Fatalf("before pause: %d %s", r.status, r.body)
	}
	r := e.post(t, "/v1/agents/deployer/pause", adminToken, `{"reason":"deploying during freeze","by":"erin"}`)
	if r.status != 200 || r.json(t)["changed"] != true {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	r = e.post(t, "/v1/actions", e.deployer, action)
	ans := r.json(t)
	halt, _ := ans["halt"].(map[string]any)
	if r.status != 201 || ans["next"] != "halt" || ans["status"] != "blocked" || halt["paused_by"] != "erin" || halt["reason"] != "deploying during freeze" {
		t.Fatalf("while paused: %d %s, want next halt with who and why", r.status, r.body)
	}
	stream := e.do(t, "GET", "/v1/actions?actor=deployer", adminToken, "", "").json(t)["actions"].([]any)
	if got := stream[0].(map[string]any)["status"]; got != "blocked" {
		t.Errorf("newest action in stream has status %v, want blocked", got)
	}
	// The reviewer is not paused.
	if r := e.post(t, "/v1/actions", e.reviewer, action); r.json(t)["next"] != "proceed" {
		t.Errorf("other agent: %s", r.body)
	}
	if r := e.do(t, "POST", "/v1/agents/deployer/resume", adminToken, "", ""); r.status != 200 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	if r := e.post(t, "/v1/actions", e.deployer, action); r.json(t)["next"] != "proceed" {
		t.Errorf("after resume: %s", r.body)
	}
}

func TestLongPollWakesOnPause(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan struct{})
	var once sync.Once
	go e.db.Listen(ctx, postgres.StateChannel, e.api.StateChanged, func() { once.Do(func() { close(listening) }) }, nil)
	<-listening

	t.Run("DifferentVersionAnswersAtOnce", func(t *testing.T) {
		r := e.do(t, "GET", "/v1/agents/deployer/state?version=7&wait=60s", e.deployer, "", "")
		if st := r.json(t)["state"].(map[string]any); r.status != 200 || st["version"] != 1.0 || st["state"] != "running" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("PauseWakesWaitingPoll", func(t *testing.T) {
		waiting := make(chan string, 10)
		e.api.hub.waiting = func(id string) { waiting <- id }
		defer func() { e.api.hub.waiting = nil }()
		got := make(chan response, 1)
		go func() { got <- e.do(t, "GET", "/v1/agents/deployer/state?version=1&wait=60s", e.deployer, "", "") }()
		if id := <-waiting; id != "deployer" {
			t.Fatalf("waiting on %q", id)
		}
		select {
		case r := <-got:
			t.Fatalf("long-poll answered before the pause: %s", r.body)
		default:
		}
		if r := e.post(t, "/v1/agents/deployer/pause", adminToken, `{"reason":"stop","by":"bob"}`); r.status != 200 {
			t.Fatalf("pause: %d %s", r.status, r.body)
		}
		r := <-got
		st := r.json(t)["state"].(map[string]any)
		if r.status != 200 || st["state"] != "paused" || st["version"] != 2.0 || st["paused_by"] != "bob" {
			t.Errorf("long-poll answer %d %s, want paused at version 2", r.status, r.body)
		}
	})
}

func TestResults(t *testing.T) {
	e := newTestEnv(t)
	id := e.post(t, "/v1/actions", e.deployer, deployBody).json(t)["action_id"].(string)
	result := `{"status":"failed","error":"connection reset","failure_mode":"timeout","duration_ms":1500,"result":{"attempts":3}}`
	r := e.post(t, "/v1/actions/"+id+"/result", e.deployer, result)
	if r.status != 200 || r.json(t)["status"] != "failed" {
		t.Fatalf("result: %d %s", r.status, r.body)
	}
	if r := e.post(t, "/v1/actions/"+id+"/result", e.deployer, result); r.status != 200 {
		t.Errorf("same result again: %d %s", r.status, r.body)
	}
	if r := e.post(t, "/v1/actions/"+id+"/result", e.deployer, `{"status":"succeeded"}`); r.status != 409 {
		t.Errorf("different result: %d %s, want 409", r.status, r.body)
	}
	if r := e.post(t, "/v1/actions/"+id+"/result", e.reviewer, result); r.status != 404 {
		t.Errorf("other agent's action: %d %s, want 404", r.status, r.body)
	}
}

func TestActivityStreamFilters(t *testing.T) {
	e := newTestEnv(t)
	for i := range 5 {
		tok, typ, res := e.deployer, "deploy", `{"kind":"service","name":"payments-api"}`
		if i%2 == 1 {
			tok, typ, res = e.reviewer, "code_change", `{"kind":"file","repo":"acme/web","path":"a.go"}`
		}
		body := fmt.Sprintf(`{"type":%q,"summary":"n%d","resources":[%s]}`, typ, i, res)
		if r := e.post(t, "/v1/actions", tok, body); r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if r := e.post(t, "/v1/actions", adminToken, `{"actor":"alice","type":"db_write","summary":"manual fix","resources":[{"kind":"table","name":"billing.invoices"}]}`); r.status != 201 {
		t.Fatalf("admin acting for alice: %d %s", r.status, r.body)
	}
	count := func(query string) int {
		r := e.do(t, "GET", "/v1/actions?"+query, e.deployer, "", "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		return len(r.json(t)["actions"].([]any))
	}
	cases := map[string]int{
		"":                                6,
		"actor=code-reviewer":             2,
		"actor=alice":                     1,
		"type=deploy":                     3,
		"resource=service:payments-api":   3,
		"resource=file:acme/web:a.go":     2,
		"team=payments":                   4, // payments-api's team, and billing.* is payments'
		"since=1h":                        6,
		"since=2030-01-01T00:00:00Z":      0,
		"actor=deployer&type=code_change": 0,
	}
	for q, want := range cases {
		if got := count(q); got != want {
			t.Errorf("?%s: %d actions, want %d", q, got, want)
		}
	}
	var summaries []string
	cursor := ""
	for range 10 {
		r := e.do(t, "GET", "/v1/actions?limit=4"+cursor, e.deployer, "", "").json(t)
		for _, a := range r["actions"].([]any) {
			summaries = append(summaries, a.(map[string]any)["summary"].(string))
		}
		next, _ := r["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if got, want := strings.Join(summaries, ","), "manual fix,n4,n3,n2,n1,n0"; got != want {
		t.Errorf("paged stream %s, want %s", got, want)
	}
}

func TestTokenRevocationTakesEffectAfterCacheTTL(t *testing.T) {
	e := newTestEnv(t)
	if r := e.do(t, "GET", "/v1/status", e.deployer, "", ""); r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	if _, err := e.actors.RevokeTokens(context.Background(), "deployer"); err != nil {
		t.Fatal(err)
	}
	e.advance(e.api.TokenCacheTTL + time.Second)
	if r := e.do(t, "GET", "/v1/status", e.deployer, "", ""); r.status != 401 {
		t.Errorf("revoked token: %d, want 401", r.status)
	}
}

func TestHealthReadinessStatusMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.post(t, "/v1/actions", e.deployer, deployBody)
	if r := e.do(t, "GET", "/healthz", "", "", ""); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	r := e.do(t, "GET", "/readyz", "", "", "")
	if m := r.json(t); r.status != 200 || m["database"] != "ok" || !strings.HasPrefix(m["schema"].(string), "migration ") {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/v1/status", e.deployer, "", "")
	if m := r.json(t); m["slack"] != "not configured" || m["pending_notifications"] != 2.0 {
		t.Errorf("status %s: want slack not configured and 2 pending notifications (team payments and alice own payments-api and, by CODEOWNERS, the file)", r.body)
	}
	metrics := string(e.do(t, "GET", "/metrics", "", "", "").body)
	for _, want := range []string{`mandate_actions_total{path="monitored_execute",type="deploy"} 1`, `mandate_http_request_duration_seconds_count{code="201",method="POST",route="/v1/actions"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestUnavailableDatabaseAnswers503(t *testing.T) {
	base := pgtest.DB(t) // creates and migrates the database
	proxy := pgtest.NewProxy(t, base.ConnString())
	db, err := postgres.Open(context.Background(), proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e := newTestEnvOn(t, db)
	if r := e.post(t, "/v1/actions", e.deployer, deployBody); r.status != 201 {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}
	proxy.Cut()
	body := strings.Replace(deployBody, `"k1"`, `"k2"`, 1)
	r := e.post(t, "/v1/actions", e.deployer, body)
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	r.problemFields(t)
	if r := e.do(t, "GET", "/readyz", "", "", ""); r.status != 503 {
		t.Errorf("readyz during the outage: %d", r.status)
	}
	// Nothing from the outage was stored.
	ctx := context.Background()
	actions, _, err := postgres.NewActionStore(base, postgres.ActionStoreOptions{}).List(ctx, mandate.ActionFilter{})
	if err != nil || len(actions) != 1 {
		t.Errorf("after the outage the database holds %d actions (%v), want 1", len(actions), err)
	}
}

func TestOwnershipEndpoints(t *testing.T) {
	e := newTestEnv(t)
	r := e.do(t, "GET", "/v1/ownership/explain?resource=service:payments-api&resource=queue:jobs", e.deployer, "", "")
	if r.status != 200 {
		t.Fatalf("explain: %d %s", r.status, r.body)
	}
	var got []mandate.Ownership
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Resource != "service:payments-api" || got[0].Layer != "config" || got[0].Team != "payments" ||
		got[1].Layer != "none" || len(got[1].Explain) == 0 {
		t.Errorf("explain answered %s", r.body)
	}
	if r := e.do(t, "GET", "/v1/ownership/explain?resource=nokind", e.deployer, "", ""); r.status != 422 {
		t.Errorf("bad resource: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/ownership/explain", e.deployer, "", ""); r.status != 422 {
		t.Errorf("no resource: %d %s", r.status, r.body)
	}
	e.post(t, "/v1/actions", e.deployer, deployBody)
	r = e.do(t, "GET", "/v1/ownership/coverage", e.deployer, "", "")
	var cov ownership.Coverage
	if err := json.Unmarshal(r.body, &cov); err != nil || r.status != 200 {
		t.Fatalf("coverage: %d %s", r.status, r.body)
	}
	if cov.Seen != 2 || cov.Owned != 2 || cov.ByLayer["codeowners"] != 1 {
		t.Errorf("coverage %s: want 2 resources seen and owned, the file by CODEOWNERS", r.body)
	}
	r = e.do(t, "GET", "/readyz", "", "", "")
	if m := r.json(t); m["ownership"] == nil {
		t.Errorf("readyz lacks ownership health: %s", r.body)
	}
}
