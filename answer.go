package mandate

import (
	"encoding/json"
	"time"
)

// Answer is what an actor is told after reporting an action. An idempotent replay of the
// same report gets the very same answer.
type Answer struct {
	ActionID   string       `json:"action_id"`
	Status     ActionStatus `json:"status"`
	Decision   Decision     `json:"decision"`
	Next       Next         `json:"next"`
	AgentState AgentState   `json:"agent_state"`
	Halt       *Halt        `json:"halt,omitempty"`
	// Gate is set when the action waits for a human (next: wait): poll
	// GET /v1/gates/{gate_id}.
	Gate *Gate `json:"gate,omitempty"`
}

// MarshalJSON adds the state's one-word name ("running" or "paused") for readers that do
// not want to interpret the fields.
func (s AgentState) MarshalJSON() ([]byte, error) {
	type plain AgentState
	return json.Marshal(struct {
		State string `json:"state"`
		plain
	}{s.Name(), plain(s)})
}

// ActionFilter selects part of the activity stream. Zero fields do not filter.
type ActionFilter struct {
	Actor    string
	Resource string // a resource key, see Resource.Key
	Team     string
	Type     string
	Since    time.Time
	Before   int64 // cursor: only actions older than this stream position
	Limit    int
}
