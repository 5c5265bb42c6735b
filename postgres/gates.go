package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// GateChannel is the NOTIFY channel on which gate decisions are announced (payload: the
// gate id), so long-polling agents wake on every replica.
const GateChannel = "mandate_gates"

// GateStore keeps gates and their decisions.
type GateStore struct{ db *DB }

// NewGateStore returns a GateStore on db.
func NewGateStore(db *DB) *GateStore { return &GateStore{db: db} }

const gateColumns = `g.action_id::text, g.state, g.created_at, g.expires_at, coalesce(g.decided_by, ''), g.decided_at, g.tti_ms`

func scanGate(row pgx.Row) (*mandate.Gate, error) {
	var g mandate.Gate
	err := row.Scan(&g.ActionID, &g.State, &g.CreatedAt, &g.ExpiresAt, &g.DecidedBy, &g.DecidedAt, &g.TTIMillis)
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no such gate")
	}
	if err != nil {
		return nil, classify(err)
	}
	g.ID = g.ActionID
	return &g, nil
}

// Get returns the gate whose public id is id (the action's id).
func (s *GateStore) Get(ctx context.Context, id string) (*mandate.Gate, error) {
	if !validUUID(id) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id)
	}
	g, err := scanGate(s.db.pool.QueryRow(ctx, `SELECT `+gateColumns+` FROM gates g WHERE g.action_id = $1`, id))
	if mandate.ErrorCode(err) == mandate.ENOTFOUND {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id)
	}
	return g, err
}

// Decide approves or denies a pending gate on behalf of by. Deciding a gate that is no
// longer pending changes nothing and returns changed=false with its state. The action
// follows: approved lets it run (accepted); denied blocks it. The decision is announced on
// GateChannel in the same transaction.
func (s *GateStore) Decide(ctx context.Context, id string, approve bool, by string, at time.Time) (*mandate.Gate, bool, error) {
	if !validUUID(id) {
		return nil, false, mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id)
	}
	state, actionStatus := mandate.GateDenied, mandate.StatusBlocked
	if approve {
		state, actionStatus = mandate.GateApproved, mandate.StatusAccepted
	}
	return s.settle(ctx, id, state, actionStatus, by, at, false)
}

// ExpireByKey marks the gate with internal key key expired if its time has come: nobody decided, so the action
// may not run. due is false (and nothing changes) when the gate is not due yet.
func (s *GateStore) ExpireByKey(ctx context.Context, key int64, now time.Time) (g *mandate.Gate, changed, due bool, err error) {
	var actionID string
	var expires time.Time
	err = s.db.pool.QueryRow(ctx, `SELECT action_id::text, expires_at FROM gates WHERE id = $1`, key).Scan(&actionID, &expires)
	if errNoRows(err) {
		return nil, false, true, mandate.Errorf(mandate.ENOTFOUND, "no gate %d", key)
	}
	if err != nil {
		return nil, false, false, classify(err)
	}
	if now.Before(expires) {
		g, err := s.Get(ctx, actionID)
		return g, false, false, err
	}
	g, changed, err = s.settle(ctx, actionID, mandate.GateExpired, mandate.StatusBlocked, "", now, true)
	return g, changed, true, err
}

func (s *GateStore) settle(ctx context.Context, id string, state mandate.GateState, actionStatus mandate.ActionStatus, by string, at time.Time, expiring bool) (*mandate.Gate, bool, error) {
	var g *mandate.Gate
	changed := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var decidedBy *string
		if by != "" {
			decidedBy = &by
		}
		var err error
		g, err = scanGate(tx.QueryRow(ctx, `
			UPDATE gates g SET state = $2, decided_by = $3, decided_at = $4,
				tti_ms = CASE WHEN $5 THEN NULL ELSE (extract(epoch FROM ($4 - g.created_at)) * 1000)::bigint END
			WHERE g.action_id = $1 AND g.state = 'pending'
			RETURNING `+gateColumns, id, string(state), decidedBy, at, expiring))
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			g, err = scanGate(tx.QueryRow(ctx, `SELECT `+gateColumns+` FROM gates g WHERE g.action_id = $1`, id))
			if mandate.ErrorCode(err) == mandate.ENOTFOUND {
				return mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id)
			}
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		if _, err := tx.Exec(ctx, `UPDATE actions SET status = $2 WHERE id = $1 AND status = 'waiting'`, id, string(actionStatus)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, GateChannel, id)
		return err
	})
	return g, changed, classify(err)
}
