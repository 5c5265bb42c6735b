package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// StateChannel is the Postgres NOTIFY channel on which actor state changes are announced,
// with the actor's id as payload. Every replica listens, so a pause made anywhere wakes
// long-polling agents everywhere.
const StateChannel = "mandate_actor_state"

// ActorStore keeps actors, their run state and their tokens.
type ActorStore struct{ db *DB }

// NewActorStore returns an ActorStore on db.
func NewActorStore(db *DB) *ActorStore { return &ActorStore{db: db} }

// SyncAgents makes the agents table match config: declared agents are inserted or
// updated, agents no longer declared are marked so (their tokens stop working; their
// history stays).
func (s *ActorStore) SyncAgents(ctx context.Context, agents []mandate.Actor) error {
	ids := make([]string, len(agents))
	teams := make([]string, len(agents))
	trusts := make([]string, len(agents))
	for i, a := range agents {
		ids[i], teams[i], trusts[i] = a.ID, a.Team, string(a.Trust)
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO actors (id, type, team, trust, declared)
			SELECT id, 'agent', team, trust, true FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, team, trust)
			ON CONFLICT (id) DO UPDATE SET type = 'agent', team = excluded.team, trust = excluded.trust, declared = true,
				updated_at = now()
			WHERE (actors.type, actors.team, actors.trust, actors.declared) IS DISTINCT FROM ('agent', excluded.team, excluded.trust, true)`,
			ids, teams, trusts); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE actors SET declared = false, updated_at = now()
			WHERE type = 'agent' AND declared AND NOT id = ANY($1)`, ids)
		return err
	})
	return classify(err)
}

// EnsureActor records a human or system actor the first time it is named (through the
// admin token). An existing actor is left as it is.
func (s *ActorStore) EnsureActor(ctx context.Context, id string, typ mandate.ActorType) error {
	_, err := s.db.pool.Exec(ctx, `INSERT INTO actors (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, string(typ))
	return classify(err)
}

// Actor returns one actor, or ENOTFOUND.
func (s *ActorStore) Actor(ctx context.Context, id string) (*mandate.Actor, error) {
	var a mandate.Actor
	var team *string
	var declared bool
	err := s.db.pool.QueryRow(ctx, `SELECT id, type, team, trust, declared, paused, coalesce(paused_by, ''),
			coalesce(pause_reason, ''), paused_at, state_version
		FROM actors WHERE id = $1`, id).
		Scan(&a.ID, &a.Type, &team, &a.Trust, &declared, &a.State.Paused, &a.State.PausedBy, &a.State.Reason, &a.State.Since, &a.State.Version)
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no actor %q", id)
	}
	if err != nil {
		return nil, classify(err)
	}
	if team != nil {
		a.Team = *team
	}
	if !a.State.Paused {
		a.State.Since = nil
	}
	if a.Type == mandate.ActorAgent && !declared {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "agent %q is no longer declared in config", id)
	}
	return &a, nil
}

// SetPaused pauses (paused=true) or resumes an actor, records who did it and why, and
// announces the change on StateChannel, all in one transaction. Asking for the state the
// actor is already in changes nothing and returns changed=false.
func (s *ActorStore) SetPaused(ctx context.Context, id string, paused bool, by, reason string) (state mandate.AgentState, changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `
			UPDATE actors SET paused = $2,
				paused_by = CASE WHEN $2 THEN $3 END,
				pause_reason = CASE WHEN $2 THEN $4 END,
				paused_at = CASE WHEN $2 THEN now() END,
				state_version = state_version + 1, updated_at = now()
			WHERE id = $1 AND paused <> $2 AND (type <> 'agent' OR declared)
			RETURNING paused, coalesce(paused_by, ''), coalesce(pause_reason, ''), paused_at, state_version`,
			id, paused, by, reason)
		err := row.Scan(&state.Paused, &state.PausedBy, &state.Reason, &state.Since, &state.Version)
		if errNoRows(err) {
			return nil // not found, or already in that state: look below
		}
		if err != nil {
			return err
		}
		changed = true
		if _, err := tx.Exec(ctx, `INSERT INTO actor_state_changes (actor_id, paused, changed_by, reason, version)
			VALUES ($1, $2, $3, $4, $5)`, id, paused, by, reason, state.Version); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, StateChannel, id)
		return err
	})
	if err != nil {
		return state, false, classify(err)
	}
	if !changed {
		a, err := s.Actor(ctx, id)
		if err != nil {
			return state, false, err
		}
		state = a.State
	}
	if !state.Paused {
		state.Since = nil
	}
	return state, changed, nil
}

// tokenPrefix starts every agent token, so a leaked one is easy to recognise and scan for.
const tokenPrefix = "mnd_"

// CreateToken issues a new bearer token for a declared agent and returns it. Only a
// SHA-256 of its secret part is stored; the token cannot be shown again.
func (s *ActorStore) CreateToken(ctx context.Context, agentID string) (string, error) {
	a, err := s.Actor(ctx, agentID)
	if err != nil {
		return "", err
	}
	if a.Type != mandate.ActorAgent {
		return "", mandate.Errorf(mandate.EINVALID, "%q is a %s, not an agent", agentID, a.Type)
	}
	idBytes := make([]byte, 8)
	secret := make([]byte, 32)
	rand.Read(idBytes)
	rand.Read(secret)
	id := hex.EncodeToString(idBytes)
	secretText := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(secretText))
	if _, err := s.db.pool.Exec(ctx, `INSERT INTO agent_tokens (id, actor_id, secret_sha) VALUES ($1, $2, $3)`,
		id, agentID, sum[:]); err != nil {
		return "", classify(err)
	}
	return tokenPrefix + id + "_" + secretText, nil
}

// RevokeTokens revokes every live token of an agent and says how many there were.
func (s *ActorStore) RevokeTokens(ctx context.Context, agentID string) (int, error) {
	if _, err := s.Actor(ctx, agentID); err != nil && mandate.ErrorCode(err) != mandate.ENOTFOUND {
		return 0, err
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE agent_tokens SET revoked_at = now() WHERE actor_id = $1 AND revoked_at IS NULL`, agentID)
	if err != nil {
		return 0, classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// Authenticate returns the agent a bearer token belongs to, or EUNAUTHORIZED. The secret
// is compared in constant time against the stored digest.
func (s *ActorStore) Authenticate(ctx context.Context, token string) (string, error) {
	unauthorized := mandate.Errorf(mandate.EUNAUTHORIZED, "invalid or revoked token")
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", unauthorized
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
		return "", unauthorized
	}
	var actorID string
	var stored []byte
	err := s.db.pool.QueryRow(ctx, `SELECT t.actor_id, t.secret_sha FROM agent_tokens t JOIN actors a ON a.id = t.actor_id
		WHERE t.id = $1 AND t.revoked_at IS NULL AND a.declared`, id).Scan(&actorID, &stored)
	if errNoRows(err) {
		return "", unauthorized
	}
	if err != nil {
		return "", classify(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], stored) != 1 {
		return "", unauthorized
	}
	return actorID, nil
}

var _ mandate.ActorStore = (*ActorStore)(nil)
