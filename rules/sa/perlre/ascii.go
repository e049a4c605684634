package perlre

import "regexp/syntax"

// ASCIILiterals is the prefilter for texts without a byte >= 0x80 (most
// lines of most mail): the literals of the pattern cut down to what can
// match such a text, where every non-ASCII alternative is gone. Patterns
// made of obfuscation classes (SpamAssassin's ReplaceTags: each letter a
// class of look-alikes, many of them multi-byte) have no literal set, but
// their ASCII part has one. never is true when the pattern cannot match an
// ASCII text at all; lits is nil when no set is known.
func (r *Regexp) ASCIILiterals() (lits []string, never bool) {
	re, err := syntax.Parse(r.src, syntax.Perl)
	if err != nil {
		return nil, false
	}
	re = restrictASCII(re)
	if re.Op == syntax.OpNoMatch {
		return nil, true
	}
	in := litInfo(re)
	best := pickLits(asReq(in), in.prefixes(), in.suffixes())
	if best == nil {
		return nil, false
	}
	return minimalLits(best), false
}

var noMatch = &syntax.Regexp{Op: syntax.OpNoMatch}

// restrictASCII rewrites re to match what it matches among texts of runes
// below 0x80, OpNoMatch when nothing.
func restrictASCII(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r >= 0x80 {
				return noMatch
			}
		}
		return re
	case syntax.OpCharClass:
		var rs []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo >= 0x80 {
				continue
			}
			rs = append(rs, lo, min(hi, 0x7f))
		}
		if len(rs) == 0 {
			return noMatch
		}
		c := *re
		c.Rune = rs
		return &c
	case syntax.OpAnyChar:
		return &syntax.Regexp{Op: syntax.OpCharClass, Rune: []rune{0, 0x7f}}
	case syntax.OpAnyCharNotNL:
		return &syntax.Regexp{Op: syntax.OpCharClass, Rune: []rune{0, '\n' - 1, '\n' + 1, 0x7f}}
	case syntax.OpCapture:
		sub := restrictASCII(re.Sub[0])
		if sub.Op == syntax.OpNoMatch {
			return noMatch
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	case syntax.OpConcat:
		subs := make([]*syntax.Regexp, 0, len(re.Sub))
		for _, s := range re.Sub {
			x := restrictASCII(s)
			if x.Op == syntax.OpNoMatch {
				return noMatch
			}
			subs = append(subs, x)
		}
		c := *re
		c.Sub = subs
		return &c
	case syntax.OpAlternate:
		subs := make([]*syntax.Regexp, 0, len(re.Sub))
		for _, s := range re.Sub {
			if x := restrictASCII(s); x.Op != syntax.OpNoMatch {
				subs = append(subs, x)
			}
		}
		switch len(subs) {
		case 0:
			return noMatch
		case 1:
			return subs[0]
		}
		c := *re
		c.Sub = subs
		return &c
	case syntax.OpStar, syntax.OpQuest, syntax.OpPlus, syntax.OpRepeat:
		sub := restrictASCII(re.Sub[0])
		if sub.Op == syntax.OpNoMatch {
			if re.Op == syntax.OpPlus || re.Op == syntax.OpRepeat && re.Min > 0 {
				return noMatch
			}
			return &syntax.Regexp{Op: syntax.OpEmptyMatch}
		}
		c := *re
		c.Sub = []*syntax.Regexp{sub}
		return &c
	}
	return re // empty-width assertions, empty match, no match
}
