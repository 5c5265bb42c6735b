package ownership_test

import (
	"context"
	"testing"
	"time"

	"github.com/mandatehq/mandate/ownership"
)

// TestSnapshotOnCall: the snapshot keeps every on-call entry with the person it maps to,
// and Changed wakes watchers when a refresh swaps a new snapshot in.
func TestSnapshotOnCall(t *testing.T) {
	f := newFixture(t, nil, nil)
	changed := f.resolver.Changed()
	snap := f.resolver.Snapshot()
	if got := snap.OnCallTeams(); len(got) != 1 || got[0] != "data" {
		t.Errorf("on-call teams %q, want [data]", got)
	}
	shifts, known := snap.OnCall("data")
	if !known || len(shifts) != 1 {
		t.Fatalf("data's on-call: %+v (known %v), want carol", shifts, known)
	}
	s := shifts[0]
	if s.Person != "carol" || s.UserID != "PU1" || s.Level != 1 || s.PolicyID != "PDATA" || s.Team != "data" {
		t.Errorf("shift %+v, want carol at level 1 of PDATA", s)
	}
	if got := s.Rotation(); got != "policy:PDATA:level:1" {
		t.Errorf("rotation %q", got)
	}
	if _, known := snap.OnCall("payments"); known {
		t.Error("payments has no PagerDuty, yet its on-call is known")
	}
	select {
	case <-changed:
		t.Fatal("Changed fired before any refresh")
	default:
	}
	if err := f.resolver.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("a refresh did not close the Changed channel")
	}
	if f.resolver.Changed() == changed {
		t.Error("Changed returned the closed channel again")
	}
}

func TestOnCallShiftCovers(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := ownership.OnCallShift{ScheduleID: "PSCHED1", Start: t0, End: t0.Add(8 * time.Hour)}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(-time.Second), false}, {t0, true}, {t0.Add(8*time.Hour - time.Second), true}, {t0.Add(8 * time.Hour), false}} {
		if got := s.Covers(c.at); got != c.want {
			t.Errorf("covers %s: %v, want %v", c.at, got, c.want)
		}
	}
	if !(ownership.OnCallShift{}).Covers(t0) {
		t.Error("an open-ended shift does not cover")
	}
	if got := s.Rotation(); got != "schedule:PSCHED1" {
		t.Errorf("rotation %q", got)
	}
}
