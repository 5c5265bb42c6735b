package ownership

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/glob"
	"github.com/mandatehq/mandate/ownership/catalog"
)

// Resolve returns the owners of r. It reads only the snapshot: no locks, no I/O. The
// per-layer explanation is left out; Explain includes it.
func (s *Snapshot) Resolve(r mandate.Resource) mandate.Ownership {
	return s.resolve(r, r.Key(), false)
}

// Explain resolves the resource written as key ("kind:name" or "file:repo:path") and
// explains every layer: why earlier ones did not decide, which one did and how, and what
// later ones would have said.
func (s *Snapshot) Explain(key string) (mandate.Ownership, error) {
	r, ok := mandate.ParseResourceKey(key)
	if !ok {
		return mandate.Ownership{}, mandate.Errorf(mandate.EINVALID, "resource %q must be kind:name or file:repo:path", key)
	}
	return s.resolve(r, key, true), nil
}

// layerResult is what one layer says about a resource.
type layerResult struct {
	owners   []string // as written
	people   []string
	teams    []string
	gaps     []string
	rule     string
	location string
	why      string // a human line: why it decided, or why not
	// sensitivity of the config service that matched, even one without owners.
	sensitivity string
}

func (l *layerResult) found() bool { return len(l.owners) > 0 }

// layers lists the chain in order; each says what it knows about a resource.
var layers = []struct {
	name string
	fn   func(s *Snapshot, r mandate.Resource, key string, explain bool) layerResult
}{
	{mandate.LayerConfig, (*Snapshot).fromConfig},
	{mandate.LayerCodeOwners, (*Snapshot).fromCodeOwners},
	{mandate.LayerCatalog, (*Snapshot).fromCatalog},
	{mandate.LayerOnCall, (*Snapshot).fromOnCall},
	{mandate.LayerContributors, (*Snapshot).fromContributors},
}

func (s *Snapshot) resolve(r mandate.Resource, key string, explain bool) mandate.Ownership {
	o := mandate.Ownership{Resource: key, Layer: mandate.LayerNone}
	decided := false
	for _, l := range layers {
		if decided && !explain {
			break
		}
		res := l.fn(s, r, key, explain)
		if res.sensitivity != "" {
			o.Sensitivity = res.sensitivity
		}
		if decided {
			if res.found() {
				o.Explain = append(o.Explain, fmt.Sprintf("%s: also knows %s (%s), but %s decided first", l.name, strings.Join(res.owners, ", "), res.rule, o.Layer))
			} else {
				o.Explain = append(o.Explain, l.name+": "+res.why)
			}
			continue
		}
		if !res.found() {
			if explain {
				o.Explain = append(o.Explain, l.name+": "+res.why)
			}
			continue
		}
		decided = true
		o.Layer, o.Owners, o.People, o.Rule, o.Location, o.Gaps = l.name, res.owners, res.people, res.rule, res.location, res.gaps
		o.Teams = res.teams
		if len(res.teams) > 0 {
			o.Team = res.teams[0]
		}
		if explain {
			o.Explain = append(o.Explain, l.name+": decides: "+res.why)
		}
	}
	if !decided {
		o.Rule = "org.fallback"
		o.Gaps = append(o.Gaps, "no owner: "+key)
		if explain {
			o.Explain = append(o.Explain, "none: no layer yields an owner; the org fallback ("+s.fallback()+") is told")
		}
	}
	if o.People == nil {
		o.People = []string{}
	}
	if o.Owners == nil {
		o.Owners = []string{}
	}
	if len(o.People) == 0 && len(o.Teams) == 0 {
		o.Fallback = s.fallback()
	}
	for _, t := range o.Teams {
		o.Escalation = append(o.Escalation, s.escalation(t)...)
		o.Grace = append(o.Grace, s.grace(t, o.People)...)
	}
	return o
}

func (s *Snapshot) fallback() string {
	return s.cfg.Org.Fallback.String()
}

// fromConfig is layer 1: services in mandate.yaml, first match in file order.
func (s *Snapshot) fromConfig(r mandate.Resource, key string, explain bool) layerResult {
	svc, matched := s.services.match(r, key)
	if svc == nil {
		return layerResult{why: lazy(explain, func() string { return "no service in mandate.yaml matches " + key })}
	}
	res := layerResult{rule: svc.rules[matched], owners: svc.owners, people: svc.svc.Owners, teams: svc.teams, sensitivity: svc.svc.Sensitivity}
	if !res.found() {
		res.why = lazy(explain, func() string { return "service " + svc.svc.Name + " matches but names no owners or team" })
		return res
	}
	res.why = lazy(explain, func() string {
		return fmt.Sprintf("service %s (%s) is owned by %s", svc.svc.Name, svc.how[matched], strings.Join(res.owners, ", "))
	})
	return res
}

