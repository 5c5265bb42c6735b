package mandate

import "time"

// GateState is where a gate's decision stands.
type GateState string

const (
	GatePending  GateState = "pending"
	GateApproved GateState = "approved"
	GateDenied   GateState = "denied"
	GateExpired  GateState = "expired" // nobody decided in time: never approved by default
)

// Gate is a gated_execute action waiting for a human. Its public id is the action's.
type Gate struct {
	ID        string     `json:"gate_id"`
	ActionID  string     `json:"action_id"`
	State     GateState  `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// TTIMillis is how long the decision took, from the gate's creation.
	TTIMillis *int64 `json:"tti_ms,omitempty"`
}

// GateTimeoutDefault is how long a gate waits for a decision unless routing says otherwise.
const GateTimeoutDefault = 15 * time.Minute
