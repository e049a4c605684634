package perlre

import (
	"errors"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	s := "plain ascii"
	if got := Bytes(s); got != s {
		t.Fatalf("Bytes(%q) = %q", s, got)
	}
	if n := testing.AllocsPerRun(100, func() { Bytes(s) }); n != 0 {
		t.Fatalf("Bytes allocates %v times on ASCII", n)
	}
	if got, want := Bytes("caf\xc3\xa9\xff"), "caf\u00c3\u00a9\u00ff"; got != want {
		t.Fatalf("Bytes = %q, want %q", got, want)
	}
	if got, want := Lower(Bytes("ABC \xc9t\xe9 \xd7")), Bytes("abc \xe9t\xe9 \xd7"); got != want {
		t.Fatalf("Lower = %q, want %q", got, want)
	}
}

// Each case was checked against perl 5.36 with qr/(?flags)re/aa, as
// SpamAssassin compiles rules.
var matchCases = []struct {
	re, flags, text string
	want            bool
}{
	{`a.c`, "", "a\xe9c", true},        // . is one byte
	{`a.c`, "", "a\nc", false},         // not a newline
	{`a.c`, "s", "a\nc", true},         // /s
	{`\xe9`, "", "\xe9", true},         // byte escape
	{`\xe9`, "i", "\xc9", true},        // Latin-1 folding under /aai
	{`\x{178}`, "i", "\xff", true},     // a code point above 0xFF folds to 0xFF
	{`\x{416}`, "", "\xd0\x96", false}, // never matches bytes
	{`ss`, "i", "\xdf", false},         // no ASCII/non-ASCII folding under /aa
	{`\w`, "", "\xe9", false},          // /aa: ASCII \w
	{`\s`, "", "\x0b", true},           // \s has \v since 5.18
	{`\s`, "", "\xa0", false},
	{`\h`, "", "\xa0", true}, // \h is not restricted by /a
	{`\v`, "", "\x85", true},
	{`\v`, "", "v", false},
	{`a\Rb`, "", "a\r\nb", true},
	{`\N`, "", "\n", false},
	{`a$`, "", "a\n", true}, // $ before a final newline
	{`a$`, "", "a\n\n", false},
	{`a\Z`, "", "a\n", true},
	{`a\z`, "", "a\n", false},
	{`^b`, "", "a\nb", false},
	{`^b`, "m", "a\nb", true},
	{`\n^`, "m", "a\n", false}, // Perl's /m ^ does not match after a final newline
	{`^$`, "m", "a\n", false},
	{`^$`, "m", "", true},
	{`a{,2}b`, "", "b", true}, // {,n} is a quantifier in 5.34+
	{`a{ 1 , 2 }b`, "", "ab", true},
	{`x{a}`, "", "x{a}", true}, // not a quantifier: literal
	{`a b # comment`, "x", "ab", true},
	{`[a b]`, "x", " ", true},
	{`[[:alpha:]]+`, "", "\xe9", false},
	{`[[:^digit:]]`, "", "5", false},
	{`(?i)abc`, "", "ABC", true},
	{`a(?i)b|c`, "", "C", true}, // (?i) lasts to the end of the group, across |
	{`(?i:a)B`, "", "Ab", false},
	{`(?^i:a)`, "m", "A", true},
	{`a(?#comment)b`, "", "ab", true},
	{`\Qa`, "", "Qa", false}, // refused: see unsupportedCases
	{`\e\cA\0\101`, "", "\x1b\x01\x00A", true},
	{`(?<![a-z])foo`, "", "xfoo", false},
	{`(?<![a-z])foo`, "", "1foo", true},
	{`(?<![a-z])foo`, "", "foo", true},
	{`foo(?![a-z])`, "", "food", false},
	{`foo(?![a-z])`, "", "foo", true},
	{`foo(?=bar)`, "", "foobar", true},
	{`(?!cialis)c[i1]alis`, "i", "CIALIS", false},
	{`(?!cialis)c[i1]alis`, "i", "c1alis", true},
	{`(["'])x\1`, "", `"x'`, false},
	{`(["'])x\1`, "", `'x'`, true},
	{`(a)\1`, "i", "aA", true},
	{`\w+x`, "", "abx", true},
	{`[a-z]++\d`, "", "ab1", true},
	{`(?>a+)b`, "", "aab", true},
	{`\bfoo\b`, "", "a foo.", true},
	{`\bfoo\b`, "", "afoo", false},
	{`\p{Lu}`, "", "\xc9", true},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		r, err := Compile(c.re, c.flags)
		if err != nil {
			if strings.HasPrefix(c.re, `\Q`) {
				continue
			}
			t.Errorf("/%s/%s: %v", c.re, c.flags, err)
			continue
		}
		if got := r.MatchString(Bytes(c.text)); got != c.want {
			t.Errorf("/%s/%s on %q = %v, want %v (re2 %s)", c.re, c.flags, c.text, got, c.want, r)
		}
	}
}

