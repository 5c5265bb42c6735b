// Package digests sums up each week for every team and for the admins, and sends the
// sums on schedule: to the team's Slack channel (and by email where configured), to the
// admins by DM or their channel. It also runs the daily nag of overdue action items on
// the same schedule machinery. A Builder computes a digest; a Scheduler, ticked by a
// periodic job, decides what is due and sends each run once across replicas.
package digests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
)

// TTITargets are the time-to-intervention targets a digest compares each response kind's
// p95 with: the targets /mandate status uses (a pause should come within a minute of the
// notification, an acknowledgement within five, a considered answer within fifteen), plus
// gate decisions, which should come well before a gate's 15-minute default timeout.
var TTITargets = map[string]time.Duration{
	"paused":       time.Minute,
	"acknowledged": 5 * time.Minute,
	"looks_ok":     15 * time.Minute,
	"flagged":      15 * time.Minute,
	"not_relevant": 15 * time.Minute,
	"question":     15 * time.Minute,
	"recovery":     10 * time.Minute,
	"approved":     10 * time.Minute,
	"denied":       10 * time.Minute,
}

// Figures reads a digest's raw figures; *postgres.DigestStore implements it.
type Figures interface {
	Figures(ctx context.Context, q mandate.DigestQuery) (*mandate.Digest, error)
}

// Builder computes digests: the figures from the store, judged against the targets, with
// suggested changes.
type Builder struct {
	Store  Figures
	Config func() *config.Config
}

// Period is the span a digest covers, in a time zone.
type Period struct {
	Start, End time.Time
}

// WeekEnding is the seven days before end, in loc: a scheduled digest's period, or a
// preview's ("the last seven days").
func WeekEnding(end time.Time, loc *time.Location) Period {
	end = end.In(loc)
	return Period{Start: end.AddDate(0, 0, -7), End: end}
}

// WeekOf is the seven days from midnight of date's day, in loc.
func WeekOf(date time.Time, loc *time.Location) Period {
	start := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, loc)
	return Period{Start: start, End: start.AddDate(0, 0, 7)}
}

