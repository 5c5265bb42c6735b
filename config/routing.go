package config

import (
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate/glob"
)

// Routing holds the ordered routing rules, the watches and the limits of the routing
// signals. The first rule whose `when` matches decides; built-in defaults apply when none
// does.
type Routing struct {
	Rules   []Rule  `yaml:"rules"`
	Watches []Watch `yaml:"watches"`
	// Rate: more than Max actions by one actor on one resource within Window are flagged
	// and their notifications aggregated into one.
	Rate RateLimit `yaml:"rate"`
	// Failures: an actor with at least Max failed actions within Window has its actions
	// flagged for review.
	Failures RateLimit `yaml:"failures"`
	// IncidentWindow is how far back incidents on a resource or by an actor count.
	IncidentWindow Duration `yaml:"incident_window"`
	// GateTimeout is how long a gated action waits for a decision before its gate
	// expires (never approved by default). Default 15 m.
	GateTimeout Duration `yaml:"gate_timeout"`
	// AutoPause, opt-in, pauses an agent after Max failed actions within Window. Mandate
	// never rolls back, deletes or overrides a human decision by itself; pausing an agent
	// that keeps failing is the one automatic act it takes.
	AutoPause RateLimit `yaml:"auto_pause"`
}

// RateLimit is a count within a time window.
type RateLimit struct {
	Max    int      `yaml:"max"`
	Window Duration `yaml:"window"`
}

// Defaults of the routing section.
const (
	DefaultRateMax        = 20
	DefaultRateWindow     = 10 * time.Minute
	DefaultFailuresMax    = 3
	DefaultFailuresWindow = 24 * time.Hour
	DefaultIncidentWindow = 30 * 24 * time.Hour
	DefaultGateTimeout    = 15 * time.Minute
)

// Rule is one routing rule.
type Rule struct {
	Name string `yaml:"name"` // required, unique: feedback and stats are kept per rule
	When When   `yaml:"when"`
	Then Then   `yaml:"then"`
	// Line is where the rule starts in the file, for messages.
	Line int `yaml:"-"`
}

// When is a rule's conditions; all that are set must hold. An empty When matches every
// action.
type When struct {
	Types          []string `yaml:"types"`           // action type globs: deploy, db_*
	Environments   []string `yaml:"environments"`    // exact environment names
	Resources      []string `yaml:"resources"`       // resource key globs; any resource matching is enough
	Kinds          []string `yaml:"kinds"`           // resource kinds; any resource of one is enough
	MinSensitivity string   `yaml:"min_sensitivity"` // the most sensitive resource is at least this
	Reversibility  []string `yaml:"reversibility"`   // reversible, irreversible, unknown
	Trust          []string `yaml:"trust"`           // the actor's trust: new, trusted, restricted
	Teams          []string `yaml:"teams"`           // the actor's team or a resource's owning team
	Hours          string   `yaml:"hours"`           // business or outside, in the owning team's time zone
}

// Then is what a matching rule decides.
type Then struct {
	Path           string   `yaml:"path"`    // auto_execute, monitored_execute, flagged_execute, gated_execute
	Urgency        string   `yaml:"urgency"` // info, normal, high, critical; default normal
	Targets        []Target `yaml:"targets"` // told in addition to the owners
	ReviewDeadline Duration `yaml:"review_deadline"`
	// NotifyOwners: false tells only Targets (and watchers), not the resources' owners.
	NotifyOwners *bool `yaml:"notify_owners"`
}

// Watch makes a person see every action on resources matching any of Resources.
type Watch struct {
	Person    string   `yaml:"person"`
	Resources []string `yaml:"resources"` // resource key globs
}

// Paths, urgencies and reversibilities the routing section accepts.
var (
	Paths           = []string{"auto_execute", "monitored_execute", "flagged_execute", "gated_execute"}
	Urgencies       = []string{"info", "normal", "high", "critical"}
	Reversibilities = []string{"reversible", "irreversible", "unknown"}
	Sensitivities   = []string{SensitivityLow, SensitivityNormal, SensitivityHigh, SensitivityCritical}
)

