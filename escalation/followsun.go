package escalation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
)

// Candidate is someone an "oncall" escalation step may reach, in order of preference.
type Candidate struct {
	Person string // config person id
	// OnCall is true for someone PagerDuty has on call (at Level), false for a member of
	// Team.
	OnCall bool
	Level  int
	Team   string
}

// OnCallChoice is whom an "oncall" step reaches, and why, in a sentence for the thread.
type OnCallChoice struct {
	Person  string // "" when there is nobody to reach
	InHours bool
	Why     string
}

// ChooseOnCall is follow-the-sun: it picks the first candidate whose business hours (the
// org's business_hours, read in the candidate's own time zone) contain now, so that at 3
// a.m. in New York the step wakes nobody when someone in London is at their desk. primary
// is the first of the owners' escalation path, whom the step reached before
// follow-the-sun; it is tried first when no candidate is primary, and it is kept when
// nobody is in hours: someone on call must then be woken.
//
// It is pure: the same arguments give the same choice.
func ChooseOnCall(cfg *config.Config, primary string, candidates []Candidate, now time.Time) OnCallChoice {
	hours := cfg.Org.BusinessHours
	if len(hours.Days) == 0 {
		hours = config.DefaultBusinessHours // a config built by hand, not validated
	}
	// The primary keeps the step when in hours even if no source lists them (a team lead
	// standing in for an on-call nobody has): follow-the-sun only moves a step away from
	// someone asleep.
	if primary != "" && !slices.ContainsFunc(candidates, func(c Candidate) bool { return c.Person == primary }) {
		candidates = append([]Candidate{{Person: primary}}, candidates...)
	}
	for _, c := range candidates {
		loc := personLocation(cfg, c.Person, c.Team)
		if !hours.Contains(now, loc) {
			continue
		}
		var who string
		switch {
		case c.OnCall && c.Level > 1:
			who = fmt.Sprintf("%s is on call (level %d)", c.Person, c.Level)
		case c.OnCall:
			who = c.Person + " is on call"
		case c.Team == "":
			who = c.Person + " is the primary on-call"
		default:
			who = fmt.Sprintf("%s is on team %s", c.Person, c.Team)
		}
		why := fmt.Sprintf("%s and it is %s in %s", who, now.In(loc).Format("15:04"), zoneName(loc))
		if primary != "" && primary != c.Person {
			ploc := personLocation(cfg, primary, "")
			why += fmt.Sprintf("; %s, the primary on-call, is off hours (%s in %s)", primary, clock(now, ploc), zoneName(ploc))
		}
		return OnCallChoice{Person: c.Person, InHours: true, Why: why}
	}
	if primary == "" {
		return OnCallChoice{Why: "nobody is on call"}
	}
	ploc := personLocation(cfg, primary, "")
	return OnCallChoice{Person: primary, Why: fmt.Sprintf("nobody on call or on the owning team is in business hours; %s is the primary on-call (%s in %s)",
		primary, clock(now, ploc), zoneName(ploc))}
}

// personLocation is a person's time zone: their own, else their team's, else the org's.
// (Config validation fills a person's Location with the org's when they set none, so a
// team's zone is looked at only for people without one of their own.)
func personLocation(cfg *config.Config, person, team string) *time.Location {
	if p, ok := cfg.Person(person); ok && p.Timezone != "" && p.Location != nil {
		return p.Location
	}
	if t, ok := cfg.Team(team); ok && t.Timezone != "" && t.Location != nil {
		return t.Location
	}
	if cfg.Org.Location != nil {
		return cfg.Org.Location
	}
	return time.UTC
}

// clock is the weekday and wall-clock time at now in loc, e.g. "Sat 03:14": off hours are
// as often a weekend as a night.
func clock(now time.Time, loc *time.Location) string {
	return now.In(loc).Format("Mon 15:04")
}

func zoneName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}

// onCallCandidates lists whom an "oncall" step may reach for resources owned by teams, at
// now: first whoever PagerDuty has on call for them (lowest escalation level first, shifts
// under way at now only, people mapped to mandate.yaml only), then the teams' members in
// config order. Everyone appears once, at their first place.
func onCallCandidates(snap *ownership.Snapshot, cfg *config.Config, teams []string, now time.Time) []Candidate {
	var oncall, members []Candidate
	seen := map[string]bool{}
	for _, team := range teams {
		shifts, _ := snap.OnCall(team)
		for _, s := range shifts {
			if s.Person == "" || !s.Covers(now) {
				continue
			}
			oncall = append(oncall, Candidate{Person: s.Person, OnCall: true, Level: s.Level, Team: team})
		}
	}
	// PagerDuty lists each team by level already; across teams, level still comes first.
	slices.SortStableFunc(oncall, func(a, b Candidate) int { return a.Level - b.Level })
	for _, team := range teams {
		if t, ok := cfg.Team(team); ok {
			for _, m := range t.Members {
				members = append(members, Candidate{Person: m, Team: team})
			}
		}
	}
	var out []Candidate
	for _, c := range append(oncall, members...) {
		if !seen[c.Person] {
			seen[c.Person] = true
			out = append(out, c)
		}
	}
	return out
}

// onCall resolves an "oncall" step at now: for each resource of the action, follow-the-sun
// among its owning teams' on-call people and members, falling back to the first of its
// escalation path. It returns the people (each once) and one sentence per choice.
func (e *Escalator) onCall(cfg *config.Config, a *mandate.Action, now time.Time) (people []string, why string) {
	snap := e.Owners.Snapshot()
	if snap == nil {
		return nil, ""
	}
	var reasons []string
	for _, r := range a.Resources {
		o := snap.Resolve(r)
		primary := ""
		if len(o.Escalation) > 0 {
			primary = o.Escalation[0]
		}
		c := ChooseOnCall(cfg, primary, onCallCandidates(snap, cfg, o.Teams, now), now)
		if c.Person == "" || slices.Contains(people, c.Person) {
			continue
		}
		people = append(people, c.Person)
		reasons = append(reasons, c.Why)
	}
	if len(reasons) > 0 {
		why = "Follow-the-sun: " + strings.Join(reasons, ". ") + "."
	}
	return people, why
}
