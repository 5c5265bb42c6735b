package codeowners

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// githubExample is the example CODEOWNERS file from GitHub's "About code
// owners" page, comments shortened. The page ends with two alternative
// endings for /apps/; this is the first (the subdirectory left unowned), the
// second is tested in TestGitHubExampleOwnedSubdirectory.
const githubExample = `# This is a comment.
# Each line is a file pattern followed by one or more owners.

# Default owners for everything in the repo.
*       @global-owner1 @global-owner2

# The last matching pattern takes the most precedence.
*.js    @js-owner #This is an inline comment.

# Email addresses work too.
*.go docs@example.com

# Teams are @org/team-name.
*.txt @octo-org/octocats

# Any file in build/logs at the root and its subdirectories.
/build/logs/ @doctocat

# docs/getting-started.md but not docs/build-app/troubleshooting.md.
docs/*  docs@example.com

# Any file in an apps directory anywhere.
apps/ @octocat

# Any file in /docs at the root and its subdirectories.
/docs/ @doctocat

# Any change inside /scripts.
/scripts/ @doctocat @octocat

# Any file in a logs directory: /build/logs, /scripts/logs, /deeply/nested/logs.
**/logs @octocat

# /apps except /apps/github, whose owners are left empty.
/apps/ @octocat
/apps/github
`

// lineOf returns the 1-based line of the first line of text equal to line.
func lineOf(t *testing.T, text, line string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if l == line {
			return i + 1
		}
	}
	t.Fatalf("line %q not in file", line)
	return 0
}

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f := Parse("CODEOWNERS", []byte(text))
	if err := f.Err(); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestGitHubExample(t *testing.T) {
	f := mustParse(t, githubExample)
	m := Compile(f)

	if got, want := len(f.Rules), 12; got != want {
		t.Fatalf("rules = %d, want %d", got, want)
	}
	if got, want := f.Rules[1].Owners, []string{"@js-owner"}; !slices.Equal(got, want) {
		t.Errorf("inline comment: owners of *.js = %q, want %q", got, want)
	}

	tests := []struct {
		path string
		line string // the line that must win
	}{
		{"README.md", "*       @global-owner1 @global-owner2"},
		{"src/app.js", "*.js    @js-owner #This is an inline comment."},
		{"main.go", "*.go docs@example.com"},
		{"a/b/c.go", "*.go docs@example.com"},
		{"notes.txt", "*.txt @octo-org/octocats"},
		{"build/output.txt", "*.txt @octo-org/octocats"},
		// /build/logs/ matches, but **/logs comes later and also matches.
		{"build/logs/today.log", "**/logs @octocat"},
		{"scripts/logs/run.log", "**/logs @octocat"},
		{"deeply/nested/logs/x.txt", "**/logs @octocat"},
		{"scripts/deploy.sh", "/scripts/ @doctocat @octocat"},
		// docs/* matches, but the later /docs/ too.
		{"docs/getting-started.md", "/docs/ @doctocat"},
		{"docs/build-app/troubleshooting.md", "/docs/ @doctocat"},
		// docs/* has a slash in the middle: anchored to the root.
		{"guide/docs/a.md", "*       @global-owner1 @global-owner2"},
		{"lib/apps/tool.py", "apps/ @octocat"},
		{"apps/web/index.js", "/apps/ @octocat"},
		{"apps/github/readme.md", "/apps/github"},
		{"apps/github", "/apps/github"},
		// Case-sensitive: Docs is not docs, APPS is not apps.
		{"Docs/x.md", "*       @global-owner1 @global-owner2"},
		{"APPS/x.py", "*       @global-owner1 @global-owner2"},
	}
	for _, tt := range tests {
		r, ok := m.Match(tt.path)
		if !ok {
			t.Errorf("Match(%q): no rule, want line %q", tt.path, tt.line)
			continue
		}
		if got, want := r.Line, lineOf(t, githubExample, tt.line); got != want {
			t.Errorf("Match(%q) = line %d %q, want line %d %q", tt.path, got, r.Pattern, want, tt.line)
		}
	}

	r, _ := m.Match("apps/github/readme.md")
	if len(r.Owners) != 0 {
		t.Errorf("apps/github/readme.md owners = %q, want none (explicitly unowned)", r.Owners)
	}
	if got := m.Owners("apps/github/readme.md"); got != nil {
		t.Errorf("Owners(apps/github/readme.md) = %q, want nil", got)
	}
	if got, want := m.Owners("scripts/deploy.sh"), []string{"@doctocat", "@octocat"}; !slices.Equal(got, want) {
		t.Errorf("Owners(scripts/deploy.sh) = %q, want %q", got, want)
	}
}

