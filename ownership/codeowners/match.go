package codeowners

import (
	"hash/maphash"
	"sort"
	"strings"
)

// Matcher answers which rule of a CODEOWNERS file owns a path. It is
// immutable and safe for concurrent use.
//
// Scanning every rule (as GitHub's docs describe the semantics, and as
// github.com/hmarr/codeowners does) costs up to a millisecond per path on a
// large file. Instead the rules form a trie over path segments: a node has
// literal children, a "*" child, glob children (indexed by file extension
// where the glob ends in one), a "**" child, and the highest rule index
// ending there in each match mode. A lookup walks the path's segments once,
// following every edge that matches, and keeps the highest rule index seen,
// which is the last matching line. Each node also knows the highest rule
// index anywhere below it, so a walk skips subtrees that cannot beat what it
// already found.
//
// The layout is chosen for the cache, which dominates the cost once the file
// is large: nodes are small structs in one slice, referred to by index; every
// name used in a pattern is interned to an integer ID, so each path segment
// is hashed once; and all literal edges live in one open-addressing table
// keyed by (node, name ID), so following an edge is one probe into a compact
// array rather than a walk through per-node maps.
type Matcher struct {
	rules []Rule
	names internTable // literal names and glob extension keys
	nodes []node      // nodes[0] is the root
	lits  edgeTable   // (node, name ID) -> child node
	exts  edgeTable   // (node, extension ID) -> globs[a:b]
	globs []globEdge  // glob edges, grouped per node and extension
}

type node struct {
	// Highest rule index ending here, per mode; -1 if none.
	anyIdx, exactIdx, belowIdx int32
	// Highest rule index ending here or anywhere below; -1 if none.
	maxIdx int32
	// Children by index; 0 (the root, never a child) means none.
	anySeg, star int32
	// Glob edges with no extension key: globs[globLo:globHi].
	globLo, globHi int32
	flags          uint8
}

const (
	hasLits uint8 = 1 << iota // has literal edges in Matcher.lits
	hasExts                   // has extension-keyed glob edges in Matcher.exts
	hasKids                   // has any child but "**": the walk must keep it
)

type globEdge struct {
	g     *glob
	child int32
}

// Compile builds a Matcher from a parsed file. Rules are copied, so later
// changes to f do not affect the Matcher. A rule whose pattern does not
// compile (possible only in a File built by hand, since Parse drops such
// lines) never matches.
func Compile(f *File) *Matcher {
	m := &Matcher{}
	if f == nil {
		return m
	}
	m.rules = append([]Rule(nil), f.Rules...)
	b := newBuilder()
	for i := range m.rules {
		p, err := compilePattern(m.rules[i].Pattern)
		if err != nil {
			continue
		}
		b.insert(p, int32(i))
	}
	b.freeze(m)
	return m
}

// Match returns the last rule of the file matching path, a repository-relative
// path with "/" separators (a leading "/" is ignored). ok is false when no
// rule matches. A returned rule may have no owners: the path is then
// explicitly unowned. The returned rule belongs to the Matcher and must not be
// modified.
func (m *Matcher) Match(path string) (rule *Rule, ok bool) {
	if m == nil || len(m.nodes) == 0 {
		return nil, false
	}
	i := m.match(strings.TrimPrefix(path, "/"))
	if i < 0 {
		return nil, false
	}
	return &m.rules[i], true
}

// Owners returns the owners of path: nil when no rule matches or the matching
// rule leaves the path unowned.
func (m *Matcher) Owners(path string) []string {
	if r, ok := m.Match(path); ok {
		return r.Owners
	}
	return nil
}

// Rules returns the compiled rules in file order. The slice belongs to the
// Matcher and must not be modified.
func (m *Matcher) Rules() []Rule {
	if m == nil {
		return nil
	}
	return m.rules
}

// segKey is one path segment as the walk sees it.
type segKey struct {
	name  string
	id    int32 // name's ID, or -1 if no pattern uses the name
	extID int32 // ID of the name's extension; -2 until first needed
}

