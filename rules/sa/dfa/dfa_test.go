package dfa

import (
	"math/rand"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"testing"
)

// byteRunes maps every byte >= 0x80 to the rune of the same value, as
// rules/sa/perlre.Bytes does: the text regexp sees for a DFA's octets.
func byteRunes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// want is regexp's answer, the reference.
func want(src, text string) bool {
	return regexp.MustCompile(src).MatchString(byteRunes(text))
}

func TestMatchTable(t *testing.T) {
	tests := []struct {
		re    string
		text  string
		match bool
	}{
		// plain search
		{`abc`, "xxabcxx", true},
		{`abc`, "xxabxcx", false},
		{`abc`, "", false},
		{``, "", true},
		{`x*`, "", true},
		{`a|b|c`, "zzzc", true},
		{`a.c`, "a\nc", false},
		{`(?s)a.c`, "a\nc", true},
		{`a[^b]c`, "a\nc", true},
		{`a+b`, "aaaaab", true},
		{`a{3}`, "aab", false},
		{`a{3}`, "aaab", true},
		// \A \z and non-multiline ^ $
		{`\Aabc`, "abc", true},
		{`\Aabc`, "xabc", false},
		{`^abc`, "x\nabc", false},
		{`abc\z`, "abc", true},
		{`abc\z`, "abc\n", false},
		{`abc$`, "abc\n", false},
		{`^$`, "", true},
		{`^$`, "\n", false},
		{`\A\z`, "", true},
		// multiline ^ $: after \n or at start, before \n or at end
		{`(?m)^abc`, "x\nabc", true},
		{`(?m)^abc`, "xabc", false},
		{`(?m)abc$`, "abc\nx", true},
		{`(?m)abc$`, "abcx", false},
		{`(?m)^$`, "a\n\nb", true},
		{`(?m)^$`, "ab", false},
		{`(?m)^$`, "a\n", true},
		{`(?m)^b`, "a\rb", false},
		// \b \B: ASCII word bytes; bytes >= 0x80 are not word bytes
		{`\bfoo\b`, "a foo b", true},
		{`\bfoo\b`, "afoo b", false},
		{`\bfoo\b`, "foo", true},
		{`\bfoo\b`, "foo_", false},
		{`\bfoo\b`, "\xe9foo\xe9", true},
		{`\Bfoo`, "afoo", true},
		{`\Bfoo`, " foo", false},
		{`\B`, "", true},
		{`\b`, "", false},
		{`\b`, " ", false},
		{`\b`, "a", true},
		{`x\B`, "x\xe9", false},
		{`x\b`, "x\xe9", true},
		// bytes as runes U+0080..U+00FF
		{`\xe9`, "caf\xe9", true},
		{`\xe9`, "caf\xc3\xa9", false},
		{`caf.$`, "caf\xe9", true},
		{`[\x80-\xff]{2}`, "a\xc3\xa9", true},
		{`(?i)\xc9`, "\xe9", true},
		{`(?i)k`, "K", true},
		{`(?i)s`, "\x7f", false},
		{`\x{100}`, "\xc4\x80", false},
		{`[^a]`, "\xff", true},
		{`\p{L}`, "\xe9", true},
		// a huge alternation
		{hugeAlt(2000), "zzz w1999w zzz", true},
		{hugeAlt(2000), "zzz w2000w zzz", false},
	}
	for _, tt := range tests {
		if w := want(tt.re, tt.text); w != tt.match {
			t.Fatalf("bad table row: regexp says %v for %q on %q", w, tt.re, tt.text)
		}
		d := MustCompile(tt.re)
		for range 2 { // cold, then cached
			if got := d.Match(tt.text); got != tt.match {
				t.Errorf("Match(%.40q, %q) = %v, want %v", tt.re, tt.text, got, tt.match)
			}
		}
	}
}

