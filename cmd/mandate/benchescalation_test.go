package main

import (
	"strings"
	"testing"

	"github.com/mandatehq/mandate/postgres/pgtest"
)

// TestBenchEscalation runs a small 'mandate bench escalation' on a fresh database: every
// timer fires exactly once, River completes every job, and the report has its figures.
// How late the timers were is printed, not asserted: it depends on the machine.
func TestBenchEscalation(t *testing.T) {
	vars := map[string]string{"MANDATE_BENCH_DATABASE_URL": pgtest.URL(t)}
	code, out, errOut := runCLI(t, vars, "bench", "escalation", "--timers", "200", "--spread", "2s", "--lead", "1s", "--replicas", "2", "--sample", "250ms")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"200 durable timers due over 2s",
		"lateness    p50 ",
		"200 fired exactly once, 0 lost, 0 doubled, 0 early; river_job: 200 completed",
		"live heap",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
