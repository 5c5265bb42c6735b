package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// JobEscalate runs the next step of a notification's escalation.
const JobEscalate JobKind = "escalate"

// Escalation is a running escalation chain.
type Escalation struct {
	NotificationID int64
	ActionID       string
	Policy         string
	Step           int
	State          string
	StartedAt      time.Time
	Responded      bool // someone intervened on one of the action's notifications
}

// EscalationStore keeps escalation chains and schedules their steps on the queue.
type EscalationStore struct {
	db    *DB
	queue *Queue
}

// NewEscalationStore returns an EscalationStore that schedules steps on queue.
func NewEscalationStore(db *DB, queue *Queue) *EscalationStore {
	return &EscalationStore{db: db, queue: queue}
}

// Start begins the escalation of an action from its notification, with the first step due
// at first. An action escalates once: starting it again does nothing.
func (s *EscalationStore) Start(ctx context.Context, notificationID int64, actionID, policy string, started, first time.Time) (bool, error) {
	started2 := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO escalations (notification_id, action_id, policy, started_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, notificationID, actionID, policy, started)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		started2 = true
		return s.queue.insertAtTx(ctx, tx, JobEscalate, []int64{notificationID}, first)
	})
	return started2, classify(err)
}

// Get reads an escalation and whether anyone answered its action.
func (s *EscalationStore) Get(ctx context.Context, notificationID int64) (*Escalation, error) {
	var e Escalation
	err := s.db.pool.QueryRow(ctx, `SELECT e.notification_id, e.action_id::text, e.policy, e.step, e.state, e.started_at,
			EXISTS (SELECT 1 FROM interventions i WHERE i.action_id = e.action_id AND i.allowed)
		FROM escalations e WHERE e.notification_id = $1`, notificationID).
		Scan(&e.NotificationID, &e.ActionID, &e.Policy, &e.Step, &e.State, &e.StartedAt, &e.Responded)
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no escalation for notification %d", notificationID)
	}
	return &e, classify(err)
}

// Take claims step of an escalation: it returns false when the step was taken already
// (by another replica, or before a crash), so every step fires once.
func (s *EscalationStore) Take(ctx context.Context, notificationID int64, step int, notify string, told []string) (bool, error) {
	return s.take(ctx, notificationID, step, notify, told, nil)
}

// TakeNext is Take that also schedules the escalation's next step at next, in the same
// transaction: a replica that dies once it has claimed a step leaves the chain going.
// Claimed and scheduled apart, a crash between the two would leave the rest of the chain
// to River's rescue of the dead replica's job, an hour later.
func (s *EscalationStore) TakeNext(ctx context.Context, notificationID int64, step int, notify string, told []string, next time.Time) (bool, error) {
	return s.take(ctx, notificationID, step, notify, told, &next)
}

func (s *EscalationStore) take(ctx context.Context, notificationID int64, step int, notify string, told []string, next *time.Time) (bool, error) {
	taken := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE escalations SET step = step + 1 WHERE notification_id = $1 AND step = $2 AND state = 'running'`, notificationID, step)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		taken = true
		if _, err = tx.Exec(ctx, `INSERT INTO escalation_steps (notification_id, step, notify, told) VALUES ($1, $2, $3, $4)`,
			notificationID, step, notify, nonNil(told)); err != nil || next == nil {
			return err
		}
		return s.queue.insertAtTx(ctx, tx, JobEscalate, []int64{notificationID}, *next)
	})
	if err != nil {
		taken = false
	}
	return taken, classify(err)
}

// Next schedules the escalation's next step at the given time.
func (s *EscalationStore) Next(ctx context.Context, notificationID int64, at time.Time) error {
	return pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		return s.queue.insertAtTx(ctx, tx, JobEscalate, []int64{notificationID}, at)
	})
}

// End closes an escalation as answered or exhausted ("no response"). It returns false
// when the escalation was closed already, so that of two jobs closing it at once only one
// says so.
func (s *EscalationStore) End(ctx context.Context, notificationID int64, state string, at time.Time) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `UPDATE escalations SET state = $2, ended_at = $3 WHERE notification_id = $1 AND state = 'running'`,
		notificationID, state, at)
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() > 0, nil
}

// Steps lists the steps an escalation took, in order: what each notified and whom.
func (s *EscalationStore) Steps(ctx context.Context, notificationID int64) ([][2]string, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT notify, array_to_string(told, ',') FROM escalation_steps WHERE notification_id = $1 ORDER BY step`, notificationID)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var x [2]string
		err := r.Scan(&x[0], &x[1])
		return x, err
	})
	return out, classify(err)
}
