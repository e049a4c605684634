package perlre

import (
	"fmt"
	"sort"
	"strings"
)

// The lookahead engine. RE2 has no lookaround, but a lookahead only ever
// inspects the characters that follow; so the rest of the pattern can be
// rewritten, character set by character set, into the product of what it
// matches and what the lookahead still requires. The pending requirement is
// an extended regular expression (with And and Not) advanced by Brzozowski
// derivatives: once it is satisfied (Σ*) the rest of the pattern is kept as
// written; if it fails (∅) that branch is dropped. Requirements still pending
// at the end of the pattern are resolved by consuming what they need
// (a small DFA turned back into a regexp), which is sound for "does it match"
// because the pattern is not anchored at its end. Lookbehinds run the same
// engine on the reversed pattern.
//
// Example: (?!viagra)<V><I><A>... -> the set of <V> splits into "v" (the
// requirement becomes "not iagra...") and the rest (requirement met).

const (
	maxEngineSteps   = 200000
	maxConstraintKey = 20000
)

type prevInfo uint8

const (
	pKnown prevInfo = 1 << iota
	pStart
	pWord
	pNL
)

func prevOf(s cset) prevInfo {
	if s.empty() {
		return 0
	}
	var p prevInfo
	switch {
	case s.subset(wordSet):
		p = pWord
	case s.inter(wordSet).empty():
	default:
		return 0
	}
	switch {
	case s == newline:
		p |= pNL
	case !s.has('\n'):
	default:
		return 0
	}
	return p | pKnown
}

func mergePrev(a, b prevInfo) prevInfo {
	if a == b {
		return a
	}
	return 0
}

type engine struct {
	steps   int
	sizes   map[*node]int  // tree size of output nodes (they share subtrees)
	target  map[*node]bool // memo of hasTarget
	prevDep map[*node]bool // memo of needsPrev
	behind  bool           // the pass that removes lookbehinds (pattern reversed): lookaheads of the original are opaque
}

func (e *engine) bail(n *node, format string, args ...any) {
	panic(bailout{unsupported(n, fmt.Sprintf(format, args...))})
}

func (e *engine) tick(n *node) {
	e.steps++
	if e.steps > maxEngineSteps {
		e.bail(n, "lookaround (rewrite too large)")
	}
}

// --- constraint expressions ---

var (
	cAll   = &node{op: opAll, ck: "*"}
	cEmpty = &node{op: opEmpty, ck: "e"}
	cFail  = &node{op: opSet, ck: "0"}
)

func ckey(n *node) string {
	if n.ck != "" {
		return n.ck
	}
	var b strings.Builder
	writeKey(&b, n)
	n.ck = b.String()
	return n.ck
}

func writeKey(b *strings.Builder, n *node) {
	if n.ck != "" {
		b.WriteString(n.ck)
		return
	}
	switch n.op {
	case opEmpty:
		b.WriteString("e")
	case opAll:
		b.WriteString("*")
	case opSet:
		if n.set.empty() {
			b.WriteString("0")
			return
		}
		fmt.Fprintf(b, "[%x.%x.%x.%x]", n.set[0], n.set[1], n.set[2], n.set[3])
	case opAssert:
		fmt.Fprintf(b, "@%d", n.as)
	case opRepeat:
		fmt.Fprintf(b, "R%d,%d(", n.min, n.max)
		writeKey(b, n.subs[0])
		b.WriteString(")")
	default:
		fmt.Fprintf(b, "%d", n.op)
		if n.op == opLook {
			fmt.Fprintf(b, "%v", n.neg)
		}
		b.WriteString("(")
		for i, s := range n.subs {
			if i > 0 {
				b.WriteString(",")
			}
			writeKey(b, s)
		}
		b.WriteString(")")
	}
}

func isAll(n *node) bool { return n.op == opAll }

func hasLookNode(n *node) bool { return n.has(func(m *node) bool { return m.op == opLook }) }

