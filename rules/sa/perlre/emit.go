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
