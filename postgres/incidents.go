package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// IncidentChannel is the NOTIFY channel on which incident changes that matter to routing
// (opened, causes decided, resolved) are announced, payload the incident number, so every
// replica's in-memory incident index follows.
const IncidentChannel = "mandate_incidents"

// Incident job kinds. Each is queued in the transaction that makes it necessary and is
// safe to run again: its steps are recorded on the incident row as they succeed.
const (
	// JobIncidentChannel creates the incident's Slack channel, invites the people, sets
	// the topic and posts the header.
	JobIncidentChannel JobKind = "open_incident_channel"
	// JobIncidentPage pages PagerDuty for a high or critical incident, and tells it when
	// the incident is resolved.
	JobIncidentPage JobKind = "page_incident"
	// JobIncidentResolved announces the resolution and hands the incident to the
	// postmortem hook.
	JobIncidentResolved JobKind = "incident_resolved"
)

// TimelineLead is how long before the first cause (or the opening) an incident's timeline
// starts: what led up to it matters as much as what followed.
const TimelineLead = 30 * time.Minute

// maxTimelineActions bounds the actions a timeline shows (busy resources).
const maxTimelineActions = 1000

// IncidentStore keeps incidents, their causes and their events, and reads the activity
// stream around them.
type IncidentStore struct {
	db    *DB
	queue *Queue
}

// NewIncidentStore returns an IncidentStore on db that queues the incidents' Slack and
// PagerDuty work on queue (none when queue is nil: tests of the store alone).
func NewIncidentStore(db *DB, queue *Queue) *IncidentStore {
	return &IncidentStore{db: db, queue: queue}
}

const incidentColumns = `i.number, i.title, i.severity, i.state, i.resources, i.teams, i.opened_by, i.via,
	coalesce(i.commander, ''), coalesce(i.channel, ''), coalesce(i.channel_name, ''), coalesce(i.repeat_of, 0),
	coalesce(i.trigger_action::text, ''), i.opened_at, i.mitigated_at, i.resolved_at, i.closed_at, i.postmortem_state,
	coalesce(i.header_ts, ''), i.paged_at, i.page_resolved_at, i.resolve_done_at`

func scanIncident(row pgx.Row) (*mandate.Incident, error) {
	var in mandate.Incident
	var resources []byte
	err := row.Scan(&in.Number, &in.Title, &in.Severity, &in.State, &resources, &in.Teams, &in.OpenedBy, &in.Via,
		&in.Commander, &in.Channel, &in.ChannelName, &in.RepeatOf, &in.Trigger, &in.OpenedAt, &in.MitigatedAt,
		&in.ResolvedAt, &in.ClosedAt, &in.Postmortem, &in.HeaderTS, &in.PagedAt, &in.PageResolvedAt, &in.ResolveDoneAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resources, &in.Resources); err != nil {
		return nil, fmt.Errorf("incident %d resources: %w", in.Number, err)
	}
	in.MultiTeam = len(in.Teams) > 1
	return &in, nil
}

func incidentNotFound(number int64) error {
	return mandate.Errorf(mandate.ENOTFOUND, "no incident INC-%d", number)
}