func TestGitHubExampleOwnedSubdirectory(t *testing.T) {
	m := Compile(mustParse(t, "/apps/ @octocat\n/apps/github @doctocat\n"))
	for path, want := range map[string]string{
		"apps/web/a.js":       "@octocat",
		"apps/github/a.js":    "@doctocat",
		"apps/githubber/a.js": "@octocat",
	} {
		if got := m.Owners(path); !slices.Equal(got, []string{want}) {
			t.Errorf("Owners(%q) = %q, want [%s]", path, got, want)
		}
	}
}

// TestDocumentedExamplesAlone checks each example rule of GitHub's page on its
// own, against the paths its comment names, so a rule cannot pass only
// because a later rule happened to cover the same paths.
func TestDocumentedExamplesAlone(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"*", []string{"a", "a/b/c.txt", ".github/CODEOWNERS"}, nil},
		{"*.js", []string{"a.js", "web/src/a.js"}, []string{"a.jsx", "a.ts", "js"}},
		{"/build/logs/", []string{"build/logs/a.log", "build/logs/2024/a.log"}, []string{"build/logs", "x/build/logs/a.log", "build/a.log"}},
		{"docs/*", []string{"docs/getting-started.md"}, []string{"docs/build-app/troubleshooting.md", "docs", "x/docs/a.md"}},
		{"apps/", []string{"apps/a", "x/apps/a", "x/y/apps/z/a"}, []string{"apps", "x/apps", "apps2/a"}},
		{"/docs/", []string{"docs/a.md", "docs/x/y/z.md"}, []string{"x/docs/a.md", "docs"}},
		{"/scripts/", []string{"scripts/a.sh", "scripts/ci/b.sh"}, []string{"x/scripts/a.sh"}},
		{"**/logs", []string{"build/logs/a", "scripts/logs/a", "deeply/nested/logs/a", "logs", "logs/a"}, []string{"logsx/a", "build/log/a"}},
		{"/apps/github", []string{"apps/github", "apps/github/a", "apps/github/x/y"}, []string{"apps/githubber", "x/apps/github"}},
	}
	for _, tt := range tests {
		m := Compile(mustParse(t, tt.pattern+" @o\n"))
		for _, p := range tt.match {
			if _, ok := m.Match(p); !ok {
				t.Errorf("%q should match %q", tt.pattern, p)
			}
		}
		for _, p := range tt.noMatch {
			if r, ok := m.Match(p); ok {
				t.Errorf("%q should not match %q (got line %d)", tt.pattern, p, r.Line)
			}
		}
	}
}

