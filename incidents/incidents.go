// Package incidents runs incidents from opening to resolution: it opens them (from Slack,
// the API, or opt-in rules on action results), attributes them to the actions that likely
// caused them, brings every affected team into one Slack channel, pages PagerDuty for the
// severe ones, and moves them through mitigation to resolution, where the postmortem
// hook takes over. Everything that talks to Slack or PagerDuty runs in durable jobs after
// the incident is committed, so a crash or an outage delays that work but never loses it.
package incidents

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
)

// Store keeps incidents; *postgres.IncidentStore implements it.
type Store interface {
	Open(ctx context.Context, in *mandate.Incident) (*mandate.Incident, bool, error)
	Get(ctx context.Context, number int64) (*mandate.Incident, error)
	GetByChannel(ctx context.Context, channel string) (*mandate.Incident, error)
	List(ctx context.Context, f mandate.IncidentFilter) ([]*mandate.Incident, error)
	Candidates(ctx context.Context, keys []string, from, to time.Time, limit int) ([]*mandate.Action, error)
	Actions(ctx context.Context, ids []string) (map[string]*mandate.Action, error)
	SetChannel(ctx context.Context, number int64, channel, name string, at time.Time) (string, bool, error)
	SetHeader(ctx context.Context, number int64, ts string) error
	Paged(ctx context.Context, number int64, at time.Time) error
	PageResolved(ctx context.Context, number int64, at time.Time) error
	ResolveDone(ctx context.Context, number int64, at time.Time) error
	Assign(ctx context.Context, number int64, person, by string, at time.Time) (bool, error)
	SetSeverity(ctx context.Context, number int64, sev mandate.Severity, by string, at time.Time) (bool, error)
	Transition(ctx context.Context, number int64, to mandate.IncidentState, by string, at time.Time) (*mandate.Incident, bool, error)
	DecideCause(ctx context.Context, number int64, actionID string, state mandate.CauseState, by string, at time.Time) (bool, error)
	Event(ctx context.Context, number int64, kind, who, text, actionID string, at time.Time) error
	Signals(ctx context.Context, since time.Time) ([]*mandate.Incident, error)
	Signal(ctx context.Context, number int64) (*mandate.Incident, error)
	Timeline(ctx context.Context, number int64) ([]mandate.TimelineEntry, error)
}

// Snapshots gives the ownership snapshot in force; *ownership.Resolver implements it.
type Snapshots interface {
	Snapshot() *ownership.Snapshot
}

// DefaultWindow is how far before an incident attribution looks for causing actions.
const DefaultWindow = 2 * time.Hour

// Limits on what an incident may carry.
const (
	maxTitle     = 200
	maxResources = 50
	maxGiven     = 20 // causes a reporter may name
	maxCauses    = 10 // causes stored: the given ones, then the best candidates
	maxScanned   = 200
)

// Service opens and runs incidents. Its job handlers (OpenChannel, Page, Resolved) are
// registered on the durable queue by the wiring.
type Service struct {
	Store  Store
	Actors mandate.ActorStore
	Owners Snapshots
	// Config returns the configuration in force: people's Slack ids, teams, auto-open
	// rules.
	Config func() *config.Config
	// Slack, when set, creates and keeps the incident channels.
	Slack *slack.Client
	// PagerDuty, when set, is paged for incidents of severity high or critical.
	PagerDuty *notify.PagerDuty
	// Index, when set, is kept current with every change made through the service (other
	// replicas follow through postgres.IncidentChannel).
	Index *Index
	// OnResolved, when set, is called once per resolved incident, from a durable job
	// (postmortems, action items and patterns plug in here).
	OnResolved func(ctx context.Context, inc *mandate.Incident)
	// OnSeverity, when set, is called after a severity change, so a postmortem already
	// drafted says the severity the incident has now.
	OnSeverity func(ctx context.Context, inc *mandate.Incident)
	// Window is how far back attribution looks; default DefaultWindow.
	Window time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) window() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	return DefaultWindow
}

// invalid collects the fields of a request that are wrong.
type invalid []mandate.FieldError