// Open stores a new incident with its ranked causes, logs its opening and queues its
// channel (and, for severity high or critical, its page), all in one transaction. When
// in.Trigger is set and an incident was opened for that action already, nothing is
// stored and that incident is returned with created=false. The store fills in the number.
func (s *IncidentStore) Open(ctx context.Context, in *mandate.Incident) (inc *mandate.Incident, created bool, err error) {
	if !in.Severity.Valid() {
		return nil, false, mandate.Errorf(mandate.EINVALID, "severity %q is not one of low, medium, high, critical", in.Severity)
	}
	if in.Trigger != "" && !validUUID(in.Trigger) {
		return nil, false, mandate.Errorf(mandate.EINVALID, "trigger action %q is not an action id", in.Trigger)
	}
	keys := make([]string, len(in.Resources))
	for i, r := range in.Resources {
		keys[i] = r.Key()
	}
	var trigger *string
	if in.Trigger != "" {
		trigger = &in.Trigger
	}
	ids := make([]string, len(in.Causes))
	ranks := make([]int32, len(in.Causes))
	scores := make([]float64, len(in.Causes))
	reasons := make([]string, len(in.Causes))
	for i, c := range in.Causes {
		if !validUUID(c.ActionID) {
			return nil, false, mandate.Errorf(mandate.EINVALID, "cause %q is not an action id", c.ActionID)
		}
		ids[i], ranks[i], scores[i], reasons[i] = c.ActionID, int32(c.Rank), c.Score, c.Reason
	}
	var number int64
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO incidents (title, severity, resources, resource_keys, teams, opened_by, via, trigger_action, opened_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (trigger_action) DO NOTHING RETURNING number`,
			in.Title, string(in.Severity), mustJSON(nonNil(in.Resources)), nonNil(keys), nonNil(in.Teams), in.OpenedBy, in.Via,
			trigger, in.OpenedAt).Scan(&number)
		if errNoRows(err) {
			return nil // the trigger's incident exists: read it below
		}
		if err != nil {
			return err
		}
		created = true
		if _, err := tx.Exec(ctx, `INSERT INTO incident_causes (incident, action_id, rank, score, reason)
			SELECT $1, a, r, sc, re FROM unnest($2::uuid[], $3::int[], $4::float8[], $5::text[]) AS u(a, r, sc, re)`,
			number, ids, ranks, scores, reasons); err != nil {
			if foreignKeyMissing(err) {
				return mandate.Errorf(mandate.EINVALID, "a cause of the incident is not a recorded action")
			}
			return err
		}
		text := fmt.Sprintf("INC-%d opened (%s) via %s: %s", number, in.Severity, in.Via, in.Title)
		if err := insertEvent(ctx, tx, number, "opened", in.OpenedBy, text, "", in.OpenedAt); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, JobIncidentChannel, number); err != nil {
			return err
		}
		if in.Severity.Rank() >= mandate.SeverityHigh.Rank() {
			if err := s.enqueue(ctx, tx, JobIncidentPage, number); err != nil {
				return err
			}
		}
		return announce(ctx, tx, number)
	})
	if err != nil {
		return nil, false, classify(err)
	}
	if !created {
		err := s.db.pool.QueryRow(ctx, `SELECT number FROM incidents WHERE trigger_action = $1`, in.Trigger).Scan(&number)
		if err != nil {
			return nil, false, classify(err)
		}
	}
	inc, err = s.Get(ctx, number)
	return inc, created, err
}

func (s *IncidentStore) enqueue(ctx context.Context, tx pgx.Tx, kind JobKind, number int64) error {
	if s.queue == nil {
		return nil
	}
	return s.queue.insertTx(ctx, tx, kind, []int64{number})
}

// announce tells every replica's incident index that incident number changed.
func announce(ctx context.Context, tx pgx.Tx, number int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, IncidentChannel, strconv.FormatInt(number, 10))
	return err
}

func insertEvent(ctx context.Context, tx pgx.Tx, number int64, kind, who, text, actionID string, at time.Time) error {
	var action *string
	if actionID != "" {
		action = &actionID
	}
	_, err := tx.Exec(ctx, `INSERT INTO incident_events (incident, kind, who, text, action_id, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		number, kind, who, text, action, at)
	return err
}

// Get returns one incident with its causes (and their actions), action items and
// patterns, or ENOTFOUND.
func (s *IncidentStore) Get(ctx context.Context, number int64) (*mandate.Incident, error) {
	inc, err := scanIncident(s.db.pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents i WHERE i.number = $1`, number))
	if errNoRows(err) {
		return nil, incidentNotFound(number)
	}
	if err != nil {
		return nil, classify(err)
	}
	return inc, s.details(ctx, inc)
}

// GetByChannel returns the incident whose Slack channel is channel, or ENOTFOUND.
func (s *IncidentStore) GetByChannel(ctx context.Context, channel string) (*mandate.Incident, error) {
	inc, err := scanIncident(s.db.pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents i WHERE i.channel = $1`, channel))
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no incident has channel %s", channel)
	}
	if err != nil {
		return nil, classify(err)
	}
	return inc, s.details(ctx, inc)
}