// SensitivityRank orders sensitivities: low 0 … critical 3; unknown values rank as normal.
func SensitivityRank(s string) int {
	if i := slices.Index(Sensitivities, s); i >= 0 {
		return i
	}
	return 1
}

func (v *validator) checkRouting() {
	r := &v.cfg.Routing
	if r.Rate.Max == 0 {
		r.Rate.Max = DefaultRateMax
	}
	if r.Rate.Window.Duration == 0 {
		r.Rate.Window.Duration = DefaultRateWindow
	}
	if r.Failures.Max == 0 {
		r.Failures.Max = DefaultFailuresMax
	}
	if r.Failures.Window.Duration == 0 {
		r.Failures.Window.Duration = DefaultFailuresWindow
	}
	if r.IncidentWindow.Duration == 0 {
		r.IncidentWindow.Duration = DefaultIncidentWindow
	}
	if r.GateTimeout.Duration == 0 {
		r.GateTimeout.Duration = DefaultGateTimeout
	}
	if r.AutoPause.Max < 0 {
		v.pathf("routing.auto_pause.max", "must be positive, not %d", r.AutoPause.Max)
	}
	if r.AutoPause.Max > 0 && r.AutoPause.Window.Duration == 0 {
		r.AutoPause.Window.Duration = time.Hour
	}
	if r.Rate.Max < 0 {
		v.pathf("routing.rate.max", "must be positive, not %d", r.Rate.Max)
	}
	if r.Failures.Max < 0 {
		v.pathf("routing.failures.max", "must be positive, not %d", r.Failures.Max)
	}
	names := map[string]int{}
	for i := range r.Rules {
		rule := &r.Rules[i]
		p := indexPath("routing.rules", i)
		rule.Line = v.lineOf(p)
		switch {
		case strings.TrimSpace(rule.Name) == "":
			v.required(p + ".name")
		default:
			if first, dup := names[rule.Name]; dup {
				v.pathf(p+".name", "duplicate rule name %q (first at line %d)", rule.Name, r.Rules[first].Line)
			} else {
				names[rule.Name] = i
			}
		}
		v.checkWhen(p+".when", &rule.When)
		v.checkThen(p+".then", &rule.Then)
	}
	v.checkShadowing()
	for i, w := range r.Watches {
		p := indexPath("routing.watches", i)
		if w.Person == "" {
			v.required(p + ".person")
		} else {
			v.personRef(p+".person", w.Person)
		}
		if len(w.Resources) == 0 {
			v.pathf(p+".resources", "required: list resource key globs such as \"service:payments-*\"")
		}
		v.globs(p+".resources", w.Resources)
	}
}

func (v *validator) globs(p string, patterns []string) {
	for j, g := range patterns {
		if strings.TrimSpace(g) == "" {
			v.pathf(indexPath(p, j), "empty pattern")
		} else if _, err := glob.Compile(g); err != nil {
			v.pathf(indexPath(p, j), "bad glob pattern %q", g)
		}
	}
}

func (v *validator) checkWhen(p string, w *When) {
	v.globs(p+".types", w.Types)
	v.globs(p+".resources", w.Resources)
	for j, r := range w.Resources {
		if !strings.Contains(r, ":") {
			v.pathf(indexPath(p+".resources", j), "%q is not a resource key pattern; write kind:name such as \"service:payments-*\" or \"file:acme/api:src/**\"", r)
		}
	}
	if w.MinSensitivity != "" && !slices.Contains(Sensitivities, w.MinSensitivity) {
		v.pathf(p+".min_sensitivity", "must be one of %s, not %q", strings.Join(Sensitivities, ", "), w.MinSensitivity)
	}
	for j, r := range w.Reversibility {
		if !slices.Contains(Reversibilities, r) {
			v.pathf(indexPath(p+".reversibility", j), "must be one of %s, not %q", strings.Join(Reversibilities, ", "), r)
		}
	}
	for j, t := range w.Trust {
		if t != TrustNew && t != TrustTrusted && t != TrustRestricted {
			v.pathf(indexPath(p+".trust", j), "must be one of new, trusted, restricted, not %q", t)
		}
	}
	for j, t := range w.Teams {
		v.teamRef(indexPath(p+".teams", j), t)
	}
	if w.Hours != "" && w.Hours != "business" && w.Hours != "outside" {
		v.pathf(p+".hours", "must be business or outside, not %q", w.Hours)
	}
}

