package incidents

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/glob"
	"github.com/mandatehq/mandate/routing"
)

// A pattern is the shape of an incident's cause, (action type, resource pattern, failure
// mode), kept so the same mistake is recognised next time:
//
//   - exact: the same action type on the same resource;
//   - resource: the same type on a similar resource, a glob derived from the common prefix
//     of the causes' resources ("service:payments-api" and "service:payments-worker" give
//     "service:payments-*");
//   - failure_mode: the same type failing the same way (the reported failure mode, else
//     the error text with numbers, uuids and hex stripped).
//
// Exact and resource patterns warn when a new action is routed; a new action has not run
// yet, so failure-mode patterns match only actions that carry a result (a cause at
// resolve time: the repeat-incident check).

// maxPatternCauses bounds the unconfirmed candidates patterns are taken from: attribution
// ranks them, and beyond the likeliest few a pattern would mostly warn about bystanders.
const maxPatternCauses = 3

// maxHits bounds the incidents one action is said to look like.
const maxHits = 3

// ExtractPatterns derives an incident's patterns from its confirmed causes, or, when none
// is confirmed, from its likeliest candidates. Dismissed causes never count. The result is
// sorted and free of duplicates; an incident without causing actions has none.
func ExtractPatterns(inc *mandate.Incident) []mandate.IncidentPattern {
	causes := inc.CausingActions()
	confirmed := len(causes) > 0 && causes[0].State == mandate.CauseConfirmed
	if !confirmed && len(causes) > maxPatternCauses {
		slices.SortStableFunc(causes, func(a, b mandate.IncidentCause) int { return cmp.Compare(a.Rank, b.Rank) })
		causes = causes[:maxPatternCauses]
	}
	seen := map[mandate.IncidentPattern]bool{}
	var out []mandate.IncidentPattern
	add := func(p mandate.IncidentPattern) {
		p.Incident = inc.Number
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	type group struct{ typ, kind string }
	groups := map[group][]string{}
	var order []group
	for _, c := range causes {
		a := c.Action
		if a == nil || a.Type == "" {
			continue
		}
		for _, r := range a.Resources {
			key := r.Key()
			add(mandate.IncidentPattern{Kind: mandate.PatternExact, ActionType: a.Type, ResourcePattern: key})
			g := group{a.Type, r.Kind}
			if _, ok := groups[g]; !ok {
				order = append(order, g)
			}
			if !slices.Contains(groups[g], key) {
				groups[g] = append(groups[g], key)
			}
		}
		if sig := failureSignature(a.Result); sig != "" {
			add(mandate.IncidentPattern{Kind: mandate.PatternFailureMode, ActionType: a.Type, FailureMode: sig})
		}
	}
	for _, g := range order {
		keys := groups[g]
		if len(keys) > 1 {
			if p, ok := resourceGlob(keys); ok {
				add(mandate.IncidentPattern{Kind: mandate.PatternResource, ActionType: g.typ, ResourcePattern: p})
				continue
			}
		}
		for _, k := range keys {
			if p, ok := resourceGlob([]string{k}); ok {
				add(mandate.IncidentPattern{Kind: mandate.PatternResource, ActionType: g.typ, ResourcePattern: p})
			}
		}
	}
	slices.SortFunc(out, func(a, b mandate.IncidentPattern) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.ActionType, b.ActionType),
			cmp.Compare(a.ResourcePattern, b.ResourcePattern), cmp.Compare(a.FailureMode, b.FailureMode))
	})
	return out
}

// kindRank orders pattern kinds from the most specific: a closer match says more.
func kindRank(k mandate.PatternKind) int {
	switch k {
	case mandate.PatternExact:
		return 0
	case mandate.PatternResource:
		return 1
	}
	return 2
}

// minStem is the shortest literal name prefix a resource glob may keep: "db-*" is still a
// family of resources, "a-*" is most of a naming scheme.
const minStem = 2