// prefixRow scans columns before an action's: a cause's own columns, then its action.
type prefixRow struct {
	pgx.Row
	pre []any
}

func (r prefixRow) Scan(dest ...any) error { return r.Row.Scan(append(r.pre, dest...)...) }

// details reads what belongs to an incident besides its row.
func (s *IncidentStore) details(ctx context.Context, inc *mandate.Incident) error {
	rows, err := s.db.pool.Query(ctx, `SELECT c.action_id::text, c.rank, c.score, c.reason, c.state, coalesce(c.decided_by, ''), c.decided_at,
			`+actionColumns+`
		FROM incident_causes c JOIN actions ON actions.id = c.action_id WHERE c.incident = $1 ORDER BY c.rank`, inc.Number)
	if err != nil {
		return classify(err)
	}
	for rows.Next() {
		var c mandate.IncidentCause
		a, err := scanAction(prefixRow{rows, []any{&c.ActionID, &c.Rank, &c.Score, &c.Reason, &c.State, &c.DecidedBy, &c.DecidedAt}})
		if err != nil {
			rows.Close()
			return err
		}
		c.Action = a
		inc.Causes = append(inc.Causes, c)
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT id, incident, title, owner, due, state, coalesce(done_by, ''), done_at, created_at
		FROM action_items WHERE incident = $1 ORDER BY id`, inc.Number)
	if err != nil {
		return classify(err)
	}
	inc.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.ActionItem, error) {
		var it mandate.ActionItem
		err := r.Scan(&it.ID, &it.Incident, &it.Title, &it.Owner, &it.Due, &it.State, &it.DoneBy, &it.DoneAt, &it.Created)
		return it, err
	})
	if err != nil {
		return classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT id, incident, kind, action_type, resource_pattern, failure_mode
		FROM incident_patterns WHERE incident = $1 ORDER BY id`, inc.Number)
	if err != nil {
		return classify(err)
	}
	inc.Patterns, err = pgx.CollectRows(rows, pgx.RowToStructByPos[mandate.IncidentPattern])
	return classify(err)
}

// List returns incidents, newest first, without their causes.
func (s *IncidentStore) List(ctx context.Context, f mandate.IncidentFilter) ([]*mandate.Incident, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Active {
		where = append(where, "i.state IN ('open', 'mitigated')")
	}
	if !f.Since.IsZero() {
		where = append(where, "i.opened_at >= "+arg(f.Since))
	}
	if f.OpenedBy != "" {
		where = append(where, "i.opened_by = "+arg(f.OpenedBy))
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := `SELECT ` + incidentColumns + ` FROM incidents i`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY i.number DESC LIMIT " + arg(limit)
	rows, err := s.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := []*mandate.Incident{}
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, classify(rows.Err())
}

// CountActive counts the incidents still open or mitigated, for status pages.
func (s *IncidentStore) CountActive(ctx context.Context) (int, error) {
	var n int
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM incidents WHERE state IN ('open', 'mitigated')`).Scan(&n)
	return n, classify(err)
}

// Candidates returns the actions touching any of keys that occurred from from to to
// (both included: an action at the very instant an incident opens is a suspect), newest
// first, at most limit: attribution's candidates. The overlap is answered by the GIN
// index on actions.resource_keys.
func (s *IncidentStore) Candidates(ctx context.Context, keys []string, from, to time.Time, limit int) ([]*mandate.Action, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+actionColumns+` FROM actions
		WHERE resource_keys && $1::text[] AND occurred_at >= $2 AND occurred_at <= $3
		ORDER BY occurred_at DESC, seq DESC LIMIT $4`, keys, from, to, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []*mandate.Action
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, classify(rows.Err())
}

// Actions returns the actions with the given ids that exist, by id.
func (s *IncidentStore) Actions(ctx context.Context, ids []string) (map[string]*mandate.Action, error) {
	var valid []string
	for _, id := range ids {
		if validUUID(id) {
			valid = append(valid, strings.ToLower(id))
		}
	}
	out := map[string]*mandate.Action{}
	if len(valid) == 0 {
		return out, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT `+actionColumns+` FROM actions WHERE id = ANY($1::uuid[])`, valid)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out[a.ID] = a
	}
	return out, classify(rows.Err())
}

