package sa

import (
	"regexp/syntax"

	"github.com/levee-mail/levee/rules/sa/dfa"
)

// Gates. A rule the prefilter cannot leave out (no literal a match must
// contain: SpamAssassin's obfuscation patterns, money amounts, long-word
// runs) runs on every line of its view. Most such rules match few lines,
// so they are put together in small groups, and each group gets one more
// DFA: the union of its members' regexps. A line the union does not match
// is matched by none of them: one pass over the line stands for the whole
// group, and the members run only on the lines the union matches. The
// gate is a filter, never an answer: what hits is still each rule's own
// DFA (or regexp) on the line.
const (
	// gateSize is the most rules one union stands for: larger unions make
	// fewer passes, but match more lines (then every member runs too) and
	// need larger DFA states.
	gateSize = 8
	// gateMinLen is the shortest match a gated rule may have: a rule that
	// matches one or two bytes (\S, ^\s*\S, e) matches nearly every line
	// and would open its gate everywhere; it stops at its first match
	// anyway.
	gateMinLen = 3
)

// gateLimits bound a gate's DFA cache: a union of eight of the stock
// set's largest patterns (the FUZZY_* obfuscations, __FILL_THIS_FORM_*:
// 20,000-130,000 instructions) has states of a few KB each, and dfa's
// default 1 MiB would be cleared every few messages.
var gateLimits = dfa.Limits{MaxStates: 20000, MaxBytes: 8 << 20, MaxResets: 2}

// gates groups the rules of always (in order) that can be gated, sets
// their gate (1-based index into the returned DFAs) and returns the
// unions.
func makeGates(always []*Rule) []*dfa.DFA {
	var (
		gates []*dfa.DFA
		group []*Rule
		subs  []*syntax.Regexp
	)
	flush := func() {
		if len(group) > 1 {
			if d, err := dfa.CompileLimits(&syntax.Regexp{Op: syntax.OpAlternate, Sub: subs}, gateLimits); err == nil {
				gates = append(gates, d)
				for _, r := range group {
					r.gate = len(gates)
				}
			}
		}
		group, subs = nil, nil
	}
	for _, r := range always {
		r.gate = 0
		if r.re == nil || r.dfa == nil || r.Negate || r.Exists {
			continue
		}
		syn, err := syntax.Parse(r.re.String(), syntax.Perl)
		if err != nil || minLen(syn) < gateMinLen {
			continue
		}
		group = append(group, r)
		subs = append(subs, syn)
		if len(group) == gateSize {
			flush()
		}
	}
	flush()
	return gates
}

// minLen is the length of the shortest text re matches (in byte-run
// form each rune is one octet), capped at 1<<20.
func minLen(re *syntax.Regexp) int {
	const max = 1 << 20
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		n := re.Min * minLen(re.Sub[0])
		if n > max {
			return max
		}
		return n
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
			if n > max {
				return max
			}
		}
		return n
	case syntax.OpAlternate:
		n := max
		for _, s := range re.Sub {
			if m := minLen(s); m < n {
				n = m
			}
		}
		return n
	case syntax.OpNoMatch:
		return max
	}
	return 0 // empty match, assertions, star, quest
}

// noGates turns the gates off (the tests that hold them exact).
var noGates bool

// gateMemo remembers which gates a text opens: 0 not asked yet, 1 closed,
// 2 open; one row of len(gates) per line.
type gateMemo struct {
	gates []*dfa.DFA
	lines []string
	memo  []uint8
}

// open reports whether gate g (1-based; 0 is no gate) lets its rules run on
// line i.
func (m *gateMemo) open(g, i int) bool {
	if g == 0 || noGates {
		return true
	}
	if m.memo == nil {
		m.memo = make([]uint8, len(m.gates)*len(m.lines))
	}
	k := i*len(m.gates) + g - 1
	if m.memo[k] == 0 {
		m.memo[k] = 1
		if m.gates[g-1].Match(m.lines[i]) {
			m.memo[k] = 2
		}
	}
	return m.memo[k] == 2
}
