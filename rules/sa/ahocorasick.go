package sa

import "sort"

// acMatcher finds which of a set of literals occur in a text, in one pass
// (Aho-Corasick): the prefilter's literals are thousands for the body
// rules, and a strings.Contains each cost more than the rules they spare.
// Built once per rule set, read-only afterwards.
type acMatcher struct {
	root  [256]int32 // the root's transitions (-1: stay at the root)
	nodes []acNode

	// the automaton as a DFA: delta[n*nc+class[b]] is the node after
	// node n on byte b, failure links followed, premultiplied (n*nc), and
	// negative (^(n*nc)) when n or a node on its output chain ends a
	// literal; bytes that occur in no literal share class 0.
	class [256]uint8
	nc    int32
	delta []int32
}

type acNode struct {
	edges []acEdge // sorted by byte
	fail  int32
	out   int32 // next node on the suffix chain that ends a literal, or -1
	lits  []int32
}

type acEdge struct {
	b    byte
	next int32
}

func (n *acNode) edge(b byte) int32 {
	e := n.edges
	i := sort.Search(len(e), func(i int) bool { return e[i].b >= b })
	if i < len(e) && e[i].b == b {
		return e[i].next
	}
	return -1
}

func newACMatcher(lits []string) *acMatcher {
	m := &acMatcher{nodes: []acNode{{fail: 0, out: -1}}}
	for id, l := range lits {
		n := int32(0)
		for i := 0; i < len(l); i++ {
			next := m.nodes[n].edge(l[i])
			if next < 0 {
				next = int32(len(m.nodes))
				m.nodes = append(m.nodes, acNode{out: -1})
				e := append(m.nodes[n].edges, acEdge{l[i], next})
				sort.Slice(e, func(a, b int) bool { return e[a].b < e[b].b })
				m.nodes[n].edges = e
			}
			n = next
		}
		m.nodes[n].lits = append(m.nodes[n].lits, int32(id))
	}
	for i := range m.root {
		m.root[i] = -1
	}
	for _, e := range m.nodes[0].edges {
		m.root[e.b] = e.next
	}
	// breadth first: failure links and output links
	queue := make([]int32, 0, len(m.nodes))
	for _, e := range m.nodes[0].edges {
		m.nodes[e.next].fail = 0
		queue = append(queue, e.next)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range m.nodes[n].edges {
			f := m.nodes[n].fail
			for {
				if next := m.step(f, e.b); next >= 0 || f == 0 {
					if next < 0 || next == e.next {
						next = 0
					}
					m.nodes[e.next].fail = next
					break
				}
				f = m.nodes[f].fail
			}
			fl := m.nodes[e.next].fail
			if len(m.nodes[fl].lits) > 0 {
				m.nodes[e.next].out = fl
			} else {
				m.nodes[e.next].out = m.nodes[fl].out
			}
			queue = append(queue, e.next)
		}
	}
	m.buildDelta()
	return m
}

// buildDelta computes the DFA, in breadth-first order so that a node's
// failure target (shallower) is done before it.
func (m *acMatcher) buildDelta() {
	var used [256]bool
	for _, n := range m.nodes {
		for _, e := range n.edges {
			used[e.b] = true
		}
	}
	nc := int32(1)
	for b := range used {
		if used[b] {
			m.class[b] = uint8(nc)
			nc++
		}
	}
	if nc > 256 { // every byte value: class 0 is unused, fold it in
		nc = 256
		for b := range m.class {
			m.class[b] = uint8(b)
		}
	}
	m.nc = nc
	m.delta = make([]int32, int(nc)*len(m.nodes))
	order := make([]int32, 1, len(m.nodes))
	for i := 0; i < len(order); i++ {
		n := order[i]
		row := m.delta[n*nc : (n+1)*nc]
		if n != 0 {
			copy(row, m.delta[m.nodes[n].fail*nc:(m.nodes[n].fail+1)*nc])
		}
		for _, e := range m.nodes[n].edges {
			row[m.class[e.b]] = e.next
			order = append(order, e.next)
		}
	}
	for i, d := range m.delta {
		n := m.nodes[d]
		m.delta[i] = d * nc
		if len(n.lits) > 0 || n.out >= 0 {
			m.delta[i] = ^(d * nc)
		}
	}
	for i := range m.nodes {
		m.nodes[i].edges = nil // the DFA stands for them
	}
}

// step is the goto function: the child of n on b, -1 when none (the root
// has a dense table).
func (m *acMatcher) step(n int32, b byte) int32 {
	if n == 0 {
		return m.root[b]
	}
	return m.nodes[n].edge(b)
}

// findLines calls found once for each literal and each line it occurs in,
// line by line: starts are the offsets where the lines of text begin (the
// first 0), each line ending where the next one's separator is; only lists
// the lines to look at (nil: all). A literal is looked for within a line,
// never across two: the rules it stands for run on one line at a time.
func (m *acMatcher) findLines(text string, starts, only []int32, found func(lit, line int32)) {
	if len(m.nodes) <= 1 {
		return
	}
	var (
		done    []uint64 // nodes whose literals were reported on this line
		touched []int32
	)
	delta, class, nc := m.delta, &m.class, m.nc
	n := len(starts)
	if only != nil {
		n = len(only)
	}
	for k := 0; k < n; k++ {
		line := int32(k)
		if only != nil {
			line = only[k]
		}
		end := int32(len(text))
		if int(line)+1 < len(starts) {
			end = starts[line+1] - 1
		}
		seg := text[starts[line]:end]
		s := int32(0)
		for i := 0; i < len(seg); i++ {
			s = delta[s+int32(class[seg[i]])]
			if s >= 0 {
				continue
			}
			s = ^s
			if done == nil {
				done = make([]uint64, (len(m.nodes)+63)/64)
			}
			for o := s / nc; o > 0 && done[o>>6]&(1<<(o&63)) == 0; o = m.nodes[o].out {
				done[o>>6] |= 1 << (o & 63)
				touched = append(touched, o)
				for _, l := range m.nodes[o].lits {
					found(l, line)
				}
			}
		}
		for _, o := range touched {
			done[o>>6] = 0
		}
		touched = touched[:0]
	}
}
