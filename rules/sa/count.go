package sa

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"

	"github.com/levee-mail/levee/rules/sa/dfa"
	"github.com/levee-mail/levee/rules/sa/perlre"
)

// Counting. A rule with tflags multiple counts its matches (SpamAssassin
// loops on m//g), which the DFA cannot do: Go's regexp finds them one by
// one, at some 100 ns a byte for patterns without a literal prefix (the
// stock __E_LIKE_LETTER, a set of e-like letters counted in every
// paragraph, cost more than all other body rules together). Two shapes of
// pattern, common among the counted rules, have exact shortcuts:
//
//   - a pattern anchored at the start of the text (^ without /m,
//     __HAS_HREF, __BODY_TEXT_LINE) matches at most once: its count is the
//     DFA's answer;
//   - a pattern that is a list of alternatives, each a fixed sequence of
//     byte sets (e, <lcase_e>, a literal word, ab?c), none empty, is
//     counted by a scan that tries the alternatives in their order at each
//     position where one can start: the leftmost-first, non-overlapping
//     matches that regexp's FindAll finds;
//   - a pattern anchored at line starts (^ with /m: __HAS_HREF's
//     /^[^>].*?<a href=/m) whose matches cannot cross a newline after
//     their first byte is tried at each line start with an anchored DFA
//     (it dies within two lines), and regexp runs only where a match
//     starts, for its end (lineCounter).
type counter struct {
	atMostOne bool
	fixed     *fixedSet
	lines     *lineCounter
}

// noFastCount turns the shortcuts off (the tests that hold them exact).
var noFastCount bool

// fixedSet is a list of alternatives in priority order, each a sequence
// of byte sets.
type fixedSet struct {
	first byteSet // bytes an alternative can start with
	alts  [][]byteSet
}

type byteSet [4]uint64

func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }

const (
	maxFixedAlts = 256
	maxFixedLen  = 64
)

// newCounter looks at the RE2 source of a rule's regexp.
func newCounter(src string) counter {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return counter{}
	}
	re = re.Simplify()
	if prog, err := syntax.Compile(re); err == nil {
		if prog.StartCond()&syntax.EmptyBeginText != 0 {
			return counter{atMostOne: true}
		}
		if lc := newLineCounter(src, re, prog); lc != nil {
			return counter{lines: lc}
		}
	}
	alts, ok := expandFixed(re)
	if !ok || len(alts) == 0 {
		return counter{}
	}
	fs := &fixedSet{alts: alts}
	for _, a := range alts {
		if len(a) == 0 {
			return counter{} // an empty match: regexp's rules for those hold
		}
		for i := range fs.first {
			fs.first[i] |= a[0][i]
		}
	}
	return counter{fixed: fs}
}

// expandFixed lists the alternatives of a fixed-length pattern in
// regexp's priority order (leftmost-first: for a concatenation, the first
// part's alternatives outermost), ok false for any other pattern.
func expandFixed(re *syntax.Regexp) (alts [][]byteSet, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		seq := make([]byteSet, len(re.Rune))
		for i, r := range re.Rune {
			seq[i] = runeBytes(r, re.Flags&syntax.FoldCase != 0)
		}
		return [][]byteSet{seq}, len(seq) <= maxFixedLen
	case syntax.OpCharClass:
		var s byteSet
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r <= 0xff; r++ {
				s.add(byte(r))
			}
		}
		return [][]byteSet{{s}}, true
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		var s byteSet
		for b := 0; b < 256; b++ {
			if b != '\n' || re.Op == syntax.OpAnyChar {
				s.add(byte(b))
			}
		}
		return [][]byteSet{{s}}, true
	case syntax.OpCapture:
		return expandFixed(re.Sub[0])
	case syntax.OpEmptyMatch: // the parser factors a|ab into a(?:|b)
		return [][]byteSet{nil}, true
	case syntax.OpQuest: // x? is x|, x?? is |x
		a, ok := expandFixed(re.Sub[0])
		if !ok || len(a) >= maxFixedAlts {
			return nil, false
		}
		if re.Flags&syntax.NonGreedy != 0 {
			return append([][]byteSet{nil}, a...), true
		}
		return append(a, nil), true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			a, ok := expandFixed(sub)
			if !ok || len(alts)+len(a) > maxFixedAlts {
				return nil, false
			}
			alts = append(alts, a...)
		}
		return alts, true
	case syntax.OpConcat:
		alts = [][]byteSet{nil}
		for _, sub := range re.Sub {
			a, ok := expandFixed(sub)
			if !ok || len(alts)*len(a) > maxFixedAlts {
				return nil, false
			}
			next := make([][]byteSet, 0, len(alts)*len(a))
			for _, x := range alts {
				for _, y := range a {
					if len(x)+len(y) > maxFixedLen {
						return nil, false
					}
					seq := make([]byteSet, 0, len(x)+len(y))
					next = append(next, append(append(seq, x...), y...))
				}
			}
			alts = next
		}
		return alts, true
	}
	return nil, false
}

