package codeowners

// Differences from github.com/hmarr/codeowners v1.2.1, found by
// TestDifferentialHmarr and pinned by TestKnownDifferencesFromHmarr. GitHub's
// docs say CODEOWNERS patterns follow gitignore's rules except for the three
// forms they list as not working, so where the two disagree this package
// follows gitignore unless GitHub's docs say otherwise.
//
// Matching (the differential test skips exactly these pattern classes):
//
//  1. A "**" segment that ends the pattern before a trailing "/" ("foo/**/",
//     "**/"). hmarr rewrites the trailing "/" as "/**", so "foo/**/" matches
//     foo/bar, and "**/" becomes a regexp needing a "//" in the path, so it
//     matches no real path. gitignore reads a trailing "/" as "directories
//     only": "foo/**/" matches the directories below foo, so foo/bar/baz but
//     not the file foo/bar, and "**/" matches every file inside a directory.
//     This package follows gitignore. Class: knownDiffTrailingStarDir.
//  2. A pattern that starts with two or more "**" segments ("**/**",
//     "**/**/a", "/**/**/a"). hmarr's regexp for the second "**" demands a
//     leading "/", so "**/**/a" matches neither a nor x/a. gitignore (and
//     this package) treat consecutive "**" as one. Class: knownDiffLeadingStars.
//
// Parsing (hmarr rejects the whole file with an error where this package
// reports one line; the differential generator does not produce these):
//
//  3. "***" (three or more asterisks in a row) is an error in hmarr; here it
//     is "*", as gitignore treats asterisks that are not a whole "**" segment.
//  4. "!" negation, "[ ]" ranges and a leading "\#": hmarr rejects the file
//     (unexpected character) or, for "\#", reads a "\" pattern; this package
//     reports the line and ignores it, as GitHub documents these as not
//     working and skips invalid lines.
//  5. Pattern characters outside hmarr's set (letters, digits and
//     "*?./@_+-\()"), e.g. "~", "$", "=", ",", "{", "]", non-ASCII names:
//     hmarr rejects the file; here they are literal, as in gitignore.
//  6. An invalid owner: hmarr rejects the file; here the owner is reported and
//     dropped and the line's valid owners kept. Emails: hmarr caps the top-
//     level domain at 6 letters (rejecting e.g. ".technology"); here any
//     all-letter TLD of 2 or more is accepted.
//  7. "#" inside a field ("foo#bar @a", "@a#note"): hmarr starts a comment at
//     any "#", so "foo#bar @a" becomes the ownerless pattern "foo" (silently
//     unowning foo). Here a "#" starts a comment only at the start of a field
//     (GitHub's documented inline comment is "@js-owner #This is ..."), so
//     "foo#bar" is a literal name and "@a#note" an invalid owner, reported.
//  8. A pattern ending in a lone "\" (only possible at the end of a line, as
//     "\ " escapes the space) matches in hmarr as if the "\" were absent;
//     gitignore calls such a pattern invalid, and here it is reported and
//     ignored. "/" alone and "a//b" are reported and ignored here; in hmarr
//     "a//b" matches only paths containing "//", and "/" makes Match panic
//     (index out of range) on every path that reaches it.

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	hmarr "github.com/hmarr/codeowners"
)

// knownDiffTrailingStarDir reports class 1: the last segment before a
// trailing "/" is "**".
func knownDiffTrailingStarDir(p string) bool {
	return p == "**/" || strings.HasSuffix(p, "/**/")
}

// knownDiffLeadingStars reports class 2: the pattern starts with "**/**".
func knownDiffLeadingStars(p string) bool {
	return strings.HasPrefix(strings.TrimPrefix(p, "/"), "**/**")
}

func knownMatchDiff(p string) bool {
	return knownDiffTrailingStarDir(p) || knownDiffLeadingStars(p)
}

var (
	diffNames = []string{"a", "b", "ab", "foo", "docs", "logs", "apps", "x.go", "a.js", "b.js", "main.go", "f.o", "A", "a-b", "a_b", "(x)", "@at", "c++"}
	diffGlobs = []string{"*", "**", "*.go", "*.js", "a*", "*b", "?", "??", "f?o", "*a*", "a*b", "*.*", "?.go", "x.*", `\*`, `a\?`, "f*.o", "*o*o*", `a\ b`}
)

