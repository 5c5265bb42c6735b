package incidents

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/routing"
)

var _ routing.Incidents = (*Index)(nil)

// Index answers routing's incident signals from memory (routing.Incidents): how many
// incidents a resource had, and how many an actor caused on it, since a time. Routing asks
// on every action, so nothing here touches the database. It is loaded with Load, kept
// current by the Service for changes made on this replica, and by Refresh for the
// changes other replicas announce on postgres.IncidentChannel.
type Index struct {
	mu        sync.RWMutex
	incidents map[int64]indexed
	onKey     map[string][]int64 // resource key -> incidents on it
	byCause   map[string][]int64 // actor + "\x00" + resource key -> incidents it caused there
}

type indexed struct {
	opened time.Time
	keys   []string // the incident's resource keys
	causes []string // actor + "\x00" + key of each causing action's resources
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{incidents: map[int64]indexed{}, onKey: map[string][]int64{}, byCause: map[string][]int64{}}
}

// SignalStore reads what the index needs; *postgres.IncidentStore implements it.
type SignalStore interface {
	Signals(ctx context.Context, since time.Time) ([]*mandate.Incident, error)
	Signal(ctx context.Context, number int64) (*mandate.Incident, error)
}

// Load replaces the index's contents with the incidents opened since the given time
// (routing.incident_window back): at start, after the change listener reconnects (changes
// may have been missed), and from time to time so old incidents drop out.
func (x *Index) Load(ctx context.Context, store SignalStore, since time.Time) error {
	list, err := store.Signals(ctx, since)
	if err != nil {
		return err
	}
	fresh := NewIndex()
	for _, inc := range list {
		fresh.put(inc)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.incidents, x.onKey, x.byCause = fresh.incidents, fresh.onKey, fresh.byCause
	return nil
}

// Refresh re-reads one incident, announced as changed by any replica.
func (x *Index) Refresh(ctx context.Context, store SignalStore, number int64) error {
	inc, err := store.Signal(ctx, number)
	if err != nil {
		return err
	}
	x.Put(inc)
	return nil
}

// Put adds or replaces one incident.
func (x *Index) Put(inc *mandate.Incident) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.put(inc)
}

func (x *Index) put(inc *mandate.Incident) {
	if old, ok := x.incidents[inc.Number]; ok {
		for _, k := range old.keys {
			x.onKey[k] = remove(x.onKey[k], inc.Number)
			if len(x.onKey[k]) == 0 {
				delete(x.onKey, k)
			}
		}
		for _, k := range old.causes {
			x.byCause[k] = remove(x.byCause[k], inc.Number)
			if len(x.byCause[k]) == 0 {
				delete(x.byCause, k)
			}
		}
	}
	e := indexed{opened: inc.OpenedAt, keys: resourceKeys(dedupeResources(inc.Resources))}
	for _, c := range inc.CausingActions() {
		if c.Action == nil {
			continue
		}
		for _, r := range c.Action.Resources {
			if k := c.Action.ActorID + "\x00" + r.Key(); !slices.Contains(e.causes, k) {
				e.causes = append(e.causes, k)
			}
		}
	}
	x.incidents[inc.Number] = e
	for _, k := range e.keys {
		x.onKey[k] = append(x.onKey[k], inc.Number)
	}
	for _, k := range e.causes {
		x.byCause[k] = append(x.byCause[k], inc.Number)
	}
}

func remove(list []int64, n int64) []int64 {
	return slices.DeleteFunc(list, func(x int64) bool { return x == n })
}

// OnResource counts the incidents on the resource key opened since the given time.
func (x *Index) OnResource(key string, since time.Time) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count(x.onKey[key], since)
}

// CausedBy counts the incidents opened since the given time whose causing actions (the
// confirmed causes, or the candidates while none is confirmed) were actor's on key.
func (x *Index) CausedBy(actor, key string, since time.Time) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count(x.byCause[actor+"\x00"+key], since)
}

func (x *Index) count(numbers []int64, since time.Time) int {
	n := 0
	for _, num := range numbers {
		if !x.incidents[num].opened.Before(since) {
			n++
		}
	}
	return n
}

// Len is how many incidents the index holds.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.incidents)
}
