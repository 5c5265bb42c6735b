// Package ownership resolves who owns the resources an action touches, through a chain
// of layers: explicit config, CODEOWNERS, the service catalog, on-call, recent
// contributors, and finally the org's fallback. The first layer that yields owners wins;
// every layer's view is still explained.
//
// Resolution reads an immutable Snapshot compiled from config and the last good copy of
// every source, so ingest resolves without locks or I/O. A Resolver refreshes the sources
// that need the network in the background and swaps in a new Snapshot.
package ownership

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/github"
	"github.com/mandatehq/mandate/glob"
	"github.com/mandatehq/mandate/ownership/catalog"
	"github.com/mandatehq/mandate/ownership/codeowners"
	"github.com/mandatehq/mandate/pagerduty"
)

// CodeOwnersFile is one repository's CODEOWNERS, parsed and compiled.
type CodeOwnersFile struct {
	Repo    string
	Path    string // where it was read: a local path, or ".github/CODEOWNERS" in the repo
	File    *codeowners.File
	Matcher *codeowners.Matcher
}

// Sources is what the chain knows beyond config: the last good copy of each source, and
// why any source is unavailable.
type Sources struct {
	CodeOwners   map[string]*CodeOwnersFile    // by repo
	Catalog      []catalog.Entity              // from files and the Backstage API
	OnCall       map[string][]pagerduty.OnCall // by config team id
	Contributors map[string][]github.Author    // by "repo:path"
	Departures   []mandate.TeamDeparture       // within the grace period
	Unavailable  map[string]string             // source name -> why it could not be read
	Fetched      map[string]time.Time          // source name -> when its copy was read
}

// Snapshot is a compiled, immutable view of ownership. Build one with Build.
type Snapshot struct {
	cfg      *config.Config
	built    time.Time
	services *serviceIndex
	oncall   []compiledOnCall
	src      Sources

	// Indexes for mapping owners as written to config people and teams.
	peopleByGitHub map[string]string // lower-case login -> person id
	peopleByEmail  map[string]string // lower-case email -> person id
	teamsByGitHub  map[string]string // lower-case "org/slug" -> team id

	catalogByName map[string][]*catalog.Entity // entity name -> entities
	catalogBySlug map[string][]*catalog.Entity // github.com/project-slug -> entities
	userEmails    map[string]string            // "user:default/alice" -> email

	departures map[string][]mandate.TeamDeparture // by team

	// misses collects file paths whose contributors were asked for but not known yet;
	// the Resolver fetches them in the background. It is the one mutable part.
	misses *missSet
}

type compiledOnCall struct {
	rule  *config.OnCallRule
	index int
	globs []glob.Glob
}

// Build compiles a snapshot from cfg and src at time now. It fails only on patterns that
// config validation let through but that do not compile.
func Build(cfg *config.Config, src Sources, now time.Time) (*Snapshot, error) {
	s := &Snapshot{cfg: cfg, built: now, src: src, misses: newMissSet(),
		peopleByGitHub: map[string]string{}, peopleByEmail: map[string]string{}, teamsByGitHub: map[string]string{},
		catalogByName: map[string][]*catalog.Entity{}, catalogBySlug: map[string][]*catalog.Entity{},
		userEmails: map[string]string{}, departures: map[string][]mandate.TeamDeparture{}}
	services, err := buildServiceIndex(cfg)
	if err != nil {
		return nil, err
	}
	s.services = services
	for i := range cfg.Ownership.OnCall {
		r := &cfg.Ownership.OnCall[i]
		co := compiledOnCall{rule: r, index: i}
		for _, p := range r.Match {
			g, err := glob.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("ownership.oncall[%d].match %q: %w", i, p, err)
			}
			co.globs = append(co.globs, g)
		}
		s.oncall = append(s.oncall, co)
	}
	for _, p := range cfg.People {
		if p.GitHub != "" {
			s.peopleByGitHub[strings.ToLower(p.GitHub)] = p.ID
		}
		if p.Email != "" {
			s.peopleByEmail[strings.ToLower(p.Email)] = p.ID
		}
	}
	for _, t := range cfg.Teams {
		if t.GitHub != "" {
			s.teamsByGitHub[strings.ToLower(t.GitHub)] = t.ID
		}
	}
	for i := range src.Catalog {
		e := &src.Catalog[i]
		switch strings.ToLower(e.Kind) {
		case "user":
			if e.Email != "" {
				s.userEmails[e.Ref().String()] = e.Email
			}
		case "group", "location", "template", "domain":
		default:
			s.catalogByName[e.Name] = append(s.catalogByName[e.Name], e)
			if slug := e.Annotations["github.com/project-slug"]; slug != "" {
				s.catalogBySlug[slug] = append(s.catalogBySlug[slug], e)
			}
		}
	}
	for _, d := range src.Departures {
		s.departures[d.Team] = append(s.departures[d.Team], d)
	}
	return s, nil
}

// Built is when the snapshot was compiled.
func (s *Snapshot) Built() time.Time { return s.built }

// Config is the configuration the snapshot was built from.
func (s *Snapshot) Config() *config.Config { return s.cfg }

// missSet is a small concurrent set of "repo:path" keys.
type missSet struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newMissSet() *missSet { return &missSet{keys: map[string]struct{}{}} }

// maxMisses bounds the queue of paths waiting for a contributors lookup.
const maxMisses = 10000

func (m *missSet) add(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) < maxMisses {
		m.keys[key] = struct{}{}
	}
}

func (m *missSet) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.keys))
	for k := range m.keys {
		keys = append(keys, k)
	}
	clear(m.keys)
	slices.Sort(keys)
	return keys
}
