package config

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// sections are the semantic checks, run in order after decoding. checkIDs
// comes first because every other check resolves references through the
// indexes it builds; org comes before people and teams because their time
// zones default to the org's. A new top-level section adds its function here.
var sections = []func(*validator){
	(*validator).checkIDs,
	(*validator).checkOrg,
	(*validator).checkPeople,
	(*validator).checkTeams,
	(*validator).checkServices,
	(*validator).checkAgents,
	(*validator).checkOwnership,
	(*validator).checkRouting,
	(*validator).checkEscalation,
	(*validator).checkDigests,
	(*validator).checkIncidents,
}

// validator checks a decoded Config, fills in defaults, and reports problems
// by path through the collector.
type validator struct {
	*collector
	cfg *Config
	// Id -> index of the first occurrence; duplicates are reported once.
	people, teams, services, agents map[string]int
}

func validate(c *collector, cfg *Config) {
	v := &validator{collector: c, cfg: cfg}
	for _, check := range sections {
		check(v)
	}
}

// checkIDs indexes every id and reports duplicates and missing ids.
func (v *validator) checkIDs() {
	v.people = v.uniqueIDs("people", "id", len(v.cfg.People), func(i int) string { return v.cfg.People[i].ID })
	v.teams = v.uniqueIDs("teams", "id", len(v.cfg.Teams), func(i int) string { return v.cfg.Teams[i].ID })
	v.services = v.uniqueIDs("services", "name", len(v.cfg.Services), func(i int) string { return v.cfg.Services[i].Name })
	v.agents = v.uniqueIDs("agents", "id", len(v.cfg.Agents), func(i int) string { return v.cfg.Agents[i].ID })
}

func (v *validator) uniqueIDs(section, field string, n int, id func(int) string) map[string]int {
	idx := make(map[string]int, n)
	for i := range n {
		p := indexPath(section, i)
		key := id(i)
		if strings.TrimSpace(key) == "" {
			v.required(p + "." + field)
			continue
		}
		if first, dup := idx[key]; dup {
			v.pathf(p, "duplicate %s %q (first at line %d)", field, key, v.lineOf(indexPath(section, first)))
			continue
		}
		idx[key] = i
	}
	return idx
}

func (v *validator) checkOrg() {
	o := &v.cfg.Org
	o.Location = v.location("org.timezone", o.Timezone, time.UTC)
	v.businessHours("org.business_hours", &o.BusinessHours)
	v.personRefs("org.admins", o.Admins)

	switch t := o.Fallback; {
	case t.Webhook != "" || t.EscalationPolicy != "":
		v.pathf("org.fallback", "takes a team or a person, not a webhook or escalation policy")
	case t.Team == "" && t.Person == "":
		v.pathf("org.fallback", "required: set team or person, who owns what no other rule does")
	case t.Team != "" && t.Person != "":
		v.pathf("org.fallback", "set exactly one of team or person, not both")
	case t.Team != "":
		v.teamRef("org.fallback.team", t.Team)
	default:
		v.personRef("org.fallback.person", t.Person)
	}

	if o.ReviewDeadline.Duration == 0 {
		o.ReviewDeadline.Duration = DefaultReviewDeadline
	}
	v.httpURL("org.heartbeat_url", o.HeartbeatURL)
	v.httpURL("org.backup_webhook", o.BackupWebhook)
	if o.HeartbeatEvery.Duration == 0 {
		o.HeartbeatEvery.Duration = time.Minute
	}
}

// httpURL checks an optional URL Mandate will POST to.
func (v *validator) httpURL(p, u string) {
	if u == "" {
		return
	}
	if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		v.pathf(p, "%q must be an absolute http:// or https:// URL", u)
	}
}

func (v *validator) businessHours(p string, b *BusinessHours) {
	if b.Days == nil && b.Start == "" && b.End == "" {
		*b = BusinessHours{Days: slices.Clone(DefaultBusinessHours.Days), Start: DefaultBusinessHours.Start, End: DefaultBusinessHours.End}
		return
	}
	if len(b.Days) == 0 {
		v.pathf(p+".days", "required: list at least one day (mon, tue, wed, thu, fri, sat, sun)")
	}
	seen := map[string]bool{}
	for i, d := range b.Days {
		dp := indexPath(p+".days", i)
		switch _, ok := dayNames[d]; {
		case !ok:
			v.pathf(dp, "unknown day %q; use mon, tue, wed, thu, fri, sat, sun", d)
		case seen[d]:
			v.pathf(dp, "duplicate day %q", d)
		}
		seen[d] = true
	}
	start, errStart := v.clock(p+".start", b.Start, false)
	end, errEnd := v.clock(p+".end", b.End, true)
	if errStart == nil && errEnd == nil && start >= end {
		v.pathf(p, "start %q must be before end %q", b.Start, b.End)
	}
}

