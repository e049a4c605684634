package sa

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

func TestMinLen(t *testing.T) {
	for _, tc := range []struct {
		re   string
		want int
	}{
		{`e`, 1},
		{`\S`, 1},
		{`^\s*\S`, 1},
		{`abc`, 3},
		{`a|bcd`, 1},
		{`(?:ab){3,}`, 6},
		{`x*y+z?`, 1},
		{`\bfoo\b`, 3},
		{`[a-z]{8,}[\s.]+`, 9},
		{`(?i)k`, 1},
		{``, 0},
	} {
		syn, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := minLen(syn); got != tc.want {
			t.Errorf("minLen(%q) = %d, want %d", tc.re, got, tc.want)
		}
	}
}

// The gates change what runs, never what hits: the same rules with the
// gates off give the same hits and counts.
func TestGatesExact(t *testing.T) {
	set := mustParse(t, `
body     AMOUNT     /\$\d{1,3}[,.]\d{3}/
body     CAPS_RUN   /\b[A-Z]{6,}\b/
body     LONGWORDS  /\b(?:[a-z]{8,}[\s.]+){3}/
body     DIGITS     /\d{4}\D\d{4}/
tflags   DIGITS     multiple maxhits=3
body     SHORT      /\S/
body     NOTHING    /\d{5}[a-z]{5}\d{5}/
rawbody  RAW_AMOUNT /\$\d{1,3}[,.]\d{3}/
rawbody  RAW_CAPS   /\b[A-Z]{6,}\b/
header   SUBJ_CAPS  Subject =~ /\b[A-Z]{6,}\b/
header   SUBJ_DIG   Subject =~ /\d{3}\D\d{3}/
header   SUBJ_NOT   Subject !~ /\d{7}/
header   SUBJ_NONE  Subject =~ /\d{5}[a-z]{5}\d{5}/
`)
	gated := 0
	for _, r := range set.Rules {
		if r.gate > 0 {
			gated++
		}
	}
	if gated < 8 {
		t.Fatalf("%d rules gated, want the 10 without literals (and not SHORT, SUBJ_NOT)", gated)
	}
	if set.Rule("SHORT").gate != 0 || set.Rule("SUBJ_NOT").gate != 0 {
		t.Errorf("a one-byte rule or a negated rule is gated")
	}
	msgs := []*fakeMessage{
		{headers: map[string]string{"Subject": "WINNER 123-456"},
			body:    []string{"WINNER 123-456", "you won $1,000 today", "call 1234-5678 or 2345-6789 or 3456-7890 or 4567-8901", "unrelated words"},
			rawbody: []string{"you won $1,000 today", "SHOUTING"}},
		{headers: map[string]string{"Subject": "hello"},
			body: []string{"hello", "extremely verbose sentences everywhere. nothing else"}, rawbody: []string{"plain"}},
		{headers: map[string]string{}, body: []string{""}},
	}
	for i, m := range msgs {
		noFilters = true
		want := hitNames(set.Eval(m))
		noFilters = false
		got := hitNames(set.Eval(m))
		if got != want {
			t.Errorf("message %d: gated hits %q, ungated %q", i, got, want)
		}
		if i == 0 && want != "AMOUNT CAPS_RUN DIGITSx3 SHORT RAW_AMOUNT RAW_CAPS SUBJ_CAPS SUBJ_DIG SUBJ_NOT" {
			t.Errorf("message 0: hits %q", want)
		}
	}
}

// relax widens bounded repeats only, so whatever re matches, relax(re)
// matches; span finds the widest one.
func TestRelax(t *testing.T) {
	for _, tc := range []struct {
		re, relaxed string
		span        int
	}{
		{`\nFrom: .{1,80}?\nTo:`, `\nFrom: .{1,}?\nTo:`, 79},
		{`a{3}b{2,5}`, `a{3}b{2,}`, 3},
		{`(?:x[^.]{0,25}y){1,3}`, `(?:x[^.]{0,}y){1,}`, 25},
		{`ab+c*d?`, `ab+c*d?`, 0},
		{`(?i)hund?rea?d[^\.]{1,25}thousand`, `(?i)hund?rea?d[^\.]{1,}thousand`, 24},
	} {
		re, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		orig := re.String()
		want, _ := syntax.Parse(tc.relaxed, syntax.Perl)
		if got := relax(re).String(); got != want.String() {
			t.Errorf("relax(%q) = %q, want %q", tc.re, got, want.String())
		}
		if re.String() != orig {
			t.Errorf("relax changed its argument %q to %q", orig, re.String())
		}
		if got := span(re); got != tc.span {
			t.Errorf("span(%q) = %d, want %d", tc.re, got, tc.span)
		}
	}
	for _, text := range []string{"x\nFrom: a\nTo:", "hundred and twenty thousand", "xaby", "aaabb", "aaabbbbbbbbb"} {
		for _, src := range []string{`\nFrom: .{1,80}?\nTo:`, `(?i)hund?rea?d[^\.]{1,25}thousand`, `x[^.]{0,2}y`, `a{3}b{2,5}`} {
			re, _ := syntax.Parse(src, syntax.Perl)
			exact := regexp.MustCompile(re.String()).MatchString(text)
			loose := regexp.MustCompile(relax(re).String()).MatchString(text)
			if exact && !loose {
				t.Errorf("%q matches %q, its relaxed form does not", src, text)
			}
		}
	}
}

func TestLineShortcut(t *testing.T) {
	for _, tc := range []struct {
		re string
		nl bool
	}{
		{`^[^\r\n]{998}`, false},
		{`(?m)^[^\r\n]{998}`, false},
		{`[^>]{70}`, true},
		{`(?s)a.{70}`, true},
		{`a.{70}`, false},
		{`x\ny`, true},
		{`[\x00-\x20]{64}`, true},
		{`(?i)\bfoo\b\w{64}`, false},
	} {
		syn, err := syntax.Parse(tc.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchesNewline(syn); got != tc.nl {
			t.Errorf("matchesNewline(%q) = %v", tc.re, got)
		}
	}
	long := strings.Repeat("a", 70)
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"", false}, {long, true}, {"x\n" + long, true}, {long + "\n", true},
		{"short\nlines\n", false}, {strings.Repeat("a\n", 100), false}, {long[:69] + "\n" + long[:69], false},
	} {
		if got := hasLine(tc.text, 70); got != tc.want {
			t.Errorf("hasLine(%q, 70) = %v", tc.text, got)
		}
	}
	set := mustParse(t, "full LONGLINE /^[^\\r\\n]{70}/m\nfull LONGANY /(?s)b.{70}/\n")
	if set.Rule("LONGLINE").minLine != 70 || set.Rule("LONGANY").minLine != 0 {
		t.Errorf("minLine %d and %d", set.Rule("LONGLINE").minLine, set.Rule("LONGANY").minLine)
	}
	for _, text := range []string{"x\n" + long + "\n", strings.Repeat("b\n", 50), "b" + strings.Repeat("a\n", 40)} {
		m := &fakeMessage{full: text}
		noFilters = true
		want := hitNames(set.Eval(m))
		noFilters = false
		if got := hitNames(set.Eval(m)); got != want {
			t.Errorf("%q: %q with the shortcut, %q without", text, got, want)
		}
	}
}