// resourceGlob derives the glob for resources like keys, all "kind:name" keys of one kind:
// their longest common prefix, cut back to the last separator, then "*" (or "**" when
// the rest crosses a '/'). A single key keeps its name up to the last separator. Names are
// split at '-', '_', '.' and '/'; file paths only at '/', inside the repository, so a glob
// never spans repositories. ok is false when no useful glob exists — different kinds, no
// common stem, or a stem shorter than minStem — so the result is never a bare "*".
func resourceGlob(keys []string) (pattern string, ok bool) {
	if len(keys) == 0 {
		return "", false
	}
	kind, _, _ := strings.Cut(keys[0], ":")
	names := make([]string, len(keys))
	for i, k := range keys {
		kd, name, found := strings.Cut(k, ":")
		if !found || kd != kind || name == "" {
			return "", false
		}
		names[i] = name
	}
	// The part of the name a glob may generalise: a file's path after "repo:".
	fixed := 0
	seps := "-_./"
	if kind == "file" {
		repo, _, found := strings.Cut(names[0], ":")
		if !found {
			return "", false
		}
		fixed = len(repo) + 1
		for _, n := range names {
			if !strings.HasPrefix(n, repo+":") {
				return "", false
			}
		}
		seps = "/"
	}
	prefix := names[0]
	if len(names) == 1 {
		// A single resource: generalise its last name part.
		prefix = prefix[:len(prefix)-1]
	}
	for _, n := range names[1:] {
		prefix = commonPrefix(prefix, n)
	}
	cut := strings.LastIndexAny(prefix[min(fixed, len(prefix)):], seps)
	if cut < 0 {
		return "", false
	}
	prefix = prefix[:fixed+cut+1]
	if utf8.RuneCountInString(prefix[fixed:])-1 < minStem {
		return "", false
	}
	star := "*"
	for _, n := range names {
		if strings.Contains(n[len(prefix):], "/") {
			star = "**"
		}
	}
	pattern = kind + ":" + escapeGlob(prefix) + star
	g, err := glob.Compile(pattern)
	if err != nil {
		return "", false
	}
	for _, k := range keys {
		if !g.Match(k) {
			return "", false
		}
	}
	return pattern, true
}

func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	// Never end inside a multi-byte rune.
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) {
		n--
	}
	return a[:n]
}

// escapeGlob makes a literal safe inside a glob.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	uuidPattern   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	hexPattern    = regexp.MustCompile(`\b0x[0-9a-f]+\b|\b[0-9a-f]{8,}\b`)
	digitsPattern = regexp.MustCompile(`[0-9]+`)
	spacePattern  = regexp.MustCompile(`\s+`)
)

// maxSignature bounds a stored error signature.
const maxSignature = 200

// failureSignature is how an action failed, comparable across incidents: the failure mode
// the actor reported, else its error text normalised — lower case, uuids, hex strings and
// numbers replaced by placeholders, spaces collapsed — so "timeout after 30s on
// 10.0.3.7" and "timeout after 45s on 10.0.3.9" are the same failure. "" when the action
// did not fail or said nothing about how.
func failureSignature(r *mandate.ActionResult) string {
	if r == nil || r.Status != mandate.StatusFailed {
		return ""
	}
	if m := strings.ToLower(strings.TrimSpace(r.FailureMode)); m != "" {
		return m
	}
	return normaliseError(r.Error)
}

func normaliseError(s string) string {
	s = strings.ToLower(s)
	s = uuidPattern.ReplaceAllString(s, "<uuid>")
	s = hexPattern.ReplaceAllStringFunc(s, func(h string) string {
		if strings.HasPrefix(h, "0x") || strings.ContainsAny(h, "0123456789") {
			if strings.Trim(h, "0123456789") == "" {
				return "<n>"
			}
			return "<hex>"
		}
		return h // a word made of the letters a to f ("deadbeefcafe" aside, English)
	})
	s = digitsPattern.ReplaceAllString(s, "<n>")
	s = strings.TrimSpace(spacePattern.ReplaceAllString(s, " "))
	if utf8.RuneCountInString(s) > maxSignature {
		s = string([]rune(s)[:maxSignature])
	}
	return s
}

// PatternSource reads what the matcher compiles; *postgres.LearningStore implements it.
type PatternSource interface {
	PatternSources(ctx context.Context) ([]mandate.Incident, error)
}

