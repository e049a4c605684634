package dfa

import (
	"regexp"
	"regexp/syntax"
	"testing"
)

// FuzzDFA compares Match with regexp on the byte-rune form of the text,
// for every pattern regexp accepts. (Runes above U+00FF need no skipping:
// the byte-rune text never holds one, so neither side matches them; under
// (?i) the DFA folds them as regexp does, \x{212A} matching k.) Each
// pattern is also run with a tiny cache, so that resets and the uncached
// fallback are compared too.
func FuzzDFA(f *testing.F) {
	seeds := []struct{ re, text string }{
		{`abc`, "xabcx"},
		{`\bfoo\b`, "a foo\xe9"},
		{`(?m)^a$`, "b\na\nc"},
		{`^$`, ""},
		{`(?i)k\xe9`, "K\xc9"},
		{`a[ab]{5}c`, "abababbac"},
		{`\B(?:x|y\z)`, "xy"},
		{`(?s).+\n\z`, "ab\n"},
		{`(?m)$\n^\b`, "a\nb"},
		{`(?U)a+?b*`, "aab"},
		{`[^\x00-\x{10FFFF}]`, "a"},
		{`x*\b`, "\xff"},
	}
	for _, s := range seeds {
		f.Add(s.re, s.text)
	}
	f.Fuzz(func(t *testing.T, src, text string) {
		if len(src) > 200 || len(text) > 500 {
			return
		}
		syn, err := syntax.Parse(src, syntax.Perl)
		if err != nil {
			return
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return
		}
		w := re.MatchString(byteRunes(text))
		for _, lim := range []Limits{DefaultLimits, {MaxStates: 3, MaxResets: 1}} {
			d, err := CompileLimits(syn, lim)
			if err != nil {
				t.Fatalf("%q: regexp compiles, dfa does not: %v", src, err)
			}
			for range 2 {
				if got := d.Match(text); got != w {
					t.Fatalf("Match(%q, %q) = %v, regexp says %v (limits %+v)", src, text, got, w, lim)
				}
			}
			if err := allKinds(d, text, w); err != "" {
				t.Fatalf("Match(%q, %q): %s (limits %+v)", src, text, err, lim)
			}
		}
	})
}