func randPattern(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	segs := make([]string, n)
	for i := range segs {
		if r.IntN(3) == 0 {
			segs[i] = diffGlobs[r.IntN(len(diffGlobs))]
		} else {
			segs[i] = diffNames[r.IntN(len(diffNames))]
		}
	}
	p := strings.Join(segs, "/")
	if r.IntN(3) == 0 {
		p = "/" + p
	}
	if r.IntN(3) == 0 {
		p += "/"
	}
	return p
}

func randPath(r *rand.Rand) string {
	n := 1 + r.IntN(5)
	segs := make([]string, n)
	for i := range segs {
		switch r.IntN(16) {
		case 0:
			segs[i] = "*" // a literal asterisk in a file name
		case 1:
			segs[i] = "é" // "?" must match a character, not a byte
		case 2:
			segs[i] = "a b" // for the escaped space
		default:
			segs[i] = diffNames[r.IntN(len(diffNames))]
		}
	}
	return strings.Join(segs, "/")
}

var diffOwners = []string{"@a", "@b-c", "@org/team", "@org/t_x", "a@b.co", "x.y+z@mail.example.org"}

func randFile(r *rand.Rand, rules int) []byte {
	var b bytes.Buffer
	for range rules {
		switch r.IntN(12) {
		case 0:
			b.WriteString("# a comment\n")
		case 1:
			b.WriteString("\n")
		}
		b.WriteString(randPattern(r))
		for range r.IntN(3) {
			b.WriteString([]string{" ", "\t", "  "}[r.IntN(3)])
			b.WriteString(diffOwners[r.IntN(len(diffOwners))])
		}
		if r.IntN(6) == 0 {
			b.WriteString(" # inline")
		}
		if r.IntN(10) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// TestDifferentialHmarr compares this package with hmarr/codeowners on random
// files and paths. Every single-rule disagreement must fall in a documented
// class (see the top of this file); files with no pattern in those classes
// must resolve every path to the same line.
func TestDifferentialHmarr(t *testing.T) {
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	skippedRules, comparedFiles := 0, 0
	for it := range iterations {
		data := randFile(r, 1+r.IntN(12))
		ours := Parse("CODEOWNERS", data)
		if err := ours.Err(); err != nil {
			t.Fatalf("iteration %d: Parse: %v\n%s", it, err, data)
		}
		theirs, err := hmarr.ParseFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("iteration %d: hmarr.ParseFile: %v\n%s", it, err, data)
		}
		if len(theirs) != len(ours.Rules) {
			t.Fatalf("iteration %d: %d rules, hmarr %d\n%s", it, len(ours.Rules), len(theirs), data)
		}
		m := Compile(ours)
		paths := make([]string, 20)
		for i := range paths {
			paths[i] = randPath(r)
		}

		known := false
		for i, rule := range ours.Rules {
			h := theirs[i]
			if h.LineNumber != rule.Line || h.RawPattern() != rule.Pattern || len(h.Owners) != len(rule.Owners) {
				t.Fatalf("iteration %d: rule %d = %+v, hmarr line %d %q %v", it, i, rule, h.LineNumber, h.RawPattern(), h.Owners)
			}
			if knownMatchDiff(rule.Pattern) {
				known = true
				skippedRules++
				continue
			}
			single := Compile(&File{Rules: []Rule{rule}})
			for _, p := range paths {
				_, got := single.Match(p)
				want, err := h.Match(p)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("pattern %q, path %q: match = %v, hmarr %v (not a documented difference)", rule.Pattern, p, got, want)
				}
			}
		}
		if known {
			continue
		}
		comparedFiles++
		for _, p := range paths {
			got, gotOK := m.Match(p)
			want, err := theirs.Match(p)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case gotOK != (want != nil):
				t.Fatalf("path %q: matched = %v, hmarr %v\n%s", p, gotOK, want != nil, data)
			case gotOK && got.Line != want.LineNumber:
				t.Fatalf("path %q: line %d, hmarr line %d\n%s", p, got.Line, want.LineNumber, data)
			}
		}
	}
	t.Logf("%d files compared in full; %d rules in documented-difference classes compared only outside them", comparedFiles, skippedRules)
}