func (v *validator) clock(p, s string, isEnd bool) (int, error) {
	if s == "" {
		v.required(p)
		return 0, fmt.Errorf("missing")
	}
	m, err := parseClock(s, isEnd)
	if err != nil {
		v.pathf(p, "%v", err)
	}
	return m, err
}

func (v *validator) checkPeople() {
	for i := range v.cfg.People {
		p := &v.cfg.People[i]
		p.Location = v.location(indexPath("people", i)+".timezone", p.Timezone, v.cfg.Org.Location)
	}
}

func (v *validator) checkTeams() {
	for i := range v.cfg.Teams {
		t := &v.cfg.Teams[i]
		p := indexPath("teams", i)
		v.personRefs(p+".members", t.Members)
		if t.Lead != "" {
			v.personRef(p+".lead", t.Lead)
		}
		t.Location = v.location(p+".timezone", t.Timezone, v.cfg.Org.Location)
		if t.GitHub != "" {
			org, slug, ok := strings.Cut(t.GitHub, "/")
			if !ok || org == "" || slug == "" || strings.ContainsAny(slug, "/ ") || strings.ContainsAny(org, " @") {
				v.pathf(p+".github", "%q is not a GitHub team; write org/team-slug like \"acme/payments\"", t.GitHub)
			}
		}
	}
}

func (v *validator) checkServices() {
	for i := range v.cfg.Services {
		s := &v.cfg.Services[i]
		p := indexPath("services", i)
		if strings.TrimSpace(s.Kind) == "" {
			v.required(p + ".kind")
		}
		for j, m := range s.Match {
			mp := indexPath(p+".match", j)
			if strings.TrimSpace(m) == "" {
				v.pathf(mp, "empty pattern")
				continue
			}
			// path.Match checks the whole pattern's syntax even against "".
			if _, err := path.Match(m, ""); err != nil {
				v.pathf(mp, "bad glob pattern %q", m)
			}
		}
		if s.Team != "" {
			v.teamRef(p+".team", s.Team)
		}
		v.personRefs(p+".owners", s.Owners)
		s.Sensitivity = v.oneOf(p+".sensitivity", s.Sensitivity, SensitivityNormal,
			SensitivityLow, SensitivityNormal, SensitivityHigh, SensitivityCritical)
	}
}

func (v *validator) checkAgents() {
	for i := range v.cfg.Agents {
		a := &v.cfg.Agents[i]
		p := indexPath("agents", i)
		if a.Team == "" {
			v.required(p + ".team")
		} else {
			v.teamRef(p+".team", a.Team)
		}
		a.Trust = v.oneOf(p+".trust", a.Trust, TrustNew, TrustNew, TrustTrusted, TrustRestricted)
	}
}

// ---- helpers shared by the sections ----

// required reports a missing field. p is the field's path; the line falls
// back to the enclosing item's because a missing key has no line of its own.
func (v *validator) required(p string) {
	v.pathf(p, "required")
}

// location parses a time zone, returning def when name is empty (and on
// error, so later checks still have a zone).
func (v *validator) location(p, name string, def *time.Location) *time.Location {
	if name == "" {
		return def
	}
	if name == "Local" {
		// time.LoadLocation accepts it, but it means "whatever the server's
		// zone is", which differs between a laptop and production.
		v.pathf(p, "\"Local\" depends on the host; name a zone like \"Europe/Berlin\" or \"UTC\"")
		return def
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		v.pathf(p, "unknown time zone %q", name)
		return def
	}
	return loc
}

// oneOf checks an enumerated value, returning def when it is empty.
func (v *validator) oneOf(p, val, def string, allowed ...string) string {
	if val == "" {
		return def
	}
	if !slices.Contains(allowed, val) {
		v.pathf(p, "must be one of %s, not %q", strings.Join(allowed, ", "), val)
	}
	return val
}

func (v *validator) personRefs(p string, ids []string) {
	v.refs(p, ids, v.personRef)
}

func (v *validator) refs(p string, ids []string, ref func(string, string)) {
	seen := map[string]bool{}
	for i, id := range ids {
		ip := indexPath(p, i)
		if seen[id] && id != "" {
			v.pathf(ip, "%q is listed twice", id)
			continue
		}
		seen[id] = true
		ref(ip, id)
	}
}

func (v *validator) personRef(p, id string) {
	v.ref(p, "person", id, v.people)
}

func (v *validator) teamRef(p, id string) {
	v.ref(p, "team", id, v.teams)
}

func (v *validator) ref(p, kind, id string, idx map[string]int) {
	if id == "" {
		v.pathf(p, "empty %s id", kind)
		return
	}
	if _, ok := idx[id]; ok {
		return
	}
	msg := fmt.Sprintf("unknown %s %q", kind, id)
	ids := make([]string, 0, len(idx))
	for k := range idx {
		ids = append(ids, k)
	}
	if s := suggest(id, ids); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	v.pathf(p, "%s", msg)
}
