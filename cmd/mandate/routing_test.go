package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

func TestRoutingExplain(t *testing.T) {
	action := filepath.Join(t.TempDir(), "action.json")
	os.WriteFile(action, []byte(`{"type":"db_migration","summary":"index","resources":[{"kind":"table","name":"billing.invoices"}],"environment":"production"}`), 0o644)
	cfg := "../../examples/quickstart/mandate.yaml"
	code, out, errOut := runCLI(t, nil, "routing", "explain", "--config", cfg, "--json", "--actor", "deployer", "--at", "2026-11-25T10:00:00Z", action)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, out)
	}
	for _, field := range []string{"path", "urgency", "rule", "reasons", "targets"} {
		if _, ok := got[field]; !ok {
			t.Errorf("JSON lacks %q: %s", field, out)
		}
	}
	if got["path"] != "flagged_execute" || got["rule"] != "production-migrations" || got["review_by"] != "2026-11-25T12:00:00Z" {
		t.Errorf("decision %s", out)
	}
	code, out, _ = runCLI(t, nil, "routing", "explain", "--config", cfg, "--actor", "code-reviewer", "--at", "2026-11-25T23:00:00Z", action)
	if code != 0 || !strings.Contains(out, "path:     flagged_execute") || !strings.Contains(out, "outside business hours") || !strings.Contains(out, "person erin: watches table:billing.*") {
		t.Errorf("text output:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"type":"Deploy"}`), 0o644)
	if code, _, errOut := runCLI(t, nil, "routing", "explain", "--config", cfg, "--actor", "deployer", bad); code != 1 || !strings.Contains(errOut, "resources") {
		t.Errorf("bad action: exit %d, %s", code, errOut)
	}
	if code, _, _ := runCLI(t, nil, "routing", "explain", "--config", cfg, action); code != 2 {
		t.Errorf("no actor: exit %d, want 2", code)
	}
}

func TestRoutingStatsEmpty(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	if code, out, errOut := runCLI(t, vars, "routing", "stats"); code != 0 || !strings.Contains(out, "no notifications") {
		t.Errorf("stats: exit %d, %s %s", code, out, errOut)
	}
}
