package perlre

import "sort"

// Rewrites that turn the Perl tree into one RE2 can run (see README.md for
// the table). Each keeps the answer to "does the pattern match this text".

const (
	maxBackrefValues = 64    // a backreference expands into at most this many alternatives
	maxTreeSize      = 60000 // nodes, after any rewrite
)

func unsupported(n *node, construct string) error {
	off := 0
	if n != nil {
		off = n.pos
	}
	return &UnsupportedError{Construct: construct, Offset: off}
}

// normalizeAnchors replaces Perl's $ (\Z) by the lookahead (?=\n?\z) and
// Perl's /m ^ by RE2's line start where a character must follow, else by
// (?:\A|(?m:^)(?=[\s\S])): Perl's MBOL does not match after a final newline.
func normalizeAnchors(n *node) *node {
	for i, s := range n.subs {
		n.subs[i] = normalizeAnchors(s)
	}
	switch {
	case n.op == opAssert && n.as == aEOTNL:
		return eotnlLook(n.pos)
	case n.op == opAssert && n.as == aMBOL:
		return &node{op: opAlt, pos: n.pos, subs: []*node{
			assertNode(aBOT),
			{op: opCat, subs: []*node{assertNode(aLineStart), {op: opLook, subs: []*node{setNode(allBytes)}}}},
		}}
	case n.op == opCat:
		for i, s := range n.subs {
			if s.op != opAlt || len(s.subs) != 2 || s.subs[0].op != opAssert || s.subs[0].as != aBOT || s.subs[1].op != opCat {
				continue
			}
			if mb := s.subs[1].subs; len(mb) == 2 && mb[0].op == opAssert && mb[0].as == aLineStart && mb[1].op == opLook {
				rest := &node{op: opCat, subs: n.subs[i+1:]}
				if rest.minLen() >= 1 {
					n.subs[i] = &node{op: opAssert, as: aLineStart, pos: s.pos}
				}
			}
		}
	}
	return n
}

func eotnlLook(pos int) *node {
	return &node{op: opLook, pos: pos, subs: []*node{{op: opAlt, subs: []*node{
		assertNode(aEOT),
		{op: opCat, subs: []*node{setNode(newline), assertNode(aEOT)}},
	}}}}
}

// --- backreferences ---

// expandBackrefs rewrites each backreference to a group whose language is a
// small finite set of strings: the smallest subtree holding the group and its
// references becomes one alternative per value, with the group and the
// references replaced by that value ((["'])x\1 -> (?:"x"|'x')).
func expandBackrefs(root *node) (*node, error) {
	for iter := 0; ; iter++ {
		var ref *node
		root.walk(func(n *node) bool {
			if ref == nil && n.op == opBackref {
				ref = n
			}
			return ref == nil
		})
		if ref == nil {
			return root, nil
		}
		if iter > 20 {
			return nil, unsupported(ref, "backreference")
		}
		var err error
		root, err = expandGroup(root, ref)
		if err != nil {
			return nil, err
		}
	}
}

func expandGroup(root *node, ref *node) (*node, error) {
	idx := ref.ref
	// Paths from root.
	var gpath []*node
	var rpaths [][]*node
	var stack []*node
	var visit func(n *node)
	order := 0
	gEnd := -1
	bad := false
	visit = func(n *node) {
		stack = append(stack, n)
		order++
		if n.op == opGroup && n.capIdx == idx {
			gpath = append([]*node(nil), stack...)
		}
		if n.op == opBackref && n.ref == idx {
			if gEnd < 0 {
				bad = true // before (or inside) the group: refers to an unset group
			}
			rpaths = append(rpaths, append([]*node(nil), stack...))
		}
		for _, s := range n.subs {
			visit(s)
		}
		if n.op == opGroup && n.capIdx == idx {
			gEnd = order
		}
		stack = stack[:len(stack)-1]
	}
	visit(root)
	if gpath == nil || bad {
		return nil, unsupported(ref, "backreference to a group that is not set before it")
	}
	// Lowest common ancestor.
	lca := 0
	for d := 0; d < len(gpath); d++ {
		ok := true
		for _, rp := range rpaths {
			if d >= len(rp) || rp[d] != gpath[d] {
				ok = false
			}
		}
		if !ok {
			break
		}
		lca = d
	}
	g := gpath[len(gpath)-1]
	vals, ok := enumerate(g.subs[0], maxBackrefValues)
	if !ok {
		return nil, unsupported(ref, "backreference to a group that is not a small finite set of strings")
	}
	// The group must take part whenever the ancestor matches: only sequences
	// from the ancestor down to it (an alternation at the ancestor puts the
	// reference in another branch, where the group is unset or, inside a
	// repetition, set by an earlier iteration).
	if a := gpath[lca]; a.op != opCat && a.op != opGroup {
		return nil, unsupported(ref, "backreference to a group inside an alternative or repetition")
	}
	for _, n := range gpath[lca+1 : len(gpath)-1] {
		if n.op != opCat && n.op != opGroup {
			return nil, unsupported(ref, "backreference to a group inside an alternative or repetition")
		}
	}
	if g.has(func(n *node) bool {
		return n.op == opGroup && n != g && root.has(func(m *node) bool { return m.op == opBackref && m.ref == n.capIdx })
	}) {
		return nil, unsupported(ref, "backreference to a group that holds another referenced group")
	}
	anc := gpath[lca]
	var alts []*node
	for _, v := range vals {
		c := substitute(anc, g, idx, v)
		alts = append(alts, c)
	}
	repl := altNode(alts...)
	if anc == root {
		return repl, nil
	}
	*anc = *repl
	if root.size() > maxTreeSize {
		return nil, unsupported(ref, "backreference (expansion too large)")
	}
	return root, nil
}