// TestMatchCasesPerl checks the table itself against perl.
func TestMatchCasesPerl(t *testing.T) {
	p := getPerl(t)
	for _, c := range matchCases {
		res, err := p.match(c.re, c.flags, []string{c.text}, 5e9)
		if err != nil {
			continue
		}
		if res[0].matched != c.want {
			t.Errorf("perl: /%s/%s on %q = %v, table says %v", c.re, c.flags, c.text, res[0].matched, c.want)
		}
	}
}

var unsupportedCases = []struct{ re, construct string }{
	{`(\w+) \1`, "backreference"},
	{`(a)|b\1`, "backreference"}, // the group is unset in the other branch
	{`a(?!b)c*\w`, ""},           // translatable: listed to show it is not refused
	{`\Gx`, `\G`},
	{`a\Kb`, `\K`},
	{`(?(1)a|b)`, "conditional"},
	{`(?|(a)|(b))`, "branch reset"},
	{`(a(?1)?b)`, "recursion"},
	{`(?{ 1 })`, "code"},
	{`\Qa.b\E`, `\Q`},
	{`x(?=.*y)`, ""},
	{`\w++x`, "possessive"}, // Perl never matches: \w++ takes the x
	{`(?!a)(\w)+\1`, "backreference"},
	{`(?:a{100}){2000}`, "too large"},
}

func TestUnsupported(t *testing.T) {
	for _, c := range unsupportedCases {
		_, err := Translate(c.re, "")
		if c.construct == "" {
			if err != nil {
				t.Errorf("%s: %v", c.re, err)
			}
			continue
		}
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(ue.Error(), c.construct) {
			t.Errorf("%s: got %v, want an UnsupportedError naming %q", c.re, err, c.construct)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, re := range []string{`a(`, `a)`, `[a`, `*a`, `a**`, `[z-a]`, `\8`, `a{2,1}`, `\y`, `[\w-z]`, `(?z)`} {
		_, err := Translate(re, "")
		if err == nil {
			t.Errorf("%s: no error", re)
		}
	}
}

func TestParseMatchOp(t *testing.T) {
	cases := []struct{ in, re, flags, rest string }{
		{`/a\/b/i`, `a\/b`, "i", ""},
		{`m{a{1,2}b}si [if-unset: x]`, `a{1,2}b`, "si", " [if-unset: x]"},
		{`m!a\!b!`, `a\!b`, "", ""},
		{`m#x#`, "x", "", ""},
		{`m(a(b)c)`, "a(b)c", "", ""},
		{`m<a\>b>`, `a\>b`, "", ""},
		{`m[a[b]]x`, "a[b]", "x", ""},
		{`qr/x/`, "x", "", ""},
		{`  /x/ # c`, "x", "", " # c"},
	}
	for _, c := range cases {
		re, flags, rest, err := ParseMatchOp(c.in)
		if err != nil || re != c.re || flags != c.flags || rest != c.rest {
			t.Errorf("%q -> %q %q %q %v", c.in, re, flags, rest, err)
		}
	}
	for _, bad := range []string{`x`, `m`, `/abc`, `m{a`, `mx`, `m\a\`} {
		if _, _, _, err := ParseMatchOp(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLiterals(t *testing.T) {
	cases := []struct {
		re, flags string
		want      []string
	}{
		{`foo`, "", []string{"foo"}},
		{`Foo|BAR`, "", []string{"bar", "foo"}},
		{`(?:ab|cd)ef`, "", []string{"abef", "cdef"}},
		{`x\d+hello\s+world`, "i", []string{"hello"}},
		{`a.b`, "", nil},
		{`(?:foo)?bar`, "", []string{"bar"}},
		{`\bcaf\xe9`, "i", []string{"caf\u00e9"}},
		{`ab*c`, "", nil},
		{`a(?:bcd)*e`, "", nil},
	}
	for _, c := range cases {
		r := MustCompile(c.re, c.flags)
		got := r.Literals()
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("/%s/%s: literals %q, want %q", c.re, c.flags, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	r := MustCompile(`\bfoo\b`, "i")
	if n := r.Count(Bytes("foo Foo xfoo FOO"), 0); n != 3 {
		t.Fatalf("Count = %d", n)
	}
	if n := r.Count(Bytes("foo Foo xfoo FOO"), 2); n != 2 {
		t.Fatalf("Count max 2 = %d", n)
	}
}

// The same pattern always gives the same RE2 source.
func TestDeterministic(t *testing.T) {
	for _, re := range []string{`breast(?!\s+cancer)`, `(?!ab\b)\w+`, `[+-]\d\d[30]0(?<!-0600|-0500)\s+EST`, `^(?!.*ab)`} {
		first, err := Translate(re, "i")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if again, _ := Translate(re, "i"); again != first {
				t.Fatalf("%s: %q then %q", re, first, again)
			}
		}
	}
}