// match walks the trie along path and returns the highest matching rule
// index, or -1.
//
// The walk keeps the set of nodes reached after each segment ("cur") and the
// "**" nodes reached so far ("sticky"): a "**" matches zero or more segments,
// so once reached it stays live for every later segment. Every other node is
// reached from its parent only, so it appears at most once per step and the
// sets need no de-duplication except for sticky nodes.
func (m *Matcher) match(path string) int32 {
	if path == "" {
		return -1
	}
	nodes := m.nodes
	best := int32(-1)
	var curBuf, nextBuf [16]int32
	var stickyBuf [8]int32
	cur, next, sticky := curBuf[:0], nextBuf[:0], stickyBuf[:0]
	cur = append(cur, 0)
	if s := nodes[0].star; s != 0 {
		sticky = append(sticky, s)
	}

	rest := path
	for {
		k := segKey{name: rest, extID: -2}
		atEnd := true
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			k.name, rest, atEnd = rest[:i], rest[i+1:], false
		}

		next = next[:0]
		if k.name != "" { // an empty segment ("a//b", "dir/") matches no edge
			k.id = m.names.lookup(k.name)
			for _, x := range cur {
				if nodes[x].maxIdx > best {
					next = m.step(x, &k, next)
				}
			}
			for _, s := range sticky {
				if nodes[s].maxIdx > best {
					next = m.step(s, &k, next)
				}
			}
		}

		kept := next[:0]
		for _, ci := range next {
			c := &nodes[ci]
			if c.anyIdx > best {
				best = c.anyIdx
			}
			if atEnd {
				if c.exactIdx > best {
					best = c.exactIdx
				}
				continue
			}
			if c.belowIdx > best {
				best = c.belowIdx
			}
			if c.star != 0 && !contains(sticky, c.star) {
				sticky = append(sticky, c.star)
			}
			if c.flags&hasKids != 0 {
				kept = append(kept, ci)
			}
		}
		if atEnd || len(kept) == 0 && len(sticky) == 0 {
			return best
		}
		cur, next = kept, cur
	}
}

// step appends the children of node xi that segment k (a non-empty name)
// leads to.
func (m *Matcher) step(xi int32, k *segKey, out []int32) []int32 {
	x := &m.nodes[xi]
	if x.flags&hasLits != 0 && k.id >= 0 {
		if c, _, ok := m.lits.get(xi, k.id); ok {
			out = append(out, c)
		}
	}
	if x.anySeg != 0 {
		out = append(out, x.anySeg)
	}
	if x.flags&hasExts != 0 {
		if k.extID == -2 {
			k.extID = -1
			if dot := strings.LastIndexByte(k.name, '.'); dot >= 0 {
				k.extID = m.names.lookup(k.name[dot:])
			}
		}
		if k.extID >= 0 {
			if lo, hi, ok := m.exts.get(xi, k.extID); ok {
				for _, e := range m.globs[lo:hi] {
					if e.g.match(k.name) {
						out = append(out, e.child)
					}
				}
			}
		}
	}
	for _, e := range m.globs[x.globLo:x.globHi] {
		if e.g.match(k.name) {
			out = append(out, e.child)
		}
	}
	return out
}

func contains(ns []int32, n int32) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// internTable maps names to dense IDs. It is an open-addressing table at
// most half full, hashed with the runtime's string hash. The names' bytes sit
// together in one string, and each slot holds its name's place there, so a
// lookup reads two small, hot arrays instead of chasing string pointers.
type internTable struct {
	seed  maphash.Seed
	slots []internSlot
	text  string // all names, concatenated
	shift uint8
}

type internSlot struct {
	hash   uint32 // low bits of the name's hash, to skip most compares
	id     int32  // -1: empty
	off, n uint32 // the name is text[off : off+n]
}