// substitute clones n with group g replaced by the literal v and backreferences to idx by v.
func substitute(n, g *node, idx int, v []int) *node {
	if n == g {
		return literalNode(v, false)
	}
	if n.op == opBackref && n.ref == idx {
		return literalNode(v, n.refFold)
	}
	c := *n
	if n.subs != nil {
		c.subs = make([]*node, len(n.subs))
		for i, s := range n.subs {
			c.subs[i] = substitute(s, g, idx, v)
		}
	}
	return &c
}

func literalNode(v []int, fold bool) *node {
	var subs []*node
	for _, c := range v {
		if fold {
			subs = append(subs, setNode(foldTable[c]))
		} else {
			subs = append(subs, setNode(single(c)))
		}
	}
	return catNode(subs...)
}

// enumerate lists the strings n matches, if they are at most limit.
func enumerate(n *node, limit int) ([][]int, bool) {
	switch n.op {
	case opEmpty:
		return [][]int{nil}, true
	case opSet:
		if n.set.count() > limit {
			return nil, false
		}
		var out [][]int
		for _, c := range n.set.members() {
			out = append(out, []int{c})
		}
		return out, true
	case opGroup:
		return enumerate(n.subs[0], limit)
	case opCat:
		acc := [][]int{nil}
		for _, s := range n.subs {
			vs, ok := enumerate(s, limit)
			if !ok || len(acc)*len(vs) > limit {
				return nil, false
			}
			var next [][]int
			for _, a := range acc {
				for _, b := range vs {
					next = append(next, append(append([]int(nil), a...), b...))
				}
			}
			acc = next
		}
		return acc, true
	case opAlt:
		var out [][]int
		seen := map[string]bool{}
		for _, s := range n.subs {
			vs, ok := enumerate(s, limit)
			if !ok {
				return nil, false
			}
			for _, v := range vs {
				k := string(intsToBytes(v))
				if !seen[k] {
					seen[k] = true
					out = append(out, v)
				}
			}
			if len(out) > limit {
				return nil, false
			}
		}
		return out, true
	case opRepeat:
		if n.max < 0 || n.max > 16 {
			return nil, false
		}
		var alts []*node
		for k := n.min; k <= n.max; k++ {
			var parts []*node
			for j := 0; j < k; j++ {
				parts = append(parts, n.subs[0])
			}
			alts = append(alts, &node{op: opCat, subs: parts})
		}
		return enumerate(&node{op: opAlt, subs: alts}, limit)
	}
	return nil, false
}

func intsToBytes(v []int) []byte {
	b := make([]byte, len(v))
	for i, c := range v {
		b[i] = byte(c)
	}
	return b
}

// --- possessive quantifiers and atomic groups ---

// follow describes what can come after a node: the characters it may start
// with, whether it can match empty up to the end of the pattern, and whether a
// zero-width assertion may be tested before the first character.
type follow struct {
	first    cset
	nullable bool
	assert   bool
}

func firstInfo(n *node) follow {
	switch n.op {
	case opEmpty:
		return follow{nullable: true}
	case opSet:
		return follow{first: n.set}
	case opCat:
		f := follow{nullable: true}
		for i := len(n.subs) - 1; i >= 0; i-- {
			f = seqFollow(firstInfo(n.subs[i]), f)
		}
		return f
	case opAlt:
		var f follow
		for _, s := range n.subs {
			g := firstInfo(s)
			f.first = f.first.union(g.first)
			f.nullable = f.nullable || g.nullable
			f.assert = f.assert || g.assert
		}
		return f
	case opRepeat:
		f := firstInfo(n.subs[0])
		if n.min == 0 {
			f.nullable = true
		}
		return f
	case opGroup, opAtomic:
		return firstInfo(n.subs[0])
	}
	// assertions, lookarounds, backreferences: zero-width or unknown
	return follow{first: allBytes, nullable: true, assert: true}
}

