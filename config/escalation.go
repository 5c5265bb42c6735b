package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Escalation holds escalation policies: who is told next when a notification that needs
// an answer gets none.
type Escalation struct {
	Policies []Policy `yaml:"policies"`
	// ByUrgency picks a policy per urgency (critical, high, normal, info) for every team
	// that does not pick its own. Default: critical → the built-in DefaultPolicy.
	ByUrgency map[string]string `yaml:"by_urgency"`
}

// Policy is an ordered list of escalation steps.
type Policy struct {
	Name  string `yaml:"name"`
	Steps []Step `yaml:"steps"`
	// Repeat runs the steps again this many times when the last one got no answer.
	Repeat int `yaml:"repeat"`
}

// Step tells someone after a delay since the notification.
type Step struct {
	Notify string   `yaml:"notify"` // primary, secondary, team_lead, oncall, admin, team_channel, pagerduty
	After  Duration `yaml:"after"`
}

// StepTargets are the values Step.Notify accepts.
var StepTargets = []string{"primary", "secondary", "team_lead", "oncall", "admin", "team_channel", "pagerduty"}

// DefaultPolicyName names the built-in policy for critical notifications.
const DefaultPolicyName = "builtin:critical"

// DefaultPolicy is the built-in escalation for critical notifications: the primary owners
// are told at once; then, while nobody answers, secondary owners after 5 minutes, the team
// lead, whoever is on call, and the admins.
var DefaultPolicy = Policy{Name: DefaultPolicyName, Steps: []Step{
	{Notify: "secondary", After: Duration{5 * time.Minute}},
	{Notify: "team_lead", After: Duration{10 * time.Minute}},
	{Notify: "oncall", After: Duration{15 * time.Minute}},
	{Notify: "admin", After: Duration{20 * time.Minute}},
}}

// PolicyFor returns the policy for a notification of the given urgency owned by team, or
// false when nothing escalates.
func (c *Config) PolicyFor(team, urgency string) (Policy, bool) {
	name := ""
	if t, ok := c.Team(team); ok {
		name = t.Escalation[urgency]
	}
	if name == "" {
		name = c.Escalation.ByUrgency[urgency]
	}
	if name == "" && urgency == "critical" {
		name = DefaultPolicyName
	}
	if name == "" || name == "none" {
		return Policy{}, false
	}
	return c.Policy(name)
}

// Policy returns the escalation policy named name: one of escalation.policies, or the
// built-in DefaultPolicyName.
func (c *Config) Policy(name string) (Policy, bool) {
	if name == DefaultPolicyName {
		return DefaultPolicy, true
	}
	i := slices.IndexFunc(c.Escalation.Policies, func(p Policy) bool { return p.Name == name })
	if i < 0 || name == "" {
		return Policy{}, false
	}
	return c.Escalation.Policies[i], true
}

func (v *validator) checkEscalation() {
	e := &v.cfg.Escalation
	names := map[string]bool{DefaultPolicyName: true, "none": true}
	for i := range e.Policies {
		p := &e.Policies[i]
		pp := indexPath("escalation.policies", i)
		switch {
		case strings.TrimSpace(p.Name) == "":
			v.required(pp + ".name")
		case names[p.Name]:
			v.pathf(pp+".name", "duplicate or reserved policy name %q", p.Name)
		default:
			names[p.Name] = true
		}
		if len(p.Steps) == 0 {
			v.pathf(pp+".steps", "required: at least one step")
		}
		var last time.Duration
		for j, s := range p.Steps {
			sp := indexPath(pp+".steps", j)
			if !slices.Contains(StepTargets, s.Notify) {
				v.pathf(sp+".notify", "must be one of %s, not %q", strings.Join(StepTargets, ", "), s.Notify)
			}
			if s.After.Duration < last {
				v.pathf(sp+".after", "steps must come in order: %s is before the previous step's %s", s.After.Duration, last)
			}
			last = s.After.Duration
		}
		if p.Repeat < 0 || p.Repeat > 10 {
			v.pathf(pp+".repeat", "must be between 0 and 10, not %d", p.Repeat)
		}
	}
	checkPick := func(p string, picks map[string]string) {
		for urgency, name := range picks {
			if !slices.Contains([]string{"info", "normal", "high", "critical"}, urgency) {
				v.pathf(p, "unknown urgency %q: use info, normal, high or critical", urgency)
			}
			if !names[name] {
				v.pathf(p+"."+urgency, "unknown escalation policy %q", name)
			}
		}
	}
	checkPick("escalation.by_urgency", e.ByUrgency)
	for i, t := range v.cfg.Teams {
		checkPick(fmt.Sprintf("%s.escalation", indexPath("teams", i)), t.Escalation)
	}
}
