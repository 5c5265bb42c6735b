package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// LiveChannel is the NOTIFY channel announcing changes to watches and snoozes, so every
// replica's router reloads them.
const LiveChannel = "mandate_routing_live"

// LiveStore keeps the watches and snoozes people set from Slack.
type LiveStore struct{ db *DB }

// NewLiveStore returns a LiveStore on db.
func NewLiveStore(db *DB) *LiveStore { return &LiveStore{db: db} }

func (s *LiveStore) change(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, LiveChannel)
		return err
	})
	return n, classify(err)
}

// Watch makes person see every action on resources matching pattern. It reports false
// when the watch existed already.
func (s *LiveStore) Watch(ctx context.Context, person, pattern string) (bool, error) {
	n, err := s.change(ctx, `INSERT INTO watches (person_id, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING`, person, pattern)
	return n == 1, err
}

// Unwatch removes a watch; it reports false when there was none.
func (s *LiveStore) Unwatch(ctx context.Context, person, pattern string) (bool, error) {
	n, err := s.change(ctx, `DELETE FROM watches WHERE person_id = $1 AND pattern = $2`, person, pattern)
	return n == 1, err
}

// Snooze silences notifications about resources matching target (kind "resource") or
// from the rule target (kind "rule") until the given time.
func (s *LiveStore) Snooze(ctx context.Context, kind, target string, until time.Time, by string) error {
	_, err := s.change(ctx, `INSERT INTO snoozes (kind, target, until, created_by) VALUES ($1, $2, $3, $4)`, kind, target, until, by)
	return err
}

// Live reads every watch and every snooze still in force at now.
func (s *LiveStore) Live(ctx context.Context, now time.Time) ([]mandate.Watch, []mandate.Snooze, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT person_id, pattern FROM watches ORDER BY person_id, pattern`)
	if err != nil {
		return nil, nil, classify(err)
	}
	watches, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mandate.Watch])
	if err != nil {
		return nil, nil, classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT kind, target, until, created_by FROM snoozes WHERE until > $1 ORDER BY until`, now)
	if err != nil {
		return nil, nil, classify(err)
	}
	snoozes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mandate.Snooze])
	return watches, snoozes, classify(err)
}
