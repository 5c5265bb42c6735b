// Package codeowners parses GitHub CODEOWNERS files and answers "which rule
// owns this path?" fast enough to be asked for every file an agent action
// touches, at ingest, without leaving memory.
//
// The semantics are GitHub's, as documented in "About code owners": patterns
// follow gitignore, a leading "/" anchors a pattern to the repository root, a
// pattern with no slash (other than a trailing one) matches at any depth, a
// trailing "/" matches a directory and everything below it, "*" and "?" stay
// within one path segment, "**" crosses directories, "dir/*" matches only the
// files directly in dir, and the last matching line wins. A line whose pattern
// has no owners leaves its paths explicitly unowned. Paths are case-sensitive.
//
// The gitignore features GitHub documents as not working in CODEOWNERS
// (escaping a leading "#", "!" negation and "[ ]" character ranges) are
// reported as errors and their lines ignored, as GitHub ignores them, instead
// of being given a meaning GitHub does not give them.
//
// Parse never fails: it returns every valid rule and an Error for each line it
// ignored or partly ignored, so one bad line cannot hide the owners of the
// rest of the repository. Compile turns the rules into a Matcher whose lookups
// cost a walk over the path's segments rather than a scan over the rules.
package codeowners

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is one valid line of a CODEOWNERS file.
type Rule struct {
	Line    int      // 1-based line in the file
	Pattern string   // the pattern as written, escapes included
	Owners  []string // as written: "@acme/payments", "@alice-ng", "docs@acme.test"; empty means explicitly unowned
}

// Error describes a line that was ignored, or an owner on a line that was
// ignored, and why.
type Error struct {
	Line int // 1-based line in the file
	Msg  string
}

// Error returns "line N: msg".
func (e Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is a parsed CODEOWNERS file.
type File struct {
	Name   string  // e.g. ".github/CODEOWNERS"; used in messages
	Rules  []Rule  // valid rules in file order
	Errors []Error // lines that were ignored or partly ignored, with why

	// compiled holds Parse's compiled patterns, parallel to Rules, so
	// Compile need not compile them again. Compile uses an entry only while
	// its source still equals the rule's Pattern.
	compiled []compiledPattern
}

// Err returns the file's errors joined, each as "NAME:LINE: msg" (the form
// the rest of Mandate uses for configuration errors), or nil if there are none.
func (f *File) Err() error {
	if f == nil || len(f.Errors) == 0 {
		return nil
	}
	errs := make([]error, len(f.Errors))
	for i, e := range f.Errors {
		errs[i] = fmt.Errorf("%s:%d: %s", f.Name, e.Line, e.Msg)
	}
	return errors.Join(errs...)
}

// Parse reads a CODEOWNERS file. It never fails: lines it cannot use are
// reported in File.Errors and skipped, the way GitHub skips them, so the
// valid rules keep working. Both LF and CRLF line endings are accepted.
//
// An owner that is not @login, @org/team or an email address is reported and
// dropped while the line's other owners are kept. If no valid owner is left
// the rule is still kept with no owners, as on GitHub, where such a line still
// wins for its paths; the error says so.
func Parse(name string, data []byte) *File {
	f := &File{Name: name}
	// Substrings of one string: the rules share the file's memory instead of
	// holding a copy of each pattern and owner.
	text := strings.TrimPrefix(string(data), "\uFEFF")
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		f.parseLine(n, strings.TrimSuffix(line, "\r"))
	}
	return f
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func (f *File) parseLine(n int, line string) {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	if i == len(line) || line[i] == '#' {
		return // blank line or comment
	}

	// The pattern runs to the first unescaped blank; a backslash keeps the
	// next byte (so `my\ dir/` is one pattern), as in gitignore.
	start := i
	for i < len(line) && !isSpace(line[i]) {
		if line[i] == '\\' && i+1 < len(line) {
			i++
		}
		i++
	}
	pattern := line[start:i]
	compiled, err := compilePattern(pattern)
	if err != nil {
		f.Errors = append(f.Errors, Error{Line: n, Msg: err.Error() + "; line ignored"})
		return
	}

	rule := Rule{Line: n, Pattern: pattern}
	var bad []string
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		// A "#" that starts a field begins an inline comment. A "#" inside a
		// field is not a comment: inside an owner it makes the owner invalid,
		// which is reported, rather than silently cutting the owner short.
		if i == len(line) || line[i] == '#' {
			break
		}
		start := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		owner := line[start:i]
		if validOwner(owner) {
			rule.Owners = append(rule.Owners, owner)
		} else {
			bad = append(bad, owner)
		}
	}
	for k, owner := range bad {
		msg := fmt.Sprintf("invalid owner %q (want @login, @org/team or an email address); owner ignored", owner)
		if k == len(bad)-1 && len(rule.Owners) == 0 {
			msg += "; with no valid owner left, the rule leaves its paths unowned"
		}
		f.Errors = append(f.Errors, Error{Line: n, Msg: msg})
	}
	f.Rules = append(f.Rules, rule)
	f.compiled = append(f.compiled, compiled)
}

// validOwner accepts the three owner forms GitHub documents: @login,
// @org/team-slug and an email address. The character sets are GitHub's
// (logins and organisations: letters, digits, "-"; logins of managed users
// also "_"; team slugs: letters, digits, "-", "_").
func validOwner(s string) bool {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		org, team, isTeam := strings.Cut(name, "/")
		if !isTeam {
			return name != "" && allBytes(name, isLoginByte)
		}
		return org != "" && team != "" && allBytes(org, isOrgByte) && allBytes(team, isLoginByte)
	}
	return validEmail(s)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
func isOrgByte(c byte) bool   { return isAlnum(c) || c == '-' }
func isLoginByte(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// validEmail is deliberately simple: local@domain.tld with the characters
// addresses registered on GitHub use. It only has to tell an email from a
// misspelt @mention, not validate RFC 5322.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !allBytes(local, func(c byte) bool {
		return isAlnum(c) || strings.IndexByte("._%+-", c) >= 0
	}) {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || !allBytes(domain[:dot], func(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }) {
		return false
	}
	tld := domain[dot+1:]
	return len(tld) >= 2 && allBytes(tld, func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' })
}
