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
// The layout keeps what a lookup touches small and close together (about
// 40% less memory than a map per node): nodes are small structs in one
// slice, referred to by index; every name used in a pattern is interned to an
// integer ID, so each path segment is hashed once however many nodes it is
// looked up in; and all literal edges live in one open-addressing table keyed
// by (node, name ID), so following an edge is one probe into a compact array.
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
	b := newBuilder(m)
	for i := range m.rules {
		pattern := m.rules[i].Pattern
		var p compiledPattern
		if i < len(f.compiled) && f.compiled[i].src == pattern {
			p = f.compiled[i]
		} else {
			var err error
			if p, err = compilePattern(pattern); err != nil {
				continue
			}
		}
		b.insert(p, int32(i))
	}
	b.finish()
	return m
}

// Match returns the last rule of the file matching path, a repository-relative
// path with "/" separators (a leading "/" is ignored; a trailing "/" asks
// about a directory, which directory patterns such as "apps/" match). ok is
// false when no rule matches. A returned rule may have no owners: the path is then
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

// match walks the trie along path and returns the highest matching rule
// index, or -1.
//
// The walk keeps the set of nodes reached after each segment ("cur") and the
// "**" nodes reached so far ("sticky"): a "**" matches zero or more segments,
// so once reached it stays live for every later segment, and each step's
// set starts with them. Every other node is reached from its parent only, so
// it appears at most once per step and the sets need no de-duplication
// except for sticky nodes.
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
		cur = append(cur, s)
	}

	rest := path
	for {
		name, atEnd := rest, true
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			name, rest, atEnd = rest[:i], rest[i+1:], false
		}

		// Children reached by this segment. An empty segment ("a//b",
		// "dir/") matches no edge.
		next = next[:0]
		if name != "" {
			id := m.names.lookup(name)
			extID := int32(-2) // the extension's ID, looked up when first needed
			for _, xi := range cur {
				x := &nodes[xi]
				if x.maxIdx <= best {
					continue // nothing below can beat what we have
				}
				if x.flags&hasLits != 0 && id >= 0 {
					if c := m.lits.find(xi, id); c >= 0 {
						next = append(next, m.lits.slots[c].a)
					}
				}
				if x.anySeg != 0 {
					next = append(next, x.anySeg)
				}
				if x.flags&hasExts != 0 {
					if extID == -2 {
						extID = m.extID(name)
					}
					if extID >= 0 {
						next = m.extGlobs(xi, extID, name, next)
					}
				}
				for _, e := range m.globs[x.globLo:x.globHi] {
					if e.g.match(name) {
						next = append(next, e.child)
					}
				}
			}
		}

		// Score them, and keep those with something below for the next
		// segment, after the sticky nodes.
		nSticky := len(sticky)
		cur = append(cur[:0], sticky...)
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
				cur = append(cur, ci)
			}
		}
		if atEnd {
			return best
		}
		cur = append(cur, sticky[nSticky:]...)
		if len(cur) == 0 {
			return best
		}
	}
}

// extID returns the ID of name's extension (from its last "."), or -1.
func (m *Matcher) extID(name string) int32 {
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
		return m.names.lookup(name[dot:])
	}
	return -1
}

