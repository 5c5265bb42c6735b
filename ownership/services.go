package ownership

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
)

// serviceIndex finds the first config service (in file order) matching a resource without
// trying every service: exact names and prefix patterns ("payments-*") are looked up in
// maps, only the remaining patterns are tried in order. Configs with thousands of services
// resolve in well under a microsecond.
type serviceIndex struct {
	services []*indexedService
	exact    map[string]map[string]int // kind -> name -> first service index
	prefixes map[string]map[string]int // kind -> prefix -> first service index
	lengths  map[string][]int          // kind -> distinct prefix lengths, ascending
	others   []patternRef              // patterns needing a full match, in service order
}

// indexedService is a service with everything a match needs computed once.
type indexedService struct {
	svc    *config.Service
	owners []string // people, then the team
	teams  []string
	globs  []glob.Glob
	rules  []string // per pattern (then the name): the rule text
	how    []string // per pattern (then the name): "match payments-*" / "name payments-service"
}

type patternRef struct {
	service int
	pattern int
	glob    glob.Glob
	byKey   bool // matched against the whole resource key ("file:acme/api:src/**")
}

func buildServiceIndex(cfg *config.Config) (*serviceIndex, error) {
	x := &serviceIndex{exact: map[string]map[string]int{}, prefixes: map[string]map[string]int{}, lengths: map[string][]int{}}
	first := func(m map[string]map[string]int, kind, key string, i int) {
		if m[kind] == nil {
			m[kind] = map[string]int{}
		}
		if _, seen := m[kind][key]; !seen {
			m[kind][key] = i
		}
	}
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		is := &indexedService{svc: svc, owners: slices.Clone(svc.Owners)}
		if svc.Team != "" {
			is.owners = append(is.owners, svc.Team)
			is.teams = []string{svc.Team}
		}
		for j, p := range svc.Match {
			is.rules = append(is.rules, fmt.Sprintf("services[%d] %s (match %s)", i, svc.Name, p))
			is.how = append(is.how, "match "+p)
			g, err := glob.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("services[%d].match %q: %w", i, p, err)
			}
			is.globs = append(is.globs, g)
			byKey := strings.Contains(p, ":")
			if lit, ok := g.Literal(); ok && !byKey {
				first(x.exact, svc.Kind, lit, i)
			} else if pre, ok := g.Prefix(); ok && !byKey {
				first(x.prefixes, svc.Kind, pre, i)
			} else {
				x.others = append(x.others, patternRef{service: i, pattern: j, glob: g, byKey: byKey})
			}
		}
		is.rules = append(is.rules, fmt.Sprintf("services[%d] %s (name)", i, svc.Name))
		is.how = append(is.how, "name "+svc.Name)
		first(x.exact, svc.Kind, svc.Name, i)
		x.services = append(x.services, is)
	}
	for kind, m := range x.prefixes {
		var ls []int
		for p := range m {
			ls = append(ls, len(p))
		}
		slices.Sort(ls)
		x.lengths[kind] = slices.Compact(ls)
	}
	return x, nil
}

// match returns the first service matching r (whose key is key) and which of its patterns matched (the
// index into rules), or nil.
func (x *serviceIndex) match(r mandate.Resource, key string) (*indexedService, int) {
	name := r.Name
	if r.Kind == "file" {
		name = r.Repo + ":" + r.Path
	}
	best, how := len(x.services), -1
	if i, ok := x.exact[r.Kind][name]; ok {
		best, how = i, -2 // an exact name or literal pattern; which one is found below
	}
	if m := x.prefixes[r.Kind]; m != nil {
		for _, l := range x.lengths[r.Kind] {
			if l > len(name) {
				break
			}
			if i, ok := m[name[:l]]; ok && i < best && !strings.Contains(name[l:], "/") {
				best, how = i, -3
			}
		}
	}
	for _, p := range x.others {
		if p.service >= best {
			break
		}
		if p.byKey {
			if p.glob.Match(key) {
				best, how = p.service, p.pattern
			}
		} else if x.services[p.service].svc.Kind == r.Kind && p.glob.Match(name) {
			best, how = p.service, p.pattern
		}
	}
	if best == len(x.services) {
		return nil, 0
	}
	is := x.services[best]
	if how < 0 {
		how = is.whichPattern(name)
	}
	return is, how
}

// whichPattern finds which literal or prefix pattern (or the name) of the service matched
// name, for the explanation.
func (is *indexedService) whichPattern(name string) int {
	for j, g := range is.globs {
		if !strings.Contains(g.String(), ":") && g.Match(name) {
			return j
		}
	}
	return len(is.rules) - 1 // the service's own name
}
