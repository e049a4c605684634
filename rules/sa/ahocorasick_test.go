package sa

import (
	"math/rand"
	"sort"
	"strings"
	"testing"
)

func acFound(m *acMatcher, text string) []int {
	seen := map[int]int{}
	m.find(text, func(l int32) { seen[int(l)]++ })
	var out []int
	for l, n := range seen {
		if n != 1 {
			out = append(out, -1) // reported twice
		}
		out = append(out, l)
	}
	sort.Ints(out)
	return out
}

func containsFound(lits []string, text string) []int {
	var out []int
	for i, l := range lits {
		if strings.Contains(text, l) {
			out = append(out, i)
		}
	}
	return out
}

// The Aho-Corasick DFA reports each literal that occurs, once, and no
// other: the same answer as strings.Contains for each.
func TestACMatcher(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "viagra", "v", "\xc3\xa9t\xc3\xa9", "a", "aaa", "ab"}
	m := newACMatcher(lits)
	for _, text := range []string{"", "ushers", "his viagra", "xyz", "\xc3\xa9t\xc3\xa9 aaab", "hhhhers", "v"} {
		if got, want := acFound(m, text), containsFound(lits, text); !equalInts(got, want) {
			t.Errorf("%q: found %v, want %v", text, got, want)
		}
	}
	rng := rand.New(rand.NewSource(1))
	alpha := "abcs\xc3"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[rng.Intn(len(alpha))]
		}
		return string(b)
	}
	for round := 0; round < 200; round++ {
		lits := make([]string, 1+rng.Intn(20))
		for i := range lits {
			lits[i] = word(1 + rng.Intn(5))
		}
		m := newACMatcher(lits)
		for k := 0; k < 20; k++ {
			text := word(rng.Intn(40))
			if got, want := acFound(m, text), containsFound(lits, text); !equalInts(got, want) {
				t.Fatalf("lits %q text %q: found %v, want %v", lits, text, got, want)
			}
		}
	}
	newACMatcher(nil).find("abc", func(int32) { t.Error("empty matcher found something") })
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
