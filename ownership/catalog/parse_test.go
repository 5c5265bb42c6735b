package catalog

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseFileCatalogInfo(t *testing.T) {
	data, err := os.ReadFile("testdata/catalog-info.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const file = "catalog/catalog-info.yaml"
	got, errs := ParseFile(file, data)
	for _, err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	ref := func(kind, ns, name string) *Ref { return &Ref{Kind: kind, Namespace: ns, Name: name} }
	want := []Entity{
		{
			APIVersion:  "backstage.io/v1alpha1",
			Kind:        "Component",
			Namespace:   "default",
			Name:        "payments-api",
			Title:       "Payments API",
			Description: "Takes money.",
			Annotations: map[string]string{
				"github.com/project-slug":       "acme/payments-api",
				"pagerduty.com/service-id":      "PX1234",
				"pagerduty.com/integration-key": "0123456789abcdef0123456789abcdef",
				"backstage.io/source-location":  "url:https://github.com/acme/payments-api/tree/main/",
			},
			Labels:       map[string]string{"tier": "1"},
			Tags:         []string{"go", "payments"},
			Type:         "service",
			Lifecycle:    "production",
			Owner:        "group:payments",
			OwnerRef:     ref("group", "default", "payments"),
			System:       "payments",
			ProvidesAPIs: []string{"payments-rest"},
			DependsOn:    []string{"resource:payments-db"},
			Location:     file + ":3",
		},
		{
			APIVersion: "backstage.io/v1alpha1",
			Kind:       "API",
			Namespace:  "default",
			Name:       "payments-rest",
			Type:       "openapi",
			Lifecycle:  "production",
			Owner:      "payments",
			OwnerRef:   ref("group", "default", "payments"),
			System:     "payments",
			Location:   file + ":28",
		},
		{
			APIVersion: "backstage.io/v1alpha1",
			Kind:       "Resource",
			Namespace:  "data",
			Name:       "payments-db",
			Type:       "database",
			Owner:      "user:default/alice",
			OwnerRef:   ref("user", "default", "alice"),
			System:     "default/payments",
			Location:   file + ":41",
		},
		{
			APIVersion: "backstage.io/v1alpha1",
			Kind:       "System",
			Namespace:  "default",
			Name:       "payments",
			Owner:      "group:default/payments",
			OwnerRef:   ref("group", "default", "payments"),
			Domain:     "commerce",
			Location:   file + ":52",
		},
		{
			APIVersion:  "backstage.io/v1alpha1",
			Kind:        "Group",
			Namespace:   "default",
			Name:        "payments",
			Title:       "Payments Team",
			Type:        "team",
			Parent:      "engineering",
			Children:    []string{},
			Members:     []string{"alice", "user:bob"},
			DisplayName: "Payments",
			Email:       "payments@acme.io",
			Location:    file + ":60",
		},
		{
			APIVersion:  "backstage.io/v1beta1",
			Kind:        "User",
			Namespace:   "default",
			Name:        "alice",
			MemberOf:    []string{"payments"},
			DisplayName: "Alice Liddell",
			Email:       "alice@acme.io",
			Location:    file + ":74",
		},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entities, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entity %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	c := got[0]
	if s := c.Ref().String(); s != "component:default/payments-api" {
		t.Errorf("Ref() = %q", s)
	}
	if s := c.Annotation(AnnotationGitHubProjectSlug); s != "acme/payments-api" {
		t.Errorf("github slug = %q", s)
	}
	if s := c.Annotation(AnnotationPagerDutyServiceID); s != "PX1234" {
		t.Errorf("pagerduty service = %q", s)
	}
	if s := got[2].Ref().Short(); s != "resource:data/payments-db" {
		t.Errorf("Short() = %q", s)
	}
}

// TestParseFileOwnerNamespace pins Backstage's rule that a ref without a
// namespace lives in the namespace of the entity that wrote it.
func TestParseFileOwnerNamespace(t *testing.T) {
	got, errs := ParseFile("c.yaml", []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger, namespace: finance}
spec: {type: service, lifecycle: production, owner: payments}
`))
	if len(errs) != 0 || len(got) != 1 {
		t.Fatalf("got %v, %v", got, errs)
	}
	if s := got[0].OwnerRef.String(); s != "group:finance/payments" {
		t.Errorf("OwnerRef = %q, want group:finance/payments", s)
	}
}

const header = "apiVersion: backstage.io/v1alpha1\n"

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the single error, in full
	}{
		{"missing kind", header + "metadata:\n  name: x\n", "f.yaml:1: missing kind"},
		{"empty kind", header + "kind: ''\nmetadata: {name: x}\n", "f.yaml:2: missing kind"},
		{"missing apiVersion", "kind: Component\nmetadata: {name: x}\n", "f.yaml:1: missing apiVersion"},
		{"missing metadata", header + "kind: Component\nspec: {}\n", "f.yaml:1: missing metadata (with metadata.name)"},
		{"missing name", header + "kind: Component\nmetadata:\n  title: X\n", "f.yaml:4: missing metadata.name"},
		{"metadata not a mapping", header + "kind: Component\nmetadata: [x]\n", "f.yaml:3: metadata must be a mapping, got a list"},
		{"invalid name", header + "kind: Component\nmetadata:\n  name: my service\n", `f.yaml:4: metadata.name "my service" must be letters and digits, optionally separated by '-', '_' or '.', at most 63 characters`},
		{"invalid namespace", header + "kind: Component\nmetadata:\n  name: x\n  namespace: Team_A\n", `f.yaml:5: metadata.namespace "Team_A" must be lower-case letters, digits and single dashes, at most 63 characters`},
		{"invalid kind", header + "kind: my-kind\nmetadata: {name: x}\n", `f.yaml:2: kind "my-kind" must be a letter followed by letters or digits`},
		{"bad owner ref", header + "kind: Component\nmetadata: {name: x}\nspec:\n  type: service\n  owner: 'group:'\n", `f.yaml:6: spec.owner: invalid entity ref "group:": empty name`},
		{"owner a:b:c", header + "kind: Component\nmetadata: {name: x}\nspec:\n  owner: a:b:c\n", `f.yaml:5: spec.owner: invalid entity ref "a:b:c": name "b:c" must be letters and digits, optionally separated by '-', '_' or '.', at most 63 characters`},
		{"owner not a string", header + "kind: Component\nmetadata: {name: x}\nspec:\n  owner:\n    - a\n", "f.yaml:6: spec.owner must be a string, got a list"},
		{"bad member ref", header + "kind: Group\nmetadata: {name: g}\nspec:\n  members:\n    - alice\n    - 'user:'\n", `f.yaml:7: spec.members[1]: invalid entity ref "user:": empty name`},
		{"members not a list", header + "kind: Group\nmetadata: {name: g}\nspec:\n  members: alice\n", "f.yaml:5: spec.members must be a list, got a scalar"},
		{"dependsOn without kind", header + "kind: Component\nmetadata: {name: x}\nspec:\n  dependsOn: [db]\n", `f.yaml:5: spec.dependsOn[0]: invalid entity ref "db": no kind (write it as kind:name, e.g. component:db)`},
		{"profile email not a string", header + "kind: User\nmetadata: {name: u}\nspec:\n  profile:\n    email: {a: b}\n", "f.yaml:6: spec.profile.email must be a string, got a mapping"},
		{"annotation not a string", header + "kind: Component\nmetadata:\n  name: x\n  annotations:\n    a: [1]\n", "f.yaml:6: metadata.annotations.a must be a string, got a list"},
		{"duplicate key", header + "kind: Component\nmetadata: {name: x}\nspec:\n  owner: a\n  owner: b\n", `f.yaml:6: duplicate key "owner" in spec`},
		{"duplicate top-level key", header + "kind: Component\nkind: API\n", `f.yaml:3: duplicate key "kind" in the entity`},
		{"list document", "- apiVersion: backstage.io/v1alpha1\n  kind: Component\n", "f.yaml:1: an entity must be a mapping (apiVersion, kind, metadata, spec), got a list"},
		{"scalar document", "hello\n", "f.yaml:1: an entity must be a mapping (apiVersion, kind, metadata, spec), got a scalar"},
		{"syntax: scanner", header + "kind: Component\n  metadata: x\n", "f.yaml:3: invalid YAML: mapping values are not allowed in this context"},
		// yaml.v3 names the start of the construct it was parsing (here the
		// sequence), 0-based; the +1 correction is pinned here.
		{"syntax: parser, 0-based upstream", header + "kind: Component\nmetadata:\n  - a\n  b: c\n", "f.yaml:4: invalid YAML: did not find expected '-' indicator"},
		{"syntax: unclosed flow", header + "kind: Component\nmetadata: {name: x\n", "f.yaml:3: invalid YAML: did not find expected ',' or '}'"},
		{"syntax: tab", header + "kind: Component\nmetadata:\n\tname: x\n", "f.yaml:4: invalid YAML: found character that cannot start any token"},
		{"syntax: unknown anchor", header + "kind: Component\nmetadata: {name: x}\nspec:\n  owner: *team\n", `f.yaml:5: invalid YAML: unknown anchor "team" (an alias must follow its &anchor in the same document)`},
		{"syntax: control character", header + "kind: Component\nmetadata: {name: \"x\x01\"}\n", "f.yaml:3: invalid YAML: control characters are not allowed"},
		{"one error per document", header + "metadata: {}\nspec:\n  owner: 'group:'\n", "f.yaml:1: missing kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseFile("f.yaml", []byte(tt.in))
			if len(got) != 0 {
				t.Errorf("got entities %+v, want none", got)
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want 1", len(errs), errs)
			}
			if errs[0].Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", errs[0], tt.want)
			}
			var pe *ParseError
			if !errors.As(errs[0], &pe) || pe.File != "f.yaml" {
				t.Errorf("error %v is not a *ParseError for f.yaml", errs[0])
			}
		})
	}
}

// TestParseFileMixed checks that bad documents are reported with lines in the
// whole file, and that the good documents around them survive — including
// one after a YAML syntax error, which stops yaml.v3's own decoder.
func TestParseFileMixed(t *testing.T) {
	in := `# leading comment
%TAG !acme! tag:acme.io,2024:
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: one}
spec: {owner: team-a}
---
---
# an empty document above, a comment-only one here
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: [broken
---
apiVersion: backstage.io/v1alpha1
metadata: {name: kindless}
...
--- # a marker with a comment
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec:
  description: |
    text that mentions
    --- nothing special when indented
  members: [alice]
---
- not: an entity
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [team-a]}
`
	got, errs := ParseFile("repo/catalog-info.yaml", []byte(in))
	var locs []string
	for _, e := range got {
		locs = append(locs, e.Ref().Short()+"@"+e.Location)
	}
	wantLocs := []string{
		"component:one@repo/catalog-info.yaml:5",
		"group:team-a@repo/catalog-info.yaml:22",
		"user:alice@repo/catalog-info.yaml:33",
	}
	if !reflect.DeepEqual(locs, wantLocs) {
		t.Errorf("entities\n got %q\nwant %q", locs, wantLocs)
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	wantErrs := []string{
		"repo/catalog-info.yaml:15: invalid YAML: did not find expected ',' or ']'",
		"repo/catalog-info.yaml:17: missing kind",
		"repo/catalog-info.yaml:30: an entity must be a mapping (apiVersion, kind, metadata, spec), got a list",
	}
	if !reflect.DeepEqual(msgs, wantErrs) {
		t.Errorf("errors\n got %q\nwant %q", msgs, wantErrs)
	}
	if m := got[1].Members; !reflect.DeepEqual(m, []string{"alice"}) {
		t.Errorf("members = %q", m)
	}
}

func TestParseFileEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "---\n", "---\n---\n...\n", "~\n", "\xef\xbb\xbf---\n"} {
		got, errs := ParseFile("e.yaml", []byte(in))
		if len(got) != 0 || len(errs) != 0 {
			t.Errorf("ParseFile(%q) = %v, %v; want nothing", in, got, errs)
		}
	}
}

func TestParseFileLeniency(t *testing.T) {
	in := "\xef\xbb\xbf" + `apiVersion: backstage.io/v1alpha1
kind: Template
metadata:
  name: new-service
  annotations:
    port: 8080
    empty:
spec:
  type: {custom: shape}
  members: {custom: shape}
  owner: platform
---
base: &owner group:payments
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: aliased}
spec:
  owner: *owner
  x-extension: {anything: [goes]}
`
	got, errs := ParseFile("l.yaml", []byte(strings.ReplaceAll(in, "\n", "\r\n")))
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(got) != 2 {
		t.Fatalf("got %d entities", len(got))
	}
	tmpl := got[0]
	if tmpl.Type != "" || tmpl.Members != nil || tmpl.OwnerRef.String() != "group:default/platform" {
		t.Errorf("custom-kind fields must be ignored, owner read: %+v", tmpl)
	}
	if tmpl.Annotations["port"] != "8080" || tmpl.Annotations["empty"] != "" {
		t.Errorf("annotations = %v", tmpl.Annotations)
	}
	if got[1].Owner != "group:payments" || got[1].Location != "l.yaml:15" {
		t.Errorf("aliased entity = %+v", got[1])
	}
}
