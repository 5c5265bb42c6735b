package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// Job kinds of the delivery channels besides Slack.
const (
	// JobWebhook posts a notification to its webhook target (a routing rule's playbook).
	JobWebhook JobKind = "deliver_webhook"
	// JobEscalationTarget starts the escalation policy a routing rule named.
	JobEscalationTarget JobKind = "start_escalation_policy"
	// JobAnswerPage acknowledges or resolves a PagerDuty incident someone answered in
	// Slack; its id is the page's.
	JobAnswerPage JobKind = "answer_page"
)

// Delivery channels, as recorded per notification in deliveries.
const (
	ChannelSlack      = "slack"
	ChannelWebhook    = "webhook"
	ChannelPagerDuty  = "pagerduty"
	ChannelEmail      = "email"
	ChannelEscalation = "escalation" // an escalation_policy target: its chain started
)

// jobFor is the job that delivers a notification to a target of the given kind. Slack
// takes people and teams; a webhook or an escalation policy must never reach Slack's
// deliverer, which would only mark it failed.
func jobFor(kind string) JobKind {
	switch mandate.TargetKind(kind) {
	case mandate.TargetWebhook:
		return JobWebhook
	case mandate.TargetPolicy:
		return JobEscalationTarget
	}
	return JobDeliver
}

// enqueueByKind inserts in tx the delivery job of each notification, by its target kind.
func (q *Queue) enqueueByKind(ctx context.Context, tx pgx.Tx, byKind map[JobKind][]int64) error {
	for kind, ids := range byKind {
		if err := q.insertTx(ctx, tx, kind, ids); err != nil {
			return err
		}
	}
	return nil
}

// recordChannelSQL upserts one channel's outcome. A confirmation replaces a failure (a
// retry got through); a failure never replaces a confirmation.
const recordChannelSQL = `INSERT INTO deliveries (notification_id, channel, state, detail) VALUES ($1, $2, $3, $4)
	ON CONFLICT (notification_id, channel) DO UPDATE SET state = EXCLUDED.state, detail = EXCLUDED.detail, at = now()
	WHERE deliveries.state <> 'confirmed' OR EXCLUDED.state = 'confirmed'`

func channelState(ok bool) string {
	if ok {
		return "confirmed"
	}
	return "failed"
}

// RecordChannel records how one channel did with a notification: confirmed (the channel
// accepted it) or failed (Mandate gave up on that channel), with a detail for people.
func (s *DeliveryStore) RecordChannel(ctx context.Context, id int64, channel string, ok bool, detail string) error {
	_, err := s.db.pool.Exec(ctx, recordChannelSQL, id, channel, channelState(ok), detail)
	return classify(err)
}

// DeliveredBy records that a notification reached its target through a channel other
// than Slack: a webhook receiver answered 2xx, an escalation chain started.
func (s *DeliveryStore) DeliveredBy(ctx context.Context, id int64, channel, detail string) error {
	return classify(pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE notifications SET state = 'delivered', delivered_at = now(), last_error = '' WHERE id = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, recordChannelSQL, id, channel, "confirmed", detail)
		return err
	}))
}

// FailedBy gives up on delivering a notification through channel, and says why.
func (s *DeliveryStore) FailedBy(ctx context.Context, id int64, channel, why string) error {
	return classify(pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE notifications SET state = 'failed', last_error = $2 WHERE id = $1`, id, why); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, recordChannelSQL, id, channel, "failed", why)
		return err
	}))
}

// ChannelOutcome is one channel's recorded outcome for a notification.
type ChannelOutcome struct {
	Channel string
	State   string // confirmed or failed
	Detail  string
	At      time.Time
}

// Channels lists how each channel did with a notification.
func (s *DeliveryStore) Channels(ctx context.Context, id int64) ([]ChannelOutcome, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT channel, state, detail, at FROM deliveries WHERE notification_id = $1 ORDER BY channel`, id)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ChannelOutcome])
	return out, classify(err)
}

