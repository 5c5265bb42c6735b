package mandate

import (
	"slices"
	"testing"
)

func TestCausingActions(t *testing.T) {
	ids := func(cs []IncidentCause) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ActionID)
		}
		return out
	}
	inc := &Incident{Causes: []IncidentCause{
		{ActionID: "a", Score: 4, State: CauseCandidate},
		{ActionID: "b", Score: 1, State: CauseCandidate},   // a quarter of the best: likely
		{ActionID: "c", Score: 0.9, State: CauseCandidate}, // weaker: listed, not held responsible
		{ActionID: "d", Score: 3, State: CauseDismissed},
	}}
	if got := ids(inc.CausingActions()); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("candidates: %v, want a, b", got)
	}
	inc.Causes[0].State = CauseDismissed
	if got := ids(inc.CausingActions()); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("best dismissed: %v, want b, c (measured against the best left)", got)
	}
	inc.Causes[2].State = CauseConfirmed
	if got := ids(inc.CausingActions()); !slices.Equal(got, []string{"c"}) {
		t.Errorf("with a confirmed cause: %v, want only it", got)
	}
	if got := (&Incident{}).CausingActions(); len(got) != 0 {
		t.Errorf("no causes: %v", got)
	}
}

func TestParseSeverity(t *testing.T) {
	for _, s := range []string{"low", "medium", "high", "critical"} {
		if sev, err := ParseSeverity(s); err != nil || string(sev) != s {
			t.Errorf("%s: %v %v", s, sev, err)
		}
	}
	if _, err := ParseSeverity("sev1"); ErrorCode(err) != EINVALID {
		t.Errorf("sev1: %v", err)
	}
	if !SeverityHigh.Valid() || Severity("x").Valid() || SeverityCritical.Rank() <= SeverityHigh.Rank() {
		t.Error("ranks")
	}
}
