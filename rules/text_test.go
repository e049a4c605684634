package rules

import (
	"fmt"
	"strings"
	"testing"
)

var wordTexts = []string{
	"", "ab abc abcd ab1 12 123 x_yz é日本語 ĳ½¾ⅷ a\xffbcd \xff\xfeabc",
	"click https://x.example/a?b=c&d here now www.example.com/path? foo=bar a&b",
	"Hello http://A.example\n\tword/s\r\fand more WORDS ÜBER 2024",
}

// TestWordScans: countWords, forWords, dropURLs and dropURLTails do what
// the regexps they replace do.
func TestWordScans(t *testing.T) {
	for _, s := range wordTexts {
		checkWordScans(t, s)
	}
}

func checkWordScans(t *testing.T, s string) {
	for _, max := range []int{1, 3, 20, 5000} {
		var got []string
		forWords(s, max, func(w string) bool { got = append(got, w); return true })
		want := wordRE.FindAllString(s, max)
		if fmt.Sprint(got) != fmt.Sprint(want) || countWords(s, max) != len(want) {
			t.Fatalf("%q max %d: words %q, wordRE %q", s, max, got, want)
		}
	}
	if got, want := dropURLs(s), urlRE.ReplaceAllString(s, " "); got != want {
		t.Fatalf("%q: dropURLs %q, urlRE %q", s, got, want)
	}
	if got, want := dropURLTails(s), urlTailRE.ReplaceAllString(s, " "); got != want {
		t.Fatalf("%q: dropURLTails %q, urlTailRE %q", s, got, want)
	}
}

func FuzzWordScans(f *testing.F) {
	for _, s := range append(wordTexts, urlTexts...) {
		f.Add(s)
	}
	f.Fuzz(checkWordScans)
}

// joinFields and hasInvisible are the library calls they replace.
func FuzzJoinFields(f *testing.F) {
	for _, s := range []string{"", "  a  b\t\nc ", "\u00a0x\u2003y\u0085", "a\xffb  \xc2", "é ’quoted’ \u200bzw", "\ufeffbom \u00adshy \u034fcgj \u2060wj"} {
		f.Add(s)
	}
	invisible := "\u200b\u200c\u200d\u2060\u00ad\u034f\ufeff"
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := joinFields(s), strings.Join(strings.Fields(s), " "); got != want {
			t.Fatalf("joinFields(%q) = %q, want %q", s, got, want)
		}
		if got, want := hasInvisible(s), strings.ContainsAny(s, invisible); got != want {
			t.Fatalf("hasInvisible(%q) = %v, want %v", s, got, want)
		}
	})
}
