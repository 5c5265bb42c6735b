package ownership

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// OnCallShift is one person on call for a team, as PagerDuty reported it at the last
// refresh: every escalation level and schedule is kept, not only the first responder, so
// escalation can choose among them and handoffs can follow each rotation.
type OnCallShift struct {
	Team string
	// Person is the config person id the PagerDuty user maps to (by email); "" when the
	// user maps to nobody in mandate.yaml.
	Person string
	UserID string // PagerDuty user id
	Name   string
	Email  string
	// Level is the escalation level: 1 for the first responder.
	Level    int
	PolicyID string
	// ScheduleID is empty when the user is a direct target of the escalation rule.
	ScheduleID string
	// Start and End bound the shift; zero when open-ended.
	Start, End time.Time
}

// Covers reports whether the shift is under way at t. Open-ended bounds always cover.
func (c OnCallShift) Covers(t time.Time) bool {
	return (c.Start.IsZero() || !t.Before(c.Start)) && (c.End.IsZero() || t.Before(c.End))
}

// Rotation names what the shift belongs to, for telling one rotation's holders apart over
// time: its schedule, or for a direct target its policy and level.
func (c OnCallShift) Rotation() string {
	if c.ScheduleID != "" {
		return "schedule:" + c.ScheduleID
	}
	return "policy:" + c.PolicyID + ":level:" + strconv.Itoa(c.Level)
}

// OnCall lists who PagerDuty said is on call for team at the last good read, by
// escalation level, then name (PagerDuty's order). known is false when the team's on-call
// has never been read (no PagerDuty configured for it, or every read failed).
func (s *Snapshot) OnCall(team string) (shifts []OnCallShift, known bool) {
	calls, known := s.src.OnCall[team]
	for _, c := range calls {
		shifts = append(shifts, OnCallShift{
			Team: team, Person: s.peopleByEmail[strings.ToLower(c.Email)],
			UserID: c.UserID, Name: c.Name, Email: c.Email, Level: c.EscalationLevel,
			PolicyID: c.PolicyID, ScheduleID: c.ScheduleID, Start: c.Start, End: c.End,
		})
	}
	return shifts, known
}

// OnCallTeams lists, sorted, the teams whose on-call has been read.
func (s *Snapshot) OnCallTeams() []string {
	teams := make([]string, 0, len(s.src.OnCall))
	for t := range s.src.OnCall {
		teams = append(teams, t)
	}
	slices.Sort(teams)
	return teams
}
