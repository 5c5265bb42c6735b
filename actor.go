package mandate

import "time"

// ActorType says what kind of actor reported an action.
type ActorType string

const (
	ActorAgent  ActorType = "agent"
	ActorHuman  ActorType = "human"
	ActorSystem ActorType = "system"
)

// Valid reports whether t is one of the known actor types.
func (t ActorType) Valid() bool {
	return t == ActorAgent || t == ActorHuman || t == ActorSystem
}

// Trust is how much an agent is trusted; routing uses it as a signal.
type Trust string

const (
	TrustNew        Trust = "new"
	TrustTrusted    Trust = "trusted"
	TrustRestricted Trust = "restricted"
)

// Valid reports whether t is one of the known trust levels.
func (t Trust) Valid() bool {
	return t == TrustNew || t == TrustTrusted || t == TrustRestricted
}

// Actor is whoever performs actions: an autonomous agent, a human, or a system such as CI.
type Actor struct {
	ID    string
	Type  ActorType
	Team  string
	Trust Trust
	State AgentState
}

// AgentState is an actor's run state. Version increases on every change, so a long-polling
// agent can ask "has anything changed since version N?".
type AgentState struct {
	Paused   bool       `json:"paused"`
	PausedBy string     `json:"paused_by,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Version  int64      `json:"version"`
}

// Name is the state's one-word name as the API reports it: "running" or "paused".
func (s AgentState) Name() string {
	if s.Paused {
		return "paused"
	}
	return "running"
}