// Matcher recognises actions that look like earlier incidents. It implements
// routing.Patterns from a compiled snapshot in memory, so routing stays free of I/O; Load
// rebuilds the snapshot from the store (at start, after an incident resolves, and when
// another replica announces a change).
type Matcher struct {
	Source PatternSource
	// Now tells overdue action items apart; time.Now when nil.
	Now func() time.Time
	// Link is where an incident's postmortem is read; PostmortemPath when nil.
	Link func(number int64) string

	snap atomic.Pointer[patternSet]
}

var _ routing.Patterns = (*Matcher)(nil)

// PostmortemPath is the API path serving an incident's postmortem.
func PostmortemPath(number int64) string {
	return fmt.Sprintf("/v1/incidents/%d/postmortem.md", number)
}

// patternSet is a compiled snapshot, indexed so that matching an action costs lookups
// by its resource keys, not a pass over every pattern ever learnt: routing asks on every
// action, and years of incidents add up.
type patternSet struct {
	byType map[string]*typePatterns
	size   int
}

// typePatterns are one action type's patterns.
type typePatterns struct {
	exact map[string][]*compiledPattern // by resource key
	// byPrefix holds resource patterns by their literal text before the first
	// metacharacter: only a key starting with it can match.
	byPrefix map[string][]*compiledPattern
	failure  map[string][]*compiledPattern // by failure signature
}

type compiledPattern struct {
	mandate.IncidentPattern
	glob  glob.Glob
	inc   *mandate.Incident
	order int // position in the snapshot: matches are weighed in this order
}

// literalPrefix is the text of a glob before its first metacharacter.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// Load rebuilds the snapshot from the store. On error the previous snapshot stays.
func (m *Matcher) Load(ctx context.Context) error {
	incs, err := m.Source.PatternSources(ctx)
	if err != nil {
		return err
	}
	return m.Set(incs)
}

// Set compiles the patterns of incs (with their action items) and swaps them in. A
// pattern that does not compile is an error and nothing changes.
func (m *Matcher) Set(incs []mandate.Incident) error {
	set := &patternSet{byType: map[string]*typePatterns{}}
	for i := range incs {
		inc := &incs[i]
		for _, p := range inc.Patterns {
			cp := &compiledPattern{IncidentPattern: p, inc: inc, order: set.size}
			tp := set.byType[p.ActionType]
			if tp == nil {
				tp = &typePatterns{exact: map[string][]*compiledPattern{}, byPrefix: map[string][]*compiledPattern{}, failure: map[string][]*compiledPattern{}}
				set.byType[p.ActionType] = tp
			}
			switch p.Kind {
			case mandate.PatternExact:
				tp.exact[p.ResourcePattern] = append(tp.exact[p.ResourcePattern], cp)
			case mandate.PatternResource:
				g, err := glob.Compile(p.ResourcePattern)
				if err != nil {
					return fmt.Errorf("pattern %d of %s: %q: %w", p.ID, inc.Ref(), p.ResourcePattern, err)
				}
				cp.glob = g
				lit := literalPrefix(p.ResourcePattern)
				tp.byPrefix[lit] = append(tp.byPrefix[lit], cp)
			case mandate.PatternFailureMode:
				tp.failure[p.FailureMode] = append(tp.failure[p.FailureMode], cp)
			}
			set.size++
		}
	}
	m.snap.Store(set)
	return nil
}

// Size is the number of patterns compiled.
func (m *Matcher) Size() int {
	if s := m.snap.Load(); s != nil {
		return s.size
	}
	return 0
}

// similar is one earlier incident an action looks like: the closest of its patterns that
// matched, and every one that did (each is a hit to record).
type similar struct {
	inc      *mandate.Incident
	best     *compiledPattern
	what     string // the matched resource key, for exact and resource patterns
	patterns []int64
}

