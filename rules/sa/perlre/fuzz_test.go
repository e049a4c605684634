package perlre

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

const (
	fuzzMaxPattern = 160
	fuzzMaxText    = 240
)

func fuzzFlags(flags string) string {
	var b strings.Builder
	for _, c := range "imsx" {
		if strings.ContainsRune(flags, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// watchdog panics (a crash the fuzzer records) when a translation takes
// more than a few seconds: Translate must stay fast on any input.
func watchdog(re, flags string) chan struct{} {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			panic(fmt.Sprintf("Translate(%q, %q) takes more than 5s", re, flags))
		}
	}()
	return done
}

var fuzzSeeds = []struct{ re, flags, text string }{
	{`(?<![a-z])foo`, "i", "xfoo Foo"},
	{`foo(?![a-z])`, "", "foobar foo."},
	{`(["'])x\1`, "", `a"x"b`},
	{`\w++\s`, "", "abc def"},
	{`a$`, "", "a\n"},
	{`^$`, "m", "a\n"},
	{`\bcialis(?!\xe9)\b`, "i", "CIALIS\xe9 cialis"},
	{`[[:alpha:]]{2,}+\d`, "x", "ab1"},
	{`a{,2}b`, "", "aab"},
	{`(?i:A)b(?-i)C`, "", "abC"},
	{`\x{e9}|\x{178}`, "i", "\xc9\xff"},
	{`(?!ab)(?=a)\w+`, "", "ac ab"},
	{`x\Z`, "", "x\n"},
	{`[^\n]{3}\z`, "s", "abc"},
	{`(?>\s*)x`, "", "  x"},
	{`\R`, "", "\r\n"},
	{`#c\n a b`, "x", "ab"},
}

// FuzzTranslate: no pattern makes Translate panic or hang, and where both
// Go and Perl (as SpamAssassin compiles it) accept a pattern, they agree on
// whether it matches.
func FuzzTranslate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.re, s.flags, s.text)
	}
	for i, p := range stockPatterns(f) {
		if i%3 == 0 && len(p.re) <= fuzzMaxPattern {
			f.Add(p.re, p.flags, "")
		}
	}
	f.Fuzz(func(t *testing.T, re, flags, text string) {
		if len(re) > fuzzMaxPattern || len(text) > fuzzMaxText {
			return
		}
		flags = fuzzFlags(flags)
		done := watchdog(re, flags)
		r, err := Compile(re, flags)
		src, terr := Translate(re, flags)
		close(done)
		if (err == nil) != (terr == nil) {
			t.Fatalf("Compile and Translate disagree: %v / %v", err, terr)
		}
		if err != nil {
			return
		}
		if src != r.String() {
			t.Fatalf("Translate %q != String %q", src, r.String())
		}
		p := getPerl(t)
		res, err := p.match(re, flags, []string{text}, 2*time.Second)
		var ce *perlCompileError
		if errors.As(err, &ce) || errors.Is(err, errPerlTimeout) || errors.Is(err, errPerlCrashed) {
			return
		}
		if err != nil {
			t.Fatalf("perl: %v", err)
		}
		if got := r.MatchString(Bytes(text)); got != res[0].matched {
			t.Fatalf("/%s/%s on %q: go %v, perl %v\nre2: %s", re, flags, text, got, res[0].matched, src)
		}
	})
}

// FuzzLiterals: whenever a pattern matches, the text contains one of its
// literals.
func FuzzLiterals(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.re, s.flags, s.text)
	}
	for i, p := range stockPatterns(f) {
		if i%3 == 1 && len(p.re) <= fuzzMaxPattern {
			r, err := Compile(p.re, p.flags)
			text := ""
			if err == nil && len(r.Literals()) > 0 {
				text = "<" + rawBytes(r.Literals()[0]) + ">"
			}
			f.Add(p.re, p.flags, text)
		}
	}
	f.Fuzz(func(t *testing.T, re, flags, text string) {
		if len(re) > fuzzMaxPattern || len(text) > fuzzMaxText {
			return
		}
		done := watchdog(re, flags)
		r, err := Compile(re, fuzzFlags(flags))
		close(done)
		if err != nil {
			return
		}
		lits := r.Literals()
		if lits == nil {
			return
		}
		// The fuzzer's text, and texts generated from the pattern with the
		// text as the random seed (most of these match).
		texts := []string{text}
		h := int64(0)
		for i := 0; i < len(text); i++ {
			h = h*31 + int64(text[i])
		}
		texts = append(texts, generate(re, fuzzFlags(flags), rand.New(rand.NewSource(h)), 4)...)
		for _, tx := range texts {
			bt := Bytes(tx)
			if !r.MatchString(bt) {
				continue
			}
			lt := Lower(bt)
			found := false
			for _, l := range lits {
				if len([]rune(l)) < minLitLen {
					t.Fatalf("literal %q shorter than %d", l, minLitLen)
				}
				if strings.Contains(lt, l) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("/%s/ matches %q which contains none of %q (re2 %s)", re, tx, lits, r.String())
			}
		}
	})
}

// FuzzParseMatchOp: any line splits without panic, and a split's pattern
// and flags put back between the delimiters give the same split.
func FuzzParseMatchOp(f *testing.F) {
	for _, s := range []string{`/a\/b/i`, `m{a{1,2}}x rest`, `m!x!`, `m#a#i [if-unset: x]`, `qr(a(b)c)s`, `m`, `/unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		re, flags, rest, err := ParseMatchOp(s)
		if err != nil {
			return
		}
		if !strings.HasSuffix(s, rest) || !strings.Contains(s, re) {
			t.Fatalf("%q -> %q %q %q", s, re, flags, rest)
		}
	})
}

// FuzzASCIILiterals: when a pattern matches a text without bytes >= 0x80,
// it is not "never" on ASCII, and the text contains one of its ASCII
// literals (when it has a set).
func FuzzASCIILiterals(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.re, s.flags, s.text)
	}
	for i, p := range stockPatterns(f) {
		if i%5 == 2 && len(p.re) <= fuzzMaxPattern {
			f.Add(p.re, p.flags, "")
		}
	}
	f.Fuzz(func(t *testing.T, re, flags, text string) {
		if len(re) > fuzzMaxPattern || len(text) > fuzzMaxText {
			return
		}
		done := watchdog(re, flags)
		r, err := Compile(re, fuzzFlags(flags))
		close(done)
		if err != nil {
			return
		}
		lits, never := r.ASCIILiterals()
		texts := []string{text}
		h := int64(0)
		for i := 0; i < len(text); i++ {
			h = h*31 + int64(text[i])
		}
		texts = append(texts, generate(re, fuzzFlags(flags), rand.New(rand.NewSource(h)), 4)...)
		for _, tx := range texts {
			ascii := true
			for i := 0; i < len(tx); i++ {
				if tx[i] >= 0x80 {
					ascii = false
				}
			}
			if !ascii || !r.MatchString(tx) {
				continue
			}
			if never {
				t.Fatalf("/%s/ said never on ASCII, matches %q", re, tx)
			}
			if lits == nil {
				continue
			}
			lt := Lower(tx)
			found := false
			for _, l := range lits {
				if strings.Contains(lt, l) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("/%s/ matches ASCII %q which contains none of %q", re, tx, lits)
			}
		}
	})
}