func TestPatternMatching(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		// No slash: any depth, the entry itself and everything below it.
		{"foo", "foo", true},
		{"foo", "foo/bar", true},
		{"foo", "bar/foo", true},
		{"foo", "bar/foo/baz", true},
		{"foo", "foo.txt", false},
		{"foo", "bar/foo.txt", false},
		{"foo", "xfoo", false},
		// Leading slash: root only.
		{"/foo", "foo", true},
		{"/foo", "foo/bar/baz", true},
		{"/foo", "bar/foo", false},
		{"/foo", "fool.txt", false},
		// A slash in the middle anchors too.
		{"foo/bar", "foo/bar", true},
		{"foo/bar", "foo/bar/baz", true},
		{"foo/bar", "baz/foo/bar", false},
		{"foo/bar", "foo/bart", false},
		{"docs/*.md", "docs/a.md", true},
		{"docs/*.md", "x/docs/a.md", false},
		{"/docs/*.md", "docs/a.md", true},
		// Trailing slash: directories only.
		{"foo/", "foo", false},
		{"foo/", "foo/bar", true},
		{"foo/", "bar/foo/baz", true},
		{"/foo/", "bar/foo/baz", false},
		{"foo/bar/", "foo/bar", false},
		{"foo/bar/", "foo/bar/baz", true},
		{"foo/bar/", "x/foo/bar/baz", false},
		// "*" and "?" stay within one segment.
		{"/*", "foo", true},
		{"/*", "foo/bar", false},
		{"/*/", "foo/bar", true},
		{"/*/", "foo", false},
		{"f*", "foo/bar", true},
		{"f*", "bar/foo", true},
		{"f*", "bar/baz", false},
		{"/f*", "bar/foo", false},
		{"f*/", "foo", false},
		{"f*/", "bar/foo/baz", true},
		{"foo/*", "foo/bar", true},
		{"foo/*", "foo/bar/baz", false},
		{"foo/*", "foo", false},
		{"foo/*/baz", "foo/bar/baz", true},
		{"foo/*/baz", "foo/bar/baz/qux", true},
		{"foo/*/baz", "foo/baz", false},
		{"foo/*.txt", "foo/bar/baz.txt", false},
		{"f?o", "foo", true},
		{"f?o", "fo", false},
		{"f?o", "fooo", false},
		{"f?o", "f/o", false},
		{"?", "é", true}, // one character, not one byte
		{"??", "é", false},
		{"*.md", ".md", true}, // "*" may match nothing
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"*ab*ab*", "xabyab", true},
		{"*ab*ab*", "xaby", false},
		{"a?c*", "abcdef", true},
		{"a**b", "aXXb", true}, // "**" inside a segment is "*"
		{"a**b", "a/b", false},
		// Escapes.
		{`f\*o`, "f*o", true},
		{`f\*o`, "foo", false},
		{`f\?o`, "f?o", true},
		{`f\?o`, "foo", false},
		{`my\ dir/`, "my dir/a", true},
		{`\[id\].js`, "pages/[id].js", true},
		{`\!important`, "!important", true},
		{`foo#bar`, "foo#bar", true}, // "#" inside a pattern is literal
		// "**".
		{"**/foo/bar", "foo/bar", true},
		{"**/foo/bar", "qux/foo/bar/baz", true},
		{"**/foo/bar", "foo/baz/bar", false},
		{"**/*bar*", "bar", true},
		{"**/*bar*", "foo/qux/rebar", true},
		{"foo/**", "foo", false},
		{"foo/**", "foo/bar", true},
		{"foo/**", "foo/bar/baz", true},
		{"foo/**", "qux/foo/bar", false},
		{"foo/**/bar", "foo/bar", true},
		{"foo/**/bar", "foo/qux/quux/bar/baz", true},
		{"foo/**/bar", "qux/foo/bar", false},
		{"foo/**/bar/b*", "foo/qux/bar/baz", true},
		{"foo/**/bar/b*", "foo/qux/bar/qux", false},
		{"a/**/**/b", "a/b", true},
		{"a/**/**/b", "a/x/y/b", true},
		{"**/**/a", "x/a", true},
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"/**", "a/b", true},
		{"**/*", "a/b", true},
		{"docs/**/*", "docs/a", true},
		{"docs/**/*", "docs/a/b/c", true},
		{"docs/**/*", "docs", false},
		// A trailing "**/" (gitignore): directories at any depth below.
		{"foo/**/", "foo/bar", false},
		{"foo/**/", "foo/bar/baz", true},
		{"**/", "a", false},
		{"**/", "a/b", true},
		// Case-sensitive.
		{"/Docs/", "docs/a", false},
		{"*.MD", "a.md", false},
		{"README", "readme", false},
		// A leading "/" on the path is ignored; a trailing one marks a directory.
		{"/docs/", "/docs/a", true},
		{"apps/", "apps/", true},
	}
	for _, tt := range tests {
		m := Compile(mustParse(t, tt.pattern+" @o\n"))
		if _, got := m.Match(tt.path); got != tt.want {
			t.Errorf("pattern %q, path %q: match = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestLastRuleWins(t *testing.T) {
	text := `* @all
/src/ @src
*.go @gophers
/src/vendor/
/src/vendor/keep/ @keeper
*.go @late-gophers
`
	m := Compile(mustParse(t, text))
	tests := []struct {
		path   string
		line   int
		owners []string
	}{
		{"README", 1, []string{"@all"}},
		{"src/a.js", 2, []string{"@src"}},
		{"src/a.go", 6, []string{"@late-gophers"}},
		{"src/vendor/x.js", 4, nil},
		{"src/vendor/keep/a.js", 5, []string{"@keeper"}},
		{"src/vendor/keep/a.go", 6, []string{"@late-gophers"}},
		// "*.go" has no slash, so like any gitignore pattern it also matches
		// a directory named x.go and everything in it.
		{"src/vendor/x.go/inner.js", 6, []string{"@late-gophers"}},
	}
	for _, tt := range tests {
		r, ok := m.Match(tt.path)
		if !ok {
			t.Errorf("Match(%q): no rule", tt.path)
			continue
		}
		if r.Line != tt.line || !slices.Equal(r.Owners, tt.owners) {
			t.Errorf("Match(%q) = line %d %q, want line %d %q", tt.path, r.Line, r.Owners, tt.line, tt.owners)
		}
	}
	if r, ok := Compile(mustParse(t, "/src/ @src\n")).Match("lib/a"); ok {
		t.Errorf("no rule should match lib/a, got line %d", r.Line)
	}
}

func TestParse(t *testing.T) {
	text := "# comment\r\n" +
		"\r\n" +
		"  *.js   @a  @org/team-1 # trailing comment @not-an-owner\r\n" +
		"\t/docs/\tdocs@acme.test\r\n" +
		"/vendor/   # unowned, with a comment\r\n" +
		"/last @b" // no final newline
	f := mustParse(t, text)
	want := []Rule{
		{Line: 3, Pattern: "*.js", Owners: []string{"@a", "@org/team-1"}},
		{Line: 4, Pattern: "/docs/", Owners: []string{"docs@acme.test"}},
		{Line: 5, Pattern: "/vendor/"},
		{Line: 6, Pattern: "/last", Owners: []string{"@b"}},
	}
	if len(f.Rules) != len(want) {
		t.Fatalf("rules = %+v, want %+v", f.Rules, want)
	}
	for i := range want {
		g, w := f.Rules[i], want[i]
		if g.Line != w.Line || g.Pattern != w.Pattern || !slices.Equal(g.Owners, w.Owners) {
			t.Errorf("rule %d = %+v, want %+v", i, g, w)
		}
	}
	// CRLF must not leak into owners or patterns.
	if got := Compile(f).Owners("docs/x"); !slices.Equal(got, []string{"docs@acme.test"}) {
		t.Errorf("Owners(docs/x) = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	text := `* @all
\#notes.txt @x
!vendor/ @x
pages/[id].js @x
src/ alice @bob carol@
/ @x
a//b @x
trailing\
/gen/ alice
docs/ @good @org/ @ok_2 @org/team/extra
`
	f := Parse(".github/CODEOWNERS", []byte(text))
	type want struct {
		line int
		msg  string
	}
	wantErrs := []want{
		{2, `escaping a leading "#"`},
		{3, `"!" negation`},
		{4, `"[ ]" character ranges`},
		{5, `invalid owner "alice"`},
		{5, `invalid owner "carol@"`},
		{6, `matches no file`},
		{7, `empty path segment`},
		{8, `lone "\"`},
		{9, `invalid owner "alice"`},
		{10, `invalid owner "@org/"`},
		{10, `invalid owner "@org/team/extra"`},
	}
	if len(f.Errors) != len(wantErrs) {
		t.Fatalf("errors:\n%v\nwant %d", f.Err(), len(wantErrs))
	}
	for i, w := range wantErrs {
		e := f.Errors[i]
		if e.Line != w.line || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %v, want line %d containing %q", i, e, w.line, w.msg)
		}
	}
	for _, e := range f.Errors {
		if e.Line >= 2 && e.Line <= 4 || e.Line >= 6 && e.Line <= 8 {
			if !strings.HasSuffix(e.Msg, "line ignored") {
				t.Errorf("error %v should say the line is ignored", e)
			}
		}
	}
	if got := f.Errors[0].Error(); !strings.HasPrefix(got, "line 2: ") {
		t.Errorf("Error() = %q, want line 2: prefix", got)
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), ".github/CODEOWNERS:4: ") {
		t.Errorf("Err() = %v, want NAME:LINE: messages", err)
	}
	if !strings.Contains(f.Errors[8].Msg, "leaves its paths unowned") {
		t.Errorf("an all-invalid owner list should say the rule leaves its paths unowned: %v", f.Errors[8])
	}

	var lines []int
	for _, r := range f.Rules {
		lines = append(lines, r.Line)
	}
	if want := []int{1, 5, 9, 10}; !slices.Equal(lines, want) {
		t.Errorf("rule lines = %v, want %v (unsupported forms ignored)", lines, want)
	}
	// Partly invalid lines keep their valid owners.
	if got, want := f.Rules[1].Owners, []string{"@bob"}; !slices.Equal(got, want) {
		t.Errorf("line 5 owners = %q, want %q", got, want)
	}
	if got, want := f.Rules[3].Owners, []string{"@good", "@ok_2"}; !slices.Equal(got, want) {
		t.Errorf("line 10 owners = %q, want %q", got, want)
	}

	// Ignored lines do not match; the earlier "*" still does.
	m := Compile(f)
	for _, p := range []string{"#notes.txt", "notes.txt", "vendor/a", "pages/[id].js", "pages/i.js", "a/b"} {
		if r, ok := m.Match(p); !ok || r.Line != 1 {
			t.Errorf("Match(%q) = %+v, %v; want line 1", p, r, ok)
		}
	}
	// A rule whose owners were all invalid still wins, leaving gen/ unowned.
	if r, ok := m.Match("gen/a.go"); !ok || r.Line != 9 || len(r.Owners) != 0 {
		t.Errorf("Match(gen/a.go) = %+v, %v; want line 9 with no owners", r, ok)
	}
}

func TestOwners(t *testing.T) {
	for _, o := range []string{"@alice", "@alice-ng", "@a_b", "@octo-org/octocats", "@acme/team_x", "docs@example.com", "a.b+c@sub.acme.technology"} {
		if !validOwner(o) {
			t.Errorf("validOwner(%q) = false", o)
		}
	}
	for _, o := range []string{"alice", "@", "@/t", "@o/", "@o/t/x", "@a.b", "@o_x/t", "a@b", "a@.com", "@a#b", "a@b.c", "@@role", "docs@example.c0m"} {
		if validOwner(o) {
			t.Errorf("validOwner(%q) = true", o)
		}
	}
}

func TestEmpty(t *testing.T) {
	var nilM *Matcher
	if _, ok := nilM.Match("a"); ok {
		t.Error("nil Matcher matched")
	}
	if got := nilM.Rules(); got != nil {
		t.Errorf("nil Matcher Rules = %v", got)
	}
	if _, ok := Compile(nil).Match("a"); ok {
		t.Error("Compile(nil) matched")
	}
	m := Compile(mustParse(t, "* @a\n"))
	for _, p := range []string{"", "/"} {
		if _, ok := m.Match(p); ok {
			t.Errorf("Match(%q) matched", p)
		}
	}
	if f := Parse("x", nil); len(f.Rules) != 0 || f.Err() != nil {
		t.Errorf("Parse(nil) = %+v", f)
	}
}

func TestCompileCopiesRules(t *testing.T) {
	f := mustParse(t, "*.go @a\n")
	m := Compile(f)
	f.Rules[0].Pattern = "*.js"
	f.Rules = append(f.Rules, Rule{Line: 2, Pattern: "*", Owners: []string{"@z"}})
	if r, ok := m.Match("x.go"); !ok || r.Pattern != "*.go" {
		t.Errorf("Match after changing the File = %+v, %v", r, ok)
	}
	if _, ok := m.Match("x.js"); ok {
		t.Error("Matcher saw a rule added after Compile")
	}
	// Changing a parsed rule's pattern before Compile takes effect.
	f = mustParse(t, "*.go @a\n")
	f.Rules[0].Pattern = "*.js"
	if r, ok := Compile(f).Match("x.js"); !ok || r.Pattern != "*.js" {
		t.Errorf("Match(x.js) after changing the pattern = %+v, %v", r, ok)
	}
	// A hand-built rule with a bad pattern never matches, and breaks nothing.
	m = Compile(&File{Rules: []Rule{{Line: 1, Pattern: "*"}, {Line: 2, Pattern: "!x"}, {Line: 3, Pattern: ""}}})
	if r, ok := m.Match("x"); !ok || r.Line != 1 {
		t.Errorf("Match(x) = %+v, %v; want line 1", r, ok)
	}
}

// TestConcurrentMatch lets the race detector check that lookups share no
// mutable state.
func TestConcurrentMatch(t *testing.T) {
	m := Compile(mustParse(t, githubExample))
	paths := []string{"a.js", "apps/github/x", "build/logs/a", "docs/a.md", "x/apps/y.go"}
	want := make([]int, len(paths))
	for i, p := range paths {
		r, _ := m.Match(p)
		want[i] = r.Line
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				for i, p := range paths {
					if r, ok := m.Match(p); !ok || r.Line != want[i] {
						t.Errorf("Match(%q) = %+v, %v; want line %d", p, r, ok, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
