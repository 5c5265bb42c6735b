package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// ActionStore records actions with group commit: concurrent Record calls are gathered into
// one transaction, and each caller is answered only after the commit that holds its action.
// This is how ingest reaches thousands of durable actions a second without answering before
// the data is safe.
type ActionStore struct {
	db          *DB
	queue       chan *pending
	maxBatch    int
	jobs        *Queue
	deliver     bool
	gateTimeout time.Duration
	now         func() time.Time
	stop        chan struct{}
	wg          sync.WaitGroup
	closing     sync.Once
}

// pending is one Record call waiting for its batch to commit.
type pending struct {
	action *mandate.Action
	sha    []byte
	done   chan recorded
}

type recorded struct {
	answer   json.RawMessage
	replayed bool
	err      error
}

// ActionStoreOptions tunes group commit.
type ActionStoreOptions struct {
	Committers int // transactions in flight at once; default 4
	MaxBatch   int // actions per transaction at most; default 500
	// Queue, when set, gets a job to expire every gate, a delivery job for every webhook
	// notification, and — with Deliver — a delivery job for every other notification
	// (Slack, escalation policies), in the transaction that records the action. Without
	// delivery (no channel configured) notifications wait as 'pending' until
	// EnqueuePending.
	Queue   *Queue
	Deliver bool
	// GateTimeout is how long a gate waits for a decision; default
	// mandate.GateTimeoutDefault.
	GateTimeout time.Duration
	// Now is the clock gates are timed by; time.Now when nil.
	Now func() time.Time
}

// NewActionStore starts the committers. Close stops them.
func NewActionStore(db *DB, opt ActionStoreOptions) *ActionStore {
	if opt.Committers <= 0 {
		opt.Committers = 4
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 500
	}
	s := &ActionStore{db: db, queue: make(chan *pending, opt.MaxBatch*opt.Committers), maxBatch: opt.MaxBatch, stop: make(chan struct{}), jobs: opt.Queue,
		deliver: opt.Deliver && opt.Queue != nil, gateTimeout: cmp.Or(opt.GateTimeout, mandate.GateTimeoutDefault), now: opt.Now}
	if s.now == nil {
		s.now = time.Now
	}
	for range opt.Committers {
		s.wg.Go(s.commitLoop)
	}
	return s
}