func (v *validator) checkThen(p string, t *Then) {
	switch {
	case t.Path == "":
		v.pathf(p+".path", "required: one of %s", strings.Join(Paths, ", "))
	case !slices.Contains(Paths, t.Path):
		v.pathf(p+".path", "must be one of %s, not %q", strings.Join(Paths, ", "), t.Path)
	}
	if t.Urgency == "" {
		t.Urgency = "normal"
	} else if !slices.Contains(Urgencies, t.Urgency) {
		v.pathf(p+".urgency", "must be one of %s, not %q", strings.Join(Urgencies, ", "), t.Urgency)
	}
	if t.ReviewDeadline.Duration != 0 && t.Path != "flagged_execute" {
		v.pathf(p+".review_deadline", "applies only to path flagged_execute")
	}
	for j := range t.Targets {
		tg := &t.Targets[j]
		tp := indexPath(p+".targets", j)
		n := 0
		for _, set := range []string{tg.Team, tg.Person, tg.Webhook, tg.EscalationPolicy} {
			if set != "" {
				n++
			}
		}
		switch {
		case n != 1:
			v.pathf(tp, "set exactly one of team, person, webhook, escalation_policy")
		case tg.Team != "":
			v.teamRef(tp+".team", tg.Team)
		case tg.Person != "":
			v.personRef(tp+".person", tg.Person)
		case tg.Webhook != "":
			v.httpURL(tp+".webhook", tg.Webhook)
		default:
			// The rule's actions escalate by this policy instead of the one their team
			// picks for their urgency, so it must exist: a typo would silently leave a
			// critical action with no escalation at all.
			if _, ok := v.cfg.Policy(tg.EscalationPolicy); !ok {
				v.pathf(tp+".escalation_policy", "unknown escalation policy %q: name one of escalation.policies or %s", tg.EscalationPolicy, DefaultPolicyName)
			}
		}
	}
}

// checkShadowing reports rules that can never match because an earlier rule matches
// every action they would.
func (v *validator) checkShadowing() {
	rules := v.cfg.Routing.Rules
	for j := range rules {
		for i := range j {
			if covers(&rules[i].When, &rules[j].When) {
				v.pathf(indexPath("routing.rules", j), "rule %q can never match: rule %q (line %d) comes first and matches every action it would",
					rules[j].Name, rules[i].Name, rules[i].Line)
				break
			}
		}
	}
}

// covers reports whether every action matching b also matches a. It is conservative:
// false means "perhaps not".
func covers(a, b *When) bool {
	return globsCover(a.Types, b.Types) && setCovers(a.Environments, b.Environments) &&
		globsCover(a.Resources, b.Resources) && setCovers(a.Kinds, b.Kinds) &&
		(a.MinSensitivity == "" || b.MinSensitivity != "" && SensitivityRank(a.MinSensitivity) <= SensitivityRank(b.MinSensitivity)) &&
		setCovers(a.Reversibility, b.Reversibility) && setCovers(a.Trust, b.Trust) &&
		setCovers(a.Teams, b.Teams) && (a.Hours == "" || a.Hours == b.Hours)
}

// setCovers: an empty a allows anything; otherwise b must be set and within a.
func setCovers(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// globsCover: every pattern of b is matched by some pattern of a, treating b's pattern as
// text (exact for literals; for patterns, only identical or catch-all ones count).
func globsCover(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, pb := range b {
		covered := false
		for _, pa := range a {
			g, err := glob.Compile(pa)
			if err != nil {
				continue
			}
			_, literal := glob.MustCompile(pb).Literal()
			if pa == pb || pa == "*" || pa == "**" || literal && g.Match(pb) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}
