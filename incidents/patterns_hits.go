package incidents

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mandatehq/mandate"
)

// HitStore records pattern hits; *postgres.LearningStore implements it.
type HitStore interface {
	RecordHits(ctx context.Context, actionID string, patterns []int64, at time.Time) (int, error)
}

// hitQueue bounds the hits waiting to be written. A hit is a statistic, not a promise:
// when the database falls this far behind, new hits are dropped (and counted) rather than
// slowing ingest down.
const hitQueue = 4096

// HitRecorder records which stored patterns new actions matched, in pattern_hits, off the
// ingest path: Observe only matches in memory and queues; Run writes.
type HitRecorder struct {
	Matcher *Matcher
	Store   HitStore
	Now     func() time.Time
	Log     *slog.Logger
	// Recorded, when set, hears of each action's hits once written (or failed): for
	// metrics and tests.
	Recorded func(actionID string, n int, err error)

	queue   chan hit
	dropped atomic.Int64
}

type hit struct {
	actionID string
	patterns []int64
	at       time.Time
}

// NewHitRecorder returns a recorder; start its Run.
func NewHitRecorder(m *Matcher, store HitStore, log *slog.Logger) *HitRecorder {
	return &HitRecorder{Matcher: m, Store: store, Log: log, queue: make(chan hit, hitQueue)}
}

// Observe queues the pattern hits of an action just stored. It matches in memory, as
// routing did, and never blocks; auto_execute actions are skipped because routing warns
// nobody about them.
func (h *HitRecorder) Observe(a *mandate.Action) {
	if a == nil || a.ID == "" || a.Decision.Path == mandate.PathAuto {
		return
	}
	found := h.Matcher.find(a)
	if len(found) == 0 {
		return
	}
	var ids []int64
	for _, s := range found {
		ids = append(ids, s.patterns...)
	}
	at := time.Now()
	if h.Now != nil {
		at = h.Now()
	}
	select {
	case h.queue <- hit{actionID: a.ID, patterns: ids, at: at}:
	default:
		h.dropped.Add(1)
	}
}

// Dropped counts hits dropped because the queue was full.
func (h *HitRecorder) Dropped() int64 { return h.dropped.Load() }

// Run writes queued hits until ctx ends; the wiring starts it once.
func (h *HitRecorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case x := <-h.queue:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n, err := h.Store.RecordHits(wctx, x.actionID, x.patterns, x.at)
			cancel()
			if err != nil && h.Log != nil {
				h.Log.Warn("cannot record pattern hits", "action", x.actionID, "err", err)
			}
			if h.Recorded != nil {
				h.Recorded(x.actionID, n, err)
			}
		}
	}
}

// ObserveHits returns actions with Record extended: each action newly stored (not an
// idempotent replay) is handed to hits after its commit, so its hits reference a stored
// action, and the caller waits for nothing more than before.
func ObserveHits(actions mandate.ActionStore, hits *HitRecorder) mandate.ActionStore {
	return hitObserver{ActionStore: actions, hits: hits}
}

type hitObserver struct {
	mandate.ActionStore
	hits *HitRecorder
}

func (o hitObserver) Record(ctx context.Context, a *mandate.Action, sha []byte) (json.RawMessage, bool, error) {
	answer, replayed, err := o.ActionStore.Record(ctx, a, sha)
	if err == nil && !replayed {
		o.hits.Observe(a)
	}
	return answer, replayed, err
}