// fromCodeOwners is layer 2: the repository's CODEOWNERS, for files.
func (s *Snapshot) fromCodeOwners(r mandate.Resource, key string, explain bool) layerResult {
	if r.Kind != "file" {
		return layerResult{why: "applies to files only"}
	}
	f, ok := s.src.CodeOwners[r.Repo]
	if !ok {
		if why, down := s.src.Unavailable["codeowners:"+r.Repo]; down {
			return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("CODEOWNERS of %s is unavailable: %s", r.Repo, why) })}
		}
		return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("no CODEOWNERS configured for %s", r.Repo) })}
	}
	rule, ok := f.Matcher.Match(r.Path)
	if !ok {
		return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("no line of %s (%s) matches %s", f.Path, r.Repo, r.Path) })}
	}
	loc := fmt.Sprintf("%s:%d", f.Path, rule.Line)
	res := layerResult{rule: rule.Pattern + " " + strings.Join(rule.Owners, " "), location: loc}
	if len(rule.Owners) == 0 {
		res.rule = rule.Pattern
		res.why = lazy(explain, func() string {
			return fmt.Sprintf("%s: %q has no owners, which leaves %s unowned", loc, rule.Pattern, r.Path)
		})
		return res
	}
	for _, owner := range rule.Owners {
		res.owners = append(res.owners, owner)
		s.mapHandle(owner, &res)
	}
	res.why = lazy(explain, func() string {
		return fmt.Sprintf("%s: %q owned by %s", loc, rule.Pattern, strings.Join(rule.Owners, " "))
	})
	return res
}

// mapHandle maps a CODEOWNERS owner (@org/team, @login or an email) to config.
func (s *Snapshot) mapHandle(owner string, res *layerResult) {
	h := strings.ToLower(strings.TrimPrefix(owner, "@"))
	switch {
	case strings.Contains(h, "@"):
		if p, ok := s.peopleByEmail[h]; ok {
			res.people = appendNew(res.people, p)
			return
		}
	case strings.Contains(h, "/"):
		if t, ok := s.teamsByGitHub[h]; ok {
			res.teams = appendNew(res.teams, t)
			return
		}
	default:
		if p, ok := s.peopleByGitHub[h]; ok {
			res.people = appendNew(res.people, p)
			return
		}
	}
	res.gaps = append(res.gaps, fmt.Sprintf("%s maps to no person or team in mandate.yaml", owner))
}

// catalogKinds says which catalog entity kinds describe a resource kind, best first.
func catalogKinds(kind string) []string {
	switch kind {
	case "service":
		return []string{"component", "system"}
	case "api", "endpoint":
		return []string{"api", "component"}
	default:
		return []string{"resource", "component", "api", "system"}
	}
}

// fromCatalog is layer 3: the Backstage catalog. Files belong to the entity whose
// github.com/project-slug is their repository; other resources to the entity of their
// name.
func (s *Snapshot) fromCatalog(r mandate.Resource, key string, explain bool) layerResult {
	if len(s.src.Catalog) == 0 {
		if why, down := s.src.Unavailable["catalog"]; down {
			return layerResult{why: lazy(explain, func() string { return "the catalog is unavailable: " + why })}
		}
		return layerResult{why: "no catalog configured"}
	}
	var candidates []*catalog.Entity
	if r.Kind == "file" {
		candidates = s.catalogBySlug[r.Repo]
	} else {
		candidates = s.catalogByName[r.Name]
	}
	var best *catalog.Entity
	for _, kind := range catalogKinds(r.Kind) {
		for _, e := range candidates {
			if strings.EqualFold(e.Kind, kind) {
				best = e
				break
			}
		}
		if best != nil {
			break
		}
	}
	if best == nil {
		if r.Kind == "file" {
			return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("no catalog entity has github.com/project-slug %s", r.Repo) })}
		}
		return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("no catalog entity is named %s", r.Name) })}
	}
	res := layerResult{rule: fmt.Sprintf("%s:%s spec.owner", strings.ToLower(best.Kind), best.Name), location: best.Location}
	if best.OwnerRef == nil {
		res.why = lazy(explain, func() string { return fmt.Sprintf("%s %s (%s) has no spec.owner", best.Kind, best.Name, best.Location) })
		return res
	}
	res.owners = []string{best.Owner}
	ref := *best.OwnerRef
	switch ref.Kind {
	case "group":
		if _, ok := s.cfg.Team(ref.Name); ok {
			res.teams = []string{ref.Name}
		} else {
			res.gaps = append(res.gaps, fmt.Sprintf("%s maps to no team in mandate.yaml", best.Owner))
		}
	case "user":
		if _, ok := s.cfg.Person(ref.Name); ok {
			res.people = []string{ref.Name}
		} else if p, ok := s.peopleByEmail[strings.ToLower(s.userEmails[ref.String()])]; ok {
			res.people = []string{p}
		} else {
			res.gaps = append(res.gaps, fmt.Sprintf("%s maps to no person in mandate.yaml", best.Owner))
		}
	default:
		res.gaps = append(res.gaps, fmt.Sprintf("%s is neither a group nor a user", best.Owner))
	}
	res.why = lazy(explain, func() string {
		return fmt.Sprintf("%s %s (%s) is owned by %s", best.Kind, best.Name, best.Location, best.Owner)
	})
	return res
}

