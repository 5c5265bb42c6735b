package routing

import (
	"sync"
	"time"

	"github.com/mandatehq/mandate"
)

// Incidents counts incidents for the historical-incidents and track-record signals.
// incidents.Index serves them from memory; NoIncidents counts none.
type Incidents interface {
	OnResource(key string, since time.Time) int
	CausedBy(actor, key string, since time.Time) int
}

// NoIncidents is an Incidents with no incidents.
type NoIncidents struct{}

// OnResource implements Incidents.
func (NoIncidents) OnResource(string, time.Time) int { return 0 }

// CausedBy implements Incidents.
func (NoIncidents) CausedBy(string, string, time.Time) int { return 0 }

// PatternHit is a stored incident pattern an action looks like.
type PatternHit struct {
	Incident string // e.g. "INC-123"
	Summary  string
	Link     string // to the postmortem
	// Number is the incident's number, when known: the warning names "incident #123".
	Number int64
	// Items sums up the incident's action items, e.g. "1 of 2 done".
	Items string
	// Overdue names each promise not kept in time: "\"add a canary\" (bob), overdue since
	// 2026-03-02". Each becomes a reason of its own: "you said you'd fix this: …".
	Overdue []string
	// OpenItems reports that some of the incident's action items are not done: the fix
	// promised has not landed, so routing raises the urgency.
	OpenItems bool
}

// Patterns finds stored incident patterns matching an action; incidents.Matcher serves
// them from memory, NoPatterns matches nothing.
type Patterns interface {
	Match(a *mandate.Action) []PatternHit
}

// NoPatterns is a Patterns that matches nothing.
type NoPatterns struct{}

// Match implements Patterns.
func (NoPatterns) Match(*mandate.Action) []PatternHit { return nil }

// Tracker keeps the in-memory aggregates routing reads on the hot path: recent actions per
// actor and resource (the rate rule) and recent failures per actor (the track record). It
// outlives config reloads; one per process.
type Tracker struct {
	mu       sync.Mutex
	recent   map[string][]time.Time // actor + "\x00" + resource key -> latest action times
	failures map[string][]time.Time // actor -> latest failure times
}

// maxTracked bounds how many timestamps a key keeps: enough to tell "over the limit".
const maxTracked = 1000

// maxKeys bounds the rate map; beyond it, stale keys are swept.
const maxKeys = 200000

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{recent: map[string][]time.Time{}, failures: map[string][]time.Time{}}
}

// observe records an action of actor on key at now and returns how many fall within window
// (this one included), counting at most limit+1.
func (t *Tracker) observe(actor, key string, now time.Time, window time.Duration, limit int, record bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := actor + "\x00" + key
	times := prune(t.recent[k], now.Add(-window))
	n := len(times)
	if record {
		times = append(times, now)
		if len(times) > min(limit+1, maxTracked) {
			times = times[len(times)-min(limit+1, maxTracked):]
		}
		t.recent[k] = times
		if len(t.recent) > maxKeys {
			t.sweep(now.Add(-window))
		}
	}
	return n + 1
}

// ObserveResult implements mandate.ResultObserver: failures count toward the actor's
// track record.
func (t *Tracker) ObserveResult(actor string, status mandate.ActionStatus, at time.Time) {
	if status != mandate.StatusFailed {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := append(t.failures[actor], at)
	if len(f) > maxTracked {
		f = f[len(f)-maxTracked:]
	}
	t.failures[actor] = f
}

// Failures counts the actor's failures since the given time.
func (t *Tracker) Failures(actor string, since time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, at := range t.failures[actor] {
		if !at.Before(since) {
			n++
		}
	}
	return n
}

// sweep drops keys with no action since before. If that is not enough — a burst of
// distinct resources within one window — it drops arbitrary keys down to half the bound,
// so the map's size, and the cost of sweeping, stay bounded.
func (t *Tracker) sweep(before time.Time) {
	for k, times := range t.recent {
		if len(times) == 0 || times[len(times)-1].Before(before) {
			delete(t.recent, k)
		}
	}
	for k := range t.recent {
		if len(t.recent) <= maxKeys/2 {
			break
		}
		delete(t.recent, k)
	}
}

// prune drops times before cutoff; times are in order.
func prune(times []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(times) && times[i].Before(cutoff) {
		i++
	}
	return times[i:]
}
