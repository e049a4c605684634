package sa

import (
	"strings"

	"github.com/levee-mail/levee/rules/sa/perlre"
)

// prefilter picks the rules of a group worth running on a text: most
// regexps cannot match most messages, and each names literals of which a
// match must contain one (perlre's Literals, tested against
// perlre.Lower(perlre.Bytes(text))). A rule without such literals always
// runs. One Aho-Corasick scan finds the literals present.
type prefilter struct {
	all    []*Rule   // every rule of the group, in order
	always []*Rule   // no literal set (or negated): run on every text
	lits   []string  // distinct literals
	users  [][]*Rule // the rules each literal stands for
	ac     *acMatcher
}

func newPrefilter(rules []*Rule) *prefilter {
	pf := &prefilter{all: rules}
	ids := map[string]int{}
	for _, r := range rules {
		var ls []string
		if r.re != nil && !r.Negate && !r.Exists {
			ls = r.re.Literals()
		}
		if len(ls) == 0 {
			pf.always = append(pf.always, r)
			continue
		}
		for _, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = len(pf.lits)
				ids[l] = id
				pf.lits = append(pf.lits, l)
				pf.users = append(pf.users, nil)
			}
			pf.users[id] = append(pf.users[id], r)
		}
	}
	pf.ac = newACMatcher(pf.lits)
	return pf
}

// none says the prefilter leaves out nothing (no rule has literals).
func (pf *prefilter) none() bool { return len(pf.lits) == 0 }

// pick returns the rules to run on lowered (the group's texts, joined,
// in perlre.Lower(perlre.Bytes(...)) form), in rule order. seen is
// scratch space, all false, as long as the rule set.
func (pf *prefilter) pick(lowered string, seen []bool) []*Rule {
	if len(pf.lits) == 0 {
		return pf.all
	}
	out := append([]*Rule(nil), pf.always...)
	pf.ac.find(lowered, func(l int32) {
		for _, r := range pf.users[l] {
			if !seen[r.slot] {
				seen[r.slot] = true
				out = append(out, r)
			}
		}
	})
	for _, r := range out {
		seen[r.slot] = false
	}
	sortBySlot(out)
	return out
}

func sortBySlot(rs []*Rule) {
	// insertion sort: the picked lists are short and mostly sorted
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].slot < rs[j-1].slot; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// lowerJoin is the prefilter's text of several lines (raw octets): in
// byte-rune form, lowered and joined by newlines. A literal that spans
// two lines only makes a rule run that will not match.
func lowerJoin(texts []string) string {
	return perlre.Lower(perlre.Bytes(strings.Join(texts, "\n")))
}
