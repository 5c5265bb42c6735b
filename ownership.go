package mandate

import (
	"context"
	"time"
)

// Ownership layers, in the order the resolution chain tries them.
const (
	LayerConfig       = "config"
	LayerCodeOwners   = "codeowners"
	LayerCatalog      = "catalog"
	LayerOnCall       = "oncall"
	LayerContributors = "contributors"
	LayerNone         = "none"
)

// Ownership says who owns one resource, which layer of the chain decided, and why.
type Ownership struct {
	Resource string   `json:"resource"` // the resource key as asked
	Owners   []string `json:"owners"`   // as written in the deciding source: "@acme/payments", "docs@acme.test", config ids
	People   []string `json:"people"`   // config person ids the owners resolve to
	Team     string   `json:"team"`     // the primary config team id, "" when none
	Teams    []string `json:"teams,omitempty"`
	Layer    string   `json:"layer"`
	Rule     string   `json:"rule"`
	Location string   `json:"location,omitempty"` // FILE:LINE for file-based layers
	Explain  []string `json:"explain"`            // one line per layer
	// Gaps are owners that map to no configured person or team, and resources with no
	// owner at all: things to fix in CODEOWNERS, the catalog or mandate.yaml.
	Gaps []string `json:"gaps,omitempty"`
	// Fallback is who is told when no layer yields a reachable owner: "team:ID" or
	// "person:ID" from org.fallback.
	Fallback string `json:"fallback,omitempty"`
	// Escalation is the team's escalation path: who is on call, then the lead.
	Escalation []string `json:"escalation,omitempty"`
	// Grace lists people who left an owning team recently and are still told.
	Grace []GraceOwner `json:"grace,omitempty"`
	// Sensitivity is that of the config service matching the resource ("low", "normal",
	// "high", "critical"); "normal" when none does.
	Sensitivity string `json:"sensitivity"`
}

// GraceOwner is a person still notified for a team they left, until the grace period ends.
type GraceOwner struct {
	Person string    `json:"person"`
	Team   string    `json:"team"`
	Left   time.Time `json:"left"`
	Until  time.Time `json:"until"`
}

// OwnershipChange is one change of a resource's resolved owners.
type OwnershipChange struct {
	Resource  string    `json:"resource"`
	From      []string  `json:"from"`
	To        []string  `json:"to"`
	FromLayer string    `json:"from_layer"`
	ToLayer   string    `json:"to_layer"`
	Source    string    `json:"source"` // what caused it: "config reload", "refresh", …
	At        time.Time `json:"at"`
}

// TeamDeparture records that a person left a team.
type TeamDeparture struct {
	Person string
	Team   string
	At     time.Time
}

// SourceStatus is the health of one ownership source that needs the network or a file.
type SourceStatus struct {
	Source      string     `json:"source"` // e.g. "codeowners:acme/api", "catalog:api", "pagerduty:payments"
	LastAttempt time.Time  `json:"last_attempt"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Items       int        `json:"items"`
}

// OwnershipStore persists what ownership needs across restarts and replicas.
// postgres.OwnershipStore implements it.
type OwnershipStore interface {
	// RecordOwners compares each resource's owners with the stored ones and records a
	// change for every difference; it returns the changes recorded.
	RecordOwners(ctx context.Context, current []Ownership, source string) ([]OwnershipChange, error)
	History(ctx context.Context, resource string) ([]OwnershipChange, error)
	// SeenResources lists the resource keys of actions recorded since the given time.
	SeenResources(ctx context.Context, since time.Time) ([]string, error)
	// SyncMemberships stores the current team memberships and returns every departure
	// (recorded now or earlier) since the given time.
	SyncMemberships(ctx context.Context, members map[string][]string, since time.Time) ([]TeamDeparture, error)
	SetSourceStatus(ctx context.Context, s SourceStatus) error
	SourceStatuses(ctx context.Context) ([]SourceStatus, error)
}
