package glob

import "testing"

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"payments-*", "payments-api", true},
		{"payments-*", "payments-api/v2", false},
		{"billing.*", "billing.invoices", true},
		{"file:acme/api:src/payments/**", "file:acme/api:src/payments/charge.go", true},
		{"file:acme/api:src/payments/**", "file:acme/api:src/payments/a/b/c.go", true},
		{"file:acme/api:src/payments/**", "file:acme/api:src/refunds/a.go", false},
		{"file:acme/*:docs/**/*.md", "file:acme/web:docs/a/b/x.md", true},
		{"file:acme/*:docs/**/*.md", "file:acme/web:docs/x.md", true},
		{"service:*", "service:payments-api", true},
		{"table:billing.[a-j]*", "table:billing.invoices", true},
		{"table:billing.[!a-j]*", "table:billing.invoices", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"[", "[", true},
		{"payments-api", "payments-api", true},
		{"payments-api", "payments-apix", false},
		{"*.md", "README.md", true},
		{"*.md", "docs/README.md", false},
		{"*", "anything", true},
		{"*", "a/b", false},
		{"**", "a/b", true},
		{"prod-*", "prod-", true},
	}
	for _, c := range cases {
		g, err := Compile(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := g.Match(c.s); got != c.want {
			t.Errorf("%q ~ %q = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// TestShapesAgreeWithRegexp checks that the fast paths answer exactly what the general
// regular expression would.
func TestShapesAgreeWithRegexp(t *testing.T) {
	patterns := []string{"payments-*", "*.md", "lit", "*", "a*", "*a", "**"}
	inputs := []string{"", "a", "payments-api", "payments-a/b", "x.md", "d/x.md", "lit", "lit2", "ba", "ab", "a/b"}
	for _, p := range patterns {
		fast := MustCompile(p)
		re, err := compileRegexp(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			if fast.Match(in) != re.MatchString(in) {
				t.Errorf("%q ~ %q: fast path %v, regexp %v", p, in, fast.Match(in), re.MatchString(in))
			}
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, p := range []string{"payments-*", "*.md", "file:acme/api:src/payments/**"} {
		g := MustCompile(p)
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				g.Match("file:acme/api:src/payments/charge.go")
			}
		})
	}
}
