package sa

import (
	"math/rand"
	"strings"
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
	{`^[^>].*?<a href=`, "m", "line"},
	{`^[^>].*?<(?:a href|A HREF)=`, "m", "line"},
	{`^\s?\S{1,60}\s?$`, "m", ""}, // \s? at the end can take a newline
	{`^a+`, "m", "line"},
	{`^x?`, "m", ""},
	{`^a.*\z`, "m", ""},
	{`^a\s`, "m", ""},
	{`^(?:a|\n)[^\n]*b`, "m", "line"},
	{`^\s*\S`, "", "one"},
	{`\bfoo\b`, "", ""},
	{`a+`, "", ""},
	{`x?`, "", ""},
	{`ab?c`, "", "fixed"},
	{`ab??c?`, "", "fixed"},
}

func TestCounters(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	alpha := []byte("abcx<>Ee\xc3\xa8\xa9\xc9\xe9tK \n\n\n")
	for _, p := range countPatterns {
		re := perlre.MustCompile(p.re, p.flags)
		c := newCounter(re.String())
		shape := ""
		if c.fixed != nil {
			shape = "fixed"
		} else if c.atMostOne {
			shape = "one"
		} else if c.lines != nil {
			shape = "line"
		}
		if shape != p.shape {
			t.Errorf("%q: shape %q, want %q", p.re, shape, p.shape)
			continue
		}
		if c.fixed == nil && c.lines == nil {
			continue
		}
		tokens := []string{"<a href=", "<A HREF=", ">", "\n", "a", "b", "x", " ", "\xe9"}
		for k := 0; k < 4000; k++ {
			b := make([]byte, rng.Intn(30))
			for i := range b {
				b[i] = alpha[rng.Intn(len(alpha))]
			}
			text := string(b)
			if k%2 == 1 {
				var sb strings.Builder
				for j := rng.Intn(12); j > 0; j-- {
					sb.WriteString(tokens[rng.Intn(len(tokens))])
				}
				text = sb.String()
			}
			for _, max := range []int{0, 2} {
				var got int
				if c.fixed != nil {
					got = c.fixed.count(text, max)
				} else {
					got = c.lines.count(text, max)
				}
				if want := re.Count(perlre.Bytes(text), max); got != want {
					t.Fatalf("%q on %q (max %d): counted %d, regexp %d", p.re, text, max, got, want)
				}
			}
		}
	}
}

// FuzzFixedCount holds the fixed-list and line counters to regexp's count
// on any text.
func FuzzFixedCount(f *testing.F) {
	f.Add(uint8(1), "the \xc3\xa9t\xc3\xa9 e E")
	f.Add(uint8(4), "abcbc")
	f.Add(uint8(9), "x\n<a href=\n\nb<a href=<a href=\n")
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		p := countPatterns[int(which)%len(countPatterns)]
		re := perlre.MustCompile(p.re, p.flags)
		c := newCounter(re.String())
		var got int
		switch {
		case c.fixed != nil:
			got = c.fixed.count(text, 0)
		case c.lines != nil:
			got = c.lines.count(text, 0)
		default:
			return
		}
		if want := re.Count(perlre.Bytes(text), 0); got != want {
			t.Errorf("%q on %q: counted %d, regexp %d", p.re, text, got, want)
		}
	})
}
