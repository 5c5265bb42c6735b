package incidents_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/incidents"
)

func TestChannelName(t *testing.T) {
	for title, want := range map[string]string{
		"Payments API: 5xx on checkout!": "inc-7-payments-api-5xx-on-checkout",
		"  DB   down  ":                  "inc-7-db-down",
		"Ünïcode — café crème, Straße":   "inc-7-uenicode-cafe-creme-strasse",
		"日本語のタイトル":                       "inc-7",
		"🔥🔥🔥":                            "inc-7",
		"":                               "inc-7",
		"snake_case and UPPER":           "inc-7-snake-case-and-upper",
	} {
		if got := incidents.ChannelName(7, title); got != want {
			t.Errorf("ChannelName(%q) = %q, want %q", title, got, want)
		}
	}
	long := incidents.ChannelName(123456, strings.Repeat("very long title ", 20))
	if len(long) > 80-3 || strings.HasSuffix(long, "-") || !strings.HasPrefix(long, "inc-123456-very-long-title-") {
		t.Errorf("long title: %q (%d characters): must leave room for a -NN suffix within 80", long, len(long))
	}
}

// TestRank: named causes first; then recency × sensitivity × failure.
func TestRank(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	act := func(id string, minutesBefore int, failed bool, rs ...mandate.Resource) *mandate.Action {
		a := &mandate.Action{ID: id, ActorID: "agent-" + id, Type: "deploy", Resources: rs, OccurredAt: at.Add(-time.Duration(minutesBefore) * time.Minute)}
		if failed {
			a.Result = &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "timeout"}
		}
		return a
	}
	crit := mandate.Resource{Kind: "service", Name: "payments-api"}
	low := mandate.Resource{Kind: "bucket", Name: "logs"}
	sens := func(r mandate.Resource) string {
		if r == crit {
			return "critical"
		}
		return "low"
	}
	keys := []string{crit.Key(), low.Key()}
	recentLow := act("recent-low", 1, false, low)           // ~0.49
	oldCrit := act("old-crit", 60, false, crit)             // 1
	midCritFailed := act("mid-crit-failed", 30, true, crit) // 4
	named := act("named", 100, false, low)
	causes := incidents.Rank([]*mandate.Action{named}, []*mandate.Action{recentLow, oldCrit, midCritFailed, named}, keys, sens, at)
	var got []string
	for _, c := range causes {
		got = append(got, c.ActionID)
	}
	if strings.Join(got, ",") != "named,mid-crit-failed,old-crit,recent-low" {
		t.Fatalf("rank %v", got)
	}
	for i, c := range causes {
		if c.Rank != i+1 || c.State != mandate.CauseCandidate || c.Action == nil {
			t.Errorf("cause %d: %+v", i, c)
		}
	}
	if c := causes[1]; c.Score != 4 || c.Reason != "deploy on service:payments-api (critical) 30 m before; failed (timeout)" {
		t.Errorf("second cause %+v", c)
	}
	if c := causes[0]; !strings.HasPrefix(c.Reason, "named when the incident was opened; deploy on bucket:logs (low) 1 h 40 m before") {
		t.Errorf("named cause %+v", c)
	}
	var many []*mandate.Action
	for i := range 30 {
		many = append(many, act(strings.Repeat("x", i+1), i, false, crit))
	}
	if n := len(incidents.Rank(nil, many, keys, sens, at)); n != 10 {
		t.Errorf("%d causes kept, want 10", n)
	}
}
