package sa

import (
	"slices"
	"unsafe"

	"github.com/levee-mail/levee/rules/sa/dfa"
)

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

// pick is one rule to run, on the lines listed (indexes into the texts,
// in order), or on every line when lines is nil.
type pick struct {
	r     *Rule
	lines []int32
}

// litMax is the longest literal the prefilter looks for: a longer one is
// cut to its first litMax bytes, which a match holds as surely. Long
// literals made the Aho-Corasick automaton of the stock body rules some
// 20,000 nodes, a table larger than the CPU's caches; cut at 8 it does
// no more false admissions worth counting and runs ~5% faster.
const litMax = 8

func newPrefilter(rules []*Rule, budget *dfa.Budget) *prefilter {
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
	pf.gates = makeGates(pf.always, budget) // all of them when none()
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

// pick returns the rules to run on texts (raw octets), in rule order, and
// the lines each may match on: a rule with literals runs on the lines one
// of them occurs in, a rule with ASCII literals also on every line that is
// not ASCII. idx is scratch space, all 0, as long as the rule set.
func (pf *prefilter) pick(texts []string, idx []int32) []pick {
	out := make([]pick, 0, len(pf.always)+16)
	if pf.none() {
		for _, r := range pf.all {
			out = append(out, pick{r: r})
		}
		return out
	}
	for _, r := range pf.always {
		out = append(out, pick{r: r})
	}
	perLine := len(texts) > 1 && !noFilters
	var hits []lineHit // (pick, line), in the order found
	// add picks r (once) and notes that it may match on line
	add := func(r *Rule, line int32) {
		k := idx[r.slot] - 1
		if k < 0 {
			k = int32(len(out))
			idx[r.slot] = k + 1
			out = append(out, pick{r: r})
		}
		if perLine {
			hits = append(hits, lineHit{k, line})
		}
	}
	found := func(users [][]*Rule) func(l, line int32) {
		return func(l, line int32) {
			for _, r := range users[l] {
				add(r, line)
			}
		}
	}
	var lowered string
	var starts []int32
	if len(pf.lits) > 0 || len(pf.alits) > 0 {
		lowered, starts = lowerJoin(texts)
	}
	if len(pf.lits) > 0 {
		pf.ac.findLines(lowered, starts, nil, found(pf.users))
	}
	var nonASCII []int32 // the lines that are not ASCII
	if len(pf.asciiRules) > 0 {
		var ascii []int32
		for i, t := range texts {
			if isASCII(t) {
				ascii = append(ascii, int32(i))
			} else {
				nonASCII = append(nonASCII, int32(i))
			}
		}
		if len(ascii) > 0 && len(pf.alits) > 0 {
			// an ASCII line is its lowered form: the same text
			pf.aac.findLines(lowered, starts, ascii, found(pf.ausers))
		}
		for _, r := range pf.asciiRules {
			for _, l := range nonASCII {
				add(r, l)
			}
		}
	}
	if perLine {
		setLines(out, hits, len(pf.always))
	}
	for _, p := range out {
		idx[p.r.slot] = 0
	}
	sortPicks(out)
	return out
}

// lineHit is a line a pick may match on.
type lineHit struct{ pick, line int32 }

// setLines gives each pick from the first with literals on the lines of
// hits: sorted, once each, all in one array.
func setLines(out []pick, hits []lineHit, first int) {
	n := make([]int32, len(out)+1)
	for _, h := range hits {
		n[h.pick+1]++
	}
	for i := 1; i < len(n); i++ {
		n[i] += n[i-1]
	}
	arena := make([]int32, len(hits))
	fill := append([]int32(nil), n[:len(out)]...)
	for _, h := range hits {
		arena[fill[h.pick]] = h.line
		fill[h.pick]++
	}
	for k := first; k < len(out); k++ {
		ls := arena[n[k]:n[k+1]:n[k+1]]
		slices.Sort(ls)
		ls = slices.Compact(ls)
		out[k].lines = ls
	}
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
// newlines, in one pass; and where each line begins in it. A literal that
// spans two lines only makes a rule run that will not match.
func lowerJoin(texts []string) (string, []int32) {
	n := max(len(texts)-1, 0) // the newlines between
	for _, t := range texts {
		n += len(t)
		for i := 0; i < len(t); i++ {
			n += int(t[i] >> 7)
		}
	}
	b := make([]byte, n)
	starts := make([]int32, len(texts))
	j := 0
	for k, t := range texts {
		if k > 0 {
			b[j] = '\n'
			j++
		}
		starts[k] = int32(j)
		for i := 0; i < len(t); i++ {
			c := t[i]
			if c < 0x80 {
				b[j] = asciiLower[c]
				j++
				continue
			}
			if c >= 0xc0 && c <= 0xde && c != 0xd7 { // Latin-1 capitals
				c += 0x20
			}
			b[j], b[j+1] = 0xc0|c>>6, 0x80|c&0x3f
			j += 2
		}
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), starts // as strings.Builder: b is not written again
}

// asciiLower maps each ASCII byte to its lower case.
var asciiLower = func() (t [128]byte) {
	for c := range t {
		t[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			t[c] += 'a' - 'A'
		}
	}
	return t
}()
