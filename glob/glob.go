// Package glob matches resource names and keys against patterns: '*' and '?' stay within
// one '/'-separated segment, '**' crosses segments ("a/**/b" also matches "a/b"), '[...]'
// is a character class ('[!...]' negated) and '\' escapes. Common shapes — a literal, a
// prefix ("payments-*"), a suffix ("*.md") — match without a regular expression, because
// routing and ownership match thousands of patterns per second.
package glob

import (
	"regexp"
	"strings"
)

// Glob is a compiled pattern.
type Glob struct {
	pattern string
	kind    shape
	lit     string // literal, prefix or suffix, by kind
	re      *regexp.Regexp
}

type shape uint8

const (
	shapeRegexp shape = iota
	shapeLiteral
	shapePrefix // "lit*" where lit has no metacharacters and no '/' may follow: '*' stops at '/'
	shapeSuffix // "*lit"
	shapeAny    // "**"
)

// Compile compiles pattern.
func Compile(pattern string) (Glob, error) {
	g := Glob{pattern: pattern}
	const meta = `*?[\`
	switch {
	case pattern == "**":
		g.kind = shapeAny
		return g, nil
	case !strings.ContainsAny(pattern, meta):
		g.kind, g.lit = shapeLiteral, pattern
		return g, nil
	case strings.HasSuffix(pattern, "*") && !strings.HasSuffix(pattern, "**") && !strings.ContainsAny(pattern[:len(pattern)-1], meta):
		g.kind, g.lit = shapePrefix, pattern[:len(pattern)-1]
		return g, nil
	case strings.HasPrefix(pattern, "*") && !strings.HasPrefix(pattern, "**") && !strings.ContainsAny(pattern[1:], meta+"/"):
		g.kind, g.lit = shapeSuffix, pattern[1:]
		return g, nil
	}
	re, err := compileRegexp(pattern)
	g.re = re
	return g, err
}

// MustCompile is Compile for patterns known to be valid.
func MustCompile(pattern string) Glob {
	g, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the pattern as written.
func (g Glob) String() string { return g.pattern }

// Literal reports the pattern's text when it has no metacharacters.
func (g Glob) Literal() (string, bool) { return g.lit, g.kind == shapeLiteral }

// Prefix reports the literal prefix of a "prefix*" pattern.
func (g Glob) Prefix() (string, bool) { return g.lit, g.kind == shapePrefix }

// Match reports whether s matches the pattern as a whole.
func (g Glob) Match(s string) bool {
	switch g.kind {
	case shapeAny:
		return true
	case shapeLiteral:
		return s == g.lit
	case shapePrefix:
		return strings.HasPrefix(s, g.lit) && !strings.Contains(s[len(g.lit):], "/")
	case shapeSuffix:
		return strings.HasSuffix(s, g.lit) && !strings.Contains(s[:len(s)-len(g.lit)], "/")
	}
	return g.re.MatchString(s)
}

func compileRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
				// "a/**/b" also matches "a/b".
				if i+1 < len(pattern) && pattern[i+1] == '/' {
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := pattern[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
