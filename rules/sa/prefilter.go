package sa

import "github.com/levee-mail/levee/rules/sa/dfa"

// prefilter picks the rules of a group worth running on a text, and on
// which of its lines: most regexps cannot match most messages, and each
// names literals of which a match must contain one (perlre's Literals,
// tested against perlre.Lower(perlre.Bytes(text))). A rule without such
// literals may still have them for lines without a byte >= 0x80 (most
// lines of most mail): perlre's ASCIILiterals, the literals of what the
// pattern can match there (obfuscation classes lose their look-alikes).
// Such a rule runs on the non-ASCII lines, and on the ASCII ones only when
// one of its ASCII literals occurs in them. One Aho-Corasick pass per
// literal set finds the literals present.
type prefilter struct {
	all    []*Rule // every rule of the group, in order
	always []*Rule // no literal set at all: every line (behind a gate when they have one)
	gates  []*dfa.DFA

	lits  []string  // distinct literals of the rules that have a set
	users [][]*Rule // the rules each literal stands for
	ac    *acMatcher

	// rules with ASCII literals only (or that cannot match ASCII lines)
	asciiRules []*Rule
	alits      []string
	ausers     [][]*Rule
	aac        *acMatcher
}

// pick is one rule to run, on every line or only the non-ASCII ones.
type pick struct {
	r            *Rule
	nonASCIIOnly bool
}

// litMax is the longest literal the prefilter looks for: a longer one is
// cut to its first litMax bytes, which a match holds as surely. Long
// literals made the Aho-Corasick automaton of the stock body rules some
// 20,000 nodes, a table larger than the CPU's caches; cut at 8 it does
// no more false admissions worth counting and runs ~5% faster.
const litMax = 8

func newPrefilter(rules []*Rule) *prefilter {
	pf := &prefilter{all: rules}
	ids, aids := map[string]int{}, map[string]int{}
	add := func(ids map[string]int, lits *[]string, users *[][]*Rule, l string, r *Rule) {
		id, ok := ids[l]
		if !ok {
			id = len(*lits)
			ids[l] = id
			*lits = append(*lits, l)
			*users = append(*users, nil)
		}
		(*users)[id] = append((*users)[id], r)
	}
	for _, r := range rules {
		if r.re == nil || r.Negate || r.Exists {
			// a negated rule hits where its regexp does not match: it
			// always runs
			pf.always = append(pf.always, r)
			continue
		}
		if ls := r.re.Literals(); len(ls) > 0 {
			for _, l := range ls {
				if len(l) > litMax {
					l = l[:litMax]
				}
				add(ids, &pf.lits, &pf.users, l, r)
			}
			continue
		}
		als, never := r.re.ASCIILiterals()
		if !never && len(als) == 0 {
			pf.always = append(pf.always, r)
			continue
		}
		pf.asciiRules = append(pf.asciiRules, r)
		for _, l := range als {
			if len(l) > litMax {
				l = l[:litMax]
			}
			add(aids, &pf.alits, &pf.ausers, l, r)
		}
	}
	pf.gates = makeGates(pf.always) // all of them when none()
	pf.ac = newACMatcher(pf.lits)
	pf.aac = newACMatcher(pf.alits)
	return pf
}

// none says the prefilter leaves out nothing (every rule always runs).
func (pf *prefilter) none() bool { return len(pf.lits) == 0 && len(pf.asciiRules) == 0 }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// pick returns the rules to run on texts (raw octets), in rule order.
// seen is scratch space, all false, as long as the rule set.
func (pf *prefilter) pick(texts []string, seen []bool) []pick {
	out := make([]pick, 0, len(pf.always)+16)
	if pf.none() {
		for _, r := range pf.all {
			out = append(out, pick{r: r})
		}
		return out
	}
	for _, r := range pf.always {
		seen[r.slot] = true
		out = append(out, pick{r: r})
	}
	found := func(users [][]*Rule) func(int32) {
		return func(l int32) {
			for _, r := range users[l] {
				if !seen[r.slot] {
					seen[r.slot] = true
					out = append(out, pick{r: r})
				}
			}
		}
	}
	lowered := "" // lowerJoin(texts), once
	if len(pf.lits) > 0 {
		lowered = lowerJoin(texts)
		pf.ac.find(lowered, found(pf.users))
	}
	if len(pf.asciiRules) > 0 {
		var ascii []string
		nonASCII := false
		for _, t := range texts {
			if isASCII(t) {
				ascii = append(ascii, t)
			} else {
				nonASCII = true
			}
		}
		if len(ascii) > 0 && len(pf.alits) > 0 {
			text := lowered
			if nonASCII || len(pf.lits) == 0 {
				text = lowerJoin(ascii) // ASCII: lowered, no other change
			}
			pf.aac.find(text, found(pf.ausers))
		}
		if nonASCII {
			for _, r := range pf.asciiRules {
				if !seen[r.slot] {
					seen[r.slot] = true
					out = append(out, pick{r: r, nonASCIIOnly: true})
				}
			}
		}
	}
	for _, p := range out {
		seen[p.r.slot] = false
	}
	sortPicks(out)
	return out
}

func sortPicks(ps []pick) {
	// insertion sort: the picked lists are short and mostly sorted
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].r.slot < ps[j-1].r.slot; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// lowerJoin is the prefilter's text of several lines (raw octets): in
// byte-rune form (perlre.Bytes), lowered (perlre.Lower) and joined by
// newlines, in one pass. A literal that spans two lines only makes a rule
// run that will not match.
func lowerJoin(texts []string) string {
	n := len(texts)
	for _, t := range texts {
		n += len(t)
		for i := 0; i < len(t); i++ {
			if t[i] >= 0x80 {
				n++
			}
		}
	}
	b := make([]byte, 0, n)
	for k, t := range texts {
		if k > 0 {
			b = append(b, '\n')
		}
		for i := 0; i < len(t); i++ {
			c := t[i]
			switch {
			case c >= 'A' && c <= 'Z':
				b = append(b, c+32)
			case c < 0x80:
				b = append(b, c)
			default:
				if c >= 0xc0 && c <= 0xde && c != 0xd7 { // Latin-1 capitals
					c += 0x20
				}
				b = append(b, 0xc0|c>>6, 0x80|c&0x3f)
			}
		}
	}
	return string(b)
}