func (fe *invalid) add(field, format string, args ...any) {
	*fe = append(*fe, mandate.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Open opens an incident: it checks the request, ranks the likely causes, works out the
// teams involved and stores it all at once. A request with a bad field changes nothing
// and returns EINVALID naming every bad field (title, severity, resources[i],
// cause_action_ids[i]). An opt-in rule's request for a trigger action that has its
// incident already returns that incident.
func (s *Service) Open(ctx context.Context, req mandate.IncidentRequest) (*mandate.Incident, error) {
	inc, _, err := s.OpenOnce(ctx, req)
	return inc, err
}

// OpenOnce is Open, reporting whether this call created the incident: with req.Trigger
// set, an incident opened for that action before (by a rule, or by someone else pressing
// "Open incident" on it) is returned with created=false.
func (s *Service) OpenOnce(ctx context.Context, req mandate.IncidentRequest) (*mandate.Incident, bool, error) {
	var fe invalid
	title := strings.Join(strings.Fields(req.Title), " ")
	switch {
	case title == "":
		fe.add("title", "is required: say what is wrong")
	case utf8.RuneCountInString(title) > maxTitle:
		fe.add("title", "is %d characters long; at most %d", utf8.RuneCountInString(title), maxTitle)
	case !utf8.ValidString(title) || strings.ContainsFunc(title, unicode.IsControl):
		fe.add("title", "must be text without control characters")
	}
	if !req.Severity.Valid() {
		fe.add("severity", "must be one of low, medium, high, critical, not %q", req.Severity)
	}
	if len(req.Resources) > maxResources {
		fe.add("resources", "has %d resources; at most %d", len(req.Resources), maxResources)
	}
	for i, r := range req.Resources {
		if parsed, ok := mandate.ParseResourceKey(r.Key()); !ok || parsed != r || strings.ContainsFunc(r.Key(), unicode.IsSpace) {
			fe.add(fmt.Sprintf("resources[%d]", i), "%q is not a resource: give kind and name (or repo and path for files)", r.Key())
		}
	}
	if len(req.Causes) > maxGiven {
		fe.add("cause_action_ids", "names %d actions; at most %d", len(req.Causes), maxGiven)
	}
	switch req.Via {
	case mandate.ViaSlack, mandate.ViaAPI, mandate.ViaRule:
	default:
		fe.add("via", "must be slack, api or rule, not %q", req.Via)
	}
	if strings.TrimSpace(req.OpenedBy) == "" {
		fe.add("opened_by", "is required: who opens the incident")
	}
	var given []*mandate.Action
	if len(req.Causes) > 0 && len(req.Causes) <= maxGiven {
		found, err := s.Store.Actions(ctx, req.Causes)
		if err != nil {
			return nil, false, err
		}
		seen := map[string]bool{}
		for i, id := range req.Causes {
			a := found[strings.ToLower(id)]
			switch {
			case a == nil:
				fe.add(fmt.Sprintf("cause_action_ids[%d]", i), "no action %q is recorded", id)
			case seen[a.ID]:
				fe.add(fmt.Sprintf("cause_action_ids[%d]", i), "action %s is named twice", a.ID)
			default:
				seen[a.ID] = true
				given = append(given, a)
			}
		}
	}
	if len(fe) > 0 {
		return nil, false, &mandate.Error{Code: mandate.EINVALID, Message: "the incident has invalid fields", Fields: fe}
	}

	at := req.At
	if at.IsZero() {
		at = s.now()
	}
	resources := dedupeResources(req.Resources)
	if len(resources) == 0 {
		for _, a := range given {
			resources = dedupeResources(append(resources, a.Resources...))
		}
	}
	keys := resourceKeys(resources)
	candidates, err := s.Store.Candidates(ctx, keys, at.Add(-s.window()), at, maxScanned)
	if err != nil {
		return nil, false, err
	}
	snap := s.Owners.Snapshot()
	causes := Rank(given, candidates, keys, func(r mandate.Resource) string { return snap.Resolve(r).Sensitivity }, at)
	inc := &mandate.Incident{
		Title: title, Severity: req.Severity, State: mandate.IncidentOpen, Resources: resources,
		OpenedBy: req.OpenedBy, Via: req.Via, OpenedAt: at, Trigger: req.Trigger, Causes: causes,
	}
	inc.Teams = teamsOf(snap, affectedOf(inc))
	inc.MultiTeam = len(inc.Teams) > 1
	stored, created, err := s.Store.Open(ctx, inc)
	if err != nil {
		return nil, false, err
	}
	if created {
		s.log().Info("incident opened", "incident", stored.Ref(), "severity", stored.Severity, "via", stored.Via,
			"opened_by", stored.OpenedBy, "causes", len(stored.Causes), "teams", stored.Teams)
	}
	s.index(stored)
	return stored, created, nil
}

// index keeps the in-memory index current after a change made here.
func (s *Service) index(inc *mandate.Incident) {
	if s.Index != nil && inc != nil {
		s.Index.Put(inc)
	}
}

// affectedOf lists the incident's resources and its causes' blast radius: every other
// resource its causing actions (see mandate.Incident.CausingActions) touched.
func affectedOf(inc *mandate.Incident) []mandate.Resource {
	out := slices.Clone(inc.Resources)
	for _, c := range inc.CausingActions() {
		if c.Action != nil {
			out = append(out, c.Action.Resources...)
		}
	}
	return dedupeResources(out)
}

// teamsOf lists the teams owning any of resources, in order of first appearance.
func teamsOf(snap *ownership.Snapshot, resources []mandate.Resource) []string {
	var teams []string
	for _, r := range resources {
		for _, t := range snap.Resolve(r).Teams {
			if !slices.Contains(teams, t) {
				teams = append(teams, t)
			}
		}
	}
	return teams
}

func dedupeResources(rs []mandate.Resource) []mandate.Resource {
	seen := map[string]bool{}
	out := make([]mandate.Resource, 0, len(rs))
	for _, r := range rs {
		if k := r.Key(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func resourceKeys(rs []mandate.Resource) []string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key()
	}
	return keys
}

// Get returns one incident with its causes.
func (s *Service) Get(ctx context.Context, number int64) (*mandate.Incident, error) {
	return s.Store.Get(ctx, number)
}

// GetByChannel returns the incident whose channel is channel.
func (s *Service) GetByChannel(ctx context.Context, channel string) (*mandate.Incident, error) {
	return s.Store.GetByChannel(ctx, channel)
}

// List lists incidents, newest first.
func (s *Service) List(ctx context.Context, f mandate.IncidentFilter) ([]*mandate.Incident, error) {
	return s.Store.List(ctx, f)
}

// Timeline returns the incident and its timeline.
func (s *Service) Timeline(ctx context.Context, number int64) (*mandate.Incident, []mandate.TimelineEntry, error) {
	inc, err := s.Store.Get(ctx, number)
	if err != nil {
		return nil, nil, err
	}
	entries, err := s.Store.Timeline(ctx, number)
	if err != nil {
		return nil, nil, err
	}
	if entries == nil {
		entries = []mandate.TimelineEntry{}
	}
	return inc, entries, nil
}
