package catalog

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldError is a problem in one entity, anchored at the node that shows it.
// ParseFile turns the node into a file line; the client, whose nodes carry no
// lines, names the entity instead.
type fieldError struct {
	node *yaml.Node // nil: the problem is the document as a whole
	msg  string
}

func errAt(n *yaml.Node, format string, args ...any) *fieldError {
	return &fieldError{node: n, msg: fmt.Sprintf(format, args...)}
}

// maxAliasHops bounds alias chasing. yaml.v3 rejects self-referencing anchors,
// but a bound keeps a hostile document from ever looping here.
const maxAliasHops = 64

// resolve follows aliases so that "*anchor" reads like the anchored node.
// Only the node asked for is followed, never whole subtrees, so aliases cannot
// multiply the work (no "billion laughs").
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for error messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return "a scalar"
	case n.Kind == yaml.AliasNode:
		return "an alias cycle"
	}
	return "an unknown node"
}

// mapping is a YAML mapping indexed by key, remembering where it sits in the
// entity ("spec.profile") so errors can name the full field path.
type mapping struct {
	node *yaml.Node
	path string
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

// newMapping indexes n, which must be a mapping. Duplicate keys are errors:
// Backstage's YAML parser rejects them, and silently keeping one of two
// owners would be worse.
func newMapping(n *yaml.Node, path string) (*mapping, *fieldError) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a mapping, got %s", path, describe(n))
	}
	m := &mapping{node: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			// Unknown fields are allowed and a complex key can never
			// be one of the fields read here.
			continue
		}
		if _, dup := m.keys[k.Value]; dup {
			return nil, errAt(n.Content[i], "duplicate key %q in %s", k.Value, m.name())
		}
		m.keys[k.Value] = n.Content[i]
		m.vals[k.Value] = n.Content[i+1]
	}
	return m, nil
}

func (m *mapping) name() string {
	if m.path == "" {
		return "the entity"
	}
	return m.path
}

func (m *mapping) field(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

// value returns the resolved value of key, or nil when the key is absent or
// null: "owner:" with nothing after it means no owner.
func (m *mapping) value(key string) *yaml.Node {
	v := resolve(m.vals[key])
	if isNull(v) {
		return nil
	}
	return v
}

// at returns the node to blame for key: its value if present, else the
// mapping itself (whose line is where the missing field belongs).
func (m *mapping) at(key string) *yaml.Node {
	if v := m.vals[key]; v != nil {
		return v
	}
	if k := m.keys[key]; k != nil {
		return k
	}
	return m.node
}

func (m *mapping) str(key string) (string, *fieldError) {
	v := m.value(key)
	if v == nil {
		return "", nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", errAt(m.vals[key], "%s must be a string, got %s", m.field(key), describe(v))
	}
	return v.Value, nil
}

// looseStr is str for fields whose meaning is unknown (custom kinds): a
// value of another shape is ignored rather than an error.
func (m *mapping) looseStr(key string) string {
	if v := m.value(key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func (m *mapping) required(key string) (string, *fieldError) {
	s, err := m.str(key)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", errAt(m.at(key), "missing %s", m.field(key))
	}
	return s, nil
}

func (m *mapping) list(key string) ([]string, *fieldError) {
	v := m.value(key)
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, errAt(m.vals[key], "%s must be a list, got %s", m.field(key), describe(v))
	}
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		r := resolve(item)
		if isNull(r) || r.Kind != yaml.ScalarNode || r.Value == "" {
			return nil, errAt(item, "%s[%d] must be a non-empty string, got %s", m.field(key), i, describe(r))
		}
		out = append(out, r.Value)
	}
	return out, nil
}

func (m *mapping) sub(key string) (*mapping, *fieldError) {
	if m.value(key) == nil {
		return nil, nil
	}
	return newMapping(m.vals[key], m.field(key))
}

