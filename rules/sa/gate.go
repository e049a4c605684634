package sa

import (
	"regexp/syntax"
	"strings"

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
// 20,000-130,000 instructions) has states of a few KB each. On the dev
// corpus the largest gate, relaxed, holds 8,600 states in 15 MB; below
// its size the cache would be cleared every few hundred messages, and
// each clear makes the next large messages build their states again.
var gateLimits = dfa.Limits{MaxStates: 40000, MaxBytes: 32 << 20, MaxResets: 2}

// gates groups the rules of always (in order) that can be gated, sets
// their gate (1-based index into the returned DFAs) and returns the
// unions.
func makeGates(always []*Rule, budget *dfa.Budget) []*dfa.DFA {
	lim := gateLimits
	lim.Budget = budget
	var (
		gates []*dfa.DFA
		group []*Rule
		subs  []*syntax.Regexp
	)
	flush := func() {
		if len(group) > 1 {
			if d, err := dfa.CompileLimits(&syntax.Regexp{Op: syntax.OpAlternate, Sub: subs}, lim); err == nil {
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
		subs = append(subs, relax(syn))
		if len(group) == gateSize {
			flush()
		}
	}
	flush()
	return gates
}

// relax returns a regexp that matches wherever re does, and is cheaper as
// a DFA: a bounded repeat x{n,m} becomes x{n,}. A DFA counts the copies of
// x in its states; where matches of x{1,80} can start at every byte, the
// states are sets of counts, and the union of eight such patterns (the
// __FILL_THIS_FORM_* and __LOTSA_MONEY_* patterns) grew to 16,000 states
// and 31 MB on the dev corpus. A gate is only a filter (its members decide
// on the lines it lets through), so it may match more than they do: with
// the bounds relaxed it matches nearly the same lines. re is not changed.
func relax(re *syntax.Regexp) *syntax.Regexp {
	var sub []*syntax.Regexp
	for i, s := range re.Sub {
		if r := relax(s); r != s {
			if sub == nil {
				sub = append([]*syntax.Regexp(nil), re.Sub...)
			}
			sub[i] = r
		}
	}
	bounded := re.Op == syntax.OpRepeat && re.Max > re.Min
	if sub == nil && !bounded {
		return re
	}
	c := *re
	if sub != nil {
		c.Sub = sub
	}
	if bounded {
		c.Max = -1
	}
	return &c
}

// looseSpan is the widest bounded repeat (x{n,m}: m-n) from which a rule
// asks a relaxed DFA before its own: the states of x{1,80} after a common
// prefix are sets of counts (__HDR_ORDER_FTSDMCXXXX, \nFrom: .{1,80}?\nTo:
// ... over all header fields, grew to 26,000 states), while relaxed it
// has a few dozen; the exact DFA then runs only on the texts the relaxed
// one matches.
const looseSpan = 16

// span is the widest bounded repeat in re (m-n of x{n,m}), 0 when none.
func span(re *syntax.Regexp) int {
	n := 0
	if re.Op == syntax.OpRepeat && re.Max > re.Min {
		n = re.Max - re.Min
	}
	for _, s := range re.Sub {
		if m := span(s); m > n {
			n = m
		}
	}
	return n
}

// minLineLen is the shortest match from which a rule that cannot match a
// newline first looks for a line that long (hasLine): __LONGLINE,
// /^[^\r\n]{998}/m over the whole message, walked its DFA over every
// byte, where IndexByte finds the newlines ten times faster.
const minLineLen = 64

// hasLine reports whether text has a line (between newlines) of n bytes
// or more.
func hasLine(text string, n int) bool {
	for len(text) >= n {
		i := strings.IndexByte(text, '\n')
		if i < 0 || i >= n {
			return true
		}
		text = text[i+1:]
	}
	return false
}

// matchesNewline reports whether re can match a text holding a newline
// (in byte-run form: the rune U+000A).
func matchesNewline(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r == '\n' {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return true
			}
		}
		return false
	case syntax.OpAnyChar:
		return true
	}
	for _, s := range re.Sub {
		if matchesNewline(s) {
			return true
		}
	}
	return false
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

// noFilters turns off every filter that only spares work: the gates, the
// relaxed DFAs (Rule.loose), the line-length shortcut (Rule.minLine) and
// the prefilter's per-line admission (a rule then runs on every line of a
// view its literals occur in). The tests that hold them exact compare.
var noFilters bool

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
	if g == 0 || noFilters {
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
