package config

import (
	"encoding"
	"fmt"
	"github.com/mandatehq/mandate/yamlerr"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file turns a yaml.Node tree into the Config structs.
//
// Why not yaml.Decoder with KnownFields(true)? Its type errors carry a line
// but no path ("line 5: cannot unmarshal !!str `alice` into []string"), it
// keeps no record of where each decoded field sat, and an error from a custom
// unmarshaler (a bad duration) aborts the whole decode. Walking the node tree
// ourselves lets every error name its path ("teams[0].members"), collects all
// errors in one pass, and records each path's line for the semantic checks
// that run afterwards. The walker is reflective and driven by `yaml` struct
// tags, so a new top-level section is only a new field on Config (plus a
// validate function).

// maxNodes bounds the work of expanding aliases: a few lines of YAML can
// reference an anchor that references an anchor... ("billion laughs"). A real
// config with thousands of people stays far below it.
const maxNodes = 1_000_000

type decoder struct {
	c         *collector
	expanding map[*yaml.Node]bool // anchors being expanded; re-entering one is a cycle
	budget    int
	exhausted bool
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// decode stores n into v. path names v in messages; line is where v's key
// (or list item) is, which is what a reader looks at for "this field".
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if _, ok := d.c.lines[path]; !ok {
		d.c.lines[path] = line
	}
	if d.exhausted {
		return
	}
	if d.budget--; d.budget < 0 {
		d.exhausted = true
		d.c.add(n.Line, "document too large once aliases are expanded")
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return // the parser rejects unknown anchors; be safe anyway
		}
		if d.expanding[n.Alias] {
			d.fail(n.Line, path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		d.expanding[n.Alias] = true
		// Decode a shallow copy placed at the alias, so a mismatch of the
		// aliased value as a whole is reported where it is used.
		target := *n.Alias
		target.Line = n.Line
		d.decode(&target, v, path, line)
		delete(d.expanding, n.Alias)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the zero value, like a missing key
	}

	// Types that decode themselves (Duration, and later section types).
	if v.CanAddr() {
		switch {
		case v.Addr().Type().Implements(yamlUnmarshalerType):
			if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.fail(n.Line, path, "%s", cleanYAMLError(err))
			}
			return
		case v.Addr().Type().Implements(textUnmarshalerType):
			if n.Kind != yaml.ScalarNode {
				d.wrongType(n, path, "a string")
				return
			}
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.fail(n.Line, path, "%s", err.Error())
			}
			return
		}
	}

	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path, line)
		v.Set(p)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.wrongType(n, path, "a string")
			return
		}
		// Any scalar is text: slack: U0123, id: 42, start: "09:00" are all fine.
		v.SetString(n.Value)
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		d.decodeNumber(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.wrongType(n, path, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), indexPath(path, i), item.Line)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.wrongType(n, path, "a mapping")
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			panic("config: map keys must be strings: " + v.Type().String())
		}
		m := reflect.MakeMap(v.Type())
		for _, e := range d.entries(n, path) {
			val := reflect.New(v.Type().Elem()).Elem()
			d.decode(e.val, val, fieldPath(path, e.name), e.key.Line)
			m.SetMapIndex(reflect.ValueOf(e.name).Convert(v.Type().Key()), val)
		}
		v.Set(m)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.wrongType(n, path, "a mapping")
			return
		}
		fields := structFields(v.Type())
		for _, e := range d.entries(n, path) {
			i, ok := fields[e.name]
			if !ok {
				d.unknownKey(e, path, fields)
				continue
			}
			d.decode(e.val, v.Field(i), fieldPath(path, e.name), e.key.Line)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n.Line, path, "%s", cleanYAMLError(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		// A programming error in this package, not a user error.
		panic("config: unsupported field type " + v.Type().String())
	}
}

// decodeNumber handles bools and numbers by letting yaml resolve the scalar
// (so 0x10, 1e3 and true mean what YAML says), with our own message on failure.
func (d *decoder) decodeNumber(n *yaml.Node, v reflect.Value, path string) {
	var want string
	switch v.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	default:
		want = "a whole number"
	}
	if n.Kind != yaml.ScalarNode {
		d.wrongType(n, path, want)
		return
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		d.fail(n.Line, path, "expected %s, got %s", want, describe(n))
		return
	}
	v.Set(p.Elem())
}

// entry is one key/value pair of a mapping, after merges are applied.
type entry struct {
	name     string
	key, val *yaml.Node
}

