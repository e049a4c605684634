package perlre

// The pattern tree that Translate builds from Perl syntax and rewrites into
// what RE2 can run. Case-insensitivity, /s, /m and the /aa classes are
// resolved while parsing: a leaf is a set of byte-runes, so the tree carries
// no flags.

type op uint8

const (
	opEmpty   op = iota // matches ""
	opSet               // one byte-rune of set
	opCat               // subs in sequence
	opAlt               // one of subs (Perl tries them in order)
	opRepeat            // subs[0] repeated min..max (max < 0: unbounded)
	opGroup             // capturing group number capIdx
	opLook              // lookaround: neg, behind
	opBackref           // \N (refFold: case-insensitive)
	opAtomic            // (?>...)
	opAssert            // zero-width assertion as
	// Only in lookahead constraints (engine.go):
	opAnd // all of subs
	opNot // complement of subs[0]
	opAll // any string (Σ*)
)

type assertKind uint8

const (
	aBOT       assertKind = iota // \A, ^ without /m
	aEOT                         // \z
	aEOTNL                       // \Z, $ without /m: end or before a final newline
	aMBOL                        // ^ with /m: start, or after a newline that is not the last character (Perl's MBOL)
	aMEOL                        // $ with /m: end or before any newline (same as RE2's (?m:$))
	aWord                        // \b
	aNotWord                     // \B
	aLineStart                   // RE2's (?m:^): start or after any newline
)

type node struct {
	op      op
	set     cset
	subs    []*node
	min     int
	max     int // -1: unbounded
	greedy  bool
	poss    bool
	capIdx  int
	name    string
	neg     bool
	behind  bool
	ref     int
	refFold bool
	as      assertKind
	pos     int    // offset in the pattern, for errors
	ck      string // cached key of a constraint node (engine.go)
}

func setNode(s cset) *node          { return &node{op: opSet, set: s} }
func emptyNode() *node              { return &node{op: opEmpty} }
func failNode() *node               { return &node{op: opSet} }
func assertNode(a assertKind) *node { return &node{op: opAssert, as: a} }

func catNode(subs ...*node) *node {
	var out []*node
	for _, s := range subs {
		switch {
		case s.op == opEmpty:
		case s.op == opCat:
			out = append(out, s.subs...)
		default:
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return emptyNode()
	case 1:
		return out[0]
	}
	for _, s := range out {
		if s.isFail() {
			return failNode()
		}
	}
	out = mergeSetRuns(out)
	if len(out) == 1 {
		return out[0]
	}
	return &node{op: opCat, subs: out}
}

// setRun views n as a repetition of one set: [a] is [a]{1,1}, [a]* is [a]{0,-1}.
func setRun(n *node) (s cset, min, max int, ok bool) {
	switch {
	case n.op == opSet:
		return n.set, 1, 1, true
	case n.op == opRepeat && n.subs[0].op == opSet && n.greedy:
		return n.subs[0].set, n.min, n.max, true
	}
	return cset{}, 0, 0, false
}

// mergeSetRuns joins adjacent repetitions of the same set (x x* x* -> x+):
// x{a,b}x{c,d} matches what x{a+c,b+d} matches. Plain characters are left
// alone (abc stays abc).
func mergeSetRuns(subs []*node) []*node {
	var out []*node
	for _, n := range subs {
		if k := len(out); k > 0 {
			// X*X* -> X* for the very same X (the loops of Kleene's construction)
			if p := out[k-1]; p.op == opRepeat && n.op == opRepeat && p.min == 0 && n.min == 0 && p.max < 0 && n.max < 0 && p.subs[0] == n.subs[0] {
				continue
			}
			s1, a, b, ok1 := setRun(out[k-1])
			s2, c, d, ok2 := setRun(n)
			if ok1 && ok2 && s1 == s2 && (out[k-1].op == opRepeat || n.op == opRepeat) {
				hi := -1
				if b >= 0 && d >= 0 {
					hi = b + d
				}
				if a+c <= maxPerlRepeat && (hi < 0 || hi <= maxPerlRepeat) {
					out[k-1] = &node{op: opRepeat, subs: []*node{setNode(s1)}, min: a + c, max: hi, greedy: true}
					continue
				}
			}
		}
		out = append(out, n)
	}
	return out
}

func altNode(subs ...*node) *node {
	var out []*node
	for _, s := range subs {
		switch {
		case s.isFail():
		case s.op == opAlt:
			out = append(out, s.subs...)
		default:
			out = append(out, s)
		}
	}
	switch len(out) {
	case 0:
		return failNode()
	case 1:
		return out[0]
	}
	// Merge adjacent single sets: [a]|[b] -> [ab] (same language, same order of preference for existence).
	merged := out[:0:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.op == opSet && merged[n-1].op == opSet {
			merged[n-1] = setNode(merged[n-1].set.union(s.set))
			continue
		}
		merged = append(merged, s)
	}
	if len(merged) == 1 {
		return merged[0]
	}
	return &node{op: opAlt, subs: merged}
}

func repeatNode(sub *node, min, max int, greedy bool) *node {
	if max == 0 {
		return emptyNode()
	}
	if min == 1 && max == 1 {
		return sub
	}
	if sub.isFail() {
		if min == 0 {
			return emptyNode()
		}
		return failNode()
	}
	if sub.op == opEmpty {
		return sub
	}
	return &node{op: opRepeat, subs: []*node{sub}, min: min, max: max, greedy: greedy}
}

func (n *node) isFail() bool { return n.op == opSet && n.set.empty() }

// walk calls f on n and its descendants, stopping a branch where f returns false.
func (n *node) walk(f func(*node) bool) {
	if !f(n) {
		return
	}
	for _, s := range n.subs {
		s.walk(f)
	}
}

func (n *node) has(f func(*node) bool) bool {
	found := false
	n.walk(func(m *node) bool {
		if found {
			return false
		}
		if f(m) {
			found = true
			return false
		}
		return true
	})
	return found
}

// clone copies the tree.
func (n *node) clone() *node {
	c := *n
	if n.subs != nil {
		c.subs = make([]*node, len(n.subs))
		for i, s := range n.subs {
			c.subs[i] = s.clone()
		}
	}
	return &c
}

// size counts nodes, for budgets.
func (n *node) size() int {
	k := 1
	for _, s := range n.subs {
		k += s.size()
	}
	return k
}

// minLen is the least number of characters a match of n consumes.
func (n *node) minLen() int {
	switch n.op {
	case opSet:
		if n.set.empty() {
			return 1 << 20
		}
		return 1
	case opCat:
		k := 0
		for _, s := range n.subs {
			k += s.minLen()
		}
		return k
	case opAlt:
		k := 1 << 20
		for _, s := range n.subs {
			if m := s.minLen(); m < k {
				k = m
			}
		}
		return k
	case opRepeat:
		return n.min * n.subs[0].minLen()
	case opGroup, opAtomic:
		return n.subs[0].minLen()
	}
	return 0
}