// fromOnCall is layer 4: whoever is on call for the team of the first ownership.oncall
// rule matching the resource.
func (s *Snapshot) fromOnCall(r mandate.Resource, key string, explain bool) layerResult {
	for _, co := range s.oncall {
		if !slices.ContainsFunc(co.globs, func(g glob.Glob) bool { return g.Match(key) }) {
			continue
		}
		team := co.rule.Team
		rule := fmt.Sprintf("ownership.oncall[%d] team %s", co.index, team)
		calls, ok := s.src.OnCall[team]
		if !ok {
			why := "not read yet"
			if w, down := s.src.Unavailable["pagerduty:"+team]; down {
				why = "PagerDuty is unavailable: " + w
			}
			return layerResult{rule: rule, why: lazy(explain, func() string {
				return fmt.Sprintf("%s matches, but who is on call for %s is unknown (%s)", rule, team, why)
			})}
		}
		res := layerResult{rule: rule, teams: []string{team}}
		for _, c := range calls {
			who := c.Email
			if who == "" {
				who = c.Name
			}
			res.owners = appendNew(res.owners, who)
			if p, ok := s.peopleByEmail[strings.ToLower(c.Email)]; ok {
				res.people = appendNew(res.people, p)
			} else {
				res.gaps = append(res.gaps, fmt.Sprintf("on-call %s maps to no person in mandate.yaml", who))
			}
		}
		if !res.found() {
			res.why = lazy(explain, func() string { return fmt.Sprintf("%s matches, but nobody is on call for %s", rule, team) })
			return res
		}
		res.why = lazy(explain, func() string {
			return fmt.Sprintf("%s matches; on call for %s: %s", rule, team, strings.Join(res.owners, ", "))
		})
		return res
	}
	if len(s.oncall) == 0 {
		return layerResult{why: "no on-call rules configured"}
	}
	return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("no ownership.oncall rule matches %s", key) })}
}

// fromContributors is layer 5: the people who committed most to a file recently.
func (s *Snapshot) fromContributors(r mandate.Resource, key string, explain bool) layerResult {
	c := s.cfg.Ownership.Contributors
	if !c.Enabled {
		return layerResult{why: "recent contributors are not enabled"}
	}
	if r.Kind != "file" {
		return layerResult{why: "applies to files only"}
	}
	path := r.Repo + ":" + r.Path
	authors, ok := s.src.Contributors[path]
	if !ok {
		s.misses.add(path)
		if why, down := s.src.Unavailable["contributors:"+r.Repo]; down {
			return layerResult{why: lazy(explain, func() string { return "GitHub is unavailable: " + why })}
		}
		return layerResult{why: lazy(explain, func() string { return fmt.Sprintf("contributors of %s not read yet; queued", path) })}
	}
	rule := fmt.Sprintf("top %d committers to %s in %s", c.Top, r.Path, c.Since.Duration)
	res := layerResult{rule: rule}
	for i, a := range authors {
		if i >= c.Top {
			break
		}
		who := a.Email
		if a.Login != "" {
			who = "@" + a.Login
		}
		res.owners = append(res.owners, who)
		s.mapHandle(who, &res)
	}
	if !res.found() {
		res.why = lazy(explain, func() string { return fmt.Sprintf("nobody committed to %s in %s", r.Path, c.Since.Duration) })
		return res
	}
	res.why = lazy(explain, func() string { return fmt.Sprintf("%s: %s", rule, strings.Join(res.owners, ", ")) })
	return res
}

// escalation is a team's escalation path: who is on call for it, then its lead.
func (s *Snapshot) escalation(team string) []string {
	var path []string
	for _, c := range s.src.OnCall[team] {
		if p, ok := s.peopleByEmail[strings.ToLower(c.Email)]; ok {
			path = appendNew(path, p)
		}
	}
	if t, ok := s.cfg.Team(team); ok && t.Lead != "" {
		path = appendNew(path, t.Lead)
	}
	return path
}

// grace lists people who left team within the grace period and are not owners anyway.
func (s *Snapshot) grace(team string, people []string) []mandate.GraceOwner {
	var out []mandate.GraceOwner
	period := s.cfg.Ownership.GracePeriod.Duration
	for _, d := range s.departures[team] {
		until := d.At.Add(period)
		if s.built.Before(until) && !slices.Contains(people, d.Person) {
			out = append(out, mandate.GraceOwner{Person: d.Person, Team: team, Left: d.At, Until: until})
		}
	}
	return out
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// Age reports how old each source's copy is at now, for status pages.
func (s *Snapshot) Age(now time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, at := range s.src.Fetched {
		out[name] = now.Sub(at)
	}
	return out
}

// lazy computes an explanation only when one is wanted: resolving on the ingest path
// must not pay for sentences nobody reads.
func lazy(explain bool, why func() string) string {
	if !explain {
		return ""
	}
	return why()
}
