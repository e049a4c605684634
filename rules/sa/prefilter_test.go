package sa

import (
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
		if got, want := lowerJoin(texts), perlre.Lower(perlre.Bytes(strings.Join(texts, "\n"))); got != want {
			t.Errorf("lowerJoin(%q) = %q, want %q", texts, got, want)
		}
	})
}
