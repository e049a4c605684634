package sa

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeMessage is a Message from fixed views (the unit tests of the rule
// logic; rules/sa/view has SpamAssassin's real views).
type fakeMessage struct {
	headers map[string]string
	body    []string
	rawbody []string
	full    string
	uris    []string
	mime    map[string][]PartValue
}

func (m *fakeMessage) Get(spec string) (string, bool) {
	v, ok := m.headers[spec]
	return v, ok
}
func (m *fakeMessage) Body() []string                     { return m.body }
func (m *fakeMessage) Rawbody() []string                  { return m.rawbody }
func (m *fakeMessage) Full() string                       { return m.full }
func (m *fakeMessage) URIs() []string                     { return m.uris }
func (m *fakeMessage) MIMEHeader(spec string) []PartValue { return m.mime[spec] }

func mustParse(t *testing.T, cf string) *RuleSet {
	t.Helper()
	set, err := Parse("test.cf", []byte(cf), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func hitNames(hits []Hit) string {
	var out []string
	for _, h := range hits {
		s := h.Rule.Name
		if h.Count > 1 {
			s += fmt.Sprintf("x%d", h.Count)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestEvalKinds(t *testing.T) {
	set := mustParse(t, `
header   SUBJ_FREE      Subject =~ /\bfree\b/i
header   SUBJ_NOT_HI    Subject !~ /^hi/
header   NO_XM          X-Mailer !~ /./
header   UNSET_DEFAULT  X-None =~ /^dflt$/ [if-unset: dflt]
header   HAS_DATE       exists:Date
header   HAS_NOPE       exists:X-Nope
header   FROM_ADDR      From:addr =~ /\@example\.com$/
body     BODY_WIN       /you have won/i
body     BODY_MULTI     /money/
tflags   BODY_MULTI     multiple maxhits=3
body     SUBJ_IN_BODY   /free/i
body     NOSUBJ         /free/i
tflags   NOSUBJ         nosubject
rawbody  RAW_QP         /=3D/
full     FULL_X         /^X-Test: yes$/m
uri      URI_IP         m{^https?://\d+\.\d+\.\d+\.\d+}
mimeheader MIME_EXE     Content-Type =~ /\.exe/
body     __SUB          /won/
meta     META_AND       __SUB && BODY_WIN
meta     META_SUM       (BODY_MULTI + SUBJ_FREE) > 3
meta     META_NOT       !HAS_NOPE && !NOT_DEFINED
score    BODY_MULTI     0.5
`)
	m := &fakeMessage{
		headers: map[string]string{"Subject": "Free stuff\n", "From:addr": "a@example.com", "Date": "x"},
		body:    []string{"Free stuff\n", "you have won money money", "money money no free lunch"},
		rawbody: []string{"a=3Db"},
		full:    "Subject: x\nX-Test: yes\n\nbody",
		uris:    []string{"http://192.0.2.1/x"},
		mime:    map[string][]PartValue{"Content-Type": {{Value: "text/plain", OK: true}, {Value: "application/x; name=\"a.exe\"", OK: true}}},
	}
	got := hitNames(set.Eval(m))
	want := "SUBJ_FREE SUBJ_NOT_HI NO_XM UNSET_DEFAULT HAS_DATE FROM_ADDR BODY_WIN BODY_MULTIx3 SUBJ_IN_BODY NOSUBJ RAW_QP FULL_X URI_IP MIME_EXE __SUB META_AND META_SUM META_NOT"
	if got != want {
		t.Errorf("hits\n got %s\nwant %s", got, want)
	}
	for _, h := range set.Eval(m) {
		if h.Rule.Name == "BODY_MULTI" && h.Score() != 1.5 {
			t.Errorf("BODY_MULTI scores %v, want 3 x 0.5", h.Score())
		}
		if h.Rule.Name == "__SUB" && h.Score() != 0 {
			t.Errorf("a sub-rule scores %v", h.Score())
		}
		if h.Rule.Name == "META_SUM" && h.Value != 1 {
			t.Errorf("META_SUM value %v", h.Value)
		}
	}
	// nosubject: only the first line (the Subject) has "free"
	m.body = []string{"Free stuff\n", "nothing here"}
	for _, h := range set.Eval(m) {
		if h.Rule.Name == "NOSUBJ" {
			t.Error("a nosubject rule matched the Subject line")
		}
	}
}

// TestUnread: a sub-rule that no running rule reads is loaded but not
// run (a meta over it is off, or skipped for an eval: function); one a
// running meta reads, even through another sub-rule, runs. RunUnread
// runs them all.
func TestUnread(t *testing.T) {
	const cf = `
body     __READ        /a/
body     __READ_DEEP   /b/
meta     __MID         __READ_DEEP
meta     SCORED        __READ || __MID
body     __FOR_OFF     /c/
meta     OFF_META      __FOR_OFF
score    OFF_META      0
body     __FOR_PLUGIN  /d/
header   __EVAL        eval:check_for_something()
meta     NEEDS_PLUGIN  __FOR_PLUGIN && __EVAL
body     __ALONE       /e/
body     T_TESTING     /f/
`
	m := &fakeMessage{body: []string{"a b c d e f"}}
	for _, c := range []struct {
		opt    Options
		unread string
		hits   string
	}{
		{Options{}, "__FOR_OFF __FOR_PLUGIN __ALONE", "__READ __READ_DEEP T_TESTING __MID SCORED"},
		{Options{RunUnread: true}, "", "__READ __READ_DEEP __FOR_OFF __FOR_PLUGIN __ALONE T_TESTING __MID SCORED"},
	} {
		set, err := Parse("test.cf", []byte(cf), c.opt)
		if err != nil {
			t.Fatal(err)
		}
		var unread []string
		for _, r := range set.Unread {
			unread = append(unread, r.Name)
		}
		if got := strings.Join(unread, " "); got != c.unread {
			t.Errorf("RunUnread %v: unread %q, want %q", c.opt.RunUnread, got, c.unread)
		}
		if got := hitNames(set.Eval(m)); got != c.hits {
			t.Errorf("RunUnread %v: hits\n got %s\nwant %s", c.opt.RunUnread, got, c.hits)
		}
		if set.Len() != 8 { // all but OFF_META (score 0), NEEDS_PLUGIN and __EVAL (skipped)
			t.Errorf("RunUnread %v: %d rules loaded, want 8", c.opt.RunUnread, set.Len())
		}
	}
}

func TestMetaValues(t *testing.T) {
	vals := []float64{2, 0, 1} // A B C
	slots := map[string]int{"A": 0, "B": 1, "C": 2}
	for _, c := range []struct {
		expr string
		want float64
	}{
		{"A", 2}, {"B", 0}, {"A && C", 1}, {"C && A", 2}, {"B || A", 2}, {"A || C", 2},
		{"!A", 0}, {"!B", 1}, {"!B && !UNKNOWN", 1}, {"A + B + C", 3}, {"A + C > 2", 1},
		{"A + C >= 4", 0}, {"(A || B) && !B", 1}, {"!A > 1", 0}, {"A * 3 - 1", 5},
		{"A / B", 0}, {"A == 2", 1}, {"A != 2", 0}, {"-A + 3", 1}, {"A > 1 == 1", 1},
		{"1 + 2 * 3", 7}, {"(1 + 2) * 3", 9}, {"A && B || C", 1}, {"A || B && C", 2},
	} {
		n, err := parseMeta(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		n.resolve(slots)
		if got := n.eval(vals); got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{"", "A &&", "(A", "A )", "A $ B", "A ; B", "1A", "A->b"} {
		if _, err := parseMeta(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestConditionals(t *testing.T) {
	set := mustParse(t, `
ifplugin Mail::SpamAssassin::Plugin::MIMEHeader
  mimeheader IN_MIMEHEADER Content-Type =~ /x/
endif
ifplugin Mail::SpamAssassin::Plugin::HTMLEval
  body IN_HTMLEVAL eval:html_test('x')
  body IN_HTMLEVAL_RE /y/
endif
ifplugin Mail::SpamAssassin::Plugin::NotAPlugin
  body IN_NOTHING /z/
endif
if !plugin(Mail::SpamAssassin::Plugin::HTMLEval)
  body FALLBACK /w/
endif
if (version >= 4.000000)
  body VERSION_OK /v/
else
  body VERSION_OLD /v/
endif
if (version >= 9.0)
  body VERSION_FUTURE /v/
endif
if can(Mail::SpamAssassin::Conf::feature_bug6558_free)
  body FEATURE /f/
endif
if can(Mail::SpamAssassin::Conf::feature_from_the_future)
  body NO_FEATURE /f/
endif
if can(Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length)
  body BODYEVAL_METHOD /f/
endif
ifplugin Mail::SpamAssassin::Plugin::MIMEHeader
  if !(version >= 3.004000)
    body NESTED_FALSE /n/
  else
    body NESTED_ELSE /n/
  endif
endif
meta META_OVER_PLUGIN IN_HTMLEVAL_RE || FALLBACK
meta META_OVER_NOTHING IN_NOTHING || FALLBACK
`)
	var loaded []string
	for _, r := range set.Rules {
		loaded = append(loaded, r.Name)
	}
	want := []string{"IN_MIMEHEADER", "FALLBACK", "VERSION_OK", "FEATURE", "NESTED_ELSE", "META_OVER_NOTHING"}
	if !reflect.DeepEqual(loaded, want) {
		t.Errorf("loaded %v\nwant %v", loaded, want)
	}
	skipped := map[string]string{}
	for _, s := range set.Skipped {
		skipped[s.Name] = s.Class
	}
	wantSkipped := map[string]string{"IN_HTMLEVAL": "plugin", "IN_HTMLEVAL_RE": "plugin", "META_OVER_PLUGIN": "plugin",
		"BODYEVAL_METHOD": "plugin"}
	if !reflect.DeepEqual(skipped, wantSkipped) {
		t.Errorf("skipped %v\nwant %v", skipped, wantSkipped)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		cf   string
		line int
		msg  string
	}{
		{"body A /x/\nendif\n", 2, "endif without if"},
		{"ifplugin X\nbody A /x/\n", 1, "if without endif"},
		{"else\n", 1, "else without if"},
		{"body A x/\n", 1, "missing regexp delimiters"},
		{"body A /x\n", 1, "invalid end delimiter"},
		{"body A /a/b/\n", 1, "unquoted delimiter"},
		{"header A Subject:bogus =~ /x/\n", 1, "invalid header modifier"},
		{"header A Subject /x/\n", 1, "want HEADER =~"},
		{"meta A (B && \n", 1, "meta A"},
		{"body 1A /x/\n", 1, "invalid rule name"},
		{"score A one\n", 1, "bad score"},
		{"score A 1 2\n", 1, "want 1 or 4 scores"},
		{"\n\ninclude nothere.cf\n", 0, "nothere.cf"},
		{"if (version >=\nendif\n", 1, "bad condition"},
	} {
		_, err := Parse("t.cf", []byte(c.cf), Options{})
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want a ParseError", c.cf, err)
			continue
		}
		if pe.Line != c.line || !strings.Contains(pe.Error(), c.msg) {
			t.Errorf("%q: %v, want line %d and %q", c.cf, err, c.line, c.msg)
		}
	}
}

func TestStripDelimiters(t *testing.T) {
	for _, c := range []struct{ in, pat, flags string }{
		{`/abc/`, `abc`, ``},
		{`/abc/i`, `abc`, `i`},
		{`/a\/b/is`, `a\/b`, `is`},
		{`m{a/b}i`, `a/b`, `i`},
		{`m{a{1,2}}`, `a{1,2}`, ``},
		{`m!a/b!`, `a/b`, ``},
		{`m#x#m`, `x`, `m`},
		{`m(x)`, `x`, ``},
		{`/x/ii`, `x`, `ii`},
		{`/a\\/`, `a\\`, ``},
	} {
		pat, flags, err := stripDelimiters(c.in)
		if err != nil || pat != c.pat || flags != c.flags {
			t.Errorf("%s: %q %q %v, want %q %q", c.in, pat, flags, err, c.pat, c.flags)
		}
	}
	for _, bad := range []string{`abc`, `/abc`, `m\x\`, `ma bc a`, `/x/e`, `/a/b/`, `m`} {
		if _, _, err := stripDelimiters(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestReplaceTags(t *testing.T) {
	set := mustParse(t, `
replace_tag   A   [a@4]
replace_tag   B   (?:b|8)
replace_tag   AB  <A><B>
replace_inter W1  \W?
replace_post  P2  {1,2}
body  R1 /<A><B>c/
body  R2 /<inter W1><A><B>/
body  R3 /<post P2><A>x/
body  R4 /<AB>/
body  R5 /<A>/
replace_rules R1 R2 R3 R4
`)
	for name, want := range map[string]string{
		"R1": `[a@4](?:b|8)c`,
		"R2": `[a@4]\W?(?:b|8)`, // no inter before the first tag: SpamAssassin's string starts with (?aa)
		"R3": `[a@4]{1,2}x`,
		"R4": `[a@4](?:b|8)`,
		"R5": `<A>`, // not listed in replace_rules
	} {
		if r := set.Rule(name); r == nil || r.Pattern != want {
			t.Errorf("%s: %+v, want pattern %q", name, r, want)
		}
	}
}

func TestScoresAndFlags(t *testing.T) {
	set, err := Parse("t.cf", []byte(`
body A /a/
body T_B /b/
body C /c/
tflags C nice
body D /d/
score D 1 2 3 4
body E /e/
score E 0
body F /f/
tflags F net
body __G /g/
`), Options{ScoreSet: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"A": 1, "T_B": 0.01, "C": -1, "D": 3, "__G": 1} {
		if r := set.Rule(name); r == nil || r.Score != want {
			t.Errorf("%s: %+v, want score %v", name, r, want)
		}
	}
	if set.Rule("E") != nil {
		t.Error("a rule with score 0 is run")
	}
	if set.Rule("F") != nil || len(set.Skipped) != 1 || set.Skipped[0].Class != "net" {
		t.Errorf("net rule: %+v", set.Skipped)
	}
}

func TestIncludeAndLang(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10_a.cf"), []byte("include sub/inc.cf\nlang de body LANG_DE /x/\nlang en body LANG_EN /x/\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "inc.cf"), []byte("body INCLUDED /x/\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "20_b.cf"), []byte("body B /a\\#b/ # comment\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("body NOT_READ /x/\n"), 0o644)
	set, err := Load([]string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range set.Rules {
		names = append(names, r.Name)
	}
	if want := []string{"INCLUDED", "LANG_EN", "B"}; !reflect.DeepEqual(names, want) {
		t.Errorf("rules %v, want %v", names, want)
	}
	if r := set.Rule("B"); r == nil || r.Pattern != "a#b" {
		t.Errorf("B: %+v", r)
	}
	// an include loop is an error, not a hang
	os.WriteFile(filepath.Join(dir, "loop.cf"), []byte("include loop.cf\n"), 0o644)
	if _, err := Load([]string{filepath.Join(dir, "loop.cf")}, Options{}); err == nil {
		t.Error("an include loop loaded")
	}
}
