package codeowners

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse, Compile or Match panic, that
// every rule and error points at a line of the file, and that a rule's
// pattern is text from its line.
func FuzzParse(f *testing.F) {
	f.Add([]byte(githubExample), "docs/a/b.md")
	f.Add([]byte("* @a\r\n/apps/ @b # c\r\n/apps/github\r\n"), "apps/github/x")
	f.Add([]byte("\\#a @x\n!b @x\nc[d] @x\ne alice @bob\n/ @x\na//b @x\nz\\"), "a/b")
	f.Add([]byte("**/**/a/**/ @x\nfoo/**/bar/*.?s @y\n*a*b*c @z\n"), "foo/x/bar/q.ts")
	f.Add([]byte("my\\ dir/ @x\n\\[id\\].js @y\nnaïve/é? @z\n"), "my dir/[id].js")
	f.Add([]byte("\uFEFF* @a\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		file := Parse("CODEOWNERS", data)
		text := bytes.Split(data, []byte("\n"))
		lines := len(text)
		prev := 0
		for _, r := range file.Rules {
			if r.Line < 1 || r.Line > lines || r.Line <= prev {
				t.Fatalf("rule line %d outside 1..%d or out of order (previous %d)", r.Line, lines, prev)
			}
			prev = r.Line
			line := string(text[r.Line-1])
			if r.Pattern == "" || !strings.Contains(line, r.Pattern) {
				t.Fatalf("rule %+v: pattern not on its line %q", r, line)
			}
			for _, o := range r.Owners {
				if !validOwner(o) || !strings.Contains(line, o) {
					t.Fatalf("rule %+v: owner %q invalid or not on its line", r, o)
				}
			}
		}
		for _, e := range file.Errors {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error line %d outside 1..%d: %v", e.Line, lines, e)
			}
		}
		m := Compile(file)
		if r, ok := m.Match(path); ok && (r.Line < 1 || r.Line > lines) {
			t.Fatalf("Match(%q) = line %d outside 1..%d", path, r.Line, lines)
		}
		// Paths made of the file's own words are far likelier to match.
		words := strings.Fields(string(data))
		for _, w := range words[:min(len(words), 100)] {
			m.Match(w)
			m.Match("x/" + w + "/y")
		}
	})
}
