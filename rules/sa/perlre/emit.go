package perlre

import (
	"strconv"
	"strings"
)

// maxRE2Repeat is RE2's limit on a counted repetition.
const maxRE2Repeat = 1000

// emit writes the tree as RE2 syntax. Groups become non-capturing except
// named groups that occur once (kept as (?P<name>...)).
func emit(n *node) string {
	names := map[string]int{}
	n.walk(func(m *node) bool {
		if m.op == opGroup && m.name != "" {
			names[m.name]++
		}
		return true
	})
	var b strings.Builder
	w := emitter{b: &b, names: names}
	w.node(n, 0)
	return b.String()
}

type emitter struct {
	b     *strings.Builder
	names map[string]int
}

const (
	precAlt = iota
	precCat
	precAtom
)

func (w *emitter) node(n *node, prec int) {
	b := w.b
	switch n.op {
	case opEmpty:
		if prec > precAlt {
			b.WriteString("(?:)")
		}
	case opSet:
		b.WriteString(n.set.re2())
	case opAssert:
		switch n.as {
		case aBOT:
			b.WriteString(`\A`)
		case aEOT:
			b.WriteString(`\z`)
		case aWord:
			b.WriteString(`\b`)
		case aNotWord:
			b.WriteString(`\B`)
		case aLineStart:
			b.WriteString(`(?m:^)`)
		case aMEOL:
			b.WriteString(`(?m:$)`)
		default:
			panic(bailout{unsupported(n, "assertion")})
		}
	case opCat:
		if prec > precCat {
			b.WriteString("(?:")
		}
		for _, s := range n.subs {
			w.node(s, precCat)
		}
		if prec > precCat {
			b.WriteString(")")
		}
	case opAlt:
		if prec > precAlt {
			b.WriteString("(?:")
		}
		for i, s := range n.subs {
			if i > 0 {
				b.WriteByte('|')
			}
			w.node(s, precAlt)
		}
		if prec > precAlt {
			b.WriteString(")")
		}
	case opGroup:
		if n.name != "" && w.names[n.name] == 1 {
			b.WriteString("(?P<" + n.name + ">")
			w.node(n.subs[0], precAlt)
			b.WriteString(")")
			return
		}
		w.node(n.subs[0], prec)
	case opRepeat:
		w.repeat(n, prec)
	default:
		panic(bailout{unsupported(n, "construct")})
	}
}

func (w *emitter) repeat(n *node, prec int) {
	min, max := n.min, n.max
	// RE2 refuses counts above 1000: split x{1400} into x{1000}x{400}.
	if min > maxRE2Repeat || max > maxRE2Repeat {
		var parts []*node
		for min > maxRE2Repeat {
			parts = append(parts, &node{op: opRepeat, subs: n.subs, min: maxRE2Repeat, max: maxRE2Repeat, greedy: n.greedy})
			min -= maxRE2Repeat
			if max > 0 {
				max -= maxRE2Repeat
			}
		}
		for max > maxRE2Repeat {
			parts = append(parts, &node{op: opRepeat, subs: n.subs, min: min, max: maxRE2Repeat, greedy: n.greedy})
			max -= maxRE2Repeat
			min = 0
		}
		parts = append(parts, &node{op: opRepeat, subs: n.subs, min: min, max: max, greedy: n.greedy})
		w.node(&node{op: opCat, subs: parts}, prec)
		return
	}
	sub := n.subs[0]
	if sub.op == opGroup && !(sub.name != "" && w.names[sub.name] == 1) {
		sub = sub.subs[0]
	}
	if sub.op == opRepeat || sub.op == opEmpty {
		w.b.WriteString("(?:")
		w.node(sub, precAlt)
		w.b.WriteString(")")
	} else {
		w.node(sub, precAtom)
	}
	b := w.b
	switch {
	case min == 0 && max < 0:
		b.WriteByte('*')
	case min == 1 && max < 0:
		b.WriteByte('+')
	case min == 0 && max == 1:
		b.WriteByte('?')
	case max < 0:
		b.WriteString("{" + strconv.Itoa(min) + ",}")
	case min == max:
		b.WriteString("{" + strconv.Itoa(min) + "}")
	default:
		b.WriteString("{" + strconv.Itoa(min) + "," + strconv.Itoa(max) + "}")
	}
	if !n.greedy {
		b.WriteByte('?')
	}
}

// repeatNeed is the product of nested repetition counts that Go's
// regexp/syntax checks against 1000 (repeatIsValid: max, or min when unbounded).
func repeatNeed(n *node) int {
	need := 1
	for _, s := range n.subs {
		if k := repeatNeed(s); k > need {
			need = k
		}
	}
	if n.op == opRepeat {
		m := n.max
		if m < 0 {
			m = n.min
		}
		if m > maxRE2Repeat {
			m = maxRE2Repeat // emit splits x{1400} into x{1000}x{400}
		}
		if m > 1 && !(n.max < 0 && n.min <= 1) {
			need *= m
			if need > 1<<20 {
				need = 1 << 20
			}
		}
	}
	return need
}

// limitNesting unrolls a repetition whose count times the counts nested in
// it passes RE2's 1000 into sequential copies: (?:\s{1,10}\w{1,40}){100}
// becomes 100 copies of \s{1,10}\w{1,40}. Same language, no nested product.
func limitNesting(n *node) (*node, bool) {
	if repeatNeed(n) <= maxRE2Repeat {
		return n, true
	}
	if n.op == opRepeat {
		sub, ok := limitNesting(n.subs[0])
		if !ok {
			return nil, false
		}
		count := n.max
		if count < 0 {
			count = n.min
		}
		if min(count, maxRE2Repeat)*repeatNeed(sub) > maxRE2Repeat {
			if count*sub.size() > maxTreeSize {
				return nil, false
			}
			var parts []*node
			for i := 0; i < n.min; i++ {
				parts = append(parts, sub)
			}
			if n.max < 0 {
				parts = append(parts, &node{op: opRepeat, subs: []*node{sub}, min: 0, max: -1, greedy: n.greedy})
			} else {
				for i := n.min; i < n.max; i++ {
					parts = append(parts, &node{op: opRepeat, subs: []*node{sub}, min: 0, max: 1, greedy: n.greedy})
				}
			}
			return &node{op: opCat, subs: parts}, true
		}
		c := *n
		c.subs = []*node{sub}
		return &c, true
	}
	c := *n
	c.subs = make([]*node, len(n.subs))
	for i, s := range n.subs {
		var ok bool
		if c.subs[i], ok = limitNesting(s); !ok {
			return nil, false
		}
	}
	return &c, true
}

// progSize estimates the number of RE2 instructions n compiles to: counted
// repetitions are expanded by Go's regexp, so x{0,1000} costs 1000 x.
func progSize(n *node) int {
	k := 1
	switch n.op {
	case opRepeat:
		c := n.max
		if c < 0 {
			c = n.min + 1
		}
		k += c * progSize(n.subs[0])
	default:
		for _, s := range n.subs {
			k += progSize(s)
		}
	}
	if k > 1<<30 {
		k = 1 << 30
	}
	return k
}
