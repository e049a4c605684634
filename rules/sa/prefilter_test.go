package sa

import (
	"fmt"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules/sa/perlre"
)

// lowerJoin is perlre.Lower(perlre.Bytes(strings.Join(texts, "\n"))).
func FuzzLowerJoin(f *testing.F) {
	f.Add("Hello \xc9T\xc9", "x\xd7y\xde\xdf\xff")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		texts := []string{a, b}
		got, starts := lowerJoin(texts)
		if want := perlre.Lower(perlre.Bytes(strings.Join(texts, "\n"))); got != want {
			t.Errorf("lowerJoin(%q) = %q, want %q", texts, got, want)
		}
		// each line begins where its lowered form does
		if starts[0] != 0 || int(starts[1]) != len(perlre.Lower(perlre.Bytes(a)))+1 {
			t.Errorf("lowerJoin(%q): lines begin at %v", texts, starts)
		}
	})
}

// A rule with literals runs on the lines they occur in; one with ASCII
// literals also on every line that is not ASCII; one without on all.
func TestPickLines(t *testing.T) {
	set := mustParse(t, `
body  LIT     /viagra/i
body  FUZZY   /[v\xbd\xfd\xff\xfe][i\xed\xec\xee\xef][a\xe1\xe0\xe2\xe3][g\xe7\xe8\xe9\xea][r\xf1\xf2\xf3\xf4]/i
body  NONE    /\d{6}/
`)
	lines := []string{"Subject line", "buy VIAGRA now", "nothing", "caf\xc3\xa9 v1agra", "viagra again"}
	if pf := set.pf[KindBody]; len(pf.asciiRules) != 1 || len(pf.always) != 1 {
		t.Fatalf("%d rules with ASCII literals only, %d without literals", len(pf.asciiRules), len(pf.always))
	}
	idx := make([]int32, len(set.Rules))
	got := map[string]string{}
	for _, p := range set.pf[KindBody].pick(lines, idx) {
		got[p.r.Name] = fmt.Sprint(p.lines)
	}
	want := map[string]string{"LIT": "[1 4]", "FUZZY": "[1 3 4]", "NONE": "[]"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s runs on lines %s, want %s", name, got[name], w)
		}
	}
	for i, x := range idx {
		if x != 0 {
			t.Fatalf("scratch slot %d left at %d", i, x)
		}
	}
}
