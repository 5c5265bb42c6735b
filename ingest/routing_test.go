package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestRoutingThroughPostActions routes real actions through POST /v1/actions with the
// quickstart's rules and checks what the agent is told and what is stored.
func TestRoutingThroughPostActions(t *testing.T) {
	e := newTestEnv(t) // 2026-11-25 12:00 UTC: inside business hours in Europe/Berlin
	post := func(token, body string) map[string]any {
		t.Helper()
		r := e.post(t, "/v1/actions", token, body)
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r.json(t)
	}
	decision := func(m map[string]any) map[string]any { return m["decision"].(map[string]any) }

	read := post(e.deployer, `{"type":"read","summary":"look","resources":[{"kind":"table","name":"billing.invoices"}]}`)
	if d := decision(read); d["path"] != "auto_execute" || read["next"] != "proceed" || d["targets"] != nil {
		t.Errorf("read: %v", read)
	}
	charge := post(e.deployer, `{"type":"payment_charge","summary":"refund","resources":[{"kind":"service","name":"payments-api"}],"environment":"production"}`)
	if d := decision(charge); d["path"] != "gated_execute" || d["rule"] != "payment-charges" || charge["next"] != "wait" || charge["status"] != "waiting" {
		t.Errorf("payment: %v", charge)
	}
	migration := post(e.deployer, `{"type":"db_migration","summary":"index","resources":[{"kind":"table","name":"billing.invoices"}],"environment":"production"}`)
	if d := decision(migration); d["path"] != "flagged_execute" || d["review_by"] != "2026-11-25T14:00:00Z" || !strings.Contains(fmt.Sprint(d["targets"]), "erin") {
		t.Errorf("migration: %v", migration)
	}
	newbie := post(e.reviewer, `{"type":"code_change","summary":"refactor","resources":[{"kind":"file","repo":"acme/api","path":"src/x.go"}]}`)
	if d := decision(newbie); d["path"] != "flagged_execute" || !strings.Contains(fmt.Sprint(d["reasons"]), "code-reviewer is new") {
		t.Errorf("new agent: %v", newbie)
	}

	// Notifications: none for the read, the owners for the others.
	notes := func(id string) []any {
		r := e.do(t, "GET", "/v1/actions/"+id+"/notifications", adminToken, "", "")
		if r.status != 200 {
			t.Fatalf("notifications: %d %s", r.status, r.body)
		}
		return r.json(t)["notifications"].([]any)
	}
	if n := notes(read["action_id"].(string)); len(n) != 0 {
		t.Errorf("auto_execute notified %d", len(n))
	}
	migrationNotes := notes(migration["action_id"].(string))
	if len(migrationNotes) != 2 {
		t.Fatalf("migration notifications %v, want team payments and watcher erin", migrationNotes)
	}

	t.Run("DryRunStoresNothing", func(t *testing.T) {
		before := e.streamLen(t)
		body := `{"type":"db_migration","summary":"index","resources":[{"kind":"table","name":"billing.invoices"}],"environment":"production"}`
		r := e.post(t, "/v1/route/dry-run", e.deployer, body)
		m := r.json(t)
		if r.status != 200 || m["path"] != "flagged_execute" || m["rule"] != "production-migrations" || len(m["resources"].([]any)) != 1 {
			t.Fatalf("dry run: %d %s", r.status, r.body)
		}
		night := e.post(t, "/v1/route/dry-run?at=2026-11-25T23:00:00Z", e.deployer, body).json(t)
		if night["urgency"] != "critical" || !strings.Contains(fmt.Sprint(night["reasons"]), "outside business hours in Europe/Berlin") {
			t.Errorf("dry run at night: %v", night)
		}
		if after := e.streamLen(t); after != before {
			t.Errorf("dry run stored %d actions", after-before)
		}
		if r := e.post(t, "/v1/route/dry-run?at=yesterday", e.deployer, body); r.status != 422 {
			t.Errorf("bad at: %d", r.status)
		}
	})

	t.Run("FeedbackAndStats", func(t *testing.T) {
		id := fmt.Sprint(migrationNotes[0].(map[string]any)["id"])
		for _, fb := range []string{`{"relevant":false,"by":"bob"}`, `{"relevant":false,"by":"alice"}`, `{"relevant":true,"by":"erin"}`} {
			if r := e.post(t, "/v1/notifications/"+id+"/feedback", adminToken, fb); r.status != 200 {
				t.Fatalf("feedback: %d %s", r.status, r.body)
			}
		}
		if r := e.post(t, "/v1/notifications/"+id+"/feedback", e.deployer, `{"relevant":true,"by":"x"}`); r.status != 403 {
			t.Errorf("agent feedback: %d", r.status)
		}
		if r := e.post(t, "/v1/notifications/99999/feedback", adminToken, `{"relevant":true,"by":"x"}`); r.status != 404 {
			t.Errorf("unknown notification: %d", r.status)
		}
		if r := e.post(t, "/v1/notifications/"+id+"/feedback", adminToken, `{"by":"x"}`); r.status != 422 {
			t.Errorf("feedback without relevant: %d", r.status)
		}
		missed := fmt.Sprintf(`{"action_id":%q,"who":"carol","note":"data team reads this table","by":"erin"}`, migration["action_id"])
		if r := e.post(t, "/v1/routing/missed", adminToken, missed); r.status != 201 {
			t.Fatalf("missed: %d %s", r.status, r.body)
		}
		if r := e.post(t, "/v1/routing/missed", adminToken, strings.Replace(missed, `"carol"`, `"team:bad id"`, 1)); r.status != 422 {
			t.Errorf("a malformed team: %d %s", r.status, r.body)
		}
		r := e.do(t, "GET", "/v1/routing/stats", e.deployer, "", "")
		var stats struct {
			Rules []struct {
				Rule              string  `json:"rule"`
				Notifications     int     `json:"notifications"`
				Feedback          int     `json:"feedback"`
				FalsePositiveRate float64 `json:"false_positive_rate"`
				Missed            int     `json:"missed"`
				NeedsReview       bool    `json:"needs_review"`
			} `json:"rules"`
		}
		if err := json.Unmarshal(r.body, &stats); err != nil || r.status != 200 {
			t.Fatalf("stats: %d %s", r.status, r.body)
		}
		found := false
		for _, s := range stats.Rules {
			if s.Rule == "production-migrations" {
				found = true
				if s.Notifications != 2 || s.Feedback != 3 || s.FalsePositiveRate < 0.66 || s.FalsePositiveRate > 0.67 || s.Missed != 1 || !s.NeedsReview {
					t.Errorf("production-migrations stats %+v", s)
				}
			} else if s.NeedsReview {
				t.Errorf("rule %s flagged without feedback", s.Rule)
			}
		}
		if !found {
			t.Errorf("no stats for production-migrations: %s", r.body)
		}
	})
}

