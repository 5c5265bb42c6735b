package ownership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/github"
	"github.com/mandatehq/mandate/ownership/catalog"
	"github.com/mandatehq/mandate/ownership/codeowners"
	"github.com/mandatehq/mandate/pagerduty"
)

// GitHub is what the chain needs from GitHub; *github.Client implements it.
type GitHub interface {
	CodeOwners(ctx context.Context, repo, ref string) (path string, content []byte, err error)
	RecentAuthors(ctx context.Context, repo, path string, since time.Time, max int) ([]github.Author, error)
}

// PagerDuty is what the chain needs from PagerDuty; *pagerduty.Client implements it.
type PagerDuty interface {
	OnCall(ctx context.Context, policyIDs, scheduleIDs []string) ([]pagerduty.OnCall, error)
}

// Backstage is what the chain needs from a Backstage backend; *catalog.Client implements it.
type Backstage interface {
	Entities(ctx context.Context, kinds ...string) ([]catalog.Entity, error)
}

// Clients are the network sources; a nil one is not configured.
type Clients struct {
	GitHub    GitHub
	PagerDuty PagerDuty
	Backstage Backstage
}

// Resolver holds the current Snapshot and keeps it fresh: on config changes and every
// ownership.refresh it re-reads the sources, keeping the last good copy of any that
// fails, rebuilds the snapshot and swaps it in atomically.
type Resolver struct {
	clients  Clients
	store    mandate.OwnershipStore // nil: no history, grace periods or status (e.g. a CLI explain)
	readOnly bool
	log      *slog.Logger
	now      func() time.Time

	snap atomic.Pointer[Snapshot]

	mu  sync.Mutex // serialises rebuilds; guards cfg and src
	cfg *config.Config
	src Sources

	// changed is closed and replaced each time a snapshot is swapped in. It has a lock
	// of its own because mu is held across network reads.
	changedMu sync.Mutex
	changed   chan struct{}
}

// Options configure a Resolver.
type Options struct {
	Clients Clients
	Store   mandate.OwnershipStore
	Logger  *slog.Logger
	Now     func() time.Time
	// ReadOnly resolvers (command-line tools) read the store but never write ownership
	// history, memberships or source status: that is the server's job.
	ReadOnly bool
}

// NewResolver returns a Resolver with no snapshot; call SetConfig.
func NewResolver(opt Options) *Resolver {
	r := &Resolver{clients: opt.Clients, store: opt.Store, readOnly: opt.ReadOnly, log: opt.Logger, now: opt.Now,
		changed: make(chan struct{})}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.src = Sources{CodeOwners: map[string]*CodeOwnersFile{}, OnCall: map[string][]pagerduty.OnCall{},
		Contributors: map[string][]github.Author{}, Unavailable: map[string]string{}, Fetched: map[string]time.Time{}}
	return r
}

// Snapshot returns the snapshot in force; nil before the first SetConfig.
func (r *Resolver) Snapshot() *Snapshot { return r.snap.Load() }

// Changed returns a channel that is closed when the next snapshot is swapped in (after a
// config change or a source refresh), so watchers of the sources (on-call handoffs) react
// to a refresh instead of polling. Take a new channel after each wake-up.
func (r *Resolver) Changed() <-chan struct{} {
	r.changedMu.Lock()
	defer r.changedMu.Unlock()
	return r.changed
}

// SetConfig installs a (new or reloaded) configuration: it records team departures,
// reads every source, builds and swaps in the snapshot, and records ownership changes.
// source names the cause in the history ("start", "config reload").
func (r *Resolver) SetConfig(ctx context.Context, cfg *config.Config, source string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	if r.store != nil && !r.readOnly {
		members := map[string][]string{}
		for _, t := range cfg.Teams {
			members[t.ID] = t.Members
		}
		deps, err := r.store.SyncMemberships(ctx, members, r.now().Add(-cfg.Ownership.GracePeriod.Duration))
		if err != nil {
			return fmt.Errorf("sync team memberships: %w", err)
		}
		r.src.Departures = deps
	}
	r.readSources(ctx, nil)
	return r.rebuild(ctx, source)
}

