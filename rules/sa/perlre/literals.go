package perlre

import (
	"regexp/syntax"
	"sort"
	"strings"
)

// Literals returns a prefilter for the pattern: a set of strings, each of at
// least 3 characters, such that every match contains at least one of them.
// The strings are in byte-rune form (see Bytes) and folded by Lower, so the
// caller tests them against Lower(Bytes(text)) — for every pattern, case
// sensitive or not. When no such set is known, Literals returns nil and the
// pattern must always run.
//
// The set is computed from the regexp/syntax tree of the translated pattern,
// in the manner of RE2's prefilter and Google Code Search's trigram query,
// but keeping only one OR-set of plain literals.
func (r *Regexp) Literals() []string {
	if !r.litDone {
		r.literals = literalsOf(r.src)
		r.litDone = true
	}
	return r.literals
}

const (
	maxLitSet    = 64 // strings in one set
	maxClassLits = 8  // a class of at most this many (folded) characters is expanded
	maxLitLen    = 16 // prefixes and suffixes are kept this long
	minLitLen    = 3
)

func literalsOf(src string) []string {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	in := litInfo(re)
	best := pickLits(asReq(in), in.prefixes(), in.suffixes())
	if best == nil {
		return nil
	}
	return minimalLits(best)
}

// linfo describes what a sub-pattern's matches look like.
type linfo struct {
	exact    []string // when isExact: every match is one of these (folded)
	isExact  bool
	pre, suf []string // every match starts (ends) with one of these; nil: unknown
	req      []string // every match contains one of these; nil: unknown
}

func exactInfo(ss ...string) linfo { return linfo{exact: dedupe(ss), isExact: true} }

func (l linfo) prefixes() []string {
	if l.isExact {
		return trimSet(l.exact, true)
	}
	return l.pre
}

func (l linfo) suffixes() []string {
	if l.isExact {
		return trimSet(l.exact, false)
	}
	return l.suf
}

// trimSet cuts strings to maxLitLen from the front (or back); nil if any is empty.
func trimSet(ss []string, front bool) []string {
	if ss == nil || len(ss) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s == "" {
			return nil
		}
		r := []rune(s)
		if len(r) > maxLitLen {
			if front {
				r = r[:maxLitLen]
			} else {
				r = r[len(r)-maxLitLen:]
			}
		}
		out = append(out, string(r))
	}
	return dedupe(out)
}

func asReq(l linfo) []string {
	if l.isExact && validLits(l.exact) {
		return l.exact
	}
	return l.req
}

func validLits(ss []string) bool {
	if len(ss) == 0 || len(ss) > maxLitSet {
		return false
	}
	for _, s := range ss {
		if len([]rune(s)) < minLitLen {
			return false
		}
	}
	return true
}

func litScore(ss []string) int {
	min := 1 << 30
	for _, s := range ss {
		if n := len([]rune(s)); n < min {
			min = n
		}
	}
	if min > 5 {
		min = 5
	}
	return min*100 - 10*len(ss)
}

func pickLits(cands ...[]string) []string {
	var best []string
	for _, c := range cands {
		if !validLits(c) {
			continue
		}
		if best == nil || litScore(c) > litScore(best) {
			best = c
		}
	}
	return best
}

