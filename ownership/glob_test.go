package ownership

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
	}
	for _, c := range cases {
		g, err := compileGlob(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := g.match(c.s); got != c.want {
			t.Errorf("%q ~ %q = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}
