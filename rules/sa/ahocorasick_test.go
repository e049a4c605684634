package sa

import (
	"math/rand"
	"sort"
	"strings"
	"testing"
)

func acFound(m *acMatcher, text string) []int {
	seen := map[int]int{}
	m.findLines(text, []int32{0}, nil, func(l, line int32) {
		if line != 0 {
			seen[-2]++ // a line that is not there
		}
		seen[int(l)]++
	})
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
	newACMatcher(nil).findLines("abc", []int32{0}, nil, func(int32, int32) { t.Error("empty matcher found something") })
}

// findLines reports each literal once for each line it occurs in.
func TestACMatcherLines(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alpha := "abc\n"
	for round := 0; round < 300; round++ {
		lits := make([]string, 1+rng.Intn(10))
		for i := range lits {
			b := make([]byte, 1+rng.Intn(3))
			for j := range b {
				b[j] = alpha[rng.Intn(3)] // no newline in a literal
			}
			lits[i] = string(b)
		}
		b := make([]byte, rng.Intn(60))
		for j := range b {
			b[j] = alpha[rng.Intn(len(alpha))]
		}
		text := string(b)
		starts := []int32{0}
		for i := 0; i < len(text); i++ {
			if text[i] == '\n' {
				starts = append(starts, int32(i+1))
			}
		}
		lineAt := func(i int) int32 {
			l := int32(0)
			for k, s := range starts {
				if int32(i) >= s {
					l = int32(k)
				}
			}
			return l
		}
		want := map[[2]int32]int{}
		for id, l := range lits {
			for i := 0; i+len(l) <= len(text); i++ {
				if text[i:i+len(l)] == l {
					want[[2]int32{int32(id), lineAt(i + len(l) - 1)}] = 1
				}
			}
		}
		got := map[[2]int32]int{}
		newACMatcher(lits).findLines(text, starts, nil, func(l, line int32) { got[[2]int32{l, line}]++ })
		if len(got) != len(want) {
			t.Fatalf("lits %q text %q: found %v, want %v", lits, text, got, want)
		}
		for k, n := range got {
			if n != 1 || want[k] != 1 {
				t.Fatalf("lits %q text %q: found %v, want %v", lits, text, got, want)
			}
		}
		// only the odd lines
		odd := []int32{}
		for l := int32(1); int(l) < len(starts); l += 2 {
			odd = append(odd, l)
		}
		got = map[[2]int32]int{}
		newACMatcher(lits).findLines(text, starts, odd, func(l, line int32) { got[[2]int32{l, line}]++ })
		for k := range want {
			if k[1]%2 == 0 {
				delete(want, k)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("lits %q text %q, odd lines: found %v, want %v", lits, text, got, want)
		}
	}
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