// entries lists a mapping's pairs, reporting duplicate keys and non-string
// keys, and applying YAML merge keys (<<: *defaults), which let a file share
// a block such as business hours; explicit keys win over merged ones.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var out []entry
	first := map[string]int{} // key -> line of its first occurrence
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merges = append(merges, val)
			continue
		}
		name, ok := keyName(k)
		if !ok {
			d.fail(k.Line, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if at, dup := first[name]; dup {
			d.c.atf(k.Line, path, "duplicate key %q (first at line %d)", name, at)
			continue
		}
		first[name] = k.Line
		out = append(out, entry{name, k, val})
	}
	for _, m := range merges {
		for _, src := range d.mergeSources(m, path) {
			// Merged entries cost work without passing through decode, so
			// they count against the same budget as expanded aliases.
			if d.budget -= len(src.Content) / 2; d.budget < 0 {
				if !d.exhausted {
					d.exhausted = true
					d.c.add(m.Line, "document too large once aliases are expanded")
				}
				return out
			}
			for i := 0; i+1 < len(src.Content); i += 2 {
				k, val := src.Content[i], src.Content[i+1]
				name, ok := keyName(k)
				if !ok || isMerge(k) {
					continue // nested merges and odd keys: reported where the anchor is used directly
				}
				if _, dup := first[name]; dup {
					continue
				}
				first[name] = k.Line
				out = append(out, entry{name, k, val})
			}
		}
	}
	return out
}

// mergeSources resolves the value of a << key: a mapping, an alias to one, or
// a list of those.
func (d *decoder) mergeSources(m *yaml.Node, path string) []*yaml.Node {
	resolve := func(x *yaml.Node) *yaml.Node {
		if x.Kind == yaml.AliasNode {
			x = x.Alias
		}
		if x == nil || x.Kind != yaml.MappingNode {
			return nil
		}
		return x
	}
	if src := resolve(m); src != nil {
		return []*yaml.Node{src}
	}
	if m.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, x := range m.Content {
			src := resolve(x)
			if src == nil {
				d.fail(x.Line, path, "<< merges mappings, got %s", describe(x))
				continue
			}
			out = append(out, src)
		}
		return out
	}
	d.fail(m.Line, path, "<< merges mappings, got %s", describe(m))
	return nil
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge"
}

func keyName(k *yaml.Node) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", false
	}
	return k.Value, true
}

func (d *decoder) unknownKey(e entry, path string, fields map[string]int) {
	where := "in " + path
	if path == "" {
		where = "at the top level"
	}
	msg := fmt.Sprintf("unknown key %q %s", e.name, where)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	if s := suggest(e.name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	// The message already says where, so no path prefix.
	d.c.add(e.key.Line, msg)
}

func (d *decoder) wrongType(n *yaml.Node, path, want string) {
	d.fail(n.Line, path, "expected %s, got %s", want, describe(n))
}

// fail records a decoding error and marks path as failed, so the semantic
// checks do not pile "required" or "unknown" errors on top of it.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.c.atf(line, path, format, args...)
	d.c.failed[path] = true
}

// describe says what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

// structFields maps yaml keys to field indexes; `yaml:"-"` and unexported
// fields are skipped. Untagged fields use the lower-cased field name, as
// yaml.v3 does.
func structFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = i
	}
	return out
}

// syntaxError turns a yaml.v3 parse error into a line and message, correcting
// the line where yaml.v3 gets it wrong.
func syntaxError(err error, data []byte) (int, string) {
	line, msg, anchor := yamlerr.Locate(err, data)
	if anchor != "" {
		return line, fmt.Sprintf("unknown anchor %q (aliases must follow their &anchor)", anchor)
	}
	return line, msg
}

// cleanYAMLError strips yaml.v3's prefixes from an error returned by a
// custom UnmarshalYAML, keeping only the messages.
func cleanYAMLError(err error) string {
	if te, ok := err.(*yaml.TypeError); ok {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			_, msgs[i] = yamlerr.Split(fmt.Errorf("%s", e))
		}
		return strings.Join(msgs, "; ")
	}
	_, msg := yamlerr.Split(err)
	return msg
}

// suggest returns the candidate closest to s if it is close enough to be a
// likely typo, else "".
func suggest(s string, candidates []string) string {
	limit := 2
	switch {
	case len(s) <= 2:
		return "" // every short id is "close" to every other
	case len(s) <= 4:
		limit = 1
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if dist := editDistance(s, c); dist < bestDist || (dist == bestDist && c < best) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance, on bytes (keys and ids are ASCII).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not a typo; and keeps the cost bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
