package ingest

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/postgres"
)

var _ Incidents = (*incidents.Service)(nil)

// withIncidents gives the test server the incident service, with an auto-open rule for
// data loss on critical resources.
func withIncidents(t *testing.T, e *testEnv) {
	t.Helper()
	path := "../examples/quickstart/mandate.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, append(data, `
incidents:
  auto_open:
    - {name: data-loss, when: {failure_mode: data_loss, min_sensitivity: critical}, severity: critical}
`...))
	if err != nil {
		t.Fatal(err)
	}
	e.api.Incidents = &incidents.Service{Store: postgres.NewIncidentStore(e.db, nil), Actors: e.actors, Owners: e.owners,
		Config: func() *config.Config { return cfg }, Now: e.clock}
}

func (e *testEnv) incidentCount(t *testing.T) int {
	t.Helper()
	r := e.do(t, "GET", "/v1/incidents", adminToken, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	return len(r.json(t)["incidents"].([]any))
}

func TestIncidentAPI(t *testing.T) {
	e := newTestEnv(t)
	withIncidents(t, e)
	act := e.post(t, "/v1/actions", e.deployer, deployBody)
	if act.status != http.StatusCreated {
		t.Fatalf("action: %d %s", act.status, act.body)
	}
	actionID := act.json(t)["action_id"].(string)
	e.advance(5 * time.Minute)

	r := e.post(t, "/v1/incidents", adminToken, `{"title":"Payments API failing","severity":"high","resources":[{"kind":"service","name":"payments-api"}],"by":"erin"}`)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/v1/incidents/1" {
		t.Fatalf("open: %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	inc := r.json(t)
	causes, _ := inc["causes"].([]any)
	if inc["number"] != 1.0 || inc["state"] != "open" || inc["opened_by"] != "erin" || inc["via"] != "api" || len(causes) != 1 ||
		causes[0].(map[string]any)["action_id"] != actionID || causes[0].(map[string]any)["action"].(map[string]any)["actor"] != "deployer" {
		t.Errorf("incident %s", r.body)
	}
	byAgent := e.post(t, "/v1/incidents", e.deployer, `{"title":"My deploy broke it","severity":"low","cause_action_ids":["`+actionID+`"]}`)
	if byAgent.status != http.StatusCreated || byAgent.json(t)["opened_by"] != "deployer" || byAgent.json(t)["number"] != 2.0 {
		t.Errorf("opened by an agent: %d %s", byAgent.status, byAgent.body)
	}

	t.Run("BadInputNamesTheFieldAndStoresNothing", func(t *testing.T) {
		before := e.incidentCount(t)
		for _, c := range []struct {
			name, token, body string
			status            int
			fields            []string
		}{
			{"Empty", adminToken, `{}`, 422, []string{"title", "severity", "resources"}},
			{"BadSeverity", adminToken, `{"title":"x","severity":"sev1","resources":[{"kind":"service","name":"a"}]}`, 422, []string{"severity"}},
			{"BadResource", adminToken, `{"title":"x","severity":"low","resources":[{"kind":"Service!","name":"a"},{"kind":"service"}]}`, 422,
				[]string{"resources[0].kind", "resources[1].name"}},
			{"UnknownCause", adminToken, `{"title":"x","severity":"low","cause_action_ids":["0190a0a0-0000-7000-8000-000000000000"]}`, 422,
				[]string{"cause_action_ids[0]"}},
			{"UnknownField", adminToken, `{"title":"x","severity":"low","resource":[]}`, 422, []string{"resource"}},
			{"AgentNamesSomeoneElse", e.deployer, `{"title":"x","severity":"low","resources":[{"kind":"service","name":"a"}],"by":"erin"}`, 422, []string{"by"}},
			{"NotJSON", adminToken, `{"title":`, 400, nil},
			{"NoToken", "", `{"title":"x","severity":"low","resources":[{"kind":"service","name":"a"}]}`, 401, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.post(t, "/v1/incidents", c.token, c.body)
				if r.status != c.status {
					t.Fatalf("status %d %s, want %d", r.status, r.body, c.status)
				}
				if got := r.problemFields(t); !slices.Equal(got, c.fields) {
					t.Errorf("fields %v, want %v", got, c.fields)
				}
			})
		}
		if after := e.incidentCount(t); after != before {
			t.Errorf("%d incidents after bad requests, want %d", after, before)
		}
	})

	t.Run("Read", func(t *testing.T) {
		for _, path := range []string{"/v1/incidents/1", "/v1/incidents/INC-1", "/v1/incidents/inc-1"} {
			if r := e.do(t, "GET", path, e.reviewer, "", ""); r.status != 200 || r.json(t)["title"] != "Payments API failing" {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
		for _, path := range []string{"/v1/incidents/99", "/v1/incidents/abc", "/v1/incidents/0/timeline"} {
			if r := e.do(t, "GET", path, adminToken, "", ""); r.status != 404 {
				t.Errorf("GET %s: %d %s, want 404", path, r.status, r.body)
			}
		}
		list := e.do(t, "GET", "/v1/incidents?state=active&limit=1", adminToken, "", "").json(t)["incidents"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["number"] != 2.0 {
			t.Errorf("list: %v", list)
		}
		if r := e.do(t, "GET", "/v1/incidents?state=gone&color=red", adminToken, "", ""); r.status != 422 ||
			!slices.Equal(sorted(r.problemFields(t)), []string{"color", "state"}) {
			t.Errorf("bad query: %d %s", r.status, r.body)
		}
		tl := e.do(t, "GET", "/v1/incidents/1/timeline", adminToken, "", "")
		if tl.status != 200 {
			t.Fatalf("timeline: %d %s", tl.status, tl.body)
		}
		body := tl.json(t)
		entries := body["entries"].([]any)
		var kinds []string
		for _, en := range entries {
			kinds = append(kinds, en.(map[string]any)["kind"].(string)+"/"+en.(map[string]any)["event"].(string))
		}
		if body["incident"].(map[string]any)["number"] != 1.0 || !slices.Contains(kinds, "action/monitored_execute") || !slices.Contains(kinds, "incident/opened") {
			t.Errorf("timeline %s", tl.body)
		}
	})

	t.Run("Postmortem", func(t *testing.T) {
		if r := e.do(t, "GET", "/v1/incidents/1/postmortem.md", adminToken, "", ""); r.status != 404 || !strings.Contains(string(r.body), "not set up") {
			t.Errorf("without postmortems: %d %s", r.status, r.body)
		}
		e.api.Postmortem = func(_ context.Context, n int64) (string, error) {
			if n != 1 {
				return "", mandate.Errorf(mandate.ENOTFOUND, "INC-%d has no postmortem yet", n)
			}
			return "# INC-1 postmortem\n", nil
		}
		defer func() { e.api.Postmortem = nil }()
		if r := e.do(t, "GET", "/v1/incidents/1/postmortem.md", adminToken, "", ""); r.status != 200 ||
			r.header.Get("Content-Type") != "text/markdown; charset=utf-8" || string(r.body) != "# INC-1 postmortem\n" {
			t.Errorf("postmortem: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if r := e.do(t, "GET", "/v1/incidents/2/postmortem.md", adminToken, "", ""); r.status != 404 {
			t.Errorf("no postmortem yet: %d", r.status)
		}
	})
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestResultOpensIncidentByRule: a result matching an auto-open rule opens one incident,
// however often it is reported.
func TestResultOpensIncidentByRule(t *testing.T) {
	e := newTestEnv(t)
	withIncidents(t, e)
	r := e.post(t, "/v1/actions", e.deployer, deployBody)
	id := r.json(t)["action_id"].(string)
	for range 2 {
		res := e.post(t, "/v1/actions/"+id+"/result", e.deployer, `{"status":"failed","failure_mode":"data_loss","error":"rows deleted"}`)
		if res.status != http.StatusOK {
			t.Fatalf("result: %d %s", res.status, res.body)
		}
	}
	list := e.do(t, "GET", "/v1/incidents", adminToken, "", "").json(t)["incidents"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1", len(list))
	}
	inc := list[0].(map[string]any)
	if inc["via"] != "rule" || inc["opened_by"] != "rule:data-loss" || inc["severity"] != "critical" || inc["trigger_action"] != id {
		t.Errorf("incident %v", inc)
	}
	other := e.post(t, "/v1/actions", e.deployer, strings.Replace(deployBody, `"k1"`, `"k2"`, 1))
	oid := other.json(t)["action_id"].(string)
	if res := e.post(t, "/v1/actions/"+oid+"/result", e.deployer, `{"status":"failed","failure_mode":"timeout"}`); res.status != 200 {
		t.Fatalf("result: %d", res.status)
	}
	if n := e.incidentCount(t); n != 1 {
		t.Errorf("a result no rule matches opened an incident: %d", n)
	}
}
