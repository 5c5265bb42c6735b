package mandate

import (
	"encoding/json"
	"strings"
	"time"
)

// Reversibility says whether an action's effect can be undone.
type Reversibility string

const (
	Reversible   Reversibility = "reversible"
	Irreversible Reversibility = "irreversible"
	Unknown      Reversibility = "unknown"
)

// Valid reports whether r is a known reversibility.
func (r Reversibility) Valid() bool {
	return r == Reversible || r == Irreversible || r == Unknown
}

// ActionStatus is where an action is in its life.
type ActionStatus string

const (
	StatusAccepted  ActionStatus = "accepted"  // recorded; the actor was told to proceed
	StatusWaiting   ActionStatus = "waiting"   // gated; the actor waits for a human
	StatusBlocked   ActionStatus = "blocked"   // the actor was paused; told to halt
	StatusSucceeded ActionStatus = "succeeded" // the actor reported success
	StatusFailed    ActionStatus = "failed"    // the actor reported failure
)

// Next tells the actor what to do after reporting an action.
type Next string

const (
	NextProceed Next = "proceed"
	NextWait    Next = "wait"
	NextHalt    Next = "halt"
)

// Resource is something an action touches. Files are named by repository and path; every
// other kind by name.
type Resource struct {
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	Repo string `json:"repo,omitempty"`
	Path string `json:"path,omitempty"`
}

// Key is the resource's canonical text form: "kind:name", or "file:repo:path" for files.
// It is what the activity stream filters on and what ownership explains.
func (r Resource) Key() string {
	if r.Kind == "file" {
		return "file:" + r.Repo + ":" + r.Path
	}
	return r.Kind + ":" + r.Name
}

// ParseResourceKey is the inverse of Resource.Key. ok is false when s has no kind.
func ParseResourceKey(s string) (r Resource, ok bool) {
	kind, rest, found := strings.Cut(s, ":")
	if !found || kind == "" || rest == "" {
		return Resource{}, false
	}
	if kind == "file" {
		repo, path, found := strings.Cut(rest, ":")
		if !found || repo == "" || path == "" {
			return Resource{}, false
		}
		return Resource{Kind: kind, Repo: repo, Path: path}, true
	}
	return Resource{Kind: kind, Name: rest}, true
}

// Action is one state-changing operation an actor reports.
type Action struct {
	ID             string          `json:"action_id"`
	Seq            int64           `json:"-"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	ActorID        string          `json:"actor"`
	Type           string          `json:"type"`
	Summary        string          `json:"summary"`
	Resources      []Resource      `json:"resources"`
	Environment    string          `json:"environment,omitempty"`
	Reversibility  Reversibility   `json:"reversibility"`
	Params         json.RawMessage `json:"params,omitempty"`
	Session        string          `json:"session,omitempty"`
	OccurredAt     time.Time       `json:"occurred_at"`
	RecordedAt     time.Time       `json:"recorded_at"`
	Status         ActionStatus    `json:"status"`
	Decision       Decision        `json:"decision"`
	Teams          []string        `json:"teams,omitempty"`
	Halt           *Halt           `json:"halt,omitempty"`
	Result         *ActionResult   `json:"result,omitempty"`
}

// Halt says who paused the actor and why, for actions that were blocked.
type Halt struct {
	PausedBy string `json:"paused_by"`
	Reason   string `json:"reason"`
}

// ActionResult is what the actor reports once the action has run.
type ActionResult struct {
	Status      ActionStatus    `json:"status"`
	Error       string          `json:"error,omitempty"`
	FailureMode string          `json:"failure_mode,omitempty"`
	DurationMS  int64           `json:"duration_ms,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	ReportedAt  time.Time       `json:"reported_at"`
}

// Next is what the actor should do next given the action's status.
func (a *Action) Next() Next {
	switch a.Status {
	case StatusBlocked:
		return NextHalt
	case StatusWaiting:
		return NextWait
	}
	return NextProceed
}
