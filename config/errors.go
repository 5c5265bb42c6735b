package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Msg names the offending
// thing by its path in the file (for example `teams[1].members[2]: unknown
// person "zed"`), so a reader can find it without counting list items.
type Error struct {
	File string // the file name given to Load or Parse
	Line int    // 1-based; 0 when the problem has no single line (e.g. an unreadable stream)
	Msg  string
}

// Error formats the problem as FILE:LINE: message, the form editors and CI
// annotators jump to. Without a line it is FILE: message.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Errors is every problem found in one file. Load and Parse collect them all in
// one pass, so a user fixes a file in one round trip instead of one per error.
type Errors []*Error

// Error joins the errors with newlines, ordered by line.
func (es Errors) Error() string {
	sorted := slices.Clone(es)
	sortErrors(sorted)
	var b strings.Builder
	for i, e := range sorted {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by line; stable, so errors on one line keep the
// order they were found in (which follows the file).
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int { return a.Line - b.Line })
}

// maxErrors bounds the report: a file that is wrong in thousands of places
// (or an alias bomb that repeats one mistake) should not produce megabytes.
const maxErrors = 100

// collector gathers errors for one file. Paths are the dotted/indexed paths
// used in messages ("teams[1].members[2]"); lines maps each path seen while
// decoding to its line, so semantic checks, which only know paths, can still
// report a line.
type collector struct {
	file   string
	errs   Errors
	seen   map[string]bool // "line\x00msg", to drop exact repeats (e.g. from aliases)
	lines  map[string]int  // path -> line of its key (or of the list item)
	failed map[string]bool // paths that did not decode; checks beneath them are skipped
}

func newCollector(file string) *collector {
	return &collector{
		file:   file,
		seen:   map[string]bool{},
		lines:  map[string]int{},
		failed: map[string]bool{},
	}
}

// add records a message at a line. It reports whether more errors are wanted.
func (c *collector) add(line int, msg string) bool {
	if len(c.errs) >= maxErrors {
		return false
	}
	key := strconv.Itoa(line) + "\x00" + msg
	if c.seen[key] {
		return true
	}
	c.seen[key] = true
	if len(c.errs) == maxErrors-1 {
		msg = fmt.Sprintf("too many errors; stopped after %d", maxErrors-1)
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Msg: msg})
	return len(c.errs) < maxErrors
}

// atf records a problem at an explicit line, prefixing the path.
func (c *collector) atf(line int, path, format string, args ...any) {
	c.add(line, withPath(path, fmt.Sprintf(format, args...)))
}

// pathf records a problem found by a semantic check: the line is looked up
// from the path (or its nearest ancestor that appeared in the file). Problems
// under a path that already failed to decode are dropped, because they are
// consequences of that failure, not news.
func (c *collector) pathf(path, format string, args ...any) {
	for p := path; ; p = parentPath(p) {
		if c.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	c.atf(c.lineOf(path), path, format, args...)
}

// lineOf finds the line of path, falling back to its nearest recorded
// ancestor: a missing field is reported where its parent is.
func (c *collector) lineOf(path string) int {
	for {
		if l, ok := c.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

func withPath(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// parentPath strips the last segment: "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// fieldPath joins a parent path and a mapping key.
func fieldPath(parent, key string) string {
	if key == "" || strings.ContainsAny(key, ".[] \t\"") {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath joins a parent path and a list index.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}
