package catalog

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultNamespace is the namespace of entities and refs that name none.
const DefaultNamespace = "default"

// Ref identifies one catalog entity by Backstage's (kind, namespace, name)
// triplet. Kind and Namespace are lower-case because Backstage compares refs
// case-insensitively; Name keeps the spelling it was written with, for
// display. Compare refs with Equal or by their String form.
type Ref struct {
	Kind      string // lower-case, e.g. "group"
	Namespace string // lower-case, "default" unless written otherwise
	Name      string // as written, e.g. "payments"
}

// ParseRef parses an entity ref of the form [kind:][namespace/]name, such as
// "group:payments", "user:default/alice" or "payments". defaultKind is used
// when the ref names no kind (for spec.owner Backstage implies "group"); it
// may be empty, in which case a kind-less ref is an error. The namespace
// defaults to "default".
//
// Unlike Backstage's lenient parser, ParseRef also checks each part against
// Backstage's default validation rules, so "a:b:c" (a name containing ':')
// is rejected here rather than failing later as an unknown entity.
func ParseRef(s, defaultKind string) (Ref, error) {
	return ParseRefIn(s, defaultKind, DefaultNamespace)
}

// ParseRefIn is ParseRef with a default namespace. Backstage resolves a
// namespace-less ref written inside an entity against that entity's own
// namespace, not "default", so the file parser uses this form.
func ParseRefIn(s, defaultKind, defaultNamespace string) (Ref, error) {
	r, err := splitRef(s, defaultKind, defaultNamespace)
	if err != nil {
		return Ref{}, err
	}
	if !validKind(r.Kind) {
		return Ref{}, fmt.Errorf("invalid entity ref %q: kind %q must be a letter followed by letters or digits", s, r.Kind)
	}
	if !validNamespace(r.Namespace) {
		return Ref{}, fmt.Errorf("invalid entity ref %q: namespace %q must be lower-case letters, digits and single dashes, at most 63 characters", s, r.Namespace)
	}
	if !validName(r.Name) {
		return Ref{}, fmt.Errorf("invalid entity ref %q: name %q must be letters and digits, optionally separated by '-', '_' or '.', at most 63 characters", s, r.Name)
	}
	return r, nil
}

// splitRef cuts s into its parts exactly as Backstage's parseEntityRef does,
// without checking the characters of each part. Entities fetched from a
// Backstage backend were accepted by its (possibly customised) validators, so
// the client re-checks only what Backstage itself checks.
func splitRef(s, defaultKind, defaultNamespace string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("invalid entity ref: empty")
	}
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	if slash >= 0 && slash < colon {
		// A ':' after the namespace belongs to the name.
		colon = -1
	}
	kind, ns, name := defaultKind, defaultNamespace, s[max(colon+1, slash+1):]
	if colon >= 0 {
		kind = s[:colon]
		if kind == "" {
			return Ref{}, fmt.Errorf("invalid entity ref %q: empty kind before ':'", s)
		}
	}
	if slash >= 0 {
		ns = s[colon+1 : slash]
		if ns == "" {
			return Ref{}, fmt.Errorf("invalid entity ref %q: empty namespace before '/'", s)
		}
	}
	if name == "" {
		return Ref{}, fmt.Errorf("invalid entity ref %q: empty name", s)
	}
	if kind == "" {
		return Ref{}, fmt.Errorf("invalid entity ref %q: no kind (write it as kind:name, e.g. component:%s)", s, name)
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	return Ref{Kind: strings.ToLower(kind), Namespace: strings.ToLower(ns), Name: name}, nil
}

// String returns the canonical form "kind:namespace/name", all lower-case
// like Backstage's stringifyEntityRef, so it can key maps and match refs
// written with different capitalisation.
func (r Ref) String() string {
	ns := r.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return strings.ToLower(r.Kind + ":" + ns + "/" + r.Name)
}

// Short returns the form people write, "group:payments", omitting the
// namespace when it is the default one; otherwise it is String.
func (r Ref) Short() string {
	if r.Namespace == "" || strings.EqualFold(r.Namespace, DefaultNamespace) {
		return strings.ToLower(r.Kind + ":" + r.Name)
	}
	return r.String()
}

// Equal reports whether r and o name the same entity. Backstage refs are
// case-insensitive, and an empty namespace means the default one.
func (r Ref) Equal(o Ref) bool {
	return r.String() == o.String()
}

var (
	kindRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)
	// Backstage's default rules: a Kubernetes object name for names and an
	// RFC 1123 DNS label for namespaces.
	nameRE      = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	namespaceRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

func validKind(s string) bool      { return len(s) <= 63 && kindRE.MatchString(s) }
func validName(s string) bool      { return len(s) <= 63 && nameRE.MatchString(s) }
func validNamespace(s string) bool { return len(s) <= 63 && namespaceRE.MatchString(s) }
