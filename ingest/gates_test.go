package ingest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/mandatehq/mandate/postgres"
)

// TestGates: a gated action is answered wait with a gate; a long-poll on the gate returns
// as soon as someone decides; a denied action is blocked.
func TestGates(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan struct{})
	var once sync.Once
	go e.db.Listen(ctx, postgres.GateChannel, e.api.GateChanged, func() { once.Do(func() { close(listening) }) }, nil)
	<-listening

	charge := `{"type":"payment_charge","summary":"refund order 42","resources":[{"kind":"service","name":"payments-api"}],"environment":"production"}`
	ans := e.post(t, "/v1/actions", e.deployer, charge).json(t)
	gate, _ := ans["gate"].(map[string]any)
	if ans["next"] != "wait" || gate == nil || gate["state"] != "pending" || gate["gate_id"] != ans["action_id"] || gate["expires_at"] != "2026-11-25T12:15:00Z" {
		t.Fatalf("gated answer: %v", ans)
	}
	id := gate["gate_id"].(string)

	t.Run("LongPollWakesOnApproval", func(t *testing.T) {
		waiting := make(chan string, 10)
		e.api.gateHub.waiting = func(id string) { waiting <- id }
		defer func() { e.api.gateHub.waiting = nil }()
		got := make(chan response, 1)
		go func() { got <- e.do(t, "GET", "/v1/gates/"+id+"?wait=60s", e.deployer, "", "") }()
		<-waiting
		if r := e.post(t, "/v1/gates/"+id+"/approve", adminToken, `{"by":"alice"}`); r.status != 200 {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
		r := <-got
		g := r.json(t)
		if g["state"] != "approved" || g["decided_by"] != "alice" || g["tti_ms"] == nil {
			t.Errorf("long-poll answer %s", r.body)
		}
		if r := e.post(t, "/v1/gates/"+id+"/deny", adminToken, `{"by":"bob"}`); r.status != 409 {
			t.Errorf("deciding again: %d, want 409", r.status)
		}
		if a := e.do(t, "GET", "/v1/actions/"+id, e.deployer, "", "").json(t); a["status"] != "accepted" {
			t.Errorf("approved action status %v", a["status"])
		}
	})
	t.Run("DeniedActionIsBlocked", func(t *testing.T) {
		ans := e.post(t, "/v1/actions", e.deployer, strings.Replace(charge, "42", "43", 1)).json(t)
		id := ans["action_id"].(string)
		if r := e.post(t, "/v1/gates/"+id+"/deny", adminToken, `{"by":"bob"}`); r.status != 200 || r.json(t)["state"] != "denied" {
			t.Fatalf("deny: %d %s", r.status, r.body)
		}
		if r := e.post(t, "/v1/actions/"+id+"/result", e.deployer, `{"status":"succeeded"}`); r.status != 409 {
			t.Errorf("result of a denied action: %d, want 409", r.status)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		if r := e.do(t, "GET", "/v1/gates/"+id, e.reviewer, "", ""); r.status != 404 {
			t.Errorf("another agent's gate: %d", r.status)
		}
		if r := e.do(t, "GET", "/v1/gates/nope", adminToken, "", ""); r.status != 404 {
			t.Errorf("unknown gate: %d", r.status)
		}
		if r := e.post(t, "/v1/gates/"+id+"/approve", e.deployer, `{"by":"x"}`); r.status != 403 {
			t.Errorf("agent approving its own gate: %d", r.status)
		}
		if r := e.do(t, "GET", "/v1/gates/"+id+"?wait=2h", adminToken, "", ""); r.status != 422 {
			t.Errorf("bad wait: %d", r.status)
		}
	})
}
