package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// JobHandoff sends the incoming on-call person their handoff message; its id is the
// oncall_shifts row of the shift that began.
const JobHandoff JobKind = "oncall_handoff"

// OnCallShift is one shift of one on-call rotation as PagerDuty reports it.
type OnCallShift struct {
	// Rotation names the rotation: "schedule:ID", or "policy:ID:level:N" for a direct
	// target of an escalation rule.
	Rotation string
	UserID   string // PagerDuty user id
	Name     string
	Person   string    // config person id; "" when the user maps to nobody
	Start    time.Time // zero when open-ended
	Teams    []string  // the config teams the rotation is on call for
}

// Handoff is a recorded shift and, when it is a handoff, who held the rotation before.
type Handoff struct {
	ID int64
	OnCallShift
	SeenAt  time.Time
	Handoff bool
	// PreviousName and PreviousPerson are who held the rotation's previous shift; empty
	// unless Handoff.
	PreviousName   string
	PreviousPerson string
	SentAt         *time.Time
}

// OnCallStore records on-call shifts, claims handoffs and reads what is open for the
// incoming person.
type OnCallStore struct {
	db    *DB
	queue *Queue
}

// NewOnCallStore returns an OnCallStore that enqueues handoff messages on queue.
func NewOnCallStore(db *DB, queue *Queue) *OnCallStore {
	return &OnCallStore{db: db, queue: queue}
}

// Observe records a shift seen at at. Every replica calls it on every refresh; the
// unique (rotation, user, start) row makes the first call the only one that counts. That
// call is a handoff when the rotation's latest earlier shift was someone else's: then, if
// the person maps to mandate.yaml, the handoff message is enqueued in the same
// transaction, so it goes out once however many replicas saw the change. The first shift
// ever seen of a rotation is no handoff (Mandate was not watching before: it must not DM
// everyone on call when it starts), nor is a shift older than one already recorded (a
// replica with a stale copy of PagerDuty).
func (s *OnCallStore) Observe(ctx context.Context, sh OnCallShift, at time.Time) (id int64, handoff bool, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		// One rotation's shifts are judged one at a time, so two new shifts recorded at
		// once by two replicas cannot both take the other for "not yet there".
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mandate.oncall:' || $1, 0))`, sh.Rotation); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO oncall_shifts (rotation, pd_user, name, person, shift_start, teams, seen_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id`,
			sh.Rotation, sh.UserID, sh.Name, sh.Person, sh.Start, nonNil(sh.Teams), at).Scan(&id)
		if errNoRows(err) {
			id = 0 // seen before: by this replica, another one, or before a restart
			return nil
		}
		if err != nil {
			return err
		}
		var later bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oncall_shifts WHERE rotation = $1 AND shift_start > $2)`,
			sh.Rotation, sh.Start).Scan(&later); err != nil || later {
			return err
		}
		var prevID int64
		var prevUser string
		// The shift before: the latest other one starting no later (PagerDuty reports
		// starts to the second, so two may share one).
		err = tx.QueryRow(ctx, `SELECT id, pd_user FROM oncall_shifts WHERE rotation = $1 AND shift_start <= $2 AND id <> $3
			ORDER BY shift_start DESC, id DESC LIMIT 1`, sh.Rotation, sh.Start, id).Scan(&prevID, &prevUser)
		if errNoRows(err) || err == nil && prevUser == sh.UserID {
			return nil // the first shift seen, or the same person carrying on
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oncall_shifts SET handoff = true, previous = $2 WHERE id = $1`, id, prevID); err != nil {
			return err
		}
		handoff = true
		if sh.Person == "" {
			return nil
		}
		return s.queue.insertTx(ctx, tx, JobHandoff, []int64{id})
	})
	return id, handoff, classify(err)
}

const handoffColumns = `s.id, s.rotation, s.pd_user, s.name, s.person, s.shift_start, s.teams, s.seen_at, s.handoff,
	coalesce(p.name, ''), coalesce(p.person, ''), s.sent_at`

func scanHandoff(row pgx.Row) (Handoff, error) {
	var h Handoff
	err := row.Scan(&h.ID, &h.Rotation, &h.UserID, &h.Name, &h.Person, &h.Start, &h.Teams, &h.SeenAt, &h.Handoff,
		&h.PreviousName, &h.PreviousPerson, &h.SentAt)
	return h, err
}

// Handoff reads one recorded shift with its predecessor.
func (s *OnCallStore) Handoff(ctx context.Context, id int64) (*Handoff, error) {
	h, err := scanHandoff(s.db.pool.QueryRow(ctx, `SELECT `+handoffColumns+`
		FROM oncall_shifts s LEFT JOIN oncall_shifts p ON p.id = s.previous WHERE s.id = $1`, id))
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no on-call shift %d", id)
	}
	if err != nil {
		return nil, classify(err)
	}
	return &h, nil
}

