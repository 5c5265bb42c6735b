package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

// runCLI runs one command line in-process with the given environment.
func runCLI(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &environ{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	code = run(context.Background(), env, args)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "help")
	for _, name := range []string{"serve", "migrate", "config check", "agents token", "bench ingest", "DATABASE_URL"} {
		if !strings.Contains(out, name) {
			t.Errorf("help lacks %q", name)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, cmd := range [][]string{{"help", "serve"}, {"serve", "-h"}, {"help", "agents", "token"}, {"bench", "ingest", "-h"}} {
		code, out, errOut := runCLI(t, nil, cmd...)
		if code != 0 || !strings.Contains(out+errOut, "Usage: mandate") {
			t.Errorf("%v: exit %d, output %q", cmd, code, out+errOut)
		}
	}
	if code, _, errOut := runCLI(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "serve", "--bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("bad flag: exit %d, %q", code, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	code, out, _ := runCLI(t, nil, "config", "check", "../../examples/quickstart/mandate.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("example config: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("org:\n  timezone: Mars/Base\n  colour: red\n"), 0o644)
	code, _, errOut := runCLI(t, nil, "config", "check", bad)
	if code != 1 || !strings.Contains(errOut, bad+":2:") || !strings.Contains(errOut, bad+":3:") {
		t.Errorf("bad config: exit %d, stderr %q; want errors at lines 2 and 3", code, errOut)
	}
	if code, _, _ := runCLI(t, nil, "config", "check"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

func TestAgentsTokenAndMigrate(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t), "MANDATE_CONFIG": "../../examples/quickstart/mandate.yaml"}
	code, out, errOut := runCLI(t, vars, "agents", "token", "deployer")
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "mnd_") {
		t.Fatalf("token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, vars, "agents", "token", "ghost"); code != 1 || !strings.Contains(errOut, `"ghost" is not declared`) {
		t.Errorf("undeclared agent: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, vars, "agents", "token", "--revoke", "deployer"); code != 0 || !strings.Contains(errOut, "revoked 1 token") {
		t.Errorf("revoke: exit %d, %q", code, errOut)
	}
	if code, out, _ := runCLI(t, vars, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("migrate: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, vars, "migrate", "--status")
	if m := regexp.MustCompile(`migration (\d+) of (\d+)\n`).FindStringSubmatch(out); code != 0 || m == nil || m[1] != m[2] {
		t.Errorf("migrate --status: exit %d, %q", code, out)
	}
}