// Refresh re-reads the sources and rebuilds, as the background loop does.
func (r *Resolver) Refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg == nil {
		return errors.New("ownership: no configuration yet")
	}
	var misses []string
	if s := r.snap.Load(); s != nil {
		misses = s.misses.take()
	}
	r.readSources(ctx, misses)
	return r.rebuild(ctx, "refresh")
}

// Run refreshes every ownership.refresh until ctx ends.
func (r *Resolver) Run(ctx context.Context) {
	for {
		r.mu.Lock()
		every := config.DefaultRefresh
		if r.cfg != nil {
			every = r.cfg.Ownership.Refresh.Duration
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("ownership refresh failed; keeping the last snapshot", "err", err)
		}
	}
}

func (r *Resolver) rebuild(ctx context.Context, source string) error {
	snap, err := Build(r.cfg, r.src, r.now())
	if err != nil {
		return err
	}
	if old := r.snap.Load(); old != nil {
		for _, k := range old.misses.take() { // carry over what is still wanted
			snap.misses.add(k)
		}
	}
	r.snap.Store(snap)
	r.changedMu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.changedMu.Unlock()
	if r.store == nil || r.readOnly {
		return nil
	}
	keys, err := r.store.SeenResources(ctx, r.now().Add(-coverageWindow))
	if err != nil {
		return fmt.Errorf("list seen resources: %w", err)
	}
	results := make([]mandate.Ownership, 0, len(keys))
	for _, k := range keys {
		if res, err := snap.Explain(k); err == nil {
			res.Explain = nil
			results = append(results, res)
		}
	}
	changes, err := r.store.RecordOwners(ctx, results, source)
	if err != nil {
		return fmt.Errorf("record ownership changes: %w", err)
	}
	if len(changes) > 0 {
		r.log.Info("ownership changed", "resources", len(changes), "source", source)
	}
	return nil
}

// sourceTimeout bounds one read of one source.
const sourceTimeout = 15 * time.Second

// maxContributorLookups bounds the GitHub calls of one refresh for recent contributors.
const maxContributorLookups = 200