// seqFollow is what follows "a then b".
func seqFollow(a, b follow) follow {
	f := a
	if a.nullable {
		f.first = f.first.union(b.first)
		f.nullable = b.nullable
		f.assert = a.assert || b.assert
	}
	return f
}

// elimPossessive removes possessive quantifiers and atomic groups where
// backtracking into them could never lead to a match: then greedy ==
// possessive. fol is what follows n.
func elimPossessive(n *node, fol follow) (*node, error) {
	switch n.op {
	case opCat:
		f := fol
		for i := len(n.subs) - 1; i >= 0; i-- {
			s, err := elimPossessive(n.subs[i], f)
			if err != nil {
				return nil, err
			}
			n.subs[i] = s
			f = seqFollow(firstInfo(s), f)
		}
		return n, nil
	case opAlt:
		for i, s := range n.subs {
			s, err := elimPossessive(s, fol)
			if err != nil {
				return nil, err
			}
			n.subs[i] = s
		}
		return n, nil
	case opGroup:
		s, err := elimPossessive(n.subs[0], fol)
		if err != nil {
			return nil, err
		}
		n.subs[0] = s
		return n, nil
	case opLook:
		s, err := elimPossessive(n.subs[0], follow{nullable: true})
		if err != nil {
			return nil, err
		}
		n.subs[0] = s
		return n, nil
	case opRepeat:
		inner := fol
		if n.max < 0 || n.max > 1 {
			g := firstInfo(n.subs[0])
			inner.first = inner.first.union(g.first)
			inner.assert = inner.assert || g.assert
		}
		s, err := elimPossessive(n.subs[0], inner)
		if err != nil {
			return nil, err
		}
		n.subs[0] = s
		if !n.poss {
			return n, nil
		}
		vals, finite := enumerate(s, 256)
		if !finite || !prefixFree(vals) {
			if s.op != opSet {
				return nil, unsupported(n, "possessive quantifier on a sub-pattern")
			}
		}
		if !safeCommit(fol, firstInfo(s).first) {
			return nil, unsupported(n, "possessive quantifier followed by what it repeats")
		}
		n.poss = false
		n.greedy = true
		return n, nil
	case opAtomic:
		s, err := elimPossessive(n.subs[0], fol)
		if err != nil {
			return nil, err
		}
		// Backtracking into the group can only pick a shorter match that is a
		// prefix of the one taken; harmless when no such pair exists or the
		// continuation cannot start with the characters that were given back.
		if s.op == opRepeat && s.subs[0].op == opSet && s.greedy {
			if !safeCommit(fol, s.subs[0].set) {
				return nil, unsupported(n, "atomic group (?>...) followed by what it repeats")
			}
			return s, nil
		}
		vals, ok := enumerate(s, 256)
		if !ok {
			return nil, unsupported(n, "atomic group (?>...)")
		}
		var giveBack cset
		for _, u := range vals {
			for _, w := range vals {
				if len(u) < len(w) && string(intsToBytes(w[:len(u)])) == string(intsToBytes(u)) {
					giveBack.add(w[len(u)])
				}
			}
		}
		if !giveBack.empty() && !safeCommit(fol, giveBack) {
			return nil, unsupported(n, "atomic group (?>...) followed by what it can give back")
		}
		return s, nil
	}
	return n, nil
}

// safeCommit: after a commitment, giving back characters from set given
// never helps the continuation fol.
func safeCommit(fol follow, given cset) bool {
	if fol.assert {
		return false
	}
	if fol.nullable {
		return true
	}
	return fol.first.inter(given).empty()
}

// prefixFree reports whether no value is a proper prefix of another.
func prefixFree(vals [][]int) bool {
	ss := make([]string, len(vals))
	for i, v := range vals {
		ss[i] = string(intsToBytes(v))
	}
	sort.Strings(ss)
	for i := 1; i < len(ss); i++ {
		if len(ss[i-1]) < len(ss[i]) && ss[i][:len(ss[i-1])] == ss[i-1] {
			return false
		}
	}
	return true
}

// --- reversal, for lookbehinds ---

func reverse(n *node) *node {
	c := *n
	if n.subs != nil {
		c.subs = make([]*node, len(n.subs))
		for i, s := range n.subs {
			c.subs[i] = reverse(s)
		}
	}
	switch n.op {
	case opCat:
		for i, j := 0, len(c.subs)-1; i < j; i, j = i+1, j-1 {
			c.subs[i], c.subs[j] = c.subs[j], c.subs[i]
		}
	case opLook:
		c.behind = !n.behind
	case opAssert:
		switch n.as {
		case aBOT:
			c.as = aEOT
		case aEOT:
			c.as = aBOT
		case aLineStart:
			c.as = aMEOL
		case aMEOL:
			c.as = aLineStart
		}
	}
	return &c
}
