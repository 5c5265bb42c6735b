package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

// runDemoForTest runs `mandate demo ARGS` in-process and returns its exit status.
func runDemoForTest(ctx context.Context, env *environ, args ...string) int {
	return run(ctx, env, append([]string{"demo"}, args...))
}

// TestDemo plays the whole demo, fast, against a fresh database: it exits 0, and the
// transcript shows the three agents' notifications, the pause, the halt, TTI and status,
// and the learning loop: the incident, its channel, pause, resolve, postmortem, warning.
func TestDemo(t *testing.T) {
	var out, errs strings.Builder
	vars := map[string]string{"MANDATE_DEMO_DATABASE_URL": pgtest.URL(t)}
	env := &environ{stdout: &out, stderr: &errs, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code := runDemoForTest(ctx, env, "--config", "../../examples/demo/mandate.yaml", "--speed", "1000")
	transcript := out.String()
	if code != 0 {
		t.Fatalf("exit %d: %s\ntranscript:\n%s", code, errs.String(), transcript)
	}
	for _, want := range []string{
		// The three agents' notifications, in their owners' channels.
		"#security  mandate posted notification",
		`Agent "code-reviewer" modified file:acme/api:src/auth/session.go`,
		"#payments  mandate posted notification",
		`Agent "deployer" deployed to service:payments-service`,
		`Agent "migration-agent" wrote to table:billing.invoices`,
		"rule production-migrations",
		// The owners' presses and how the messages reflect them.
		"#security  @sam pressed [✅ Looks OK] on notification",
		"#payments  @alice pressed [⏸ Pause agent] on notification",
		"⏸ Paused by @alice",
		"@alice paused deployer (its next action will be halted)",
		// The agent's view of the pause.
		"deployer ← halt: paused by alice",
		// TTI and status.
		"paused by alice after ",
		`mandate_tti_seconds_count{kind="paused"} 1`,
		`mandate_tti_seconds_count{kind="looks_ok"} 1`,
		"#platform  @erin /mandate status",
		"/mandate status answers erin:",
		"deployer paused by @alice",
		"paused: p95",
		// The learning loop: data loss opens an incident, its channel, pause, resolve,
		// postmortem, and the warning on the same action again.
		"@erin resumed deployer.",
		`deployer → POST /v1/actions/`,
		"/result: failed (data_loss)",
		"[mandate created #inc-1-data-loss-on-critical",
		"[mandate invited @alice, @bob]",
		"mandate posted the INC-1 header:",
		"INC-1 (high) opened by rule:data-loss-on-critical",
		"@alice pressed [⏸ Pause all causing agents] on the INC-1 header",
		"@alice paused deployer",
		"@bob pressed [✅ Resolved] on the INC-1 header",
		"INC-1 is resolved",
		"mandate posted the INC-1 postmortem card:",
		"GET /v1/incidents/1/postmortem.md, the draft for people to finish, in outline:",
		"    ## Timeline\n    ## Affected systems\n    ## Who was involved\n    ## Root cause candidates\n    ## Impact\n    ## What we'll change\n    ## Action items",
		"Mandate remembered: the owners see, on the same deploy,\n    ⚠ This looks similar to incident #1",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
	if strings.Contains(transcript, "<@U") {
		t.Errorf("the transcript shows raw Slack mentions")
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", transcript)
	}
}

func TestDemoUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"--speed", "0"}, {"--speed", "-1"}, {"extra"}} {
		var out, errs strings.Builder
		env := &environ{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
		if code := runDemoForTest(ctx, env, args...); code != 2 {
			t.Errorf("demo %v: exit %d, want 2 (%s)", args, code, errs.String())
		}
	}
	var out, errs strings.Builder
	env := &environ{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }}
	if code := runDemoForTest(ctx, env, "--config", "../../examples/quickstart/mandate.yaml", "--database", "postgres:///unused"); code != 1 ||
		!strings.Contains(errs.String(), `declares no agent "migration-agent"`) {
		t.Errorf("a config without the script's agents: exit %d, %s", code, errs.String())
	}
}