// Close stops accepting actions, commits what is queued and waits for the committers.
func (s *ActionStore) Close() {
	s.closing.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// Record stores a new action with its decision and notifications, and returns the answer
// for the actor, as JSON. a.ID is assigned here. If the actor already recorded an action
// with the same idempotency key, nothing is stored: the first answer is returned with
// replayed set, or an ECONFLICT error when the request differs (sha is the request's
// digest). When the actor is paused the action is stored as blocked and answered halt.
func (s *ActionStore) Record(ctx context.Context, a *mandate.Action, sha []byte) (answer json.RawMessage, replayed bool, err error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, false, err
	}
	a.ID = id.String()
	p := &pending{action: a, sha: sha, done: make(chan recorded, 1)}
	select {
	case s.queue <- p:
	case <-s.stop:
		return nil, false, mandate.Errorf(mandate.EUNAVAILABLE, "shutting down; retry later")
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	// Once queued the action will be committed or failed whatever the caller does; waiting
	// on ctx only lets a caller give up on hearing the outcome.
	select {
	case r := <-p.done:
		return r.answer, r.replayed, r.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

func (s *ActionStore) commitLoop() {
	batch := make([]*pending, 0, s.maxBatch)
	for {
		var first *pending
		select {
		case first = <-s.queue:
		case <-s.stop:
			// Drain what was queued before the stop, then leave.
			select {
			case first = <-s.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case p := <-s.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit writes one batch in one transaction and answers every caller in it.
func (s *ActionStore) commit(batch []*pending) {
	ctx, cancel := withTimeout(context.Background(), 15*time.Second)
	defer cancel()
	results, err := s.commitBatch(ctx, batch)
	for i, p := range batch {
		if err != nil {
			p.done <- recorded{err: classify(err)}
			continue
		}
		p.done <- results[i]
	}
}

func (s *ActionStore) commitBatch(ctx context.Context, batch []*pending) ([]recorded, error) {
	results := make([]recorded, len(batch))
	tx, err := s.db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)

	// The actors' run state, read once per batch. A pause that commits after this read
	// is ordered after these actions: the actors learn of it on their next call.
	actorIDs := make([]string, 0, 4)
	seen := map[string]bool{}
	for _, p := range batch {
		if !seen[p.action.ActorID] {
			seen[p.action.ActorID] = true
			actorIDs = append(actorIDs, p.action.ActorID)
		}
	}
	states := make(map[string]mandate.AgentState, len(actorIDs))
	rows, err := tx.Query(ctx, `SELECT id, paused, coalesce(paused_by, ''), coalesce(pause_reason, ''), paused_at, state_version
		FROM actors WHERE id = ANY($1)`, actorIDs)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var st mandate.AgentState
		if err := rows.Scan(&id, &st.Paused, &st.PausedBy, &st.Reason, &st.Since, &st.Version); err != nil {
			return nil, err
		}
		if !st.Paused {
			st.Since = nil
		}
		states[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	now := s.now().UTC()
	gateExpires := now.Add(s.gateTimeout)
	var gateActions []string
	var (
		ids, actors, types, summaries, resources, keys, envs, revs, sessions []string
		statuses, paths, urgencies, rules, teams, answers                    []string
		idems, params                                                        []*string
		shas                                                                 [][]byte
		occurred                                                             []time.Time
		nAction, nKind, nTarget, nUrgency, nFold                             []string
	)
	for i, p := range batch {
		a := p.action
		st, ok := states[a.ActorID]
		if !ok {
			results[i] = recorded{err: mandate.Errorf(mandate.EFORBIDDEN, "actor %q is not known", a.ActorID)}
			continue
		}
		a.Status = mandate.StatusAccepted
		a.Halt = nil
		switch {
		case st.Paused:
			a.Status = mandate.StatusBlocked
			a.Halt = &mandate.Halt{PausedBy: st.PausedBy, Reason: st.Reason}
		case a.Decision.Path == mandate.PathGated:
			a.Status = mandate.StatusWaiting
		}
		ans := mandate.Answer{ActionID: a.ID, Status: a.Status, Decision: a.Decision, Next: a.Next(), AgentState: st, Halt: a.Halt}
		if a.Status == mandate.StatusWaiting {
			ans.Gate = &mandate.Gate{ID: a.ID, ActionID: a.ID, State: mandate.GatePending, CreatedAt: now, ExpiresAt: gateExpires}
			gateActions = append(gateActions, a.ID)
		}
		answer, err := json.Marshal(ans)
		if err != nil {
			return nil, err
		}
		results[i].answer = answer
		resourceKeys := make([]string, len(a.Resources))
		for j, r := range a.Resources {
			resourceKeys[j] = r.Key()
		}
		var idem, param *string
		if a.IdempotencyKey != "" {
			idem = &a.IdempotencyKey
		}
		if len(a.Params) > 0 {
			s := string(a.Params)
			param = &s
		}
		ids, actors, idems, shas = append(ids, a.ID), append(actors, a.ActorID), append(idems, idem), append(shas, p.sha)
		types, summaries = append(types, a.Type), append(summaries, a.Summary)
		resources, keys = append(resources, mustJSON(a.Resources)), append(keys, strings.Join(resourceKeys, listSep))
		envs, revs, params = append(envs, a.Environment), append(revs, string(a.Reversibility)), append(params, param)
		sessions, occurred = append(sessions, a.Session), append(occurred, a.OccurredAt)
		statuses, paths = append(statuses, string(a.Status)), append(paths, string(a.Decision.Path))
		urgencies, rules = append(urgencies, string(a.Decision.Urgency)), append(rules, a.Decision.Rule)
		teams, answers = append(teams, strings.Join(a.Teams, listSep)), append(answers, string(answer))
		if a.Status != mandate.StatusBlocked {
			for _, t := range a.Decision.Targets {
				nAction = append(nAction, a.ID)
				nKind = append(nKind, string(t.Kind))
				nTarget = append(nTarget, t.ID)
				nUrgency = append(nUrgency, string(a.Decision.Urgency))
				nFold = append(nFold, foldKey(a, t))
			}
		}
	}

	noteState, webhookState := "pending", "pending"
	if s.deliver {
		noteState = "queued"
	}
	if s.jobs != nil {
		// Webhooks need no Slack: with a queue they are always delivered.
		webhookState = "queued"
	}
	rows, err = tx.Query(ctx, insertActionsSQL,
		ids, actors, idems, shas, types, summaries, resources, keys, envs, revs, params, sessions, occurred,
		statuses, paths, urgencies, rules, teams, answers,
		nAction, nKind, nTarget, nUrgency, nFold, noteState, gateActions, gateExpires, webhookState)
	if err != nil {
		return nil, err
	}
	isInserted := make(map[string]bool, len(ids))
	var gateIDs []int64
	noteIDs := map[JobKind][]int64{}
	for rows.Next() {
		var what, id string
		var n int64
		if err := rows.Scan(&what, &id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		switch what {
		case "a":
			isInserted[id] = true
		case "n":
			noteIDs[jobFor(id)] = append(noteIDs[jobFor(id)], n)
		case "g":
			gateIDs = append(gateIDs, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if s.jobs != nil {
		if !s.deliver {
			delete(noteIDs, JobDeliver)
			delete(noteIDs, JobEscalationTarget)
		}
		if err := s.jobs.enqueueByKind(ctx, tx, noteIDs); err != nil {
			return nil, fmt.Errorf("enqueue deliveries: %w", err)
		}
	}
	if s.jobs != nil {
		if err := s.jobs.insertAtTx(ctx, tx, JobExpireGate, gateIDs, gateExpires); err != nil {
			return nil, fmt.Errorf("schedule gate expiries: %w", err)
		}
	}

	// Whatever was not inserted collided with an earlier report under the same
	// idempotency key (perhaps earlier in this very batch): answer with that report's.
	var dupActors, dupKeys []string
	var dupIdx []int
	for i, p := range batch {
		if results[i].err == nil && !isInserted[p.action.ID] {
			if p.action.IdempotencyKey == "" {
				return nil, fmt.Errorf("action %s was not inserted and has no idempotency key", p.action.ID)
			}
			dupActors = append(dupActors, p.action.ActorID)
			dupKeys = append(dupKeys, p.action.IdempotencyKey)
			dupIdx = append(dupIdx, i)
		}
	}
	if len(dupIdx) > 0 {
		type first struct {
			sha    []byte
			answer json.RawMessage
		}
		firsts := map[[2]string]first{}
		rows, err := tx.Query(ctx, `SELECT a.actor_id, a.idempotency_key, a.request_sha, a.answer
			FROM actions a JOIN unnest($1::text[], $2::text[]) AS d(actor_id, idem)
			  ON a.actor_id = d.actor_id AND a.idempotency_key = d.idem`, dupActors, dupKeys)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var actor, key string
			var f first
			if err := rows.Scan(&actor, &key, &f.sha, &f.answer); err != nil {
				return nil, err
			}
			firsts[[2]string{actor, key}] = f
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, i := range dupIdx {
			a := batch[i].action
			f, ok := firsts[[2]string{a.ActorID, a.IdempotencyKey}]
			switch {
			case !ok:
				return nil, fmt.Errorf("idempotency key %q of %s collided but no earlier action was found", a.IdempotencyKey, a.ActorID)
			case !bytes.Equal(f.sha, batch[i].sha):
				results[i] = recorded{err: &mandate.Error{Code: mandate.ECONFLICT,
					Message: "idempotency_key was already used for a different action",
					Fields:  []mandate.FieldError{{Field: "idempotency_key", Message: fmt.Sprintf("%q was used before with a different body", a.IdempotencyKey)}}}}
			default:
				results[i] = recorded{answer: f.answer, replayed: true}
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// insertActionsSQL inserts a batch of actions and the notifications of those actually
// inserted, in one statement. Arrays of JSON text carry the per-row lists, because
// unnest would flatten a two-dimensional array.
const insertActionsSQL = `
WITH ins AS (
  INSERT INTO actions (id, actor_id, idempotency_key, request_sha, type, summary, resources, resource_keys,
                       environment, reversibility, params, session, occurred_at,
                       status, path, urgency, rule, teams, answer)
  SELECT u.id, u.actor_id, u.idem, u.sha, u.type, u.summary, u.resources::jsonb,
         string_to_array(u.keys, E'\x1f'),
         u.env, u.rev, u.params::jsonb, u.session, u.occurred_at,
         u.status, u.path, u.urgency, u.rule,
         coalesce(string_to_array(nullif(u.teams, ''), E'\x1f'), '{}'),
         u.answer::json
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::text[],
              $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[],
              $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
       AS u(id, actor_id, idem, sha, type, summary, resources, keys, env, rev, params, session, occurred_at,
            status, path, urgency, rule, teams, answer)
  ON CONFLICT (actor_id, idempotency_key) DO NOTHING
  RETURNING id
), notes AS (
  INSERT INTO notifications (action_id, target_kind, target_id, urgency, fold_key, state)
  SELECT n.action_id, n.kind, n.target, n.urgency, n.fold, CASE WHEN n.kind = 'webhook' THEN $28 ELSE $25 END
  FROM unnest($20::uuid[], $21::text[], $22::text[], $23::text[], $24::text[]) AS n(action_id, kind, target, urgency, fold)
  WHERE n.action_id IN (SELECT id FROM ins)
  RETURNING id, target_kind
), gated AS (
  INSERT INTO gates (action_id, expires_at)
  SELECT g.action_id, $27 FROM unnest($26::uuid[]) AS g(action_id)
  WHERE g.action_id IN (SELECT id FROM ins)
  RETURNING id
)
SELECT 'a', id::text, 0::bigint FROM ins
UNION ALL
SELECT 'n', target_kind, id FROM notes
UNION ALL
SELECT 'g', '', id FROM gated`

// listSep separates the items of per-row lists sent as one text, which Postgres splits
// with string_to_array: cheaper than JSON, and ingest refuses control characters in
// resource names, so it never occurs inside an item.
const listSep = "\x1f"

// foldKey groups notifications that fold into one Slack message: the rate rule's
// aggregate, else the same actor, target and resources with the same path and urgency.
// Folding hides an action behind another's message, so one that resembles an earlier
// incident never folds: its warning must be seen.
func foldKey(a *mandate.Action, t mandate.Target) string {
	var b strings.Builder
	if len(a.Decision.Resembles) > 0 {
		b.WriteString("resembles|" + a.ID + "|")
	}
	if a.Decision.Aggregate != "" {
		return b.String() + a.Decision.Aggregate + "|" + string(t.Kind) + ":" + t.ID
	}
	b.WriteString(string(a.Decision.Path) + "|" + string(a.Decision.Urgency) + "|")
	b.WriteString(a.ActorID)
	b.WriteString("|")
	b.WriteString(string(t.Kind) + ":" + t.ID)
	for _, r := range a.Resources {
		b.WriteString("|")
		b.WriteString(r.Key())
	}
	return b.String()
}

// EnqueuePending gives every notification still waiting for a channel a delivery job:
// what was recorded while Slack was not configured is delivered once it is.
func (s *ActionStore) EnqueuePending(ctx context.Context) (int, error) {
	if s.jobs == nil {
		return 0, nil
	}
	total := 0
	for {
		var n int
		err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `UPDATE notifications SET state = 'queued'
				WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND ($1 OR target_kind = 'webhook')
				             ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED)
				RETURNING id, target_kind`, s.deliver)
			if err != nil {
				return err
			}
			byKind := map[JobKind][]int64{}
			for rows.Next() {
				var id int64
				var kind string
				if err := rows.Scan(&id, &kind); err != nil {
					return err
				}
				byKind[jobFor(kind)] = append(byKind[jobFor(kind)], id)
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			return s.jobs.enqueueByKind(ctx, tx, byKind)
		})
		if err != nil {
			return total, classify(err)
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain data is marshalled here
	}
	return string(b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errNoRows reports whether err means a query found nothing.
func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

var _ mandate.ActionStore = (*ActionStore)(nil)