// readSources reads every configured source into r.src, keeping the previous copy of any
// that fails and noting why in r.src.Unavailable.
func (r *Resolver) readSources(ctx context.Context, misses []string) {
	cfg := r.cfg
	next := Sources{CodeOwners: map[string]*CodeOwnersFile{}, OnCall: map[string][]pagerduty.OnCall{},
		Contributors: map[string][]github.Author{}, Unavailable: map[string]string{}, Fetched: map[string]time.Time{},
		Departures: r.src.Departures}
	keep := func(name string, err error) {
		next.Unavailable[name] = err.Error()
		if at, ok := r.src.Fetched[name]; ok {
			next.Fetched[name] = at
		}
		r.status(ctx, name, 0, err)
	}
	fetched := func(name string, items int) {
		next.Fetched[name] = r.now()
		r.status(ctx, name, items, nil)
	}

	// CODEOWNERS: local files and files read through GitHub.
	for _, co := range cfg.Ownership.CodeOwners {
		name := "codeowners:" + co.Repo
		var path string
		var data []byte
		var err error
		switch {
		case co.File != "":
			path = co.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(cfg.Dir, path)
			}
			data, err = os.ReadFile(path)
		case r.clients.GitHub == nil:
			err = errors.New("github: true, but no GitHub client is configured (set GITHUB_TOKEN)")
		default:
			fctx, cancel := context.WithTimeout(ctx, sourceTimeout)
			path, data, err = r.clients.GitHub.CodeOwners(fctx, co.Repo, co.Ref)
			cancel()
		}
		if err != nil {
			if old, ok := r.src.CodeOwners[co.Repo]; ok {
				next.CodeOwners[co.Repo] = old
			}
			keep(name, err)
			continue
		}
		f := codeowners.Parse(path, data)
		next.CodeOwners[co.Repo] = &CodeOwnersFile{Repo: co.Repo, Path: path, File: f, Matcher: codeowners.Compile(f)}
		fetched(name, len(f.Rules))
		if len(f.Errors) > 0 {
			r.status(ctx, name, len(f.Rules), fmt.Errorf("%d line(s) ignored: %s", len(f.Errors), f.Errors[0].Error()))
		}
	}

	// The catalog: local files, then the Backstage API.
	var entities []catalog.Entity
	catalogOK := true
	for _, file := range cfg.Ownership.Catalog.Files {
		path := file
		if !filepath.IsAbs(path) {
			path = filepath.Join(cfg.Dir, path)
		}
		name := "catalog:" + file
		data, err := os.ReadFile(path)
		if err != nil {
			catalogOK = false
			keep(name, err)
			continue
		}
		es, errs := catalog.ParseFile(path, data)
		entities = append(entities, es...)
		fetched(name, len(es))
		if len(errs) > 0 {
			r.status(ctx, name, len(es), fmt.Errorf("%d document(s) ignored: %v", len(errs), errs[0]))
		}
	}
	if cfg.Ownership.Catalog.URL != "" {
		name := "catalog:" + cfg.Ownership.Catalog.URL
		if r.clients.Backstage == nil {
			catalogOK = false
			keep(name, errors.New("no Backstage client is configured"))
		} else {
			fctx, cancel := context.WithTimeout(ctx, sourceTimeout)
			es, err := r.clients.Backstage.Entities(fctx)
			cancel()
			if err != nil {
				catalogOK = false
				keep(name, err)
			} else {
				entities = append(entities, es...)
				fetched(name, len(es))
			}
		}
	}
	if catalogOK || len(r.src.Catalog) == 0 {
		next.Catalog = entities
	} else {
		// One catalog source failed: keep the whole last good catalog rather than a part.
		next.Catalog = r.src.Catalog
		next.Unavailable["catalog"] = "a catalog source failed; using the last good catalog"
	}
	if len(next.Catalog) == 0 && !catalogOK {
		next.Unavailable["catalog"] = "every catalog source failed"
	}

	// On-call, for teams named by an oncall rule or with PagerDuty configured.
	for _, t := range cfg.Teams {
		if !t.PagerDuty.Configured() {
			continue
		}
		name := "pagerduty:" + t.ID
		if r.clients.PagerDuty == nil {
			keep(name, errors.New("no PagerDuty client is configured (set PAGERDUTY_TOKEN)"))
			if old, ok := r.src.OnCall[t.ID]; ok {
				next.OnCall[t.ID] = old
			}
			continue
		}
		var policies, schedules []string
		if t.PagerDuty.EscalationPolicy != "" {
			policies = []string{t.PagerDuty.EscalationPolicy}
		}
		if t.PagerDuty.Schedule != "" {
			schedules = []string{t.PagerDuty.Schedule}
		}
		fctx, cancel := context.WithTimeout(ctx, sourceTimeout)
		calls, err := r.clients.PagerDuty.OnCall(fctx, policies, schedules)
		cancel()
		if err != nil {
			if old, ok := r.src.OnCall[t.ID]; ok {
				next.OnCall[t.ID] = old
			}
			keep(name, err)
			continue
		}
		next.OnCall[t.ID] = calls
		fetched(name, len(calls))
	}

	// Recent contributors: refresh what is cached, and look up what was asked for.
	if c := cfg.Ownership.Contributors; c.Enabled {
		wanted := slices.Collect(maps.Keys(r.src.Contributors))
		wanted = append(wanted, misses...)
		slices.Sort(wanted)
		wanted = slices.Compact(wanted)
		lookups := 0
		for _, key := range wanted {
			repo, path, _ := strings.Cut(key, ":")
			name := "contributors:" + repo
			if _, down := next.Unavailable[name]; down || r.clients.GitHub == nil || lookups >= maxContributorLookups {
				if old, ok := r.src.Contributors[key]; ok {
					next.Contributors[key] = old
				}
				if r.clients.GitHub == nil {
					next.Unavailable[name] = "no GitHub client is configured (set GITHUB_TOKEN)"
				}
				continue
			}
			lookups++
			fctx, cancel := context.WithTimeout(ctx, sourceTimeout)
			authors, err := r.clients.GitHub.RecentAuthors(fctx, repo, path, r.now().Add(-c.Since.Duration), c.Top)
			cancel()
			if err != nil {
				if old, ok := r.src.Contributors[key]; ok {
					next.Contributors[key] = old
				}
				keep(name, err)
				continue
			}
			next.Contributors[key] = authors
			next.Fetched[name] = r.now()
		}
	}
	r.src = next
}

