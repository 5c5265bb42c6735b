package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// DeliveryStore reads and records notification deliveries and interventions.
type DeliveryStore struct {
	db      *DB
	actions *ActionStore
	queue   *Queue // nil: interventions schedule no PagerDuty answers
}

// NewDeliveryStore returns a DeliveryStore on db.
func NewDeliveryStore(db *DB) *DeliveryStore {
	return &DeliveryStore{db: db, actions: &ActionStore{db: db}}
}

// WithQueue returns a copy of s whose interventions schedule, in their transaction, the
// acknowledgement or resolution of the PagerDuty incidents opened about their action.
func (s *DeliveryStore) WithQueue(q *Queue) *DeliveryStore {
	c := *s
	c.queue = q
	return &c
}

const deliveryColumns = `id, target_kind, target_id, urgency, state, coalesce(channel, ''), coalesce(slack_ts, ''),
	coalesce(fold_key, ''), folded, attempts, created_at, delivered_at, action_id::text`

func (s *DeliveryStore) scan(ctx context.Context, row pgx.Row) (*mandate.Notification, error) {
	var d mandate.Notification
	var actionID string
	if err := row.Scan(&d.ID, &d.TargetKind, &d.TargetID, &d.Urgency, &d.State, &d.Channel, &d.TS, &d.FoldKey,
		&d.Folded, &d.Attempts, &d.Created, &d.Delivered, &actionID); err != nil {
		if errNoRows(err) {
			return nil, mandate.Errorf(mandate.ENOTFOUND, "no such notification")
		}
		return nil, classify(err)
	}
	a, err := s.actions.Get(ctx, actionID)
	if err != nil {
		return nil, err
	}
	d.Action = a
	return &d, nil
}

// Get returns one notification with its action.
func (s *DeliveryStore) Get(ctx context.Context, id int64) (*mandate.Notification, error) {
	return s.scan(ctx, s.db.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notifications WHERE id = $1`, id))
}

// Attempt counts a delivery attempt and its error, if any.
func (s *DeliveryStore) Attempt(ctx context.Context, id int64, errText string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, id, errText)
	return classify(err)
}

// Delivered records where a notification was posted, and that Slack confirmed it.
func (s *DeliveryStore) Delivered(ctx context.Context, id int64, channel, ts string, at time.Time) error {
	_, err := s.db.pool.Exec(ctx, `WITH n AS (
			UPDATE notifications SET state = 'delivered', channel = $2, slack_ts = $3, delivered_at = $4, last_error = ''
			WHERE id = $1 RETURNING id)
		INSERT INTO deliveries (notification_id, channel, state, detail, at) SELECT id, 'slack', 'confirmed', $2 || ' ' || $3, $4 FROM n
		ON CONFLICT (notification_id, channel) DO UPDATE SET state = 'confirmed', detail = EXCLUDED.detail, at = EXCLUDED.at`,
		id, channel, ts, at)
	return classify(err)
}

// FellBack records that a notification went out by PagerDuty or email because Slack
// failed for too long.
func (s *DeliveryStore) FellBack(ctx context.Context, id int64, why string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE notifications SET state = 'fallback', last_error = $2, delivered_at = now() WHERE id = $1`, id, why)
	return classify(err)
}

// Note records why the last attempt failed, without counting another attempt.
func (s *DeliveryStore) Note(ctx context.Context, id int64, errText string) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE notifications SET last_error = $2 WHERE id = $1`, id, errText)
	return classify(err)
}

// Failed gives up on a notification's delivery to Slack.
func (s *DeliveryStore) Failed(ctx context.Context, id int64, why string) error {
	return s.FailedBy(ctx, id, ChannelSlack, why)
}

// FoldTarget finds the message a notification should fold into: the latest delivered
// notification with the same fold key in the same channel since the given time.
func (s *DeliveryStore) FoldTarget(ctx context.Context, foldKey, channel string, since time.Time) (*mandate.Notification, error) {
	d, err := s.scan(ctx, s.db.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notifications
		WHERE fold_key = $1 AND channel = $2 AND state = 'delivered' AND delivered_at >= $3
		ORDER BY delivered_at DESC LIMIT 1`, foldKey, channel, since))
	if mandate.ErrorCode(err) == mandate.ENOTFOUND {
		return nil, nil
	}
	return d, err
}

