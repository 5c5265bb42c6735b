package codeowners

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A pattern compiles to a list of segment matchers and a mode that says how
// much of the path the segments must cover.
//
// Rewrites that make every pattern the same shape:
//   - no slash other than a trailing one: prefix "**" (matches at any depth);
//   - consecutive "**" segments: one "**";
//   - a final "**" matches one or more segments, which is "*" (one segment)
//     followed by anything below it, so it becomes a "*" segment in modeAny;
//   - a run of "*" inside a segment ("a**b", "***") is a single "*": gitignore
//     gives consecutive asterisks that are not a whole segment no other meaning.
type compiledPattern struct {
	src  string // the pattern as written
	segs []segment
	mode matchMode
}

type segKind uint8

const (
	segLit  segKind = iota // a literal name
	segGlob                // a name with "*" or "?"
	segAny                 // "*": any one name
	segStar                // "**" (not last): zero or more names
)

type segment struct {
	kind segKind
	lit  string // segLit: the name; segGlob: a canonical key, equal for equal globs
	glob *glob  // segGlob only
}

type matchMode uint8

const (
	// modeAny: the segments match the path or one of its directories, so the
	// pattern covers a file and, if it names a directory, everything below it.
	modeAny matchMode = iota
	// modeExact: the segments match the whole path. Used for a final "*"
	// segment, because GitHub documents that "docs/*" matches docs/a.md but
	// not docs/build-app/troubleshooting.md.
	modeExact
	// modeBelow: the segments match a directory of the path, never the path
	// itself. Used for a trailing "/", which matches only directories.
	modeBelow
)

type unit struct {
	c   byte
	esc bool // written with a backslash: never a wildcard or separator
}

// compilePattern checks a pattern and compiles it. The error text names the
// pattern and says what is wrong; the caller adds the consequence.
func compilePattern(p string) (compiledPattern, error) {
	switch {
	case p == "":
		return compiledPattern{}, errors.New("empty pattern")
	case strings.HasPrefix(p, `\#`):
		return compiledPattern{}, fmt.Errorf(`pattern %q: CODEOWNERS does not support escaping a leading "#" (GitHub reads the line as a comment)`, p)
	case p[0] == '!':
		return compiledPattern{}, fmt.Errorf(`pattern %q: CODEOWNERS does not support "!" negation`, p)
	}
	units := make([]unit, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 == len(p) {
				return compiledPattern{}, fmt.Errorf(`pattern %q ends with a lone "\"`, p)
			}
			i++
			units = append(units, unit{c: p[i], esc: true})
			continue
		case '[':
			return compiledPattern{}, fmt.Errorf(`pattern %q: CODEOWNERS does not support "[ ]" character ranges (use "?" to match any one character)`, p)
		}
		units = append(units, unit{c: c})
	}

	// A path segment cannot contain "/", so an escaped slash is still a
	// separator.
	anchored := units[0].c == '/'
	if anchored {
		units = units[1:]
	}
	dirOnly := len(units) > 0 && units[len(units)-1].c == '/'
	if dirOnly {
		units = units[:len(units)-1]
	}
	if len(units) == 0 {
		return compiledPattern{}, fmt.Errorf(`pattern %q matches no file (use "*" for the whole repository)`, p)
	}

	var parts [][]unit
	for start, i := 0, 0; i <= len(units); i++ {
		if i == len(units) || units[i].c == '/' {
			if i == start {
				return compiledPattern{}, fmt.Errorf(`pattern %q has an empty path segment ("//")`, p)
			}
			parts = append(parts, units[start:i])
			start = i + 1
		}
	}

	var segs []segment
	if !anchored && len(parts) == 1 {
		segs = append(segs, segment{kind: segStar})
	}
	for _, part := range parts {
		s := compileSegment(part)
		if s.kind == segStar && len(segs) > 0 && segs[len(segs)-1].kind == segStar {
			continue
		}
		segs = append(segs, s)
	}

	mode := modeAny
	last := &segs[len(segs)-1]
	switch {
	case last.kind == segStar:
		last.kind = segAny
		if dirOnly {
			mode = modeBelow
		}
	case dirOnly:
		mode = modeBelow
	case last.kind == segAny:
		mode = modeExact
	}
	return compiledPattern{src: p, segs: segs, mode: mode}, nil
}