// extGlobs appends the children of node xi reached by its globs keyed by
// extension extID that match name.
func (m *Matcher) extGlobs(xi, extID int32, name string, out []int32) []int32 {
	if s := m.exts.find(xi, extID); s >= 0 {
		e := &m.exts.slots[s]
		for _, g := range m.globs[e.a:e.b] {
			if g.g.match(name) {
				out = append(out, g.child)
			}
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

// find returns the slot holding (node, id), or -1.
func (t *edgeTable) find(node, id int32) int {
	key := edgeKey(node, id)
	mask := len(t.slots) - 1
	i := int(t.slot(key))
	for t.slots[i].key != key {
		if t.slots[i].key == 0 {
			return -1
		}
		i = (i + 1) & mask
	}
	return i
}

// tableSize returns a power of two at least twice n (at least 2) and its log2.
func tableSize(n int) (size int, bits uint8) {
	size, bits = 2, 1
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	return size, bits
}

// builder grows the trie directly in the Matcher's node slice. Nodes are
// numbered in creation order, so a child always comes after its parent and
// the numbering (and so the layout) depends only on the file.
type builder struct {
	m       *Matcher
	parent  []int32          // parent of each node
	litKids map[bkey]int32   // (node, name) -> child
	globIdx map[bkey]int32   // (node, glob key) -> index in globs
	names   map[string]int32 // interned names
	lits    []litEdge        // in creation order
	globs   []bglobEdge      // in creation order
}

type bkey struct {
	node int32
	name string
}

type litEdge struct{ node, id, child int32 }

type bglobEdge struct {
	node int32
	g    *glob
	ext  string // g.extKey()
	kid  int32
}

func newBuilder(m *Matcher) *builder {
	b := &builder{m: m, litKids: map[bkey]int32{}, globIdx: map[bkey]int32{}, names: map[string]int32{}}
	b.newNode(-1)
	return b
}

func (b *builder) newNode(parent int32) int32 {
	b.m.nodes = append(b.m.nodes, node{anyIdx: -1, exactIdx: -1, belowIdx: -1, maxIdx: -1})
	b.parent = append(b.parent, parent)
	return int32(len(b.m.nodes) - 1)
}

func (b *builder) id(name string) int32 {
	i, ok := b.names[name]
	if !ok {
		i = int32(len(b.names))
		b.names[name] = i
	}
	return i
}

func (b *builder) insert(p compiledPattern, idx int32) {
	x := int32(0)
	for _, s := range p.segs {
		switch s.kind {
		case segLit:
			k := bkey{x, s.lit}
			c, ok := b.litKids[k]
			if !ok {
				c = b.newNode(x)
				b.litKids[k] = c
				b.lits = append(b.lits, litEdge{node: x, id: b.id(s.lit), child: c})
				b.m.nodes[x].flags |= hasLits | hasKids
			}
			x = c
		case segAny:
			if b.m.nodes[x].anySeg == 0 {
				c := b.newNode(x)
				b.m.nodes[x].anySeg = c
				b.m.nodes[x].flags |= hasKids
			}
			x = b.m.nodes[x].anySeg
		case segGlob:
			k := bkey{x, s.lit}
			gi, ok := b.globIdx[k]
			if !ok {
				gi = int32(len(b.globs))
				b.globIdx[k] = gi
				b.globs = append(b.globs, bglobEdge{node: x, g: s.glob, ext: s.glob.extKey(), kid: b.newNode(x)})
				b.m.nodes[x].flags |= hasKids
			}
			x = b.globs[gi].kid
		case segStar:
			if b.m.nodes[x].star == 0 {
				b.m.nodes[x].star = b.newNode(x)
			}
			x = b.m.nodes[x].star
		}
	}
	// Rules arrive in file order, so a later rule simply replaces an earlier
	// one with the same pattern shape: the last line wins.
	n := &b.m.nodes[x]
	switch p.mode {
	case modeAny:
		n.anyIdx = idx
	case modeExact:
		n.exactIdx = idx
	case modeBelow:
		n.belowIdx = idx
	}
	n.maxIdx = idx
}

// finish computes each node's subtree maximum, groups the glob edges and
// fills the lookup tables.
func (b *builder) finish() {
	m := b.m
	// Children come after their parents, so one backward pass sees every
	// child before its parent.
	for i := len(m.nodes) - 1; i > 0; i-- {
		p := &m.nodes[b.parent[i]]
		p.maxIdx = max(p.maxIdx, m.nodes[i].maxIdx)
	}

	// Glob edges: one run per node, extension-keyed ones grouped by key.
	sort.SliceStable(b.globs, func(i, j int) bool {
		gi, gj := &b.globs[i], &b.globs[j]
		if gi.node != gj.node {
			return gi.node < gj.node
		}
		return gi.ext < gj.ext
	})
	m.globs = make([]globEdge, len(b.globs))
	type extEdge struct{ node, id, lo, hi int32 }
	var exts []extEdge
	for i := 0; i < len(b.globs); {
		e := b.globs[i]
		j := i
		for j < len(b.globs) && b.globs[j].node == e.node && b.globs[j].ext == e.ext {
			m.globs[j] = globEdge{g: b.globs[j].g, child: b.globs[j].kid}
			j++
		}
		if e.ext == "" {
			m.nodes[e.node].globLo, m.nodes[e.node].globHi = int32(i), int32(j)
		} else {
			exts = append(exts, extEdge{node: e.node, id: b.id(e.ext), lo: int32(i), hi: int32(j)})
			m.nodes[e.node].flags |= hasExts
		}
		i = j
	}

	names := make([]string, len(b.names))
	for name, id := range b.names {
		names[id] = name
	}
	m.names.build(names)
	m.lits.init(len(b.lits))
	for _, e := range b.lits {
		m.lits.put(e.node, e.id, e.child, 0)
	}
	m.exts.init(len(exts))
	for _, e := range exts {
		m.exts.put(e.node, e.id, e.lo, e.hi)
	}
}
