package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobBenchTimer is the kind of the timers 'mandate bench escalation' schedules: durable
// jobs like JobEscalate's, whose handler only notes when it ran.
const JobBenchTimer JobKind = "bench_timer"

// ScheduleBenchTimers schedules one JobBenchTimer job per id, ids[i] due at at(i), in one
// transaction. It goes through the insert path of escalation steps and gate timeouts
// (insertAtTx's, with the queue's hooks), so what the bench measures is what they get.
func (q *Queue) ScheduleBenchTimers(ctx context.Context, ids []int64, at func(i int) time.Time) error {
	err := pgx.BeginFunc(ctx, q.db.pool, func(tx pgx.Tx) error {
		return q.insertEachAtTx(ctx, tx, JobBenchTimer, ids, at)
	})
	return classify(err)
}

// BenchTimerStates counts the JobBenchTimer jobs by River state (completed, available,
// scheduled, running, retryable, ...).
func (db *DB) BenchTimerStates(ctx context.Context) (map[string]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT state::text, count(*) FROM river_job WHERE kind = $1 GROUP BY state`, string(JobBenchTimer))
	if err != nil {
		return nil, classify(err)
	}
	states := map[string]int64{}
	var state string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		states[state] = n
		return nil
	})
	return states, classify(err)
}

// ClearBenchTimers deletes the JobBenchTimer jobs an earlier run left, and says how many.
func (db *DB) ClearBenchTimers(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM river_job WHERE kind = $1`, string(JobBenchTimer))
	return tag.RowsAffected(), classify(err)
}