// TestAutoPause: with routing.auto_pause (3 failures in 1 h in the quickstart), the third
// failed result pauses the agent, and its next action is halted.
func TestAutoPause(t *testing.T) {
	e := newTestEnv(t)
	for i := range 3 {
		id := e.post(t, "/v1/actions", e.reviewer, fmt.Sprintf(`{"type":"code_change","summary":"try %d","resources":[{"kind":"file","repo":"acme/api","path":"a.go"}]}`, i)).json(t)["action_id"].(string)
		if r := e.post(t, "/v1/actions/"+id+"/result", e.reviewer, `{"status":"failed","error":"tests failed"}`); r.status != 200 {
			t.Fatalf("result: %d %s", r.status, r.body)
		}
	}
	r := e.post(t, "/v1/actions", e.reviewer, `{"type":"code_change","summary":"again","resources":[{"kind":"file","repo":"acme/api","path":"a.go"}]}`).json(t)
	halt, _ := r["halt"].(map[string]any)
	if r["next"] != "halt" || halt["paused_by"] != "mandate" || !strings.Contains(fmt.Sprint(halt["reason"]), "3 failed actions") {
		t.Errorf("after 3 failures: %v", r)
	}
	// The deployer, which did not fail, is not paused.
	if r := e.post(t, "/v1/actions", e.deployer, deployBody).json(t); r["next"] != "proceed" {
		t.Errorf("deployer: %v", r)
	}
}
