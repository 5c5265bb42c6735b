package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/mandatehq/mandate"
)

// JobScheduleTick is the periodic job that runs whatever schedule is due: digests and
// the daily nag.
const JobScheduleTick JobKind = "schedule_tick"

// Periodic makes the elected leader among the replicas insert a kind job every interval,
// and one at once when it becomes leader. The job's handler must be one of the queue's
// Handlers. A tick that fails is not retried: the next one does its work. Every replica
// registers the same periodic jobs, so whichever is elected runs them.
func (q *Queue) Periodic(kind JobKind, every time.Duration) (err error) {
	defer func() {
		// River panics when the client works no jobs (QueueOptions without Handlers),
		// since a client that cannot be started would never be elected.
		if r := recover(); r != nil {
			err = fmt.Errorf("periodic job %s: %v", kind, r)
		}
	}()
	_, err = q.client.PeriodicJobs().AddSafely(river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return jobArgs{JobKind: kind}, &river.InsertOpts{MaxAttempts: 1}
		}, &river.PeriodicJobOpts{ID: string(kind), RunOnStart: true}))
	return err
}

// DigestStore reads the figures of digests and keeps the claims that make each scheduled
// run happen once.
type DigestStore struct{ db *DB }

// NewDigestStore returns a DigestStore on db.
func NewDigestStore(db *DB) *DigestStore { return &DigestStore{db: db} }

// Scope conditions shared by the digest queries: @team is the team ("" for everything),
// @members its people. An action is the team's when its teams include it; a notification
// when it went to the team's channel or to one of its people.
const (
	actionScope       = `(@team = '' OR a.teams @> ARRAY[@team]::text[])`
	notificationScope = `(@team = '' OR (n.target_kind = 'team' AND n.target_id = @team)
		OR (n.target_kind = 'person' AND n.target_id = ANY(@members::text[])))`
)

