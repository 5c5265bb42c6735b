package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mandatehq/mandate"
)

// RoutingStore keeps feedback on notifications and missed notifications, per rule.
type RoutingStore struct{ db *DB }

// NewRoutingStore returns a RoutingStore on db.
func NewRoutingStore(db *DB) *RoutingStore { return &RoutingStore{db: db} }

func foreignKeyMissing(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// Feedback records whether a notification was relevant to by; giving feedback again
// replaces the earlier answer.
func (s *RoutingStore) Feedback(ctx context.Context, notificationID int64, relevant bool, by string) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO notification_feedback (notification_id, relevant, given_by) VALUES ($1, $2, $3)
		ON CONFLICT (notification_id, given_by) DO UPDATE SET relevant = excluded.relevant, given_at = now()`, notificationID, relevant, by)
	if foreignKeyMissing(err) {
		return mandate.Errorf(mandate.ENOTFOUND, "no notification %d", notificationID)
	}
	return classify(err)
}

// Missed records that who should have been told about an action and was not.
func (s *RoutingStore) Missed(ctx context.Context, actionID, who, note, by string) error {
	if !validUUID(actionID) {
		return mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	}
	_, err := s.db.pool.Exec(ctx, `INSERT INTO routing_misses (action_id, who, note, given_by) VALUES ($1, $2, $3, $4)`, actionID, who, note, by)
	if foreignKeyMissing(err) {
		return mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	}
	return classify(err)
}

// Notifications lists an action's notifications.
func (s *RoutingStore) Notifications(ctx context.Context, actionID string) ([]mandate.NotificationInfo, error) {
	if !validUUID(actionID) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	}
	rows, err := s.db.pool.Query(ctx, `SELECT n.id, n.action_id::text, n.target_kind, n.target_id, n.urgency, n.state, a.rule, n.created_at
		FROM notifications n JOIN actions a ON a.id = n.action_id WHERE n.action_id = $1 ORDER BY n.id`, actionID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (mandate.NotificationInfo, error) {
		var n mandate.NotificationInfo
		err := row.Scan(&n.ID, &n.ActionID, &n.Kind, &n.Target, &n.Urgency, &n.State, &n.Rule, &n.Created)
		return n, err
	})
	return out, classify(err)
}

// Stats summarises notifications, feedback and misses per rule since the given time,
// rules with the most notifications first.
func (s *RoutingStore) Stats(ctx context.Context, since time.Time) ([]mandate.RuleStats, error) {
	byRule := map[string]*mandate.RuleStats{}
	get := func(rule string) *mandate.RuleStats {
		if st, ok := byRule[rule]; ok {
			return st
		}
		st := &mandate.RuleStats{Rule: rule}
		byRule[rule] = st
		return st
	}
	rows, err := s.db.pool.Query(ctx, `
		SELECT a.rule, count(DISTINCT n.id),
		       count(f.id) FILTER (WHERE f.relevant), count(f.id) FILTER (WHERE NOT f.relevant)
		FROM notifications n JOIN actions a ON a.id = n.action_id
		LEFT JOIN notification_feedback f ON f.notification_id = n.id
		WHERE n.created_at >= $1 GROUP BY a.rule`, since)
	if err != nil {
		return nil, classify(err)
	}
	for rows.Next() {
		var rule string
		var n, rel, notRel int
		if err := rows.Scan(&rule, &n, &rel, &notRel); err != nil {
			return nil, err
		}
		st := get(rule)
		st.Notifications, st.Relevant, st.NotRelevant = n, rel, notRel
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	rows, err = s.db.pool.Query(ctx, `SELECT a.rule, count(*) FROM routing_misses m JOIN actions a ON a.id = m.action_id
		WHERE m.given_at >= $1 GROUP BY a.rule`, since)
	if err != nil {
		return nil, classify(err)
	}
	for rows.Next() {
		var rule string
		var n int
		if err := rows.Scan(&rule, &n); err != nil {
			return nil, err
		}
		get(rule).Missed = n
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	out := make([]mandate.RuleStats, 0, len(byRule))
	for _, st := range byRule {
		st.Feedback = st.Relevant + st.NotRelevant
		if st.Feedback > 0 {
			st.RelevanceRate = float64(st.Relevant) / float64(st.Feedback)
			st.FalsePositiveRate = float64(st.NotRelevant) / float64(st.Feedback)
			st.NeedsReview = st.FalsePositiveRate > mandate.FalsePositiveLimit
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Notifications != out[j].Notifications {
			return out[i].Notifications > out[j].Notifications
		}
		return out[i].Rule < out[j].Rule
	})
	return out, nil
}

// IncidentMisses lists the "should have been notified" marks on an incident's causes
// that responders did not dismiss, one per action and who, the earliest mark first. It
// reads every mark on those actions, whenever and however it was made: a person missed
// is missed for the postmortem whether the API or Slack said so.
func (s *RoutingStore) IncidentMisses(ctx context.Context, number int64) ([]mandate.IncidentMiss, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT c.incident, a.id::text, a.type, a.resource_keys, m.who
		FROM routing_misses m
		JOIN incident_causes c ON c.action_id = m.action_id AND c.state <> 'dismissed'
		JOIN actions a ON a.id = m.action_id
		WHERE c.incident = $1
		GROUP BY c.incident, a.id, a.type, a.resource_keys, m.who
		ORDER BY min(m.given_at), min(m.id)`, number)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.IncidentMiss, error) {
		var m mandate.IncidentMiss
		err := r.Scan(&m.Incident, &m.ActionID, &m.ActionType, &m.Resources, &m.Who)
		return m, err
	})
	return out, classify(err)
}
