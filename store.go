package mandate

import (
	"context"
	"encoding/json"
	"time"
)

// ActionStore records and reads actions. postgres.ActionStore implements it.
type ActionStore interface {
	// Record stores a new action and returns the answer for the actor as JSON; replayed
	// is set when the idempotency key was seen before with the same request digest.
	Record(ctx context.Context, a *Action, requestSHA []byte) (answer json.RawMessage, replayed bool, err error)
	Get(ctx context.Context, id string) (*Action, error)
	List(ctx context.Context, f ActionFilter) (actions []*Action, next int64, err error)
	// ReportResult records an action's outcome; actorID, when not empty, must own it.
	ReportResult(ctx context.Context, actorID, actionID string, r ActionResult) (*Action, error)
	PendingNotifications(ctx context.Context) (int64, error)
	// DeliveryBacklog counts notifications queued for delivery longer than olderThan.
	DeliveryBacklog(ctx context.Context, olderThan time.Duration) (int64, error)
}

// ActorStore keeps actors, their run state and their tokens. postgres.ActorStore
// implements it.
type ActorStore interface {
	Actor(ctx context.Context, id string) (*Actor, error)
	EnsureActor(ctx context.Context, id string, typ ActorType) error
	SetPaused(ctx context.Context, id string, paused bool, by, reason string) (state AgentState, changed bool, err error)
	// Authenticate returns the agent a bearer token belongs to, or EUNAUTHORIZED.
	Authenticate(ctx context.Context, token string) (agentID string, err error)
}

// Router decides how much attention an action deserves and whom to tell. It works from
// in-memory state only: no I/O on the ingest path.
type Router interface {
	Route(a *Action, actor *Actor, opt RouteOptions) Decision
}

// ResultObserver is told how actions ended, so a router can keep an actor's track record
// current in memory.
type ResultObserver interface {
	ObserveResult(actorID string, status ActionStatus, at time.Time)
}
