package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// PausedAgent is an agent that is paused now.
type PausedAgent struct {
	ID, By, Reason string
	Since          time.Time
}

// StatusCounts are the figures of the /mandate status summary.
type StatusCounts struct {
	Paused          []PausedAgent
	ActionsLastHour int
	// TTIP95 is the 95th percentile time-to-intervention per response kind, with the
	// number of samples, over the window asked for.
	TTIP95  map[string]time.Duration
	Samples map[string]int
}

// Status reads the status figures: paused agents, actions in the hour before now, and TTI
// percentiles since the given time.
func (s *ActionStore) Status(ctx context.Context, now, ttiSince time.Time) (*StatusCounts, error) {
	st := &StatusCounts{TTIP95: map[string]time.Duration{}, Samples: map[string]int{}}
	rows, err := s.db.pool.Query(ctx, `SELECT id, coalesce(paused_by, ''), coalesce(pause_reason, ''), paused_at
		FROM actors WHERE paused AND (type <> 'agent' OR declared) ORDER BY paused_at`)
	if err != nil {
		return nil, classify(err)
	}
	st.Paused, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PausedAgent, error) {
		var p PausedAgent
		var since *time.Time
		err := r.Scan(&p.ID, &p.By, &p.Reason, &since)
		if since != nil {
			p.Since = *since
		}
		return p, err
	})
	if err != nil {
		return nil, classify(err)
	}
	if err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM actions WHERE recorded_at >= $1`, now.Add(-time.Hour)).Scan(&st.ActionsLastHour); err != nil {
		return nil, classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT response_kind, percentile_cont(0.95) WITHIN GROUP (ORDER BY tti_ms), count(*)
		FROM notifications WHERE first_response_at >= $1 AND tti_ms IS NOT NULL GROUP BY response_kind`, ttiSince)
	if err != nil {
		return nil, classify(err)
	}
	for rows.Next() {
		var kind string
		var p95 float64
		var n int
		if err := rows.Scan(&kind, &p95, &n); err != nil {
			return nil, err
		}
		st.TTIP95[kind] = time.Duration(p95) * time.Millisecond
		st.Samples[kind] = n
	}
	return st, classify(rows.Err())
}
