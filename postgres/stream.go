package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

const actionColumns = `seq, id::text, actor_id, coalesce(idempotency_key, ''), type, summary, resources, environment,
	reversibility, params, session, occurred_at, recorded_at, status, path, urgency, rule,
	answer->'decision'->'reasons', answer->'decision'->'targets', teams,
	answer->'halt', result_status, coalesce(result_error, ''), coalesce(failure_mode, ''), coalesce(duration_ms, 0),
	result, result_at`

func scanAction(row pgx.Row) (*mandate.Action, error) {
	var a mandate.Action
	var resources, reasons, targets, params, halt, result []byte
	var resultStatus *string
	var res mandate.ActionResult
	var resultAt *time.Time
	err := row.Scan(&a.Seq, &a.ID, &a.ActorID, &a.IdempotencyKey, &a.Type, &a.Summary, &resources, &a.Environment,
		&a.Reversibility, &params, &a.Session, &a.OccurredAt, &a.RecordedAt, &a.Status, &a.Decision.Path,
		&a.Decision.Urgency, &a.Decision.Rule, &reasons, &targets, &a.Teams,
		&halt, &resultStatus, &res.Error, &res.FailureMode, &res.DurationMS, &result, &resultAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resources, &a.Resources); err != nil {
		return nil, fmt.Errorf("action %s resources: %w", a.ID, err)
	}
	if err := json.Unmarshal(reasons, &a.Decision.Reasons); err != nil {
		return nil, fmt.Errorf("action %s reasons: %w", a.ID, err)
	}
	if len(targets) > 0 && string(targets) != "null" {
		if err := json.Unmarshal(targets, &a.Decision.Targets); err != nil {
			return nil, fmt.Errorf("action %s targets: %w", a.ID, err)
		}
	}
	if len(halt) > 0 && string(halt) != "null" {
		a.Halt = new(mandate.Halt)
		if err := json.Unmarshal(halt, a.Halt); err != nil {
			return nil, fmt.Errorf("action %s halt: %w", a.ID, err)
		}
	}
	a.Params = params
	if resultStatus != nil {
		res.Status = mandate.ActionStatus(*resultStatus)
		res.Result = result
		res.ReportedAt = *resultAt
		a.Result = &res
	}
	return &a, nil
}

// Get returns one action, or ENOTFOUND.
func (s *ActionStore) Get(ctx context.Context, id string) (*mandate.Action, error) {
	if !validUUID(id) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no action %q", id)
	}
	a, err := scanAction(s.db.pool.QueryRow(ctx, `SELECT `+actionColumns+` FROM actions WHERE id = $1`, id))
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no action %q", id)
	}
	return a, classify(err)
}