// SetChannel records the incident's Slack channel once: changed is false when it has one
// already (a retried job, another replica), and channel then holds the stored one.
func (s *IncidentStore) SetChannel(ctx context.Context, number int64, channel, name string, at time.Time) (stored string, changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE incidents SET channel = $2, channel_name = $3 WHERE number = $1 AND channel IS NULL`, number, channel, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			err := tx.QueryRow(ctx, `SELECT coalesce(channel, '') FROM incidents WHERE number = $1`, number).Scan(&stored)
			if errNoRows(err) {
				return incidentNotFound(number)
			}
			return err
		}
		stored, changed = channel, true
		return insertEvent(ctx, tx, number, "channel", "", "channel #"+name+" created", "", at)
	})
	return stored, changed, classify(err)
}

// SetHeader records the header message's ts in the incident's channel.
func (s *IncidentStore) SetHeader(ctx context.Context, number int64, ts string) error {
	return s.exec(ctx, number, `UPDATE incidents SET header_ts = $2 WHERE number = $1`, number, ts)
}

// Paged records that PagerDuty was paged for the incident.
func (s *IncidentStore) Paged(ctx context.Context, number int64, at time.Time) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE incidents SET paged_at = $2 WHERE number = $1 AND paged_at IS NULL`, number, at)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return insertEvent(ctx, tx, number, "paged", "", "PagerDuty paged (dedup key mandate-incident-"+strconv.FormatInt(number, 10)+")", "", at)
	})
}

// PageResolved records that PagerDuty was told the incident is resolved.
func (s *IncidentStore) PageResolved(ctx context.Context, number int64, at time.Time) error {
	return s.exec(ctx, number, `UPDATE incidents SET page_resolved_at = $2 WHERE number = $1 AND page_resolved_at IS NULL`, number, at)
}

// ResolveDone records that the resolution was announced and handed on.
func (s *IncidentStore) ResolveDone(ctx context.Context, number int64, at time.Time) error {
	return s.exec(ctx, number, `UPDATE incidents SET resolve_done_at = $2 WHERE number = $1 AND resolve_done_at IS NULL`, number, at)
}

func (s *IncidentStore) exec(ctx context.Context, number int64, sql string, args ...any) error {
	_, err := s.db.pool.Exec(ctx, sql, args...)
	return classify(err)
}

func (db *DB) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	return classify(pgx.BeginFunc(ctx, db.pool, f))
}

// lockIncident reads and locks an incident row for a change.
func lockIncident(ctx context.Context, tx pgx.Tx, number int64) (*mandate.Incident, error) {
	inc, err := scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents i WHERE i.number = $1 FOR UPDATE`, number))
	if errNoRows(err) {
		return nil, incidentNotFound(number)
	}
	return inc, err
}

// Assign makes person the incident's commander. changed is false when they are already.
func (s *IncidentStore) Assign(ctx context.Context, number int64, person, by string, at time.Time) (changed bool, err error) {
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		inc, err := lockIncident(ctx, tx, number)
		if err != nil || inc.Commander == person {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET commander = $2 WHERE number = $1`, number, person); err != nil {
			return err
		}
		changed = true
		return insertEvent(ctx, tx, number, "assigned", by, person+" is the incident commander", "", at)
	})
	return changed, err
}