func hugeAlt(n int) string {
	var b strings.Builder
	b.WriteString(`\b(?:`)
	for i := range n {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString("w" + itoa(i) + "w")
	}
	b.WriteString(`)\b`)
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestAssertionsExhaustive compares every assertion kind with regexp on
// every text of up to 4 symbols from a small alphabet holding each
// context: word, newline, other ASCII, and a byte >= 0x80.
func TestAssertionsExhaustive(t *testing.T) {
	pats := []string{
		`^`, `$`, `\A`, `\z`, `(?m)^`, `(?m)$`, `\b`, `\B`,
		`^a`, `a$`, `(?m)^a`, `a(?m)$`, `\ba`, `a\b`, `\Ba`, `a\B`,
		`(?m)^$`, `(?m)$^`, `\b\B`, `(?m)^\n`, `\n(?m)$`, `(?m)$\n^`,
		`a\b \b`, `(?:^|\s)a`, `a(?:\s|$)`, `\A\n`, `\n\z`, `(?m)\n^`,
		`\b.`, `.\b`, `\B.\B`, `(?m)^.`, `(?m).$`, `(?m)^\xe9`, `\xe9\b`,
		`\ba\b|\B\n`, `(?:a\b)*`, `(?:\ba)+\z`, `(?m)(?:^a$)+`,
	}
	alpha := "a \n\xe9"
	var texts []string
	var gen func(s string, n int)
	gen = func(s string, n int) {
		texts = append(texts, s)
		if n == 0 {
			return
		}
		for i := 0; i < len(alpha); i++ {
			gen(s+alpha[i:i+1], n-1)
		}
	}
	gen("", 4)
	for _, src := range pats {
		d := MustCompile(src)
		re := regexp.MustCompile(src)
		for _, text := range texts {
			if got, w := d.Match(text), re.MatchString(byteRunes(text)); got != w {
				t.Errorf("Match(%q, %q) = %v, regexp says %v", src, text, got, w)
			}
		}
	}
}

func TestByteClasses(t *testing.T) {
	tests := []struct {
		re string
		n  int
	}{
		{`a`, 2},
		{`[a-z]`, 2},
		{`[a-z]x`, 3},
		{`(?i)a`, 2},
		{`\b`, 2},
		{`(?m)^`, 2},
		{`\bx(?m)$`, 4}, // x, other word bytes, \n, the rest
		{`.`, 2},
		{`(?s).`, 1},
		{`[\x00-\xff]`, 1},
	}
	for _, tt := range tests {
		if got := MustCompile(tt.re).Stats().Classes; got != tt.n {
			t.Errorf("%q: %d byte classes, want %d", tt.re, got, tt.n)
		}
	}
}

// TestLimits forces cache resets and the uncached fallback with tiny
// limits, on a pattern whose DFA has exponentially many states.
func TestLimits(t *testing.T) {
	src := `a[ab]{12}c`
	re := regexp.MustCompile(src)
	text := strings.Repeat("abbababbbaababbaabab", 30) + "c"
	for _, lim := range []Limits{{MaxStates: 8}, {MaxBytes: 4096}, {MaxStates: 50, MaxResets: 100}} {
		syn := mustParse(src)
		d, err := CompileLimits(syn, lim)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			s := text[i*7:]
			if got, w := d.Match(s), re.MatchString(s); got != w {
				t.Errorf("%+v: Match = %v, want %v", lim, got, w)
			}
		}
		st := d.Stats()
		if st.Resets == 0 {
			t.Errorf("%+v: no reset: %+v", lim, st)
		}
		if st.States > 50 {
			t.Errorf("%+v: %d states kept", lim, st.States)
		}
		t.Logf("%+v: %+v", lim, st)
	}
	d, _ := CompileLimits(mustParse(src), Limits{MaxStates: 8})
	d.Match(text)
	if d.Stats().Fallbacks == 0 {
		t.Errorf("no fallback with 8 states")
	}
}

// TestBudget: DFAs that share a budget hold no more than it together, and
// answer as regexp does when it makes them clear their caches.
func TestBudget(t *testing.T) {
	src := `a[ab]{12}c`
	re := regexp.MustCompile(src)
	rng := rand.New(rand.NewSource(3))
	tb := make([]byte, 20000) // random a/b runs reach thousands of states
	for i := range tb {
		tb[i] = "ab"[rng.Intn(2)]
	}
	text := string(tb) + "c"
	const max = 256 << 10
	b := NewBudget(max)
	var ds []*DFA
	for range 3 {
		d, err := CompileLimits(mustParse(src), Limits{Budget: b, MaxResets: 100})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for i := range 20 {
		for _, d := range ds {
			s := text[i*997:]
			if got, w := d.Match(s), re.MatchString(s); got != w {
				t.Fatalf("Match = %v, want %v", got, w)
			}
			if b.Used() > max {
				t.Fatalf("%d bytes used, budget %d", b.Used(), max)
			}
		}
	}
	resets := uint64(0)
	for _, d := range ds {
		resets += d.Stats().Resets
	}
	if resets == 0 {
		t.Errorf("no cache cleared under a budget of %d bytes (%d used)", max, b.Used())
	}
	// alone, one of them grows past the budget
	d, _ := CompileLimits(mustParse(src), DefaultLimits)
	for i := range 20 {
		d.Match(text[i*997:])
	}
	if st := d.Stats(); st.Bytes < max {
		t.Errorf("without a budget the cache holds %d bytes: the test proves nothing", st.Bytes)
	}
}

func TestConcurrent(t *testing.T) {
	pats := []string{hugeAlt(300), `a[ab]{10}c`, `(?m)^\bw1\w+$`, `(?i)viagra`}
	texts := []string{
		"zzz w299w zzz", "w1 w10 w100\nw1x\n", strings.Repeat("ab", 200) + "c",
		"buy VIAGRA now", "\xe9w1\xe9", "",
	}
	for _, src := range pats {
		for _, lim := range []Limits{DefaultLimits, {MaxStates: 10}} {
			d, _ := CompileLimits(mustParse(src), lim)
			re := regexp.MustCompile(src)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 200 {
						text := texts[(g+i)%len(texts)]
						if got, w := d.Match(text), re.MatchString(byteRunes(text)); got != w {
							t.Errorf("%.30q on %q: %v, want %v", src, text, got, w)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	}
}

// runeSet against Inst.MatchRune for every literal rune up to U+2200
// (Latin-1, Greek, the Kelvin and Angstrom signs), folded and not.
func TestRuneSetFold(t *testing.T) {
	for r := rune(0); r < 0x2200; r++ {
		for _, f := range []syntax.Flags{0, syntax.FoldCase} {
			in := &syntax.Inst{Op: syntax.InstRune, Rune: []rune{r}, Arg: uint32(f)}
			s := runeSet(in)
			for b := 0; b < 256; b++ {
				if s.has(byte(b)) != in.MatchRune(rune(b)) {
					t.Fatalf("rune %U flags %v byte %#x: set %v, MatchRune %v", r, f, b, s.has(byte(b)), in.MatchRune(rune(b)))
				}
			}
		}
	}
}
