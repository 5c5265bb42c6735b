package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

// TestDemo plays the whole demo, fast, against a fresh database: it must exit 0 and show
// the three agents' messages, the pause, the halt and the status.
func TestDemo(t *testing.T) {
	var out, errs strings.Builder
	vars := map[string]string{"MANDATE_DEMO_DATABASE_URL": pgtest.URL(t)}
	env := &environ{stdout: &out, stderr: &errs, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--config", "../../examples/demo/mandate.yaml", "--speed", "1000"}
	err := demoCmd.run(ctx, demoCmd, env, args)
	t.Logf("transcript:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, errs.String())
	}
}