// strMap reads annotations and labels. Values are scalars; Backstage wants
// strings, but "port: 8080" unquoted is a common slip that costs nothing to
// accept.
func (m *mapping) strMap(key string) (map[string]string, *fieldError) {
	sub, err := m.sub(key)
	if sub == nil || err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sub.vals))
	for k, v := range sub.vals {
		r := resolve(v)
		switch {
		case isNull(r):
			out[k] = ""
		case r.Kind == yaml.ScalarNode:
			out[k] = r.Value
		default:
			return nil, errAt(v, "%s must be a string, got %s", sub.field(k), describe(r))
		}
	}
	return out, nil
}

// refParser checks entity refs: strictly (Backstage's default validation
// rules) for descriptor files, leniently (only the split Backstage itself
// does) for entities a backend already accepted.
type refParser struct {
	strict bool
	ns     string // the entity's namespace, the default for its refs
}

func (p refParser) parse(s, defaultKind string) (Ref, error) {
	if p.strict {
		return ParseRefIn(s, defaultKind, p.ns)
	}
	return splitRef(s, defaultKind, p.ns)
}

// ref reads key as a single entity ref, returning it as written.
func (p refParser) ref(m *mapping, key, defaultKind string) (string, *Ref, *fieldError) {
	s, ferr := m.str(key)
	if ferr != nil || s == "" {
		return "", nil, ferr
	}
	r, err := p.parse(s, defaultKind)
	if err != nil {
		return "", nil, errAt(m.vals[key], "%s: %v", m.field(key), err)
	}
	return s, &r, nil
}

// refs reads key as a list of entity refs, returning them as written.
func (p refParser) refs(m *mapping, key, defaultKind string) ([]string, *fieldError) {
	list, ferr := m.list(key)
	if ferr != nil {
		return nil, ferr
	}
	items := resolve(m.vals[key])
	for i, s := range list {
		if _, err := p.parse(s, defaultKind); err != nil {
			return nil, errAt(items.Content[i], "%s[%d]: %v", m.field(key), i, err)
		}
	}
	return list, nil
}

// decodeEntity turns one entity tree into an Entity. It returns the node of
// the "kind" key, which is the line an entity's Location points at. strict
// applies Backstage's default name rules, for descriptor files.
func decodeEntity(root *yaml.Node, strict bool) (Entity, *yaml.Node, *fieldError) {
	var e Entity
	if r := resolve(root); r == nil || r.Kind != yaml.MappingNode {
		return e, nil, errAt(root, "an entity must be a mapping (apiVersion, kind, metadata, spec), got %s", describe(r))
	}
	top, ferr := newMapping(root, "")
	if ferr != nil {
		return e, nil, ferr
	}
	if e.APIVersion, ferr = top.required("apiVersion"); ferr != nil {
		return e, nil, ferr
	}
	if e.Kind, ferr = top.required("kind"); ferr != nil {
		return e, nil, ferr
	}
	kindKey := top.keys["kind"]
	if strict && !validKind(e.Kind) {
		return e, nil, errAt(top.vals["kind"], "kind %q must be a letter followed by letters or digits", e.Kind)
	}

	md, ferr := top.sub("metadata")
	if ferr != nil {
		return e, nil, ferr
	}
	if md == nil {
		return e, nil, errAt(top.at("metadata"), "missing metadata (with metadata.name)")
	}
	if e.Name, ferr = md.required("name"); ferr != nil {
		return e, nil, ferr
	}
	if strict && !validName(e.Name) {
		return e, nil, errAt(md.vals["name"], "metadata.name %q must be letters and digits, optionally separated by '-', '_' or '.', at most 63 characters", e.Name)
	}
	if e.Namespace, ferr = md.str("namespace"); ferr != nil {
		return e, nil, ferr
	}
	if e.Namespace == "" {
		e.Namespace = DefaultNamespace
	} else if strict && !validNamespace(e.Namespace) {
		return e, nil, errAt(md.vals["namespace"], "metadata.namespace %q must be lower-case letters, digits and single dashes, at most 63 characters", e.Namespace)
	}
	if e.Title, ferr = md.str("title"); ferr != nil {
		return e, nil, ferr
	}
	if e.Description, ferr = md.str("description"); ferr != nil {
		return e, nil, ferr
	}
	if e.Annotations, ferr = md.strMap("annotations"); ferr != nil {
		return e, nil, ferr
	}
	if e.Labels, ferr = md.strMap("labels"); ferr != nil {
		return e, nil, ferr
	}
	if e.Tags, ferr = md.list("tags"); ferr != nil {
		return e, nil, ferr
	}

	spec, ferr := top.sub("spec")
	if ferr != nil || spec == nil {
		// Some kinds (Location with only a target elsewhere, custom
		// kinds) legitimately have no spec.
		return e, kindKey, ferr
	}
	if ferr := decodeSpec(&e, spec, refParser{strict: strict, ns: strings.ToLower(e.Namespace)}); ferr != nil {
		return e, nil, ferr
	}
	return e, kindKey, nil
}