func mkCat(subs ...*node) *node {
	var out []*node
	for _, s := range subs {
		switch {
		case s.isFail():
			return cFail
		case s.op == opEmpty:
		case s.op == opCat:
			for _, t := range s.subs {
				if len(out) > 0 && isAll(out[len(out)-1]) && isAll(t) {
					continue
				}
				out = append(out, t)
			}
		default:
			if len(out) > 0 && isAll(out[len(out)-1]) && isAll(s) {
				continue
			}
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return cEmpty
	case 1:
		return out[0]
	}
	if isAll(out[len(out)-1]) {
		h := out[0]
		switch {
		case h.op == opLook && !h.behind:
			rest := mkCat(out[1:]...)
			b := mkCat(h.subs[0], cAll)
			if h.neg {
				return mkAnd(mkNot(b), rest)
			}
			return mkAnd(b, rest)
		case h.op == opAlt && hasLookNode(h):
			var alts []*node
			for _, br := range h.subs {
				alts = append(alts, mkCat(append([]*node{br}, out[1:]...)...))
			}
			return mkAlt(alts...)
		}
	}
	return &node{op: opCat, subs: out}
}

func mkAlt(subs ...*node) *node {
	seen := map[string]bool{}
	var out []*node
	var add func(s *node) bool
	add = func(s *node) bool {
		switch {
		case s.isFail():
		case isAll(s):
			return true
		case s.op == opAlt:
			for _, t := range s.subs {
				if add(t) {
					return true
				}
			}
		default:
			k := ckey(s)
			if !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
		return false
	}
	for _, s := range subs {
		if add(s) {
			return cAll
		}
	}
	switch len(out) {
	case 0:
		return cFail
	case 1:
		return out[0]
	}
	sortByKey(out)
	return &node{op: opAlt, subs: out}
}

func mkAnd(subs ...*node) *node {
	seen := map[string]bool{}
	var out []*node
	var add func(s *node) bool
	add = func(s *node) bool {
		switch {
		case isAll(s):
		case s.isFail():
			return true
		case s.op == opAnd:
			for _, t := range s.subs {
				if add(t) {
					return true
				}
			}
		default:
			k := ckey(s)
			if !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
		return false
	}
	for _, s := range subs {
		if add(s) {
			return cFail
		}
	}
	for _, s := range out {
		if s.op == opNot && seen[ckey(s.subs[0])] {
			return cFail
		}
	}
	switch len(out) {
	case 0:
		return cAll
	case 1:
		return out[0]
	}
	sortByKey(out)
	return &node{op: opAnd, subs: out}
}

func mkNot(s *node) *node {
	switch {
	case s.op == opNot:
		return s.subs[0]
	case s.isFail():
		return cAll
	case isAll(s):
		return cFail
	}
	return &node{op: opNot, subs: []*node{s}}
}

func sortByKey(ns []*node) {
	// insertion sort: lists are short
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && ckey(ns[j]) < ckey(ns[j-1]); j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

// toC converts a lookaround body into constraint form.
func (e *engine) toC(n *node) *node {
	switch n.op {
	case opGroup:
		return e.toC(n.subs[0])
	case opCat:
		subs := make([]*node, len(n.subs))
		for i, s := range n.subs {
			subs[i] = e.toC(s)
		}
		return mkCat(subs...)
	case opAlt:
		subs := make([]*node, len(n.subs))
		for i, s := range n.subs {
			subs[i] = e.toC(s)
		}
		return mkAlt(subs...)
	case opRepeat:
		sub := e.toC(n.subs[0])
		if sub.has(func(m *node) bool { return m.op == opAssert || m.op == opLook }) {
			e.bail(n, "assertion inside a repetition inside a lookaround")
		}
		if sub.op == opEmpty || n.max == 0 {
			return cEmpty
		}
		min := n.min
		if sub.minLen() == 0 {
			min = 0
		}
		return &node{op: opRepeat, subs: []*node{sub}, min: min, max: n.max}
	case opSet, opEmpty, opAssert:
		return n
	case opLook:
		if n.behind != e.behind {
			e.bail(n, "lookbehind inside a lookahead (or the reverse)")
		}
		return &node{op: opLook, neg: n.neg, subs: []*node{e.toC(n.subs[0])}, pos: n.pos}
	}
	e.bail(n, "construct inside a lookaround")
	return nil
}

// holds evaluates a zero-width assertion between prev and the next block (or the end).
func (e *engine) holds(n *node, prev prevInfo, next cset, eot bool) bool {
	switch n.as {
	case aEOT:
		return eot
	case aMEOL:
		return eot || next.has('\n')
	}
	if prev&pKnown == 0 {
		e.bail(n, "assertion in a lookaround where the preceding character is unknown")
	}
	switch n.as {
	case aWord, aNotWord:
		pw := prev&pWord != 0
		nw := !eot && next.subset(wordSet)
		return (pw != nw) == (n.as == aWord)
	case aBOT:
		return prev&pStart != 0
	case aLineStart:
		return prev&(pStart|pNL) != 0
	}
	e.bail(n, "assertion in a lookaround")
	return false
}

// nullable: does r match the empty string here?
func (e *engine) nullable(r *node, prev prevInfo, next cset, eot bool) bool {
	switch r.op {
	case opEmpty, opAll:
		return true
	case opSet:
		return false
	case opAssert:
		return e.holds(r, prev, next, eot)
	case opCat:
		if !e.nullable(r.subs[0], prev, next, eot) {
			return false
		}
		return e.nullable(mkCat(r.subs[1:]...), prev, next, eot)
	case opAlt:
		for _, s := range r.subs {
			if e.nullable(s, prev, next, eot) {
				return true
			}
		}
		return false
	case opAnd:
		for _, s := range r.subs {
			if !e.nullable(s, prev, next, eot) {
				return false
			}
		}
		return true
	case opNot:
		return !e.nullable(r.subs[0], prev, next, eot)
	case opRepeat:
		return r.min == 0 || e.nullable(r.subs[0], prev, next, eot)
	}
	e.bail(r, "lookaround nested where it cannot be rewritten")
	return false
}

// deriv is the Brzozowski derivative of r by one character of block b
// (b lies inside or outside every set of r).
func (e *engine) deriv(r *node, b cset, prev prevInfo) *node {
	e.tick(r)
	switch r.op {
	case opEmpty, opAssert:
		return cFail
	case opAll:
		return cAll
	case opSet:
		if b.subset(r.set) && !r.set.empty() {
			return cEmpty
		}
		return cFail
	case opCat:
		rest := mkCat(r.subs[1:]...)
		d := mkCat(e.deriv(r.subs[0], b, prev), rest)
		if e.nullable(r.subs[0], prev, b, false) {
			d = mkAlt(d, e.deriv(rest, b, prev))
		}
		return d
	case opAlt:
		out := make([]*node, len(r.subs))
		for i, s := range r.subs {
			out[i] = e.deriv(s, b, prev)
		}
		return mkAlt(out...)
	case opAnd:
		out := make([]*node, len(r.subs))
		for i, s := range r.subs {
			out[i] = e.deriv(s, b, prev)
			if out[i].isFail() {
				return cFail
			}
		}
		return mkAnd(out...)
	case opNot:
		return mkNot(e.deriv(r.subs[0], b, prev))
	case opRepeat:
		if r.max == 0 {
			return cFail
		}
		min, max := r.min-1, r.max-1
		if min < 0 {
			min = 0
		}
		if r.max < 0 {
			max = -1
		}
		var next *node
		if max == 0 {
			next = cEmpty
		} else {
			next = &node{op: opRepeat, subs: r.subs, min: min, max: max}
		}
		return mkCat(e.deriv(r.subs[0], b, prev), next)
	}
	e.bail(r, "lookaround nested where it cannot be rewritten")
	return nil
}

// blocks splits x into the pieces that every set of r (and \w, \n) sees alike.
func (e *engine) blocks(x cset, r *node) []cset {
	var sets []cset
	seen := map[cset]bool{}
	// Assertions look at the next character too (\b, (?m:$)): blocks must be
	// uniformly word or not, newline or not.
	if r.has(func(m *node) bool { return m.op == opAssert }) {
		sets = []cset{wordSet, newline}
		seen = map[cset]bool{wordSet: true, newline: true}
	}
	r.walk(func(n *node) bool {
		if n.op == opSet && !seen[n.set] && !n.set.empty() && !n.set.full() {
			seen[n.set] = true
			sets = append(sets, n.set)
		}
		return true
	})
	out := []cset{x}
	for _, s := range sets {
		var next []cset
		for _, b := range out {
			in, ex := b.inter(s), b.minus(s)
			if !in.empty() {
				next = append(next, in)
			}
			if !ex.empty() {
				next = append(next, ex)
			}
		}
		out = next
		if len(out) >= 256 {
			break
		}
	}
	return out
}

// --- the main pass ---

type estate struct {
	c    *node // pending requirement; nil when there is none
	prev prevInfo
}

type eout struct {
	n  *node
	st estate
}

func (s estate) key() string {
	if s.c == nil {
		return ""
	}
	return fmt.Sprintf("%s|%d", ckey(s.c), s.prev)
}

// needsPrev reports whether c tests the preceding character (\b, \B, ^).
func (e *engine) needsPrev(c *node) bool {
	if e.prevDep == nil {
		e.prevDep = map[*node]bool{}
	}
	if v, ok := e.prevDep[c]; ok {
		return v
	}
	v := c.op == opAssert && c.as != aEOT && c.as != aMEOL
	for _, s := range c.subs {
		if e.needsPrev(s) {
			v = true
		}
	}
	e.prevDep[c] = v
	return v
}

// state builds the state after a character of block b (or with prev p),
// forgetting prev when the requirement does not look at it.
func (e *engine) state(c *node, p prevInfo) estate {
	if isAll(c) {
		return estate{prev: p}
	}
	if len(ckey(c)) > maxConstraintKey {
		e.bail(nil, "lookaround (requirement too complex)")
	}
	if !e.needsPrev(c) {
		p = 0
	}
	return estate{c: c, prev: p}
}

func merge(outs []eout) []eout {
	idx := map[string]int{}
	var keys []string
	groups := map[string][]*node{}
	prevs := map[string]estate{}
	for _, o := range outs {
		k := o.st.key()
		if _, ok := idx[k]; !ok {
			idx[k] = len(keys)
			keys = append(keys, k)
			prevs[k] = o.st
		} else if o.st.c == nil {
			st := prevs[k]
			st.prev = mergePrev(st.prev, o.st.prev)
			prevs[k] = st
		}
		groups[k] = append(groups[k], o.n)
	}
	res := make([]eout, 0, len(keys))
	for _, k := range keys {
		res = append(res, eout{n: altNode(groups[k]...), st: prevs[k]})
	}
	return res
}

func (e *engine) isTarget(n *node) bool { return n.op == opLook && n.behind == e.behind }

func (e *engine) hasTarget(n *node) bool {
	if e.target == nil {
		e.target = map[*node]bool{}
	}
	if v, ok := e.target[n]; ok {
		return v
	}
	v := e.isTarget(n)
	for _, s := range n.subs {
		if e.hasTarget(s) {
			v = true
		}
	}
	e.target[n] = v
	return v
}

// treeSize is the size of n as a tree (as emitted), counting shared subtrees each time.
func (e *engine) treeSize(n *node) int {
	if e.sizes == nil {
		e.sizes = map[*node]int{}
	}
	if v, ok := e.sizes[n]; ok {
		return v
	}
	v := 1
	for _, s := range n.subs {
		v += e.treeSize(s)
		if v > 1<<30 {
			v = 1 << 30
		}
	}
	e.sizes[n] = v
	return v
}

func (e *engine) checkSize(outs []eout) {
	total := 0
	for _, o := range outs {
		total += e.treeSize(o.n)
	}
	if total > maxTreeSize {
		e.bail(nil, "lookaround (rewrite too large)")
	}
}

func lastPrev(n *node, in prevInfo) prevInfo {
	switch n.op {
	case opSet:
		return prevOf(n.set)
	case opEmpty, opLook:
		return in
	case opAssert:
		if n.as == aBOT {
			return pKnown | pStart
		}
		return in
	case opCat:
		p := in
		for _, s := range n.subs {
			p = lastPrev(s, p)
		}
		return p
	case opGroup:
		return lastPrev(n.subs[0], in)
	case opRepeat:
		p := lastPrev(n.subs[0], 0)
		if n.min == 0 {
			p = mergePrev(p, in)
		}
		return p
	case opAlt:
		var p prevInfo
		for i, s := range n.subs {
			q := lastPrev(s, in)
			if i == 0 {
				p = q
			} else {
				p = mergePrev(p, q)
			}
		}
		return p
	}
	return 0
}

func (e *engine) process(x *node, st estate) []eout {
	e.tick(x)
	if st.c == nil && !e.hasTarget(x) {
		return []eout{{n: x, st: estate{prev: lastPrev(x, st.prev)}}}
	}
	switch x.op {
	case opEmpty:
		return []eout{{n: x, st: st}}
	case opAssert:
		if x.as == aBOT {
			st.prev = pKnown | pStart
		}
		return []eout{{n: x, st: st}}
	case opSet:
		type grp struct {
			set cset
			st  estate
		}
		var order []string
		groups := map[string]*grp{}
		for _, b := range e.blocks(x.set, st.c) {
			d := e.deriv(st.c, b, st.prev)
			if d.isFail() {
				continue
			}
			ns := e.state(d, prevOf(b))
			k := ns.key()
			if g, ok := groups[k]; ok {
				g.set = g.set.union(b)
				if ns.c == nil {
					g.st.prev = mergePrev(g.st.prev, ns.prev)
				}
				continue
			}
			order = append(order, k)
			groups[k] = &grp{set: b, st: ns}
		}
		var outs []eout
		for _, k := range order {
			g := groups[k]
			if g.st.c != nil && g.st.prev != 0 {
				g.st.prev = prevOf(g.set)
			}
			outs = append(outs, eout{n: setNode(g.set), st: g.st})
		}
		return merge(outs)
	case opGroup, opAtomic:
		return e.process(x.subs[0], st)
	case opCat:
		cur := []eout{{n: emptyNode(), st: st}}
		for _, s := range x.subs {
			var next []eout
			for _, o := range cur {
				for _, p := range e.process(s, o.st) {
					next = append(next, eout{n: catNode(o.n, p.n), st: p.st})
				}
			}
			cur = merge(next)
			e.checkSize(cur)
			if len(cur) == 0 {
				return nil
			}
		}
		return cur
	case opAlt:
		var outs []eout
		for _, s := range x.subs {
			outs = append(outs, e.process(s, st)...)
		}
		outs = merge(outs)
		e.checkSize(outs)
		return outs
	case opRepeat:
		return e.processRepeat(x, st)
	case opLook:
		if x.behind != e.behind {
			// a lookaround of the other direction: zero-width, kept for the other pass
			return []eout{{n: x, st: st}}
		}
		b := mkCat(e.toC(x.subs[0]), cAll)
		var c *node
		if x.neg {
			c = mkNot(b)
		} else {
			c = b
		}
		if st.c != nil {
			c = mkAnd(st.c, c)
		}
		if c.isFail() {
			return nil
		}
		return []eout{{n: emptyNode(), st: estate{c: c, prev: st.prev}}}
	}
	e.bail(x, "construct where a lookaround is pending")
	return nil
}

func (e *engine) processRepeat(x *node, st estate) []eout {
	sub := x.subs[0]
	// The body as it runs with nothing pending, when it leaves nothing pending.
	var subT *node
	if !e.hasTarget(sub) {
		subT = sub
	} else {
		r := e.process(sub, estate{})
		if len(r) == 1 && r[0].st.c == nil {
			subT = r[0].n
		}
	}
	if st.c == nil && subT != nil {
		return []eout{{n: repeatNode(subT, x.min, x.max, x.greedy), st: estate{prev: lastPrev(x, st.prev)}}}
	}
	step := func(cur []eout) []eout {
		var next []eout
		for _, o := range cur {
			for _, p := range e.process(sub, o.st) {
				next = append(next, eout{n: catNode(o.n, p.n), st: p.st})
			}
		}
		next = merge(next)
		e.checkSize(next)
		return next
	}
	allTrivial := func(cur []eout) bool { return len(cur) == 1 && cur[0].st.c == nil }
	cur := []eout{{n: emptyNode(), st: st}}
	for k := 0; k < x.min; k++ {
		if k > 80 {
			e.bail(x, "lookaround that stays pending through a repetition")
		}
		cur = step(cur)
		if len(cur) == 0 {
			return nil
		}
	}
	if x.max == x.min {
		return cur
	}
	if subT != nil && allTrivial(cur) {
		rest := -1
		if x.max >= 0 {
			rest = x.max - x.min
		}
		return []eout{{n: catNode(cur[0].n, repeatNode(subT, 0, rest, x.greedy)), st: estate{prev: 0}}}
	}
	if x.max < 0 {
		return e.closure(sub, cur)
	}
	acc := append([]eout(nil), cur...)
	for k := x.min; k < x.max; k++ {
		if k > 80 {
			e.bail(x, "lookaround that stays pending through a repetition")
		}
		cur = step(cur)
		if len(cur) == 0 {
			break
		}
		if subT != nil && allTrivial(cur) {
			acc = append(acc, eout{n: catNode(cur[0].n, repeatNode(subT, 0, x.max-k-1, x.greedy)), st: estate{prev: 0}})
			break
		}
		acc = append(acc, cur...)
	}
	return merge(acc)
}

// closure handles an unbounded repetition of sub while a requirement is
// pending: the states the requirement can be in after each iteration form a
// small automaton whose paths (Kleene's construction) give, for each state,
// the iterations that lead to it.
func (e *engine) closure(sub *node, starts []eout) []eout {
	var states []estate
	index := map[string]int{}
	add := func(st estate) int {
		k := st.key()
		if i, ok := index[k]; ok {
			if st.c == nil {
				states[i].prev = mergePrev(states[i].prev, st.prev)
			}
			return i
		}
		index[k] = len(states)
		states = append(states, st)
		return len(states) - 1
	}
	startIdx := make([]int, len(starts))
	for i, o := range starts {
		startIdx[i] = add(o.st)
	}
	type edge struct{ from, to int }
	edges := map[edge]*node{}
	for i := 0; i < len(states); i++ {
		if len(states) > 24 {
			e.bail(sub, "lookaround that stays pending through a repetition (too many states)")
		}
		for _, p := range e.process(sub, states[i]) {
			j := add(p.st)
			ed := edge{i, j}
			if edges[ed] == nil {
				edges[ed] = p.n
			} else {
				edges[ed] = altNode(edges[ed], p.n)
			}
		}
	}
	n := len(states)
	S, F := n, n+1
	base := make([][]*node, n+2)
	for i := range base {
		base[i] = make([]*node, n+2)
	}
	addTo := func(mat [][]*node, i, j int, l *node) {
		if mat[i][j] == nil {
			mat[i][j] = l
		} else {
			mat[i][j] = altNode(mat[i][j], l)
		}
	}
	for ed, lab := range edges {
		base[ed.from][ed.to] = lab
	}
	for si, o := range starts {
		addTo(base, S, startIdx[si], o.n)
	}
	var outs []eout
	for j := 0; j < n; j++ {
		mat := make([][]*node, n+2)
		for i := range mat {
			mat[i] = append([]*node(nil), base[i]...)
		}
		mat[j][F] = emptyNode()
		if r := e.eliminateStates(mat, S, F); r != nil {
			outs = append(outs, eout{n: r, st: states[j]})
		}
	}
	outs = merge(outs)
	e.checkSize(outs)
	return outs
}

// eliminateStates turns a generalized automaton (mat[i][j]: the regexp of
// the edge, nil for none) into the regexp of the paths from start to final,
// eliminating first the states that create the fewest new edges.
func (e *engine) eliminateStates(mat [][]*node, start, final int) *node {
	n := len(mat)
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = i != start && i != final
	}
	for {
		best, bestCost := -1, 0
		for s := 0; s < n; s++ {
			if !alive[s] {
				continue
			}
			in, out := 0, 0
			for k := 0; k < n; k++ {
				if k != s && mat[k][s] != nil {
					in++
				}
				if k != s && mat[s][k] != nil {
					out++
				}
			}
			if c := in * out; best < 0 || c < bestCost {
				best, bestCost = s, c
			}
		}
		if best < 0 {
			break
		}
		s := best
		alive[s] = false
		var mid *node = emptyNode()
		if mat[s][s] != nil {
			mid = repeatNode(mat[s][s], 0, -1, true)
		}
		for p := 0; p < n; p++ {
			if p == s || mat[p][s] == nil {
				continue
			}
			for q := 0; q < n; q++ {
				if q == s || mat[s][q] == nil {
					continue
				}
				e.tick(nil)
				l := catNode(mat[p][s], mid, mat[s][q])
				if mat[p][q] == nil {
					mat[p][q] = l
				} else {
					mat[p][q] = altNode(mat[p][q], l)
				}
				if e.treeSize(mat[p][q]) > maxTreeSize {
					e.bail(nil, "lookaround (rewrite too large)")
				}
			}
		}
		for k := 0; k < n; k++ {
			mat[k][s], mat[s][k] = nil, nil
		}
	}
	if mat[start][final] == nil {
		return nil
	}
	if mat[start][start] != nil {
		return catNode(repeatNode(mat[start][start], 0, -1, true), mat[start][final])
	}
	return mat[start][final]
}

// resolveEnd returns what must follow for the pending requirement c to hold,
// consuming characters: a DFA of derivatives turned into a regexp.
func (e *engine) resolveEnd(st estate) *node {
	if st.c == nil {
		return emptyNode()
	}
	type dstate struct {
		c    *node
		prev prevInfo
	}
	states := []dstate{{st.c, st.prev}}
	index := map[string]int{st.key(): 0}
	type edge struct{ from, to int }
	labels := map[edge]*node{}
	final := -1 // resolved later to len(states)
	var finals []struct {
		from int
		n    *node
	}
	setEdges := map[edge]cset{}
	for i := 0; i < len(states); i++ {
		if len(states) > 200 {
			e.bail(nil, "lookahead at the end needs too many states")
		}
		s := states[i]
		if e.nullable(s.c, s.prev, cset{}, true) {
			finals = append(finals, struct {
				from int
				n    *node
			}{i, assertNode(aEOT)})
		}
		for _, b := range e.blocks(allBytes, s.c) {
			d := e.deriv(s.c, b, s.prev)
			if d.isFail() {
				continue
			}
			if isAll(d) {
				setEdges[edge{i, final}] = setEdges[edge{i, final}].union(b)
				continue
			}
			ns := e.state(d, prevOf(b))
			k := ns.key()
			j, ok := index[k]
			if !ok {
				j = len(states)
				index[k] = j
				states = append(states, dstate{d, ns.prev})
			}
			setEdges[edge{i, j}] = setEdges[edge{i, j}].union(b)
		}
	}
	nst := len(states)
	F := nst
	mat := make([][]*node, nst+1)
	for i := range mat {
		mat[i] = make([]*node, nst+1)
	}
	addEdge := func(i, j int, n *node) {
		if mat[i][j] == nil {
			mat[i][j] = n
		} else {
			mat[i][j] = altNode(mat[i][j], n)
		}
	}
	// in a fixed order, so that the same pattern always gives the same RE2 source
	eds := make([]edge, 0, len(setEdges))
	for ed := range setEdges {
		eds = append(eds, ed)
	}
	sort.Slice(eds, func(i, j int) bool {
		if eds[i].from != eds[j].from {
			return eds[i].from < eds[j].from
		}
		return eds[i].to < eds[j].to
	})
	for _, ed := range eds {
		s := setEdges[ed]
		to := ed.to
		if to == final {
			to = F
		}
		addEdge(ed.from, to, setNode(s))
	}
	_ = labels
	for _, f := range finals {
		addEdge(f.from, F, f.n)
	}
	r := e.eliminateStates(mat, 0, F)
	if r == nil {
		return failNode()
	}
	return r
}

// eliminate removes the lookarounds of one direction from n.
func (e *engine) eliminate(n *node) *node {
	outs := e.process(n, estate{})
	var alts []*node
	for _, o := range outs {
		alts = append(alts, catNode(o.n, e.resolveEnd(o.st)))
	}
	r := altNode(alts...)
	if e.treeSize(r) > maxTreeSize {
		e.bail(nil, "lookaround (rewrite too large)")
	}
	return r
}