// Figures reads what happened in q's period, in one snapshot of the database. Targets,
// rates, flags and suggestions are for the caller to add: this is only what the rows say.
func (s *DigestStore) Figures(ctx context.Context, q mandate.DigestQuery) (*mandate.Digest, error) {
	if len(q.Days) == 0 || !q.Days[0].Equal(q.Start) || !q.Start.Before(q.End) {
		return nil, mandate.Errorf(mandate.EINVALID, "digest period: days must start at the period's start")
	}
	d := &mandate.Digest{Team: q.Team, Start: q.Start, End: q.End, Days: q.Days,
		Actions: mandate.DigestActions{PerDay: make([]int, len(q.Days))}, Notifications: mandate.DigestNotifications{PerDay: make([]int, len(q.Days))}}
	// width_bucket numbers the days 1…len(Days) against the day starts plus the end.
	bounds := append(slices.Clone(q.Days), q.End)
	members := nonNil(q.Members)
	args := pgx.NamedArgs{"team": q.Team, "members": members, "start": q.Start, "end": q.End, "days": bounds}
	err := pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, read := range []func(context.Context, pgx.Tx, pgx.NamedArgs, *mandate.Digest) error{
			readActions, readNotifications, readTTI, readRules, readUnowned, readEscalations, readIncidents, readOverdue,
		} {
			if err := read(ctx, tx, args, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return d, nil
}

// day turns a width_bucket result into a day index, or -1 outside the period.
func day(bucket, days int) int {
	if bucket < 1 || bucket > days {
		return -1
	}
	return bucket - 1
}

// counted sorts a count map into a list, most first, then by name.
func counted(m map[string]int) []mandate.DigestCount {
	out := make([]mandate.DigestCount, 0, len(m))
	for name, n := range m {
		out = append(out, mandate.DigestCount{Name: name, Count: n})
	}
	slices.SortFunc(out, func(a, b mandate.DigestCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func readActions(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	rows, err := tx.Query(ctx, `SELECT a.actor_id, a.path, width_bucket(a.recorded_at, @days::timestamptz[]), count(*)
		FROM actions a WHERE a.recorded_at >= @start AND a.recorded_at < @end AND `+actionScope+`
		GROUP BY 1, 2, 3`, args)
	if err != nil {
		return err
	}
	byAgent, byPath := map[string]int{}, map[string]int{}
	for rows.Next() {
		var actor, path string
		var bucket, n int
		if err := rows.Scan(&actor, &path, &bucket, &n); err != nil {
			return err
		}
		d.Actions.Total += n
		byAgent[actor] += n
		byPath[path] += n
		if i := day(bucket, len(d.Days)); i >= 0 {
			d.Actions.PerDay[i] += n
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d.Actions.ByAgent, d.Actions.ByPath = counted(byAgent), counted(byPath)
	return nil
}

func readNotifications(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	rows, err := tx.Query(ctx, `SELECT width_bucket(n.created_at, @days::timestamptz[]), count(*), count(*) FILTER (WHERE n.state = 'delivered')
		FROM notifications n WHERE n.created_at >= @start AND n.created_at < @end AND `+notificationScope+`
		GROUP BY 1`, args)
	if err != nil {
		return err
	}
	for rows.Next() {
		var bucket, n, delivered int
		if err := rows.Scan(&bucket, &n, &delivered); err != nil {
			return err
		}
		d.Notifications.Total += n
		d.Notifications.Delivered += delivered
		if i := day(bucket, len(d.Days)); i >= 0 {
			d.Notifications.PerDay[i] += n
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// An action counts once however many of its notifications reached the team: it was
	// answered when any of them was, before the period ended.
	return tx.QueryRow(ctx, `SELECT count(DISTINCT n.action_id), count(DISTINCT n.action_id) FILTER (WHERE n.first_response_at < @end)
		FROM notifications n JOIN actions a ON a.id = n.action_id
		WHERE n.created_at >= @start AND n.created_at < @end AND n.state = 'delivered' AND `+notificationScope+`
		  AND (a.path IN ('flagged_execute', 'gated_execute') OR n.urgency IN ('high', 'critical'))`, args).Scan(&d.Notifications.NeedAnswer, &d.Notifications.Answered)
}

func readTTI(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	rows, err := tx.Query(ctx, `SELECT n.response_kind, count(*),
			percentile_cont(0.5) WITHIN GROUP (ORDER BY n.tti_ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY n.tti_ms)
		FROM notifications n
		WHERE n.first_response_at >= @start AND n.first_response_at < @end AND n.tti_ms IS NOT NULL AND `+notificationScope+`
		GROUP BY 1 ORDER BY 1`, args)
	if err != nil {
		return err
	}
	d.TTI, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.DigestTTI, error) {
		var t mandate.DigestTTI
		var p50, p95 float64
		err := r.Scan(&t.Kind, &t.Samples, &p50, &p95)
		t.P50, t.P95 = millis(p50), millis(p95)
		return t, err
	})
	return err
}

// millis turns a percentile of milliseconds into a duration, rounded to the millisecond.
func millis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
}

func readRules(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	byRule := map[string]*mandate.DigestRule{}
	get := func(rule string) *mandate.DigestRule {
		if r, ok := byRule[rule]; ok {
			return r
		}
		r := &mandate.DigestRule{Rule: rule}
		byRule[rule] = r
		return r
	}
	rows, err := tx.Query(ctx, `SELECT a.rule, count(DISTINCT n.id), count(f.id), count(f.id) FILTER (WHERE NOT f.relevant)
		FROM notifications n JOIN actions a ON a.id = n.action_id
		LEFT JOIN notification_feedback f ON f.notification_id = n.id
		WHERE n.created_at >= @start AND n.created_at < @end AND `+notificationScope+`
		GROUP BY 1`, args)
	if err != nil {
		return err
	}
	for rows.Next() {
		var rule string
		var n, feedback, notRelevant int
		if err := rows.Scan(&rule, &n, &feedback, &notRelevant); err != nil {
			return err
		}
		r := get(rule)
		r.Notifications, r.Feedback, r.NotRelevant = n, feedback, notRelevant
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// A miss belongs to the team when it names the team or one of its people, or is about
	// one of its actions.
	rows, err = tx.Query(ctx, `SELECT a.rule, count(*) FROM routing_misses m JOIN actions a ON a.id = m.action_id
		WHERE m.given_at >= @start AND m.given_at < @end
		  AND (@team = '' OR m.who = @team OR m.who = 'team:' || @team OR m.who = ANY(@members::text[]) OR a.teams @> ARRAY[@team]::text[])
		GROUP BY 1`, args)
	if err != nil {
		return err
	}
	for rows.Next() {
		var rule string
		var n int
		if err := rows.Scan(&rule, &n); err != nil {
			return err
		}
		get(rule).Missed = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d.Rules = make([]mandate.DigestRule, 0, len(byRule))
	for _, r := range byRule {
		d.Rules = append(d.Rules, *r)
	}
	slices.SortFunc(d.Rules, func(a, b mandate.DigestRule) int {
		return cmp.Or(cmp.Compare(b.Notifications, a.Notifications), cmp.Compare(a.Rule, b.Rule))
	})
	return nil
}

func readUnowned(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	// resource_owners holds each resource's owners as last resolved; layer 'none' is a
	// resource nobody owns (the org fallback was told).
	rows, err := tx.Query(ctx, `WITH gaps AS (
			SELECT a.id, k.key FROM actions a CROSS JOIN LATERAL unnest(a.resource_keys) AS k(key)
			JOIN resource_owners o ON o.key = k.key AND o.layer = 'none'
			WHERE a.recorded_at >= @start AND a.recorded_at < @end AND `+actionScope+`)
		SELECT key, count(DISTINCT id), (SELECT count(DISTINCT id) FROM gaps) FROM gaps GROUP BY key`, args)
	if err != nil {
		return err
	}
	gaps := map[string]int{}
	for rows.Next() {
		var key string
		var n, total int
		if err := rows.Scan(&key, &n, &total); err != nil {
			return err
		}
		gaps[key] = n
		d.Ownership.UnownedActions = total
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d.Ownership.Gaps = counted(gaps)
	return nil
}

func readEscalations(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	e := &d.Escalations
	return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE e.step > 0), coalesce(sum(e.step), 0),
			count(*) FILTER (WHERE e.step > 0 AND e.state = 'answered'),
			count(*) FILTER (WHERE e.state = 'exhausted'),
			count(*) FILTER (WHERE e.step > 0 AND e.state = 'running')
		FROM escalations e JOIN actions a ON a.id = e.action_id
		WHERE e.started_at >= @start AND e.started_at < @end AND `+actionScope+``, args).
		Scan(&e.Escalated, &e.Steps, &e.Answered, &e.NoResponse, &e.Running)
}

func readIncidents(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	rows, err := tx.Query(ctx, `SELECT i.number, i.title, i.severity, i.state, coalesce(i.repeat_of, 0), i.opened_at
		FROM incidents i
		WHERE i.opened_at >= @start AND i.opened_at < @end AND (@team = '' OR i.teams @> ARRAY[@team]::text[])
		ORDER BY i.number`, args)
	if err != nil {
		return err
	}
	inc := &d.Incidents
	inc.List, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.DigestIncident, error) {
		var i mandate.DigestIncident
		err := r.Scan(&i.Number, &i.Title, &i.Severity, &i.State, &i.RepeatOf, &i.OpenedAt)
		return i, err
	})
	if err != nil {
		return err
	}
	inc.Opened = len(inc.List)
	for _, i := range inc.List {
		if i.RepeatOf != 0 {
			inc.Repeats++
		}
	}
	// "Should have been notified" marks on an incident's causes (not dismissed ones),
	// made in the period: the people an incident happened to without being told.
	rows, err = tx.Query(ctx, `SELECT DISTINCT c.incident, a.id::text, a.type, a.resource_keys, m.who
		FROM routing_misses m
		JOIN incident_causes c ON c.action_id = m.action_id AND c.state <> 'dismissed'
		JOIN incidents i ON i.number = c.incident
		JOIN actions a ON a.id = m.action_id
		WHERE m.given_at >= @start AND m.given_at < @end
		  AND (@team = '' OR i.teams @> ARRAY[@team]::text[] OR m.who = @team OR m.who = 'team:' || @team OR m.who = ANY(@members::text[]))
		ORDER BY 1, 2, 5`, args)
	if err != nil {
		return err
	}
	inc.Misses, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.IncidentMiss, error) {
		var m mandate.IncidentMiss
		err := r.Scan(&m.Incident, &m.ActionID, &m.ActionType, &m.Resources, &m.Who)
		return m, err
	})
	return err
}

func readOverdue(ctx context.Context, tx pgx.Tx, args pgx.NamedArgs, d *mandate.Digest) error {
	// Overdue as mandate.ActionItem.Overdue has it: open after the whole due day (UTC)
	// has passed, as of the period's end.
	rows, err := tx.Query(ctx, `SELECT ai.id, ai.incident, ai.title, ai.owner, ai.due
		FROM action_items ai JOIN incidents i ON i.number = ai.incident
		WHERE ai.state = 'open' AND ((ai.due + 1)::timestamp AT TIME ZONE 'UTC') < @end
		  AND (@team = '' OR i.teams @> ARRAY[@team]::text[] OR ai.owner = ANY(@members::text[]))
		ORDER BY ai.due, ai.id`, args)
	if err != nil {
		return err
	}
	d.Overdue, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.DigestItem, error) {
		var it mandate.DigestItem
		err := r.Scan(&it.ID, &it.Incident, &it.Title, &it.Owner, &it.Due)
		return it, err
	})
	return err
}

// ClaimRun claims a scheduled run for this replica (by), as of now. It returns the
// attempt number (1 for the first), or 0 when the run is not this replica's to do: done
// already, or claimed by another replica whose lease has not run out. The claim is the
// insert of the run's row; a run whose claim lapsed (its replica died before finishing
// or it failed and is due for a retry) is taken over by the same statement.
func (s *DigestStore) ClaimRun(ctx context.Context, r mandate.DigestRun, by string, now time.Time, lease time.Duration) (int, error) {
	var attempt int
	err := s.db.pool.QueryRow(ctx, `INSERT INTO digest_runs (kind, team, period_start, period_end, manual, claimed_by, claimed_at, retry_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (kind, team, period_start) DO UPDATE
			SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at, retry_at = excluded.retry_at,
			    attempts = digest_runs.attempts + 1
			WHERE digest_runs.finished_at IS NULL AND digest_runs.retry_at <= excluded.claimed_at
		RETURNING attempts`, r.Kind, r.Team, r.Start, r.End, r.Manual, by, now, now.Add(lease)).Scan(&attempt)
	if errNoRows(err) {
		return 0, nil
	}
	return attempt, classify(err)
}

// Delivered lists the destinations a run has already reached.
func (s *DigestStore) Delivered(ctx context.Context, r mandate.DigestRun) (map[string]bool, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT destination FROM digest_deliveries WHERE kind = $1 AND team = $2 AND period_start = $3`,
		r.Kind, r.Team, r.Start)
	if err != nil {
		return nil, classify(err)
	}
	dests, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(err)
	}
	out := make(map[string]bool, len(dests))
	for _, d := range dests {
		out[d] = true
	}
	return out, nil
}

// RecordDelivery records that a run reached destination (ref: the Slack message's ts).
func (s *DigestStore) RecordDelivery(ctx context.Context, r mandate.DigestRun, destination, ref string, at time.Time) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO digest_deliveries (kind, team, period_start, destination, ref, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, r.Kind, r.Team, r.Start, destination, ref, at)
	return classify(err)
}

// FinishRun closes a run for good: done, or given up with errText.
func (s *DigestStore) FinishRun(ctx context.Context, r mandate.DigestRun, at time.Time, errText string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE digest_runs SET finished_at = $4, last_error = $5
		WHERE kind = $1 AND team = $2 AND period_start = $3`, r.Kind, r.Team, r.Start, at, errText)
	return classify(err)
}

// RetryRun releases a failed run's claim so that a tick at or after at takes it again.
func (s *DigestStore) RetryRun(ctx context.Context, r mandate.DigestRun, at time.Time, errText string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE digest_runs SET retry_at = $4, last_error = $5
		WHERE kind = $1 AND team = $2 AND period_start = $3 AND finished_at IS NULL`, r.Kind, r.Team, r.Start, at, errText)
	return classify(err)
}

// RunStatus is what is known of one run.
type RunStatus struct {
	Attempts  int
	Manual    bool
	ClaimedBy string
	Finished  *time.Time
	LastError string
}

// Run reads a run's state; ENOTFOUND when it was never claimed.
func (s *DigestStore) Run(ctx context.Context, r mandate.DigestRun) (*RunStatus, error) {
	var st RunStatus
	err := s.db.pool.QueryRow(ctx, `SELECT attempts, manual, claimed_by, finished_at, last_error FROM digest_runs
		WHERE kind = $1 AND team = $2 AND period_start = $3`, r.Kind, r.Team, r.Start).
		Scan(&st.Attempts, &st.Manual, &st.ClaimedBy, &st.Finished, &st.LastError)
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no %s run for %q from %s", r.Kind, r.Team, r.Start.Format(time.RFC3339))
	}
	return &st, classify(err)
}