// List returns the activity stream, newest first, filtered by f. next is the cursor for
// the following page (f.Before), 0 when there is none.
func (s *ActionStore) List(ctx context.Context, f mandate.ActionFilter) (actions []*mandate.Action, next int64, err error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Actor != "" {
		where = append(where, "actor_id = "+arg(f.Actor))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg(f.Type))
	}
	if f.Resource != "" {
		where = append(where, "resource_keys @> ARRAY["+arg(f.Resource)+"::text]")
	}
	if f.Team != "" {
		where = append(where, "teams @> ARRAY["+arg(f.Team)+"::text]")
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_at >= "+arg(f.Since))
	}
	if f.Before > 0 {
		where = append(where, "seq < "+arg(f.Before))
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := `SELECT ` + actionColumns + ` FROM actions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT " + arg(limit+1)
	rows, err := s.db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, 0, err
		}
		actions = append(actions, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, classify(err)
	}
	if len(actions) > limit {
		actions = actions[:limit]
		next = actions[limit-1].Seq
	}
	return actions, next, nil
}

// ReportResult records how an action ended. actorID, when not empty, must be the actor
// that reported the action. Reporting the same result again is a no-op; a different one
// is ECONFLICT, as is a result for an action that was blocked.
func (s *ActionStore) ReportResult(ctx context.Context, actorID, actionID string, r mandate.ActionResult) (*mandate.Action, error) {
	notFound := mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	if !validUUID(actionID) {
		return nil, notFound
	}
	var result *string
	if len(r.Result) > 0 {
		s := string(r.Result)
		result = &s
	}
	a, err := scanAction(s.db.pool.QueryRow(ctx, `
		UPDATE actions SET status = $3, result_status = $3, result_error = $4, failure_mode = $5,
			duration_ms = $6, result = $7::jsonb, result_at = now()
		WHERE id = $1 AND ($2 = '' OR actor_id = $2) AND result_status IS NULL AND status <> 'blocked'
		RETURNING `+actionColumns, actionID, actorID, string(r.Status), r.Error, r.FailureMode, r.DurationMS, result))
	if err == nil {
		return a, nil
	}
	if !errNoRows(err) {
		return nil, classify(err)
	}
	// Nothing updated: say why.
	cur, err := s.Get(ctx, actionID)
	if err != nil {
		return nil, err
	}
	switch {
	case actorID != "" && cur.ActorID != actorID:
		return nil, notFound // another actor's action is none of this one's business
	case cur.Status == mandate.StatusBlocked:
		return nil, mandate.Errorf(mandate.ECONFLICT, "action %s was blocked because the agent was paused; it has no result", actionID)
	case cur.Result != nil && sameResult(cur.Result, &r):
		return cur, nil
	case cur.Result != nil:
		return nil, mandate.Errorf(mandate.ECONFLICT, "action %s already has a different result (%s)", actionID, cur.Result.Status)
	}
	return nil, fmt.Errorf("result for action %s neither stored nor explained", actionID)
}

func sameResult(a, b *mandate.ActionResult) bool {
	return a.Status == b.Status && a.Error == b.Error && a.FailureMode == b.FailureMode &&
		a.DurationMS == b.DurationMS && jsonEqual(a.Result, b.Result)
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return mustJSON(x) == mustJSON(y)
}

// CountByID says, for the given action ids, how many are missing and how many appear more
// than once. The ingest benchmark uses it to prove every acknowledged action was stored
// exactly once.
func (s *ActionStore) CountByID(ctx context.Context, ids []string) (missing, duplicated int, err error) {
	rows, err := s.db.pool.Query(ctx, `SELECT u.id, count(a.id) FROM (SELECT DISTINCT id FROM unnest($1::uuid[]) AS x(id)) AS u
		LEFT JOIN actions a ON a.id = u.id GROUP BY u.id`, ids)
	if err != nil {
		return 0, 0, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return 0, 0, err
		}
		switch {
		case n == 0:
			missing++
		case n > 1:
			duplicated++
		}
	}
	return missing, duplicated, classify(rows.Err())
}

// PendingNotifications counts notifications still waiting for a delivery channel.
func (s *ActionStore) PendingNotifications(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE state = 'pending'`).Scan(&n)
	return n, classify(err)
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Failure is one failed action of an actor.
type Failure struct {
	Actor string
	At    time.Time
}

// RecentFailures lists the failed actions reported since the given time, to warm the
// routing track record at start.
func (s *ActionStore) RecentFailures(ctx context.Context, since time.Time) ([]Failure, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT actor_id, result_at FROM actions
		WHERE result_status = 'failed' AND result_at >= $1 ORDER BY result_at`, since)
	if err != nil {
		return nil, classify(err)
	}
	var out []Failure
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.Actor, &f.At); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, classify(rows.Err())
}

// DeliveryBacklog counts notifications queued for delivery longer than olderThan: a
// growing number means the notifier (or Slack) is falling behind.
func (s *ActionStore) DeliveryBacklog(ctx context.Context, olderThan time.Duration) (int64, error) {
	var n int64
	err := s.db.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE state = 'queued' AND created_at < now() - $1::interval`,
		olderThan).Scan(&n)
	return n, classify(err)
}
