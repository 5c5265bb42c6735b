package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// ownershipLock serialises ownership bookkeeping across replicas, so a change is recorded
// once however many replicas notice it.
const ownershipLock = 7305110001

// OwnershipStore implements mandate.OwnershipStore.
type OwnershipStore struct{ db *DB }

// NewOwnershipStore returns an OwnershipStore on db.
func NewOwnershipStore(db *DB) *OwnershipStore { return &OwnershipStore{db: db} }

var _ mandate.OwnershipStore = (*OwnershipStore)(nil)

// scanBatch bounds how many actions one SeenResources call folds into resources.
const scanBatch = 200000

// SeenResources folds actions recorded since the last call into the resources table and
// returns the keys seen since the given time.
func (s *OwnershipStore) SeenResources(ctx context.Context, since time.Time) ([]string, error) {
	var keys []string
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, ownershipLock); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, `SELECT last_seq FROM resource_scan WHERE id = 1`).Scan(&last); err != nil {
			return err
		}
		var next *int64
		if err := tx.QueryRow(ctx, `
			WITH batch AS (SELECT seq, resource_keys, recorded_at FROM actions WHERE seq > $1 ORDER BY seq LIMIT $2),
			up AS (
				INSERT INTO resources (key, first_seen, last_seen)
				SELECT k, min(b.recorded_at), max(b.recorded_at) FROM batch b, unnest(b.resource_keys) AS k GROUP BY k
				ON CONFLICT (key) DO UPDATE SET last_seen = greatest(resources.last_seen, excluded.last_seen)
			)
			SELECT max(seq) FROM batch`, last, scanBatch).Scan(&next); err != nil {
			return err
		}
		if next != nil {
			if _, err := tx.Exec(ctx, `UPDATE resource_scan SET last_seq = $1 WHERE id = 1`, *next); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT key FROM resources WHERE last_seen >= $1 ORDER BY key`, since)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return keys, classify(err)
}

// RecordOwners records a change for every resource whose owners or layer differ from the
// stored ones (including resources resolved for the first time) and stores the new ones.
func (s *OwnershipStore) RecordOwners(ctx context.Context, current []mandate.Ownership, source string) ([]mandate.OwnershipChange, error) {
	var changes []mandate.OwnershipChange
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		changes = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, ownershipLock); err != nil {
			return err
		}
		keys := make([]string, len(current))
		for i, o := range current {
			keys[i] = o.Resource
		}
		type stored struct {
			owners []string
			layer  string
		}
		prev := map[string]stored{}
		rows, err := tx.Query(ctx, `SELECT key, owners, layer FROM resource_owners WHERE key = ANY($1)`, keys)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var st stored
			if err := rows.Scan(&k, &st.owners, &st.layer); err != nil {
				return err
			}
			prev[k] = st
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ckeys, clayers, flayers []string
		var cfrom, cto [][]string
		for _, o := range current {
			p, ok := prev[o.Resource]
			if ok && p.layer == o.Layer && slices.Equal(p.owners, o.Owners) {
				continue
			}
			if !ok {
				p = stored{owners: []string{}, layer: mandate.LayerNone}
				if o.Layer == mandate.LayerNone && len(o.Owners) == 0 {
					// First sight of an unowned resource: store it, nothing changed.
					p.layer = ""
				}
			}
			ckeys, cfrom, cto = append(ckeys, o.Resource), append(cfrom, p.owners), append(cto, nonNil(o.Owners))
			flayers, clayers = append(flayers, p.layer), append(clayers, o.Layer)
		}
		if len(ckeys) == 0 {
			return nil
		}
		now := time.Now()
		batch := &pgx.Batch{}
		for i, k := range ckeys {
			batch.Queue(`INSERT INTO resource_owners (key, owners, layer, updated_at) VALUES ($1, $2, $3, now())
				ON CONFLICT (key) DO UPDATE SET owners = excluded.owners, layer = excluded.layer, updated_at = now()`, k, cto[i], clayers[i])
			if flayers[i] == "" {
				continue
			}
			batch.Queue(`INSERT INTO ownership_changes (resource_key, from_owners, to_owners, from_layer, to_layer, source)
				VALUES ($1, $2, $3, $4, $5, $6)`, k, cfrom[i], cto[i], flayers[i], clayers[i], source)
			changes = append(changes, mandate.OwnershipChange{Resource: k, From: cfrom[i], To: cto[i],
				FromLayer: flayers[i], ToLayer: clayers[i], Source: source, At: now})
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	return changes, classify(err)
}

// History lists the recorded changes of a resource's owners, oldest first.
func (s *OwnershipStore) History(ctx context.Context, resource string) ([]mandate.OwnershipChange, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT resource_key, from_owners, to_owners, from_layer, to_layer, source, changed_at
		FROM ownership_changes WHERE resource_key = $1 ORDER BY changed_at, id`, resource)
	if err != nil {
		return nil, classify(err)
	}
	var out []mandate.OwnershipChange
	for rows.Next() {
		var c mandate.OwnershipChange
		if err := rows.Scan(&c.Resource, &c.From, &c.To, &c.FromLayer, &c.ToLayer, &c.Source, &c.At); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// SyncMemberships stores the configured team memberships, recording a departure for
// everyone no longer in a team they were in, and returns the departures since the given
// time.
func (s *OwnershipStore) SyncMemberships(ctx context.Context, members map[string][]string, since time.Time) ([]mandate.TeamDeparture, error) {
	var teams, people []string
	for team, ps := range members {
		for _, p := range ps {
			teams, people = append(teams, team), append(people, p)
		}
	}
	var out []mandate.TeamDeparture
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, ownershipLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			WITH current AS (SELECT * FROM unnest($1::text[], $2::text[]) AS c(team_id, person_id)),
			gone AS (
				DELETE FROM team_members m WHERE NOT EXISTS
					(SELECT 1 FROM current c WHERE c.team_id = m.team_id AND c.person_id = m.person_id)
				RETURNING team_id, person_id
			),
			left_team AS (INSERT INTO team_departures (team_id, person_id) SELECT team_id, person_id FROM gone)
			INSERT INTO team_members (team_id, person_id) SELECT team_id, person_id FROM current
			ON CONFLICT DO NOTHING`, teams, people); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT person_id, team_id, left_at FROM team_departures WHERE left_at >= $1 ORDER BY left_at`, since)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d mandate.TeamDeparture
			if err := rows.Scan(&d.Person, &d.Team, &d.At); err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, classify(err)
}

// SetSourceStatus records the outcome of reading one source.
func (s *OwnershipStore) SetSourceStatus(ctx context.Context, st mandate.SourceStatus) error {
	_, err := s.db.pool.Exec(ctx, `
		INSERT INTO ownership_sources (source, last_attempt, last_success, last_error, items) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (source) DO UPDATE SET last_attempt = excluded.last_attempt,
			last_success = coalesce(excluded.last_success, ownership_sources.last_success),
			last_error = excluded.last_error,
			items = CASE WHEN excluded.last_success IS NULL THEN ownership_sources.items ELSE excluded.items END`,
		st.Source, st.LastAttempt, st.LastSuccess, st.LastError, st.Items)
	return classify(err)
}

// SourceStatuses lists every source's status, by name.
func (s *OwnershipStore) SourceStatuses(ctx context.Context) ([]mandate.SourceStatus, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT source, last_attempt, last_success, last_error, items FROM ownership_sources ORDER BY source`)
	if err != nil {
		return nil, classify(err)
	}
	var out []mandate.SourceStatus
	for rows.Next() {
		var st mandate.SourceStatus
		if err := rows.Scan(&st.Source, &st.LastAttempt, &st.LastSuccess, &st.LastError, &st.Items); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, classify(rows.Err())
}