func compileSegment(part []unit) segment {
	if len(part) == 2 && part[0] == (unit{c: '*'}) && part[1] == (unit{c: '*'}) {
		return segment{kind: segStar}
	}
	wild := false
	for _, u := range part {
		if !u.esc && (u.c == '*' || u.c == '?') {
			wild = true
			break
		}
	}
	if !wild {
		b := make([]byte, len(part))
		for i, u := range part {
			b[i] = u.c
		}
		return segment{kind: segLit, lit: string(b)}
	}

	// Tokens: literal runs, "?" and "*" (runs of "*" collapsed).
	var toks []gtok
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			toks = append(toks, gtok{kind: tokLit, lit: string(lit)})
			lit = lit[:0]
		}
	}
	for _, u := range part {
		switch {
		case !u.esc && u.c == '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, gtok{kind: tokStar})
			}
		case !u.esc && u.c == '?':
			flush()
			toks = append(toks, gtok{kind: tokQuestion})
		default:
			lit = append(lit, u.c)
		}
	}
	flush()
	if len(toks) == 1 && toks[0].kind == tokStar {
		return segment{kind: segAny}
	}
	g := newGlob(toks)
	return segment{kind: segGlob, lit: g.key(), glob: g}
}

type tokKind uint8

const (
	tokLit tokKind = iota
	tokQuestion
	tokStar
)

type gtok struct {
	kind tokKind
	lit  string
}

// glob matches one path segment against "*" (any run of characters, possibly
// none) and "?" (exactly one character). It is split into a literal prefix and
// suffix, checked with plain string comparisons, and the part between them;
// the common "*.ext" and "name*" shapes then need no wildcard matching at all.
type glob struct {
	prefix, suffix string
	mid            []gtok // starts and ends with a wildcard; empty if none
	midAny         bool   // mid is a single "*": any text matches
	minLen         int    // fewer bytes than this cannot match
	toks           []gtok // the whole glob, for key
}

func newGlob(toks []gtok) *glob {
	g := &glob{toks: toks}
	mid := toks
	if len(mid) > 0 && mid[0].kind == tokLit {
		g.prefix = mid[0].lit
		mid = mid[1:]
	}
	if len(mid) > 0 && mid[len(mid)-1].kind == tokLit {
		g.suffix = mid[len(mid)-1].lit
		mid = mid[:len(mid)-1]
	}
	g.mid = mid
	g.midAny = len(mid) == 1 && mid[0].kind == tokStar
	for _, t := range toks {
		switch t.kind {
		case tokLit:
			g.minLen += len(t.lit)
		case tokQuestion:
			g.minLen++
		}
	}
	return g
}

// key is a canonical spelling of the glob, so equal globs share a trie edge.
func (g *glob) key() string {
	var b strings.Builder
	for _, t := range g.toks {
		switch t.kind {
		case tokStar:
			b.WriteByte('*')
		case tokQuestion:
			b.WriteByte('?')
		default:
			for i := 0; i < len(t.lit); i++ {
				if c := t.lit[i]; c == '*' || c == '?' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(t.lit[i])
			}
		}
	}
	return b.String()
}

// extKey is the text from the last "." of the glob's literal suffix, or "" if
// the suffix has no ".". A name the glob matches ends with the suffix, so its
// own text from its last "." equals extKey: one map lookup on the name's
// extension finds every glob that can match it.
func (g *glob) extKey() string {
	if dot := strings.LastIndexByte(g.suffix, '.'); dot >= 0 {
		return g.suffix[dot:]
	}
	return ""
}

func (g *glob) match(s string) bool {
	if len(s) < g.minLen || !strings.HasPrefix(s, g.prefix) || !strings.HasSuffix(s, g.suffix) {
		return false
	}
	if g.midAny {
		return true
	}
	return matchToks(g.mid, s[len(g.prefix):len(s)-len(g.suffix)])
}

// matchToks is the classic wildcard match with one backtrack point: after a
// "*", a failed match only ever needs to retry with that "*" one character
// longer. "?" and "*" step over whole UTF-8 characters, as GitHub's (and
// every regexp-based) matcher does.
func matchToks(toks []gtok, s string) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			switch t := toks[ti]; t.kind {
			case tokStar:
				starT, starS = ti, si
				ti++
				continue
			case tokQuestion:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		si, ti = starS, starT+1
	}
}