func (t *internTable) build(names []string) {
	t.seed = maphash.MakeSeed()
	t.text = strings.Join(names, "")
	size, bits := tableSize(len(names))
	t.slots = make([]internSlot, size)
	t.shift = 64 - bits
	for i := range t.slots {
		t.slots[i].id = -1
	}
	mask := uint64(size - 1)
	off := uint32(0)
	for id, name := range names {
		h := maphash.String(t.seed, name)
		i := h >> t.shift
		for t.slots[i].id >= 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = internSlot{hash: uint32(h), id: int32(id), off: off, n: uint32(len(name))}
		off += uint32(len(name))
	}
}

// lookup returns name's ID, or -1 if no pattern uses name.
func (t *internTable) lookup(name string) int32 {
	if len(t.slots) == 0 {
		return -1
	}
	h := maphash.String(t.seed, name)
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id < 0 {
			return -1
		}
		if s.hash == uint32(h) && int(s.n) == len(name) && t.text[s.off:s.off+s.n] == name {
			return s.id
		}
	}
}

// edgeTable maps (node, name ID) to two int32s, by open addressing at most
// half full. Literal edges store the child in a; extension edges store a
// range of Matcher.globs in a and b.
type edgeTable struct {
	slots []edgeSlot
	shift uint8
}

type edgeSlot struct {
	key  uint64 // edgeKey(node, id); 0: empty
	a, b int32
}

// edgeKey never returns 0, which marks an empty slot: the node part is
// stored plus one.
func edgeKey(node, id int32) uint64 { return uint64(uint32(node)+1)<<32 | uint64(uint32(id)) }

func (t *edgeTable) slot(key uint64) uint64 { return key * 0x9E3779B97F4A7C15 >> t.shift }

func (t *edgeTable) init(n int) {
	size, bits := tableSize(n)
	t.slots = make([]edgeSlot, size)
	t.shift = 64 - bits
}

func (t *edgeTable) put(node, id, a, b int32) {
	key := edgeKey(node, id)
	mask := uint64(len(t.slots) - 1)
	i := t.slot(key)
	for t.slots[i].key != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = edgeSlot{key: key, a: a, b: b}
}

func (t *edgeTable) get(node, id int32) (a, b int32, ok bool) {
	if len(t.slots) == 0 {
		return 0, 0, false
	}
	key := edgeKey(node, id)
	mask := uint64(len(t.slots) - 1)
	for i := t.slot(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return s.a, s.b, true
		}
		if s.key == 0 {
			return 0, 0, false
		}
	}
}

// tableSize returns a power of two at least twice n (at least 2) and its log2.
func tableSize(n int) (size int, bits uint8) {
	size, bits = 2, 1
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	return size, bits
}

// builder is the mutable trie Compile fills before freezing it into the
// Matcher's flat layout.
type builder struct {
	root *bnode
	n    int
}

type bnode struct {
	lits   map[string]*bnode
	anySeg *bnode
	globs  map[string]*bglob
	star   *bnode

	anyIdx, exactIdx, belowIdx int32
}

type bglob struct {
	g     *glob
	child *bnode
}

func newBuilder() *builder {
	b := &builder{}
	b.root = b.newNode()
	return b
}

func (b *builder) newNode() *bnode {
	b.n++
	return &bnode{anyIdx: -1, exactIdx: -1, belowIdx: -1}
}

func (b *builder) insert(p compiledPattern, idx int32) {
	x := b.root
	for _, s := range p.segs {
		switch s.kind {
		case segLit:
			c := x.lits[s.lit]
			if c == nil {
				if x.lits == nil {
					x.lits = make(map[string]*bnode)
				}
				c = b.newNode()
				x.lits[s.lit] = c
			}
			x = c
		case segAny:
			if x.anySeg == nil {
				x.anySeg = b.newNode()
			}
			x = x.anySeg
		case segGlob:
			e := x.globs[s.lit]
			if e == nil {
				if x.globs == nil {
					x.globs = make(map[string]*bglob)
				}
				e = &bglob{g: s.glob, child: b.newNode()}
				x.globs[s.lit] = e
			}
			x = e.child
		case segStar:
			if x.star == nil {
				x.star = b.newNode()
			}
			x = x.star
		}
	}
	// Rules arrive in file order, so a later rule simply replaces an earlier
	// one with the same pattern shape: the last line wins.
	switch p.mode {
	case modeAny:
		x.anyIdx = idx
	case modeExact:
		x.exactIdx = idx
	case modeBelow:
		x.belowIdx = idx
	}
}