// Fold records that notification id was merged into the message of into, and returns how
// many notifications that message now stands for besides its own.
func (s *DeliveryStore) Fold(ctx context.Context, id, into int64, channel, ts string) (int, error) {
	var folded int
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE notifications SET state = 'folded', folded_into = $2, channel = $3, slack_ts = $4,
			delivered_at = now(), attempts = attempts + 1 WHERE id = $1`, id, into, channel, ts); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `UPDATE notifications SET folded = folded + 1 WHERE id = $1 RETURNING folded`, into).Scan(&folded)
	})
	return folded, classify(err)
}

// ByMessage finds the notification posted as (channel, ts).
func (s *DeliveryStore) ByMessage(ctx context.Context, channel, ts string) (*mandate.Notification, error) {
	return s.scan(ctx, s.db.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notifications
		WHERE channel = $1 AND slack_ts = $2 AND state = 'delivered'`, channel, ts))
}

// Intervene records an intervention. The first allowed one sets the notification's first
// response and TTI (from delivery); it returns the TTI when this was the first response.
func (s *DeliveryStore) Intervene(ctx context.Context, iv mandate.Intervention) (tti time.Duration, first bool, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var notificationID *int64
		if iv.NotificationID != 0 {
			notificationID = &iv.NotificationID
		}
		var actionID *string
		if iv.ActionID != "" {
			actionID = &iv.ActionID
		}
		var ivID int64
		if err := tx.QueryRow(ctx, `INSERT INTO interventions (notification_id, action_id, kind, slack_user, person_id, allowed, note, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, notificationID, actionID, iv.Kind, iv.SlackUser, iv.PersonID, iv.Allowed, iv.Note, iv.At).Scan(&ivID); err != nil {
			return err
		}
		// A human answered: the PagerDuty incidents opened about the action get their
		// acknowledgement or resolution, durably, with this intervention.
		if s.queue != nil && actionID != nil && iv.Allowed {
			if err := answerPagesTx(ctx, tx, s.queue, iv.ActionID, ivID, mandate.PageAnswer(iv.Kind)); err != nil {
				return err
			}
		}
		if notificationID == nil || !iv.Allowed {
			return nil
		}
		var ms *int64
		// A response can be recorded before the delivery is (a press within milliseconds
		// of the post, before the post's answer was stored): it counts as the first
		// response, with a TTI of zero.
		err := tx.QueryRow(ctx, `UPDATE notifications SET first_response_at = $2, response_kind = $3,
			tti_ms = CASE WHEN delivered_at IS NULL THEN 0
			              ELSE greatest(0, (extract(epoch FROM ($2 - delivered_at)) * 1000)::bigint) END
			WHERE id = $1 AND first_response_at IS NULL RETURNING tti_ms`, iv.NotificationID, iv.At, iv.Kind).Scan(&ms)
		if errNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if ms != nil {
			first, tti = true, time.Duration(*ms)*time.Millisecond
		}
		return nil
	})
	return tti, first, classify(err)
}

// Outcomes lists the allowed interventions on a notification's action, oldest first.
func (s *DeliveryStore) Outcomes(ctx context.Context, actionID string) ([]mandate.Intervention, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT coalesce(notification_id, 0), action_id::text, kind, slack_user, person_id, allowed, note, at
		FROM interventions WHERE action_id = $1 AND allowed ORDER BY at, id`, actionID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.Intervention, error) {
		var iv mandate.Intervention
		err := r.Scan(&iv.NotificationID, &iv.ActionID, &iv.Kind, &iv.SlackUser, &iv.PersonID, &iv.Allowed, &iv.Note, &iv.At)
		return iv, err
	})
	return out, classify(err)
}

// Ask stores a question about an action.
func (s *DeliveryStore) Ask(ctx context.Context, actionID, by, question string) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO questions (action_id, asked_by, question) VALUES ($1, $2, $3)`, actionID, by, question)
	return classify(err)
}

// Questions lists the questions asked about an action, oldest first.
func (s *DeliveryStore) Questions(ctx context.Context, actionID string) ([]mandate.Question, error) {
	if !validUUID(actionID) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT asked_by, question, asked_at FROM questions WHERE action_id = $1 ORDER BY asked_at, id`, actionID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mandate.Question])
	return out, classify(err)
}
