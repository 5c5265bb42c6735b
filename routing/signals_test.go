package routing

import (
	"fmt"
	"testing"
	"time"
)

// TestTrackerStaysBounded floods the rate tracker with distinct resources inside one
// window: its map must stay bounded (and so must the cost of sweeping it).
func TestTrackerStaysBounded(t *testing.T) {
	tr := NewTracker()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 3 * maxKeys {
		tr.observe("a", fmt.Sprint("bucket:b", i), now, 10*time.Minute, 20, true)
	}
	if n := len(tr.recent); n > maxKeys {
		t.Errorf("%d keys tracked, want at most %d", n, maxKeys)
	}
	if got := tr.observe("a", "bucket:x", now, 10*time.Minute, 20, true); got != 1 {
		t.Errorf("a new key counts %d", got)
	}
}