// Sent records that a handoff's message went out. It reports false when it had been
// recorded already.
func (s *OnCallStore) Sent(ctx context.Context, id int64, at time.Time) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `UPDATE oncall_shifts SET sent_at = $2 WHERE id = $1 AND sent_at IS NULL`, id, at)
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Shifts lists a rotation's recorded shifts, oldest first.
func (s *OnCallStore) Shifts(ctx context.Context, rotation string) ([]Handoff, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+handoffColumns+`
		FROM oncall_shifts s LEFT JOIN oncall_shifts p ON p.id = s.previous
		WHERE s.rotation = $1 ORDER BY s.shift_start, s.id`, rotation)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Handoff, error) { return scanHandoff(r) })
	return out, classify(err)
}

// OpenItem is one action still waiting for someone: a pending gate, a running
// escalation or an unanswered critical notification.
type OpenItem struct {
	ActionID string
	Actor    string
	Type     string
	Summary  string
	Since    time.Time // the gate's creation, the escalation's start, the action's recording
	Until    time.Time // a gate's expiry; zero otherwise
	Policy   string    // a running escalation's policy
	Step     int       // steps of it taken so far
}

// OpenWork is what is open for some teams: each action appears once, in the first list
// that has it (gates, then escalations, then unanswered). A list holds at most the limit
// asked for; its total counts them all.
type OpenWork struct {
	Gates, Escalations, Unanswered                []OpenItem
	GatesTotal, EscalationsTotal, UnansweredTotal int
}

// OpenWork reads what is open at now for actions of any of teams: pending gates,
// running escalations nobody has answered, and critical actions recorded since since that
// nobody has answered.
func (s *OnCallStore) OpenWork(ctx context.Context, teams []string, now, since time.Time, limit int) (*OpenWork, error) {
	w := &OpenWork{}
	teams = nonNil(teams)
	list := func(dst *[]OpenItem, total *int, sql string, args ...any) error {
		rows, err := s.db.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenItem, error) {
			var it OpenItem
			var until *time.Time
			err := r.Scan(&it.ActionID, &it.Actor, &it.Type, &it.Summary, &it.Since, &until, &it.Policy, &it.Step, total)
			if until != nil {
				it.Until = *until
			}
			return it, err
		})
		*dst = items
		return err
	}
	// A pending gate past its expiry is expired in all but name: its job is about to say so.
	if err := list(&w.Gates, &w.GatesTotal, `SELECT a.id::text, a.actor_id, a.type, a.summary, g.created_at, g.expires_at, '', 0, count(*) OVER ()
		FROM gates g JOIN actions a ON a.id = g.action_id
		WHERE g.state = 'pending' AND g.expires_at > $2 AND a.teams && $1
		ORDER BY g.expires_at, g.id LIMIT $3`, teams, now, limit); err != nil {
		return nil, classify(err)
	}
	if err := list(&w.Escalations, &w.EscalationsTotal, `SELECT a.id::text, a.actor_id, a.type, a.summary, e.started_at, NULL::timestamptz, e.policy, e.step, count(*) OVER ()
		FROM escalations e JOIN actions a ON a.id = e.action_id
		WHERE e.state = 'running' AND a.teams && $1
		  AND NOT EXISTS (SELECT 1 FROM interventions i WHERE i.action_id = a.id AND i.allowed)
		  AND NOT EXISTS (SELECT 1 FROM gates g WHERE g.action_id = a.id AND g.state = 'pending' AND g.expires_at > $2)
		ORDER BY e.started_at, e.notification_id LIMIT $3`, teams, now, limit); err != nil {
		return nil, classify(err)
	}
	if err := list(&w.Unanswered, &w.UnansweredTotal, `SELECT a.id::text, a.actor_id, a.type, a.summary, a.recorded_at, NULL::timestamptz, '', 0, count(*) OVER ()
		FROM actions a
		WHERE a.urgency = 'critical' AND a.teams && $1 AND a.recorded_at >= $4
		  AND EXISTS (SELECT 1 FROM notifications n WHERE n.action_id = a.id)
		  AND NOT EXISTS (SELECT 1 FROM interventions i WHERE i.action_id = a.id AND i.allowed)
		  AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.action_id = a.id AND e.state = 'running')
		  AND NOT EXISTS (SELECT 1 FROM gates g WHERE g.action_id = a.id AND g.state = 'pending' AND g.expires_at > $2)
		ORDER BY a.recorded_at DESC, a.seq DESC LIMIT $3`, teams, now, limit, since); err != nil {
		return nil, classify(err)
	}
	return w, nil
}