// SetSeverity changes the incident's severity. Raising an active, unpaged incident to
// high or critical queues its page.
func (s *IncidentStore) SetSeverity(ctx context.Context, number int64, sev mandate.Severity, by string, at time.Time) (changed bool, err error) {
	if !sev.Valid() {
		return false, mandate.Errorf(mandate.EINVALID, "severity %q is not one of low, medium, high, critical", sev)
	}
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		inc, err := lockIncident(ctx, tx, number)
		if err != nil || inc.Severity == sev {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET severity = $2 WHERE number = $1`, number, string(sev)); err != nil {
			return err
		}
		changed = true
		if err := insertEvent(ctx, tx, number, "severity", by, fmt.Sprintf("severity %s → %s", inc.Severity, sev), "", at); err != nil {
			return err
		}
		if sev.Rank() >= mandate.SeverityHigh.Rank() && inc.PagedAt == nil && inc.Active() {
			return s.enqueue(ctx, tx, JobIncidentPage, number)
		}
		return nil
	})
	return changed, err
}

// Transition moves the incident forward: open → mitigated → resolved (open → resolved
// too, which counts as mitigated at the same time). Asking for the state it is in
// changes nothing (changed=false); going back is ECONFLICT. Resolving queues the
// announcement and, when PagerDuty was paged, its resolution.
func (s *IncidentStore) Transition(ctx context.Context, number int64, to mandate.IncidentState, by string, at time.Time) (inc *mandate.Incident, changed bool, err error) {
	if to != mandate.IncidentMitigated && to != mandate.IncidentResolved {
		return nil, false, mandate.Errorf(mandate.EINVALID, "an incident can be marked mitigated or resolved, not %q", to)
	}
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := lockIncident(ctx, tx, number)
		if err != nil {
			return err
		}
		switch {
		case cur.State == to:
			return nil
		case cur.State == mandate.IncidentClosed || cur.State == mandate.IncidentResolved ||
			cur.State == mandate.IncidentMitigated && to == mandate.IncidentMitigated:
			return mandate.Errorf(mandate.ECONFLICT, "INC-%d is %s already; it cannot be marked %s", number, cur.State, to)
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET state = $2, mitigated_at = coalesce(mitigated_at, $3),
				resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_at END WHERE number = $1`,
			number, string(to), at); err != nil {
			return err
		}
		changed = true
		if err := insertEvent(ctx, tx, number, string(to), by, fmt.Sprintf("INC-%d marked %s", number, to), "", at); err != nil {
			return err
		}
		if to == mandate.IncidentResolved {
			if err := s.enqueue(ctx, tx, JobIncidentResolved, number); err != nil {
				return err
			}
			if cur.PagedAt != nil {
				if err := s.enqueue(ctx, tx, JobIncidentPage, number); err != nil {
					return err
				}
			}
		}
		return announce(ctx, tx, number)
	})
	if err != nil {
		return nil, false, err
	}
	inc, err = s.Get(ctx, number)
	return inc, changed, err
}

