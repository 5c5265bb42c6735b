package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

// ownershipConfig writes a config with a local CODEOWNERS and returns its path.
func ownershipConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "CODEOWNERS"), []byte("*.go @acme/payments @alice-ng\n/docs/ docs@acme.test\n"), 0o644)
	cfg := `org: {timezone: UTC, fallback: {team: platform}}
people:
  - {id: alice, github: alice-ng, email: alice@acme.test}
teams:
  - {id: payments, members: [alice], github: acme/payments}
  - {id: platform}
services:
  - {name: payments-service, kind: service, match: ["payments-*"], team: payments}
ownership:
  codeowners:
    - {repo: acme/api, file: CODEOWNERS}
`
	path := filepath.Join(dir, "mandate.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	return path
}

func TestOwnershipExplainJSON(t *testing.T) {
	cfg := ownershipConfig(t)
	code, out, errOut := runCLI(t, nil, "ownership", "explain", "--config", cfg, "--json",
		"file:acme/api:src/charge.go", "service:payments-service", "table:nothing")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []struct {
		Resource string   `json:"resource"`
		Owners   []string `json:"owners"`
		People   []string `json:"people"`
		Team     string   `json:"team"`
		Layer    string   `json:"layer"`
		Rule     string   `json:"rule"`
		Location string   `json:"location"`
		Explain  []string `json:"explain"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	if len(got) != 3 {
		t.Fatalf("%d objects, want 3 in the order given", len(got))
	}
	file := got[0]
	if file.Resource != "file:acme/api:src/charge.go" || file.Layer != "codeowners" || file.Team != "payments" ||
		!slices.Equal(file.Owners, []string{"@acme/payments", "@alice-ng"}) || !slices.Equal(file.People, []string{"alice"}) ||
		!strings.HasSuffix(file.Location, "CODEOWNERS:1") || file.Rule == "" || len(file.Explain) != 5 {
		t.Errorf("file: %+v", file)
	}
	if svc := got[1]; svc.Layer != "config" || svc.Team != "payments" {
		t.Errorf("service: %+v", svc)
	}
	if none := got[2]; none.Layer != "none" || len(none.Owners) != 0 || none.Owners == nil {
		t.Errorf("unowned: %+v (owners must be [] not null)", none)
	}
	code, out, _ = runCLI(t, nil, "ownership", "explain", "--config", cfg, "file:acme/api:src/charge.go")
	if code != 0 || !strings.Contains(out, "decided by: codeowners") || !strings.Contains(out, "CODEOWNERS:1") {
		t.Errorf("text output: %s", out)
	}
	if code, _, errOut := runCLI(t, nil, "ownership", "explain", "--config", cfg, "nokind"); code != 1 || !strings.Contains(errOut, "kind:name") {
		t.Errorf("bad resource: exit %d, %s", code, errOut)
	}
}

func TestOwnershipDatabaseCommands(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	cfg := ownershipConfig(t)
	if code, out, errOut := runCLI(t, vars, "ownership", "status"); code != 0 || !strings.Contains(out, "no ownership sources") {
		t.Errorf("status: exit %d, %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, vars, "ownership", "history", "service:payments-api"); code != 0 || !strings.Contains(out, "no ownership changes") {
		t.Errorf("history: exit %d, %s %s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, vars, "ownership", "coverage", "--config", cfg, "--json")
	var cov struct {
		Seen, Owned int
	}
	if code != 0 || json.Unmarshal([]byte(out), &cov) != nil || cov.Seen != 0 {
		t.Errorf("coverage: exit %d, %s %s", code, out, errOut)
	}
	// A read-only command records no source status.
	if _, out, _ := runCLI(t, vars, "ownership", "status"); !strings.Contains(out, "no ownership sources") {
		t.Errorf("coverage wrote source status: %s", out)
	}
}