// minimalLits drops strings that contain another string of the set: the
// shorter one is found whenever the longer one is.
func minimalLits(ss []string) []string {
	var out []string
	for i, s := range ss {
		redundant := false
		for j, t := range ss {
			if i != j && len(t) < len(s) && strings.Contains(s, t) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func dedupe(ss []string) []string {
	if ss == nil {
		return nil
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func cross(a, b []string) []string {
	if a == nil || b == nil || len(a)*len(b) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out)
}

func union(a, b []string) []string {
	if a == nil || b == nil || len(a)+len(b) > maxLitSet {
		return nil
	}
	return dedupe(append(append([]string(nil), a...), b...))
}

func lowerRune(r rune) rune {
	if r < 256 {
		return rune(lowerByte(int(r)))
	}
	return r
}

// classLits returns the folded characters of a class, or nil when too many.
// Runes above U+00FF are ignored: they never occur in Bytes text.
func classLits(ranges []rune) []string {
	seen := map[rune]bool{}
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo > 0xff {
			continue
		}
		if hi > 0xff {
			hi = 0xff
		}
		if hi-lo > 255 {
			return nil
		}
		for c := lo; c <= hi; c++ {
			seen[lowerRune(c)] = true
			if len(seen) > maxClassLits {
				return nil
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, string(c))
	}
	sort.Strings(out)
	return out
}

func litInfo(re *syntax.Regexp) linfo {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactInfo("")
	case syntax.OpLiteral:
		var b strings.Builder
		for _, r := range re.Rune {
			b.WriteRune(lowerRune(r))
		}
		return exactInfo(b.String())
	case syntax.OpCharClass:
		if ls := classLits(re.Rune); ls != nil {
			return exactInfo(ls...)
		}
		return linfo{}
	case syntax.OpCapture:
		return litInfo(re.Sub[0])
	case syntax.OpConcat:
		acc := exactInfo("")
		for _, s := range re.Sub {
			acc = litConcat(acc, litInfo(s))
		}
		return acc
	case syntax.OpAlternate:
		acc := litInfo(re.Sub[0])
		for _, s := range re.Sub[1:] {
			acc = litAlt(acc, litInfo(s))
		}
		return acc
	case syntax.OpQuest:
		return litAlt(exactInfo(""), litInfo(re.Sub[0]))
	case syntax.OpStar:
		return linfo{}
	case syntax.OpPlus:
		return litRepeat(litInfo(re.Sub[0]), 1, -1)
	case syntax.OpRepeat:
		return litRepeat(litInfo(re.Sub[0]), re.Min, re.Max)
	}
	// OpAnyChar, OpAnyCharNotNL, OpNoMatch and the rest: nothing known
	return linfo{}
}

func litConcat(a, b linfo) linfo {
	if a.isExact && b.isExact {
		if x := cross(a.exact, b.exact); x != nil {
			return exactInfo(x...)
		}
	}
	var out linfo
	out.req = pickLits(asReq(a), asReq(b), cross(a.suffixes(), b.prefixes()))
	// prefixes
	if a.isExact {
		if bp := b.prefixes(); bp != nil {
			out.pre = trimSet(cross(a.exact, bp), true)
		}
		if out.pre == nil {
			out.pre = a.prefixes()
		}
	} else {
		out.pre = a.pre
	}
	if b.isExact {
		if as := a.suffixes(); as != nil {
			out.suf = trimSet(cross(as, b.exact), false)
		}
		if out.suf == nil {
			out.suf = b.suffixes()
		}
	} else {
		out.suf = b.suf
	}
	return out
}

func litAlt(a, b linfo) linfo {
	if a.isExact && b.isExact {
		if u := union(a.exact, b.exact); u != nil {
			return exactInfo(u...)
		}
	}
	return linfo{
		req: union(asReq(a), asReq(b)),
		pre: union(a.prefixes(), b.prefixes()),
		suf: union(a.suffixes(), b.suffixes()),
	}
}

func litRepeat(sub linfo, min, max int) linfo {
	if min == 0 {
		if max == 1 {
			return litAlt(exactInfo(""), sub)
		}
		return linfo{}
	}
	if sub.isExact && max == min && min <= 4 {
		acc := exactInfo("")
		for i := 0; i < min; i++ {
			acc = litConcat(acc, sub)
		}
		return acc
	}
	// at least one copy: whatever one copy guarantees; a run of min exact copies is a factor
	out := linfo{req: asReq(sub), pre: sub.prefixes(), suf: sub.suffixes()}
	if sub.isExact && min >= 2 {
		k := min
		if k > 4 {
			k = 4
		}
		acc := exactInfo("")
		for i := 0; i < k; i++ {
			acc = litConcat(acc, sub)
		}
		out.req = pickLits(out.req, asReq(acc))
		if p := acc.prefixes(); p != nil {
			out.pre = p
			out.suf = acc.suffixes()
		}
	}
	return out
}