// DecideCause confirms or dismisses one of the incident's candidate causes. Deciding it
// the same way again changes nothing; a cause can be confirmed after being dismissed and
// the other way round (the latest verdict counts, and both are in the timeline).
func (s *IncidentStore) DecideCause(ctx context.Context, number int64, actionID string, state mandate.CauseState, by string, at time.Time) (changed bool, err error) {
	if state != mandate.CauseConfirmed && state != mandate.CauseDismissed {
		return false, mandate.Errorf(mandate.EINVALID, "a cause can be confirmed or dismissed, not %q", state)
	}
	if !validUUID(actionID) {
		return false, mandate.Errorf(mandate.ENOTFOUND, "INC-%d has no cause %q", number, actionID)
	}
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockIncident(ctx, tx, number); err != nil {
			return err
		}
		var cur string
		err := tx.QueryRow(ctx, `SELECT state FROM incident_causes WHERE incident = $1 AND action_id = $2`, number, actionID).Scan(&cur)
		if errNoRows(err) {
			return mandate.Errorf(mandate.ENOTFOUND, "INC-%d has no cause %s", number, actionID)
		}
		if err != nil || cur == string(state) {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE incident_causes SET state = $3, decided_by = $4, decided_at = $5 WHERE incident = $1 AND action_id = $2`,
			number, actionID, string(state), by, at); err != nil {
			return err
		}
		changed = true
		if err := insertEvent(ctx, tx, number, "cause_"+string(state), by, "cause "+string(state)+": action "+actionID, actionID, at); err != nil {
			return err
		}
		return announce(ctx, tx, number)
	})
	return changed, err
}

// Event logs something that happened to an incident (an agent paused from its channel, a
// note) in its timeline.
func (s *IncidentStore) Event(ctx context.Context, number int64, kind, who, text, actionID string, at time.Time) error {
	if actionID != "" && !validUUID(actionID) {
		return mandate.Errorf(mandate.EINVALID, "%q is not an action id", actionID)
	}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		return insertEvent(ctx, tx, number, kind, who, text, actionID, at)
	})
	if foreignKeyMissing(err) {
		return incidentNotFound(number)
	}
	return err
}

// Signals returns the incidents opened since the given time with their causes' actors
// and resources: what routing's incident signals count.
func (s *IncidentStore) Signals(ctx context.Context, since time.Time) ([]*mandate.Incident, error) {
	list, err := s.signals(ctx, `i.opened_at >= $1`, since)
	return list, err
}

// Signal returns one incident as Signals does, or ENOTFOUND.
func (s *IncidentStore) Signal(ctx context.Context, number int64) (*mandate.Incident, error) {
	list, err := s.signals(ctx, `i.number = $1`, number)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, incidentNotFound(number)
	}
	return list[0], nil
}

func (s *IncidentStore) signals(ctx context.Context, where string, arg any) ([]*mandate.Incident, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents i WHERE `+where+` ORDER BY i.number`, arg)
	if err != nil {
		return nil, classify(err)
	}
	byNumber := map[int64]*mandate.Incident{}
	var out []*mandate.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byNumber[inc.Number] = inc
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT c.incident, c.action_id::text, c.rank, c.state, a.actor_id, a.resources
		FROM incident_causes c JOIN incidents i ON i.number = c.incident JOIN actions a ON a.id = c.action_id
		WHERE `+where+` ORDER BY c.incident, c.rank`, arg)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var number int64
		var c mandate.IncidentCause
		a := &mandate.Action{}
		var resources []byte
		if err := rows.Scan(&number, &c.ActionID, &c.Rank, &c.State, &a.ActorID, &resources); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(resources, &a.Resources); err != nil {
			return nil, err
		}
		a.ID = c.ActionID
		c.Action = a
		if inc := byNumber[number]; inc != nil {
			inc.Causes = append(inc.Causes, c)
		}
	}
	return out, classify(rows.Err())
}

// Timeline merges, in time order, everything the activity stream knows around the
// incident: every action on its resources and every cause (from TimelineLead before the
// first cause or the opening, whichever is earlier, until the resolution), their results,
// notifications, interventions, escalation steps and gate decisions, and the incident's
// own events.
func (s *IncidentStore) Timeline(ctx context.Context, number int64) ([]mandate.TimelineEntry, error) {
	var opened time.Time
	var resolved, firstCause *time.Time
	var keys []string
	err := s.db.pool.QueryRow(ctx, `SELECT i.opened_at, i.resolved_at, i.resource_keys,
			(SELECT min(a.occurred_at) FROM incident_causes c JOIN actions a ON a.id = c.action_id WHERE c.incident = i.number)
		FROM incidents i WHERE i.number = $1`, number).Scan(&opened, &resolved, &keys, &firstCause)
	if errNoRows(err) {
		return nil, incidentNotFound(number)
	}
	if err != nil {
		return nil, classify(err)
	}
	from := opened
	if firstCause != nil && firstCause.Before(from) {
		from = *firstCause
	}
	from = from.Add(-TimelineLead)
	rows, err := s.db.pool.Query(ctx, timelineSQL, number, keys, from, resolved, maxTimelineActions)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []mandate.TimelineEntry
	for rows.Next() {
		var e mandate.TimelineEntry
		var d1, d2, d3, d4 string
		if err := rows.Scan(&e.At, &e.Kind, &e.Who, &e.Action, &e.Event, &e.Channel, &e.TTIMillis, &d1, &d2, &d3, &d4); err != nil {
			return nil, err
		}
		e.Text = timelineText(e, d1, d2, d3, d4)
		out = append(out, e)
	}
	return out, classify(rows.Err())
}

// timelineSQL reads every source of a timeline in one round trip. $1 incident, $2 its
// resource keys, $3 the window's start, $4 its end (NULL while unresolved), $5 the most
// actions shown. Each source fills the detail columns d1…d4 its text needs; ord orders
// entries of the same instant the way they happen (an action, then its result, its
// notifications, the responses).
const timelineSQL = `
WITH acts AS (
	SELECT id FROM actions WHERE resource_keys && $2::text[] AND occurred_at >= $3 AND ($4::timestamptz IS NULL OR occurred_at <= $4)
	UNION
	SELECT action_id FROM incident_causes WHERE incident = $1
), sel AS (
	SELECT a.* FROM actions a JOIN acts ON acts.id = a.id ORDER BY a.occurred_at LIMIT $5
)
SELECT at, kind, who, action_id, event, channel, tti_ms, d1, d2, d3, d4 FROM (
	SELECT occurred_at AS at, 1 AS ord, 'action' AS kind, actor_id AS who, id::text AS action_id, path AS event,
		'' AS channel, NULL::bigint AS tti_ms, type AS d1, summary AS d2, array_to_string(resource_keys, ', ') AS d3, status AS d4
	FROM sel
	UNION ALL
	SELECT result_at, 2, 'result', actor_id, id::text, result_status, '', NULL, type, coalesce(failure_mode, ''), coalesce(left(result_error, 300), ''), ''
	FROM sel WHERE result_at IS NOT NULL
	UNION ALL
	SELECT g.created_at, 3, 'gate', sel.actor_id, g.action_id::text, 'pending', '', NULL, to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '', '', ''
	FROM gates g JOIN sel ON sel.id = g.action_id
	UNION ALL
	SELECT n.delivered_at, 4, 'notification', n.target_kind || ':' || n.target_id, n.action_id::text, n.state, coalesce(n.channel, ''), NULL,
		n.urgency, '', '', ''
	FROM notifications n JOIN sel ON sel.id = n.action_id WHERE n.delivered_at IS NOT NULL
	UNION ALL
	SELECT i.at, 5, 'intervention', coalesce(nullif(i.person_id, ''), 'slack:' || nullif(i.slack_user, ''), ''), i.action_id::text, i.kind,
		coalesce(n.channel, ''),
		CASE WHEN n.delivered_at IS NOT NULL AND i.allowed THEN greatest(0, (extract(epoch FROM (i.at - n.delivered_at)) * 1000)::bigint) END,
		CASE WHEN i.allowed THEN '' ELSE 'refused' END, i.note, sel.actor_id, ''
	FROM interventions i JOIN sel ON sel.id = i.action_id LEFT JOIN notifications n ON n.id = i.notification_id
	UNION ALL
	SELECT g.decided_at, 6, 'gate', coalesce(g.decided_by, ''), g.action_id::text, g.state, '', g.tti_ms, sel.actor_id, '', '', ''
	FROM gates g JOIN sel ON sel.id = g.action_id WHERE g.decided_at IS NOT NULL
	UNION ALL
	SELECT st.at, 7, 'escalation', array_to_string(st.told, ', '), e.action_id::text, st.notify, '', NULL, (st.step + 1)::text, '', '', ''
	FROM escalation_steps st JOIN escalations e ON e.notification_id = st.notification_id JOIN sel ON sel.id = e.action_id
	UNION ALL
	SELECT e.ended_at, 8, 'escalation', '', e.action_id::text, e.state, '', NULL, e.policy, '', '', ''
	FROM escalations e JOIN sel ON sel.id = e.action_id WHERE e.ended_at IS NOT NULL
	UNION ALL
	SELECT ev.at, 9, 'incident', ev.who, coalesce(ev.action_id::text, ''), ev.kind, '', NULL, ev.text, '', '', ''
	FROM incident_events ev WHERE ev.incident = $1
) t ORDER BY at, ord, action_id, kind`

// timelineText renders one entry's line from its detail columns (see timelineSQL).
func timelineText(e mandate.TimelineEntry, d1, d2, d3, d4 string) string {
	switch e.Kind {
	case mandate.TimelineAction:
		s := fmt.Sprintf("%s %s: %s", e.Who, d1, d2)
		if d3 != "" {
			s += " on " + d3
		}
		s += " [" + strings.TrimSuffix(e.Event, "_execute")
		if d4 == string(mandate.StatusBlocked) {
			s += ", blocked: agent paused"
		}
		return s + "]"
	case mandate.TimelineResult:
		s := fmt.Sprintf("%s's %s %s", e.Who, d1, e.Event)
		if d2 != "" {
			s += " (" + d2 + ")"
		}
		if d3 != "" {
			s += ": " + d3
		}
		return s
	case mandate.TimelineNotification:
		s := fmt.Sprintf("notified %s (%s)", e.Who, d1)
		switch {
		case e.Event == "folded":
			s += ", folded into an earlier message"
		case e.Event == "fallback":
			s += " by PagerDuty/email: Slack was unavailable"
		case e.Channel != "":
			s += " in " + e.Channel
		}
		return s
	case mandate.TimelineIntervention:
		who := e.Who
		if who == "" {
			who = "someone"
		}
		if d1 == "refused" {
			return fmt.Sprintf("%s tried %s on %s's action: refused (not an owner)", who, e.Event, d3)
		}
		s := fmt.Sprintf("%s: %s on %s's action", who, strings.ReplaceAll(e.Event, "_", " "), d3)
		if e.TTIMillis != nil {
			s += fmt.Sprintf(" (TTI %s)", (time.Duration(*e.TTIMillis) * time.Millisecond).Round(time.Second))
		}
		if d2 != "" {
			s += ": " + d2
		}
		return s
	case mandate.TimelineGate:
		if e.Event == string(mandate.GatePending) {
			return fmt.Sprintf("%s's action waits at a gate until %s UTC", e.Who, d1)
		}
		if e.Event == string(mandate.GateExpired) {
			return fmt.Sprintf("gate on %s's action expired: nobody decided in time", d1)
		}
		s := fmt.Sprintf("gate %s by %s", e.Event, e.Who)
		if e.TTIMillis != nil {
			s += fmt.Sprintf(" after %s", (time.Duration(*e.TTIMillis) * time.Millisecond).Round(time.Second))
		}
		return s
	case mandate.TimelineEscalation:
		if e.Who == "" {
			return fmt.Sprintf("escalation %s (policy %s)", e.Event, d1)
		}
		return fmt.Sprintf("escalation step %s: %s told (%s)", d1, e.Who, e.Event)
	}
	return d1
}