// freeze numbers the nodes depth-first (parents before children, the root
// 0), interns names, and fills the Matcher's tables.
func (b *builder) freeze(m *Matcher) {
	m.nodes = make([]node, 0, b.n)
	ids := map[string]int32{}
	var names []string
	id := func(name string) int32 {
		i, ok := ids[name]
		if !ok {
			i = int32(len(names))
			ids[name] = i
			names = append(names, name)
		}
		return i
	}
	type litEdge struct{ node, id, child int32 }
	type extEdge struct{ node, id, lo, hi int32 }
	var lits []litEdge
	var exts []extEdge

	var conv func(*bnode) int32
	conv = func(bn *bnode) int32 {
		xi := int32(len(m.nodes))
		m.nodes = append(m.nodes, node{anyIdx: bn.anyIdx, exactIdx: bn.exactIdx, belowIdx: bn.belowIdx})
		maxIdx := max(bn.anyIdx, bn.exactIdx, bn.belowIdx)
		var flags uint8
		child := func(bc *bnode) int32 {
			ci := conv(bc)
			maxIdx = max(maxIdx, m.nodes[ci].maxIdx)
			return ci
		}

		names := make([]string, 0, len(bn.lits))
		for name := range bn.lits {
			names = append(names, name)
		}
		sort.Strings(names) // a deterministic layout
		for _, name := range names {
			lits = append(lits, litEdge{node: xi, id: id(name), child: child(bn.lits[name])})
			flags |= hasLits | hasKids
		}
		var anySeg int32
		if bn.anySeg != nil {
			anySeg = child(bn.anySeg)
			flags |= hasKids
		}

		// Glob edges: children first (conv appends to m.globs too), then
		// this node's edges, grouped by extension key, as one run.
		keys := make([]string, 0, len(bn.globs))
		for k := range bn.globs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			ei, ej := bn.globs[keys[i]].g.extKey(), bn.globs[keys[j]].g.extKey()
			if ei != ej {
				return ei < ej
			}
			return keys[i] < keys[j]
		})
		edges := make([]globEdge, len(keys))
		for i, k := range keys {
			e := bn.globs[k]
			edges[i] = globEdge{g: e.g, child: child(e.child)}
			flags |= hasKids
		}
		base := int32(len(m.globs))
		m.globs = append(m.globs, edges...)
		var globLo, globHi int32
		for i := 0; i < len(edges); {
			ext := edges[i].g.extKey()
			j := i
			for j < len(edges) && edges[j].g.extKey() == ext {
				j++
			}
			if ext == "" {
				globLo, globHi = base+int32(i), base+int32(j)
			} else {
				exts = append(exts, extEdge{node: xi, id: id(ext), lo: base + int32(i), hi: base + int32(j)})
				flags |= hasExts
			}
			i = j
		}

		var star int32
		if bn.star != nil {
			star = child(bn.star)
		}
		x := &m.nodes[xi]
		x.maxIdx, x.flags = maxIdx, flags
		x.anySeg, x.star = anySeg, star
		x.globLo, x.globHi = globLo, globHi
		return xi
	}
	conv(b.root)

	m.names.build(names)
	m.lits.init(len(lits))
	for _, e := range lits {
		m.lits.put(e.node, e.id, e.child, 0)
	}
	m.exts.init(len(exts))
	for _, e := range exts {
		m.exts.put(e.node, e.id, e.lo, e.hi)
	}
}