// find matches a against the snapshot: at most one entry per incident, the most recent
// incidents first.
func (m *Matcher) find(a *mandate.Action) []similar {
	set := m.snap.Load()
	if set == nil || a == nil {
		return nil
	}
	tp := set.byType[a.Type]
	if tp == nil {
		return nil
	}
	keys := make([]string, len(a.Resources))
	var candidates []*compiledPattern
	for i, r := range a.Resources {
		k := r.Key()
		keys[i] = k
		candidates = append(candidates, tp.exact[k]...)
		for n := 0; n <= len(k); n++ {
			candidates = append(candidates, tp.byPrefix[k[:n]]...)
		}
	}
	sig := failureSignature(a.Result)
	if sig != "" {
		candidates = append(candidates, tp.failure[sig]...)
	}
	// In snapshot order, each once: the same result as trying every pattern in turn.
	slices.SortFunc(candidates, func(x, y *compiledPattern) int { return cmp.Compare(x.order, y.order) })
	candidates = slices.Compact(candidates)
	var out []similar
	for _, p := range candidates {
		what, ok := p.match(keys, sig)
		if !ok {
			continue
		}
		i := slices.IndexFunc(out, func(s similar) bool { return s.inc == p.inc })
		if i < 0 {
			out = append(out, similar{inc: p.inc, best: p, what: what})
			i = len(out) - 1
		} else if kindRank(p.Kind) < kindRank(out[i].best.Kind) {
			out[i].best, out[i].what = p, what
		}
		out[i].patterns = append(out[i].patterns, p.ID)
	}
	slices.SortFunc(out, func(x, y similar) int { return cmp.Compare(y.inc.Number, x.inc.Number) })
	return out
}

func (p *compiledPattern) match(keys []string, sig string) (string, bool) {
	switch p.Kind {
	case mandate.PatternExact:
		for _, k := range keys {
			if k == p.ResourcePattern {
				return k, true
			}
		}
	case mandate.PatternResource:
		for _, k := range keys {
			if p.glob.Match(k) {
				return k, true
			}
		}
	case mandate.PatternFailureMode:
		return "", sig != "" && sig == p.FailureMode
	}
	return "", false
}

// Match implements routing.Patterns: the earlier incidents a looks like, with a link to
// each postmortem, the state of its action items, the promises overdue, and whether any
// is still open (routing then raises the urgency).
func (m *Matcher) Match(a *mandate.Action) []routing.PatternHit {
	found := m.find(a)
	if len(found) == 0 {
		return nil
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	link := PostmortemPath
	if m.Link != nil {
		link = m.Link
	}
	hits := make([]routing.PatternHit, 0, min(len(found), maxHits))
	for _, s := range found[:min(len(found), maxHits)] {
		hit := routing.PatternHit{Incident: s.inc.Ref(), Number: s.inc.Number, Summary: similarity(s), Link: link(s.inc.Number)}
		hit.Items, hit.Overdue, hit.OpenItems = itemsState(s.inc.Items, now)
		hits = append(hits, hit)
	}
	return hits
}

// similarity says what an action shares with an earlier incident.
func similarity(s similar) string {
	title := fmt.Sprintf("%q", pmClip(s.inc.Title, 80))
	p := s.best
	switch p.Kind {
	case mandate.PatternExact:
		return fmt.Sprintf("%s: the same %s on %s", title, p.ActionType, s.what)
	case mandate.PatternResource:
		return fmt.Sprintf("%s: %s on %s, like %s", title, p.ActionType, s.what, p.ResourcePattern)
	}
	return fmt.Sprintf("%s: %s failing with %q", title, p.ActionType, pmClip(p.FailureMode, 80))
}

// itemsState sums up an incident's action items for a warning: how many are done, the
// overdue ones by name ("you said you'd fix this"), and whether any is still open.
func itemsState(items []mandate.ActionItem, now time.Time) (summary string, overdue []string, open bool) {
	if len(items) == 0 {
		return "none were recorded", nil, false
	}
	done := 0
	for i := range items {
		it := &items[i]
		if it.State == mandate.ItemDone {
			done++
			continue
		}
		open = true
		if it.Overdue(now) {
			overdue = append(overdue, fmt.Sprintf("%q (%s), overdue since %s", pmClip(it.Title, 100), it.Owner,
				it.Due.AddDate(0, 0, 1).Format(time.DateOnly)))
		}
	}
	return fmt.Sprintf("%d of %d done", done, len(items)), overdue, open
}

func pmClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