// runeBytes is the set of octets a literal rune matches in byte-run text
// (perlre.Bytes: octet b is U+00bb), its case-fold orbit under (?i).
func runeBytes(r rune, fold bool) byteSet {
	var s byteSet
	if r <= 0xff {
		s.add(byte(r))
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f <= 0xff {
				s.add(byte(f))
			}
		}
	}
	return s
}

// count is the number of leftmost-first, non-overlapping matches in text
// (raw octets), at most max when max > 0.
func (fs *fixedSet) count(text string, max int) int {
	n := 0
	for i := 0; i < len(text); {
		if !fs.first.has(text[i]) {
			i++
			continue
		}
		l := fs.matchAt(text, i)
		if l == 0 {
			i++
			continue
		}
		n++
		if max > 0 && n >= max {
			break
		}
		i += l
	}
	return n
}

// matchAt is the length of the first alternative that matches at i, 0
// when none does.
func (fs *fixedSet) matchAt(text string, i int) int {
next:
	for _, a := range fs.alts {
		if i+len(a) > len(text) {
			continue
		}
		for j := range a {
			if !a[j].has(text[i+j]) {
				continue next
			}
		}
		return len(a)
	}
	return 0
}

// lineCounter counts the matches of a pattern that can only start at a
// line start: at each line start at or after the end of the last match,
// the anchored DFA says whether a match starts there, and the anchored
// regexp where the leftmost-first one ends.
type lineCounter struct {
	at *dfa.DFA
	re *regexp.Regexp
}

// newLineCounter returns a lineCounter for a pattern (RE2 source, its
// simplified tree and program) whose every match starts at a line start,
// is not empty, does not read the start or end of the whole text, and
// holds a newline at most as its first byte: nil for any other.
func newLineCounter(src string, re *syntax.Regexp, prog *syntax.Prog) *lineCounter {
	if prog.StartCond()&syntax.EmptyBeginLine == 0 || minLen(re) == 0 {
		return nil
	}
	// the instructions that can take a text's first byte: reached from
	// the start through empty-width steps only
	first := map[uint32]bool{}
	var walk func(pc uint32)
	seen := map[uint32]bool{}
	walk = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstNop, syntax.InstCapture, syntax.InstEmptyWidth:
			walk(in.Out)
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			first[pc] = true
		}
	}
	walk(uint32(prog.Start))
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
				return nil
			}
		case syntax.InstRune, syntax.InstRune1:
			if !first[uint32(pc)] && in.MatchRune('\n') {
				return nil
			}
		case syntax.InstRuneAny:
			if !first[uint32(pc)] {
				return nil
			}
		}
	}
	anchored := `\A(?:` + src + `)`
	syn, err := syntax.Parse(anchored, syntax.Perl)
	if err != nil {
		return nil
	}
	d, err := dfa.Compile(syn)
	if err != nil {
		return nil
	}
	rx, err := regexp.Compile(anchored)
	if err != nil {
		return nil
	}
	return &lineCounter{at: d, re: rx}
}

// count is the number of leftmost-first, non-overlapping matches in text
// (raw octets), at most max when max > 0.
func (lc *lineCounter) count(text string, max int) int {
	n := 0
	for s := 0; s < len(text); {
		// a match holds a newline at most as its first byte: it lies in
		// the window up to the next newline after that byte, whose end
		// reads as the end of a line either way
		w := len(text)
		if j := strings.IndexByte(text[s+1:], '\n'); j >= 0 {
			w = s + 1 + j
		}
		if lc.at.Match(text[s:w]) {
			loc := lc.re.FindStringIndex(perlre.Bytes(text[s:w]))
			if loc == nil || loc[1] == 0 { // cannot be: the DFA said a non-empty match starts here
				return n
			}
			n++
			if max > 0 && n >= max {
				return n
			}
			// back from byte-run offsets to octets
			end, o := s, 0
			for o < loc[1] && end < w {
				if text[end] >= 0x80 {
					o += 2
				} else {
					o++
				}
				end++
			}
			if end > s && text[end-1] == '\n' {
				s = end // the match ended at a line start
				continue
			}
			s = end
		}
		i := strings.IndexByte(text[s:], '\n')
		if i < 0 {
			break
		}
		s += i + 1
	}
	return n
}
