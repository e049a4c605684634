package sa

import (
	"math/rand"
	"testing"

	"github.com/levee-mail/levee/rules/sa/perlre"
)

// countPatterns are Perl patterns of counted rules: fixed-length lists,
// anchored ones, and others (regexp counts those).
var countPatterns = []struct {
	re, flags string
	shape     string // "fixed", "one", ""
}{
	{`e`, "", "fixed"},
	{`(?:e|\xc3[\xa8\xa9\xaa\xab]|\xc4[\x93\x95]|\xd0\xb5)`, "", "fixed"},
	{`a|ab|abc`, "", "fixed"},
	{`ab|a`, "", "fixed"},
	{`(?:a|ab)(?:c|bc)`, "", "fixed"},
	{`k`, "i", "fixed"},
	{`\xe9t\xe9`, "i", "fixed"},
	{`[a-c].x`, "", "fixed"},
	{`^[^>].*?<a href=`, "", "one"},
	{`^\s*\S`, "", "one"},
	{`\bfoo\b`, "", ""},
	{`a+`, "", ""},
	{`x?`, "", ""},
	{`ab?c`, "", "fixed"},
	{`ab??c?`, "", "fixed"},
}

func TestCounters(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	alpha := []byte("abcx<>Ee\xc3\xa8\xa9\xc9\xe9tK \n")
	for _, p := range countPatterns {
		re := perlre.MustCompile(p.re, p.flags)
		c := newCounter(re.String())
		shape := ""
		if c.fixed != nil {
			shape = "fixed"
		} else if c.atMostOne {
			shape = "one"
		}
		if shape != p.shape {
			t.Errorf("%q: shape %q, want %q", p.re, shape, p.shape)
			continue
		}
		if c.fixed == nil {
			continue
		}
		for k := 0; k < 2000; k++ {
			b := make([]byte, rng.Intn(30))
			for i := range b {
				b[i] = alpha[rng.Intn(len(alpha))]
			}
			text := string(b)
			for _, max := range []int{0, 2} {
				if got, want := c.fixed.count(text, max), re.Count(perlre.Bytes(text), max); got != want {
					t.Fatalf("%q on %q (max %d): counted %d, regexp %d", p.re, text, max, got, want)
				}
			}
		}
	}
}

// FuzzFixedCount holds the fixed-list counter to regexp's count on any
// text.
func FuzzFixedCount(f *testing.F) {
	f.Add(uint8(1), "the \xc3\xa9t\xc3\xa9 e E")
	f.Add(uint8(4), "abcbc")
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		p := countPatterns[int(which)%len(countPatterns)]
		re := perlre.MustCompile(p.re, p.flags)
		c := newCounter(re.String())
		if c.fixed == nil {
			return
		}
		if got, want := c.fixed.count(text, 0), re.Count(perlre.Bytes(text), 0); got != want {
			t.Errorf("%q on %q: counted %d, regexp %d", p.re, text, got, want)
		}
	})
}