// days splits a period into calendar days in its start's zone (a DST day is 23 or 25
// hours, still one day).
func (p Period) days() []time.Time {
	var out []time.Time
	for d := p.Start; d.Before(p.End); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

// TeamLocation is the zone a team's digest is read in: the team's, else the org's.
func TeamLocation(cfg *config.Config, team string) *time.Location {
	if t, ok := cfg.Team(team); ok && t.Location != nil {
		return t.Location
	}
	return OrgLocation(cfg)
}

// OrgLocation is the org's zone (UTC when unset).
func OrgLocation(cfg *config.Config) *time.Location {
	if cfg.Org.Location != nil {
		return cfg.Org.Location
	}
	return time.UTC
}

// Members are the people a team's digest counts as the team: its members and its lead.
func Members(t *config.Team) []string {
	out := slices.Clone(t.Members)
	if t.Lead != "" && !slices.Contains(out, t.Lead) {
		out = append(out, t.Lead)
	}
	return out
}

// Team computes a team's digest for the period.
func (b *Builder) Team(ctx context.Context, team string, p Period) (*mandate.Digest, error) {
	cfg := b.Config()
	t, ok := cfg.Team(team)
	if !ok {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no team %q in mandate.yaml", team)
	}
	d, err := b.Store.Figures(ctx, mandate.DigestQuery{Team: team, Members: Members(t), Start: p.Start, End: p.End, Days: p.days()})
	if err != nil {
		return nil, err
	}
	d.TeamName = cmpOr(t.Name, t.ID)
	judge(cfg, d)
	return d, nil
}

// Admin computes the admins' digest for the period: the whole organisation, and a line
// per team.
func (b *Builder) Admin(ctx context.Context, p Period) (*mandate.Digest, error) {
	cfg := b.Config()
	d, err := b.Store.Figures(ctx, mandate.DigestQuery{Start: p.Start, End: p.End, Days: p.days()})
	if err != nil {
		return nil, err
	}
	judge(cfg, d)
	for _, t := range cfg.Teams {
		td, err := b.Store.Figures(ctx, mandate.DigestQuery{Team: t.ID, Members: Members(&t), Start: p.Start, End: p.End, Days: p.days()})
		if err != nil {
			return nil, fmt.Errorf("team %s: %w", t.ID, err)
		}
		d.Teams = append(d.Teams, mandate.DigestTeam{Team: cmpOr(t.Name, t.ID), Actions: td.Actions.Total,
			NeedAnswer: td.Notifications.NeedAnswer, Answered: td.Notifications.Answered, Unowned: td.Ownership.UnownedActions,
			Incidents: td.Incidents.Opened, Overdue: len(td.Overdue)})
	}
	return d, nil
}

// Preview computes the digest of the seven days before now: the team's, or the admins'
// when team is "". Nothing is sent.
func (b *Builder) Preview(ctx context.Context, team string, now time.Time) (*mandate.Digest, error) {
	cfg := b.Config()
	if team == "" {
		return b.Admin(ctx, WeekEnding(now, OrgLocation(cfg)))
	}
	return b.Team(ctx, team, WeekEnding(now, TeamLocation(cfg, team)))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// judge adds what the figures mean: targets, rates, flags, owners' Slack ids, and the
// suggested changes.
func judge(cfg *config.Config, d *mandate.Digest) {
	for i := range d.TTI {
		d.TTI[i].Target = TTITargets[d.TTI[i].Kind]
	}
	for i := range d.Rules {
		r := &d.Rules[i]
		if r.Feedback > 0 {
			r.FPRate = float64(r.NotRelevant) / float64(r.Feedback)
		}
		if r.Notifications+r.Missed > 0 {
			r.FNRate = float64(r.Missed) / float64(r.Notifications+r.Missed)
		}
		r.Flagged = r.FPRate > mandate.FalsePositiveLimit
	}
	for i := range d.Overdue {
		if p, ok := cfg.Person(d.Overdue[i].Owner); ok {
			d.Overdue[i].OwnerRef = p.Slack
		}
	}
	d.Suggestions = suggest(cfg, d)
}

// suggest proposes changes for the rules people found noisy and for the incidents whose
// owners were never told. A human decides; Mandate changes nothing by itself.
func suggest(cfg *config.Config, d *mandate.Digest) []mandate.DigestSuggestion {
	var out []mandate.DigestSuggestion
	for _, r := range d.Rules {
		if !r.Flagged {
			continue
		}
		out = append(out, mandate.DigestSuggestion{Kind: mandate.SuggestRule, Subject: r.Rule,
			Text: fmt.Sprintf("Rule %s: %d of %d answers said not relevant (%s false positives, over %s). %s",
				r.Rule, r.NotRelevant, r.Feedback, blocks.Percent(r.FPRate), blocks.Percent(mandate.FalsePositiveLimit), ruleAdvice(cfg, r.Rule))})
	}
	// One suggestion per resource, naming everyone missed on it and the incidents.
	type gap struct {
		who       []string
		incidents []string
		types     []string
	}
	gaps := map[string]*gap{}
	var order []string
	for _, m := range d.Incidents.Misses {
		for _, res := range m.Resources {
			g, ok := gaps[res]
			if !ok {
				g = &gap{}
				gaps[res] = g
				order = append(order, res)
			}
			g.who = appendNew(g.who, m.Who)
			g.incidents = appendNew(g.incidents, fmt.Sprintf("INC-%d", m.Incident))
			g.types = appendNew(g.types, m.ActionType)
		}
	}
	for _, res := range order {
		g := gaps[res]
		was := "was"
		if len(g.who) > 1 {
			was = "were"
		}
		who := strings.Join(g.who, ", ")
		out = append(out, mandate.DigestSuggestion{Kind: mandate.SuggestOwnership, Subject: res,
			Text: fmt.Sprintf("%s: %s should have been told about %s on %s and %s not. Add an ownership rule for %s (a services entry in mandate.yaml, or a CODEOWNERS line) naming %s.",
				strings.Join(g.incidents, ", "), who, strings.Join(g.types, ", "), res, was, res, who)})
	}
	return out
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// ruleAdvice says how to make a noisy rule quieter, from what the rule is now.
func ruleAdvice(cfg *config.Config, name string) string {
	i := slices.IndexFunc(cfg.Routing.Rules, func(r config.Rule) bool { return r.Name == name })
	switch {
	case i < 0 && strings.HasPrefix(name, "builtin:"):
		return "It is a built-in rule: add a rule before it in routing.rules for what it catches that nobody needs to see."
	case i < 0:
		return "It is no longer in mandate.yaml; if it was renamed, review the rule that replaced it."
	}
	r := cfg.Routing.Rules[i]
	var advice []string
	if s := r.When.MinSensitivity; config.SensitivityRank(s) < config.SensitivityRank(config.SensitivityCritical) || s == "" {
		now := s
		if now == "" {
			now = "any"
		}
		advice = append(advice, fmt.Sprintf("raising its when.min_sensitivity (now %s)", now))
	}
	switch r.Then.Path {
	case string(mandate.PathFlagged), string(mandate.PathGated):
		advice = append(advice, fmt.Sprintf("making it monitored_execute (now %s)", r.Then.Path))
	case "", string(mandate.PathMonitored):
		if r.Then.Urgency != "" && r.Then.Urgency != string(mandate.UrgencyInfo) {
			advice = append(advice, fmt.Sprintf("lowering its urgency (now %s)", r.Then.Urgency))
		}
	}
	if len(advice) == 0 {
		return "Consider narrowing its when conditions."
	}
	return "Consider " + strings.Join(advice, " or ") + "."
}