// SlackWaiting reports whether any of an action's notifications to people or teams may
// still be posted in Slack (pending or queued).
func (s *DeliveryStore) SlackWaiting(ctx context.Context, actionID string) (bool, error) {
	var waiting bool
	err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notifications WHERE action_id = $1
		AND target_kind IN ('person', 'team') AND state IN ('pending', 'queued'))`, actionID).Scan(&waiting)
	return waiting, classify(err)
}

// EscalationOf returns the notification an action's escalation chain runs from, if the
// action has one, and its policy.
func (s *DeliveryStore) EscalationOf(ctx context.Context, actionID string) (id int64, policy string, found bool, err error) {
	err = s.db.pool.QueryRow(ctx, `SELECT notification_id, policy FROM escalations WHERE action_id = $1`, actionID).Scan(&id, &policy)
	if errNoRows(err) {
		return 0, "", false, nil
	}
	return id, policy, err == nil, classify(err)
}

// Degraded names the delivery channels in trouble since the given time, one line each,
// for status: channels that gave up on notifications, pages PagerDuty has not confirmed,
// answers from Slack not yet passed on to PagerDuty.
func (s *DeliveryStore) Degraded(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT channel, count(*), (array_agg(detail ORDER BY at DESC))[1]
		FROM deliveries WHERE state = 'failed' AND at >= $1 GROUP BY channel ORDER BY channel`, since)
	if err != nil {
		return nil, classify(err)
	}
	var out []string
	for rows.Next() {
		var channel, last string
		var n int
		if err := rows.Scan(&channel, &n, &last); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		out = append(out, fmt.Sprintf("%s: %d %s failed since %s (last: %s)", channel, n, plural(n, "delivery", "deliveries"),
			since.UTC().Format("15:04 UTC"), shorten(last, 200)))
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	// A page is written before it is sent; one that PagerDuty has not accepted within a
	// minute is failing (the job keeps retrying it).
	var unconfirmed, unanswered int
	var lastErr string
	err = s.db.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE state = 'paging' AND created_at < now() - interval '1 minute'),
			count(*) FILTER (WHERE (want = 'resolve' AND state <> 'resolved' OR want = 'acknowledge' AND state IN ('paging', 'triggered'))
			                   AND created_at < now() - interval '1 minute' AND last_error <> ''),
			coalesce((array_agg(last_error ORDER BY created_at DESC) FILTER (WHERE last_error <> ''))[1], '')
		FROM pages WHERE created_at >= $1 OR state = 'paging'`, since).Scan(&unconfirmed, &unanswered, &lastErr)
	if err != nil {
		return nil, classify(err)
	}
	if unconfirmed > 0 {
		out = append(out, fmt.Sprintf("pagerduty: %d %s not confirmed by PagerDuty (last error: %s)", unconfirmed, plural(unconfirmed, "page", "pages"), shorten(lastErr, 200)))
	}
	if unanswered > 0 {
		out = append(out, fmt.Sprintf("pagerduty: %d %s from Slack not yet passed on (last error: %s)", unanswered, plural(unanswered, "answer", "answers"), shorten(lastErr, 200)))
	}
	return out, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// AlertStore coordinates alerts to the admins about Mandate itself across replicas, so a
// delivery backlog seen by every replica is reported once, and its end once.
type AlertStore struct{ db *DB }

// NewAlertStore returns an AlertStore on db.
func NewAlertStore(db *DB) *AlertStore { return &AlertStore{db: db} }

// Raise raises the alert name; it reports true only to the caller that raised it, which
// should send it. Raising a raised alert does nothing.
func (s *AlertStore) Raise(ctx context.Context, name, detail string) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `INSERT INTO system_alerts (name, detail) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, detail)
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Clear ends the alert name; it reports when it was raised, and true only to the caller
// that cleared it, which should send the all-clear. Withdrawing a raise whose alert could
// not be sent is Clear too: the next Raise sends it again.
func (s *AlertStore) Clear(ctx context.Context, name string) (raisedAt time.Time, cleared bool, err error) {
	err = s.db.pool.QueryRow(ctx, `DELETE FROM system_alerts WHERE name = $1 RETURNING raised_at`, name).Scan(&raisedAt)
	if errNoRows(err) {
		return time.Time{}, false, nil
	}
	return raisedAt, err == nil, classify(err)
}