func (r *Resolver) status(ctx context.Context, source string, items int, err error) {
	if err != nil {
		r.log.Warn("ownership source unavailable; keeping its last good copy", "source", source, "err", err)
	}
	if r.store == nil || r.readOnly {
		return
	}
	st := mandate.SourceStatus{Source: source, LastAttempt: r.now(), Items: items}
	if err != nil {
		st.LastError = err.Error()
	} else {
		now := r.now()
		st.LastSuccess = &now
	}
	if e := r.store.SetSourceStatus(ctx, st); e != nil {
		r.log.Warn("cannot record ownership source status", "source", source, "err", e)
	}
}

// coverageWindow is how far back resources count as seen, for coverage and history.
const coverageWindow = 30 * 24 * time.Hour

// Coverage is the share of recently seen resources with at least one owner.
type Coverage struct {
	Since   time.Time           `json:"since"`
	Seen    int                 `json:"seen"`
	Owned   int                 `json:"owned"`
	Percent float64             `json:"percent"`
	ByLayer map[string]int      `json:"by_layer"`
	Gaps    []mandate.Ownership `json:"gaps"` // unowned resources, and owners that map to nobody
}

// Coverage resolves every resource seen in actions over the last 30 days.
func (r *Resolver) Coverage(ctx context.Context) (*Coverage, error) {
	snap := r.Snapshot()
	if snap == nil || r.store == nil {
		return nil, errors.New("ownership: not ready")
	}
	since := r.now().Add(-coverageWindow)
	keys, err := r.store.SeenResources(ctx, since)
	if err != nil {
		return nil, err
	}
	c := &Coverage{Since: since, Seen: len(keys), ByLayer: map[string]int{}, Gaps: []mandate.Ownership{}}
	for _, k := range keys {
		o, err := snap.Explain(k)
		if err != nil {
			continue
		}
		c.ByLayer[o.Layer]++
		if o.Layer != mandate.LayerNone {
			c.Owned++
		}
		if len(o.Gaps) > 0 {
			o.Explain = nil
			c.Gaps = append(c.Gaps, o)
		}
	}
	if c.Seen > 0 {
		c.Percent = 100 * float64(c.Owned) / float64(c.Seen)
	}
	return c, nil
}

// Explain explains the ownership of one resource key with the snapshot in force.
func (r *Resolver) Explain(key string) (mandate.Ownership, error) {
	snap := r.Snapshot()
	if snap == nil {
		return mandate.Ownership{}, mandate.Errorf(mandate.EUNAVAILABLE, "ownership is not loaded yet")
	}
	return snap.Explain(key)
}

// SourceHealth describes one source in the snapshot in force.
type SourceHealth struct {
	Age   string `json:"age,omitempty"`   // how old its copy is; empty if never read
	Error string `json:"error,omitempty"` // why the last read failed, if it did
}

// Health reports the snapshot's age and each source's, for /readyz and status pages.
func (r *Resolver) Health() (built time.Time, sources map[string]SourceHealth) {
	snap := r.Snapshot()
	if snap == nil {
		return time.Time{}, nil
	}
	now := r.now()
	sources = map[string]SourceHealth{}
	for name, age := range snap.Age(now) {
		sources[name] = SourceHealth{Age: age.Round(time.Second).String()}
	}
	for name, why := range snap.src.Unavailable {
		h := sources[name]
		h.Error = why
		sources[name] = h
	}
	return snap.Built(), sources
}
