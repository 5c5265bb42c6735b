package catalog

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in, defaultKind string
		want            Ref
		str, short      string
	}{
		{"group:payments", "group", Ref{"group", "default", "payments"}, "group:default/payments", "group:payments"},
		{"user:default/alice", "group", Ref{"user", "default", "alice"}, "user:default/alice", "user:alice"},
		{"payments", "group", Ref{"group", "default", "payments"}, "group:default/payments", "group:payments"},
		{"default/payments", "group", Ref{"group", "default", "payments"}, "group:default/payments", "group:payments"},
		{"Group:Payments", "", Ref{"group", "default", "Payments"}, "group:default/payments", "group:payments"},
		{"component:Data/payments-db", "", Ref{"component", "data", "payments-db"}, "component:data/payments-db", "component:data/payments-db"},
		{"alice", "User", Ref{"user", "default", "alice"}, "user:default/alice", "user:alice"},
		{"api:team-a/v2.payments_rest", "", Ref{"api", "team-a", "v2.payments_rest"}, "api:team-a/v2.payments_rest", "api:team-a/v2.payments_rest"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in, tt.defaultKind)
		if err != nil {
			t.Errorf("ParseRef(%q, %q): %v", tt.in, tt.defaultKind, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRef(%q, %q) = %#v, want %#v", tt.in, tt.defaultKind, got, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParseRef(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
		if s := got.Short(); s != tt.short {
			t.Errorf("ParseRef(%q).Short() = %q, want %q", tt.in, s, tt.short)
		}
	}
}

func TestParseRefInvalid(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct{ in, defaultKind, wantErr string }{
		{"", "group", `invalid entity ref: empty`},
		{"group:", "group", `invalid entity ref "group:": empty name`},
		{":payments", "group", `invalid entity ref ":payments": empty kind before ':'`},
		{"group:/payments", "group", `invalid entity ref "group:/payments": empty namespace before '/'`},
		{"group:default/", "group", `invalid entity ref "group:default/": empty name`},
		{"a:b:c", "group", `invalid entity ref "a:b:c": name "b:c" must be letters and digits`},
		{"user:default/alice/x", "", `invalid entity ref "user:default/alice/x": name "alice/x"`},
		{"payments", "", `invalid entity ref "payments": no kind (write it as kind:name, e.g. component:payments)`},
		{"1group:payments", "", `kind "1group" must be a letter`},
		{"group:pay ments", "", `name "pay ments"`},
		{"group:-payments", "", `name "-payments"`},
		{"group:payments-", "", `name "payments-"`},
		{"group:team_a/payments", "", `namespace "team_a" must be lower-case`},
		{"group:" + long, "", `at most 63 characters`},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in, tt.defaultKind)
		if err == nil {
			t.Errorf("ParseRef(%q, %q) = %#v, want error", tt.in, tt.defaultKind, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRef(%q, %q) error = %q, want it to contain %q", tt.in, tt.defaultKind, err, tt.wantErr)
		}
	}
}

func TestParseRefIn(t *testing.T) {
	got, err := ParseRefIn("payments", "group", "data")
	if err != nil || got != (Ref{"group", "data", "payments"}) {
		t.Fatalf("ParseRefIn = %#v, %v", got, err)
	}
	// An explicit namespace wins over the default.
	got, err = ParseRefIn("default/payments", "group", "data")
	if err != nil || got.String() != "group:default/payments" {
		t.Fatalf("ParseRefIn = %#v, %v", got, err)
	}
}

func TestRefEqual(t *testing.T) {
	a := Ref{Kind: "group", Name: "Payments"}
	b := Ref{Kind: "group", Namespace: "default", Name: "payments"}
	if !a.Equal(b) {
		t.Errorf("%v and %v should be equal: Backstage refs ignore case and default the namespace", a, b)
	}
	if a.Equal(Ref{Kind: "user", Namespace: "default", Name: "payments"}) {
		t.Error("refs of different kinds must differ")
	}
}