// TestKnownDifferencesFromHmarr pins each documented difference, so a change
// in either package shows up as a failing example instead of a silent drift.
func TestKnownDifferencesFromHmarr(t *testing.T) {
	match := []struct {
		pattern, path string
		ours, hmarr   bool
	}{
		{"foo/**/", "foo/bar", false, true},
		{"foo/**/", "foo/bar/baz", true, true},
		{"**/", "a/b", true, false},
		{"**/**", "a", true, false},
		{"**/**/a", "x/a", true, false},
		{"/**/**/a", "a", true, false},
	}
	for _, tt := range match {
		if !knownMatchDiff(tt.pattern) {
			t.Errorf("%q is not in a known class", tt.pattern)
		}
		h, err := hmarr.ParseFile(strings.NewReader(tt.pattern + " @o\n"))
		if err != nil {
			t.Fatal(err)
		}
		hm, _ := h.Match(tt.path)
		_, ours := Compile(mustParse(t, tt.pattern+" @o\n")).Match(tt.path)
		if ours != tt.ours || (hm != nil) != tt.hmarr {
			t.Errorf("pattern %q, path %q: ours %v hmarr %v, documented ours %v hmarr %v", tt.pattern, tt.path, ours, hm != nil, tt.ours, tt.hmarr)
		}
	}

	// Files hmarr rejects as a whole; this package reports only the bad line
	// (or nothing) and keeps the other rules.
	rejected := []struct {
		line    string
		ourErrs int
	}{
		{"a***b @o", 0},
		{"!a @o", 1},
		{"a[bc] @o", 1},
		{"a~b @o", 0},
		{"a]b @o", 0},
		{"naïve @o", 0},
		{"a alice", 1},
		{"a x@acme.technology", 0},
	}
	for _, tt := range rejected {
		text := "* @all\n" + tt.line + "\n"
		if _, err := hmarr.ParseFile(strings.NewReader(text)); err == nil {
			t.Errorf("hmarr accepted %q", tt.line)
		}
		f := Parse("CODEOWNERS", []byte(text))
		if len(f.Errors) != tt.ourErrs || f.Rules[0].Line != 1 {
			t.Errorf("%q: errors %v, rules %+v; want %d errors and line 1 kept", tt.line, f.Err(), f.Rules, tt.ourErrs)
		}
	}

	// "#" inside a field: hmarr cuts the line there.
	h, err := hmarr.ParseFile(strings.NewReader("foo#bar @a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := h[0].RawPattern(); got != "foo" || len(h[0].Owners) != 0 {
		t.Errorf("hmarr read foo#bar @a as %q %v", got, h[0].Owners)
	}
	f := mustParse(t, "foo#bar @a\n")
	if got := f.Rules[0]; got.Pattern != "foo#bar" || len(got.Owners) != 1 {
		t.Errorf("read foo#bar @a as %+v", got)
	}

	// A trailing lone "\": hmarr matches foo; this package reports the line.
	h, err = hmarr.ParseFile(strings.NewReader("foo\\\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := h.Match("foo"); r == nil {
		t.Error(`hmarr no longer matches foo with "foo\"`)
	}
	if f := Parse("CODEOWNERS", []byte("foo\\\n")); len(f.Rules) != 0 || len(f.Errors) != 1 {
		t.Errorf(`foo\: rules %v errors %v`, f.Rules, f.Errors)
	}

	// "/" alone: hmarr's Match panics; this package reports the line.
	h, err = hmarr.ParseFile(strings.NewReader("/ @o\n"))
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error(`hmarr no longer panics on the pattern "/"`)
			}
		}()
		_, _ = h.Match("a")
	}()

	// A leading "\#": hmarr keeps a rule, this package reports and drops it.
	h, err = hmarr.ParseFile(strings.NewReader(`\#a @o` + "\n"))
	if err != nil || len(h) != 1 {
		t.Errorf(`hmarr on \#a: %v %v`, h, err)
	}
	if f := Parse("CODEOWNERS", []byte(`\#a @o`+"\n")); len(f.Rules) != 0 || len(f.Errors) != 1 {
		t.Errorf(`\#a: rules %v errors %v`, f.Rules, f.Errors)
	}
}
