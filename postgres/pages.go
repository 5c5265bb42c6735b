package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// Page is a PagerDuty incident Mandate opened about an action.
type Page struct {
	ID             int64
	DedupKey       string
	ActionID       string
	NotificationID int64 // 0 when the page is about the action (an expired gate)
	// Reason says why it paged: escalation, gate_expired or slack_fallback.
	Reason string
	// State is paging (written, not yet accepted), triggered, acknowledged or resolved.
	State string
	// Want is the answer from Slack still to be sent: mandate.PageAcknowledge,
	// mandate.PageResolve, or "".
	Want        string
	TriggeredAt *time.Time
	LastError   string
}

// PageStore remembers the PagerDuty incidents Mandate opened, so a human's answer in
// Slack acknowledges or resolves exactly those.
type PageStore struct {
	db    *DB
	queue *Queue
}

// NewPageStore returns a PageStore that schedules answers on queue.
func NewPageStore(db *DB, queue *Queue) *PageStore { return &PageStore{db: db, queue: queue} }

// Paging records, before the trigger is sent, that p.DedupKey is being paged. It returns
// the answer a human already gave since the key was first paged: the caller should not
// page again someone already answered. Paging the same key again (a retried job, a
// repeated escalation step) keeps the one row.
func (s *PageStore) Paging(ctx context.Context, p Page) (want string, err error) {
	var notificationID *int64
	if p.NotificationID != 0 {
		notificationID = &p.NotificationID
	}
	err = s.db.pool.QueryRow(ctx, `INSERT INTO pages (dedup_key, action_id, notification_id, reason) VALUES ($1, $2, $3, $4)
		ON CONFLICT (dedup_key) DO UPDATE SET dedup_key = EXCLUDED.dedup_key
		RETURNING coalesce(want, '')`, p.DedupKey, p.ActionID, notificationID, p.Reason).Scan(&want)
	return want, classify(err)
}

// Paged records that PagerDuty accepted the trigger for dedupKey. If a human answered
// meanwhile, the answer was perhaps sent before the trigger landed and did nothing, so it
// is scheduled (again) in the same transaction.
func (s *PageStore) Paged(ctx context.Context, dedupKey string) error {
	return classify(pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var id int64
		var want *string
		err := tx.QueryRow(ctx, `UPDATE pages SET state = 'triggered', triggered_at = clock_timestamp(), last_error = ''
			WHERE dedup_key = $1 RETURNING id, want`, dedupKey).Scan(&id, &want)
		if errNoRows(err) || err != nil || want == nil {
			return err
		}
		return s.queue.insertTx(ctx, tx, JobAnswerPage, []int64{id})
	}))
}

// Failed notes why sending to PagerDuty about dedupKey failed (the job retries it).
func (s *PageStore) Failed(ctx context.Context, dedupKey, why string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE pages SET last_error = $2 WHERE dedup_key = $1`, dedupKey, why)
	return classify(err)
}

const pageColumns = `id, dedup_key, action_id::text, coalesce(notification_id, 0), reason, state, coalesce(want, ''), triggered_at, last_error`

// Get returns one page.
func (s *PageStore) Get(ctx context.Context, id int64) (*Page, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+pageColumns+` FROM pages WHERE id = $1`, id)
	if err != nil {
		return nil, classify(err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByPos[Page])
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no page %d", id)
	}
	return p, classify(err)
}

// ForAction lists the pages about an action, oldest first.
func (s *PageStore) ForAction(ctx context.Context, actionID string) ([]Page, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+pageColumns+` FROM pages WHERE action_id = $1 ORDER BY id`, actionID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Page])
	return out, classify(err)
}

// Answered records that PagerDuty took the answer: state is acknowledged or resolved. It
// changes nothing, and reports false, when the page was triggered again since the answer
// was read (triggeredAt): that trigger may have reopened the incident, and Paged has
// scheduled the answer once more; nor does a slow acknowledgement undo a resolution
// recorded meanwhile.
func (s *PageStore) Answered(ctx context.Context, id int64, state string, triggeredAt *time.Time) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `UPDATE pages SET state = $2, last_error = '',
			acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN now() ELSE acknowledged_at END,
			resolved_at = CASE WHEN $2 = 'resolved' THEN now() ELSE resolved_at END
		WHERE id = $1 AND triggered_at IS NOT DISTINCT FROM $3 AND NOT (state = 'resolved' AND $2 = 'acknowledged')`, id, state, triggeredAt)
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// NoteAnswer notes why passing an answer on to PagerDuty failed.
func (s *PageStore) NoteAnswer(ctx context.Context, id int64, why string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE pages SET last_error = $2 WHERE id = $1`, id, why)
	return classify(err)
}

// answerPagesTx, in the transaction that records an allowed intervention on an action,
// sets what the action's pages should get (an acknowledgement never downgrades a
// resolution) and schedules a job for each page that needs sending. Only pages that
// exist now are answered: an intervention before the page (an acknowledgement before a
// gate expired) does not answer it.
func answerPagesTx(ctx context.Context, tx pgx.Tx, q *Queue, actionID string, interventionID int64, want string) error {
	rows, err := tx.Query(ctx, `UPDATE pages SET want = $2, answered_by = $3
		WHERE action_id = $1 AND (want IS NULL OR want = 'acknowledge' AND $2 = 'resolve')
		RETURNING id`, actionID, want, interventionID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	return q.insertTx(ctx, tx, JobAnswerPage, ids)
}