// decodeSpec reads the spec fields of the built-in kinds. Only the fields a
// kind defines are read and checked: custom kinds may give the same names
// other meanings, and Backstage ignores them there too. spec.owner is read
// for every kind because ownership is what this package is for.
func decodeSpec(e *Entity, spec *mapping, p refParser) *fieldError {
	var ferr *fieldError
	if e.Owner, e.OwnerRef, ferr = p.ref(spec, "owner", "group"); ferr != nil {
		return ferr
	}
	kind := strings.ToLower(e.Kind)
	switch kind {
	case "component", "api", "resource", "system", "domain", "group":
		if e.Type, ferr = spec.str("type"); ferr != nil {
			return ferr
		}
	default:
		e.Type = spec.looseStr("type")
	}
	switch kind {
	case "component", "api":
		if e.Lifecycle, ferr = spec.str("lifecycle"); ferr != nil {
			return ferr
		}
	}
	switch kind {
	case "component", "api", "resource":
		if e.System, _, ferr = p.ref(spec, "system", "system"); ferr != nil {
			return ferr
		}
	}
	switch kind {
	case "component", "resource":
		// Backstage gives dependsOn no default kind: a component can
		// depend on components and resources alike.
		if e.DependsOn, ferr = p.refs(spec, "dependsOn", ""); ferr != nil {
			return ferr
		}
	}
	switch kind {
	case "component":
		if e.SubcomponentOf, _, ferr = p.ref(spec, "subcomponentOf", "component"); ferr != nil {
			return ferr
		}
		if e.ProvidesAPIs, ferr = p.refs(spec, "providesApis", "api"); ferr != nil {
			return ferr
		}
		if e.ConsumesAPIs, ferr = p.refs(spec, "consumesApis", "api"); ferr != nil {
			return ferr
		}
	case "system":
		if e.Domain, _, ferr = p.ref(spec, "domain", "domain"); ferr != nil {
			return ferr
		}
	case "group":
		if e.Parent, _, ferr = p.ref(spec, "parent", "group"); ferr != nil {
			return ferr
		}
		if e.Children, ferr = p.refs(spec, "children", "group"); ferr != nil {
			return ferr
		}
		if e.Members, ferr = p.refs(spec, "members", "user"); ferr != nil {
			return ferr
		}
	case "user":
		if e.MemberOf, ferr = p.refs(spec, "memberOf", "group"); ferr != nil {
			return ferr
		}
	}
	if kind == "user" || kind == "group" {
		profile, ferr := spec.sub("profile")
		if ferr != nil {
			return ferr
		}
		if profile != nil {
			if e.Email, ferr = profile.str("email"); ferr != nil {
				return ferr
			}
			if e.DisplayName, ferr = profile.str("displayName"); ferr != nil {
				return ferr
			}
		}
	}
	return nil
}

// jsonNode converts a JSON value (decoded with UseNumber) into a yaml.Node so
// fetched entities go through the same decoder as files. Keys are sorted so
// the first problem reported is always the same one.
func jsonNode(v any) *yaml.Node {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, jsonNode(v[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, item := range v {
			n.Content = append(n.Content, jsonNode(item))
		}
		return n
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	default: // json.Number, bool
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
	}
}
