package rules

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func testRule(name string, score float64, subj string) Rule {
	return Rule{Name: name, Score: score, Kind: KindHeader, Desc: name + " desc",
		Test: func(m *Message) bool { return strings.Contains(m.Header("Subject"), subj) }}
}

func judge(t *testing.T, cfg Config, extra []Rule, msg string, env Envelope) Verdict {
	t.Helper()
	cfg.Scores = map[string]float64{}
	for _, r := range Builtin() { // only the test rules count here
		cfg.Scores[r.Name] = 0
	}
	e, err := NewEngine(cfg, Options{NoDNS: true, ExtraRules: extra})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadMessage(strings.NewReader(msg), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e.Judge(context.Background(), m, nil)
}

func TestThresholdsPickAction(t *testing.T) {
	th := Thresholds{AddHeader: At(5), RewriteSubject: At(7), Tempfail: At(9), Quarantine: At(10), Reject: At(15), Discard: At(40)}
	cases := []struct {
		score float64
		mode  string
		want  Action
		would Action
	}{
		{0, "", Accept, Accept},
		{4.9, "", Accept, Accept},
		{5, "", AddHeader, AddHeader},
		{7.5, "", RewriteSubject, RewriteSubject},
		{9, "", Tempfail, Tempfail},
		{12, "", Quarantine, Quarantine},
		{15, "", Reject, Reject},
		{41, "", Discard, Discard},
		{20, "monitor", AddHeader, Reject},
		{8, "monitor", AddHeader, RewriteSubject},
		{-3, "", Accept, Accept},
	}
	for _, tc := range cases {
		cfg := Config{Thresholds: th, Mode: tc.mode, RejectText: "no", TempfailText: "later", SubjectPrefix: "[S] ", Report: "always"}
		v := judge(t, cfg, []Rule{testRule("T_ONE", tc.score, "x")}, "Subject: x\n\n", Envelope{})
		if tc.score == 0 {
			v = judge(t, cfg, nil, "Subject: x\n\n", Envelope{})
		}
		if v.Action != tc.want || v.WouldBe != tc.would {
			t.Errorf("score %v mode %q: action %v would %v, want %v %v", tc.score, tc.mode, v.Action, v.WouldBe, tc.want, tc.would)
		}
		switch v.Action {
		case Reject:
			if v.Reply != "550 5.7.1 no" {
				t.Errorf("reject reply %q", v.Reply)
			}
		case Tempfail:
			if v.Reply != "451 4.7.1 later" {
				t.Errorf("tempfail reply %q", v.Reply)
			}
		case RewriteSubject:
			if v.SubjectPrefix != "[S] " {
				t.Errorf("prefix %q", v.SubjectPrefix)
			}
		}
	}
}

func TestSpamHeaders(t *testing.T) {
	cfg := Config{Thresholds: Thresholds{AddHeader: At(5), Reject: At(15)}, Report: "spam"}
	v := judge(t, cfg, []Rule{testRule("B_RULE", 4.2, "x"), testRule("A_RULE", 3.1, "x")}, "Subject: x\n\n", Envelope{})
	h := map[string]string{}
	for _, f := range v.Headers {
		h[f.Name] = f.Value
	}
	if h["X-Spam-Flag"] != "YES" || h["X-Spam-Score"] != "7.3" || h["X-Spam-Level"] != "*******" {
		t.Errorf("headers %q", h)
	}
	if h["X-Spam-Status"] != "Yes, score=7.3 required=5.0 tests=A_RULE,B_RULE" {
		t.Errorf("X-Spam-Status %q", h["X-Spam-Status"])
	}
	if !strings.Contains(h["X-Spam-Report"], "\n\t*   3.1 A_RULE A_RULE desc") {
		t.Errorf("X-Spam-Report %q", h["X-Spam-Report"])
	}
	// ham: no flag, no report with report: spam
	v = judge(t, cfg, []Rule{testRule("A_RULE", 1, "x")}, "Subject: x\n\n", Envelope{})
	for _, f := range v.Headers {
		if f.Name == "X-Spam-Flag" || f.Name == "X-Spam-Report" {
			t.Errorf("ham has %s", f.Name)
		}
		if f.Name == "X-Spam-Status" && f.Value != "No, score=1.0 required=5.0 tests=A_RULE" {
			t.Errorf("ham status %q", f.Value)
		}
	}
}

func TestGTUBEAndSkips(t *testing.T) {
	cfg := Config{Thresholds: Thresholds{AddHeader: At(5), Reject: At(15)}, RejectText: "spam",
		TrustedNetworks: []string{"10.0.0.0/8"}, SkipTrusted: true, SkipAuthenticated: true}
	body := "Subject: t\n\n" + GTUBE + "\n"
	v := judge(t, cfg, nil, body, Envelope{})
	if v.Action != Reject || v.Score != 1000 {
		t.Errorf("GTUBE: %v %v", v.Action, v.Score)
	}
	// base64-encoded GTUBE is found too
	enc := "Subject: t\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nWEpTKkM0SkRCUUFETjEuTlNCTjMqMklETkVOKkdUVUJFLVNUQU5EQVJELUFOVEktVUJFLVRFU1QtRU1BSUwqQy4zNFg=\n"
	if v := judge(t, cfg, nil, enc, Envelope{}); v.Action != Reject {
		t.Errorf("base64 GTUBE: %v", v.Action)
	}
	if v := judge(t, cfg, nil, body, Envelope{AuthUser: "alice"}); v.Skipped != "authenticated" || v.Action != Accept || len(v.Headers) != 0 {
		t.Errorf("authenticated: %+v", v)
	}
	env := Envelope{}
	env.ClientIP = mustAddr("10.1.2.3")
	if v := judge(t, cfg, nil, body, env); v.Skipped != "trusted" {
		t.Errorf("trusted: %+v", v)
	}
	cfg.SkipAuthenticated = false
	if v := judge(t, cfg, nil, body, Envelope{AuthUser: "alice"}); v.Action != Reject {
		t.Errorf("skip_authenticated off: %v", v.Action)
	}
}

func TestScoresOverrideAndZeroDisables(t *testing.T) {
	e, err := NewEngine(Config{Thresholds: Thresholds{AddHeader: At(5)}, Scores: map[string]float64{"MISSING_DATE": 0, "MISSING_MID": 7}}, Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Rules() {
		if r.Name == "MISSING_DATE" {
			t.Error("a check at 0 is run")
		}
		if r.Name == "MISSING_MID" && r.Score != 7 {
			t.Errorf("MISSING_MID score %v", r.Score)
		}
	}
	if _, err := NewEngine(Config{Scores: map[string]float64{"NO_SUCH_CHECK": 1}}, Options{NoDNS: true}); err == nil {
		t.Error("unknown check name accepted")
	}
}

func TestSanitizeReply(t *testing.T) {
	if got := sanitizeReply("100% spam\r\nX-Injected: 1"); got != "100%% spam  X-Injected: 1" {
		t.Errorf("%q", got)
	}
}

func TestFold(t *testing.T) {
	s := "Yes, score=20.0 required=5.0 tests=" + strings.Repeat("SOME_LONG_RULE_NAME,", 10) + "LAST"
	f := fold(s, 60)
	for i, line := range strings.Split(f, "\n\t") {
		if len(line) > 78 {
			t.Errorf("line %d too long: %q", i, line)
		}
	}
	if strings.ReplaceAll(f, "\n\t", "") != s {
		t.Errorf("folding changed the value: %q", f)
	}
}

func mustAddr(s string) (a netip.Addr) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}

// A retired engine closes when the last message that acquired it is
// released, at once when none uses it, and is never acquired again.
func TestEngineRetire(t *testing.T) {
	newE := func() *Engine {
		e, err := NewEngine(Config{}, Options{NoDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := newE()
	if !e.Acquire() || !e.Acquire() {
		t.Fatal("a fresh engine refused")
	}
	closed := 0
	e.Retire(func() { closed++ })
	if closed != 0 || e.Users() != 2 {
		t.Fatalf("closed %d times with %d users", closed, e.Users())
	}
	if e.Acquire() {
		t.Error("a retired engine was acquired")
	}
	e.Release()
	if closed != 0 {
		t.Fatal("closed with a message still using it")
	}
	e.Release()
	if closed != 1 {
		t.Fatalf("closed %d times after the last release", closed)
	}
	e.Retire(func() { closed++ }) // again: nothing more
	if closed != 1 {
		t.Fatalf("retired twice: closed %d times", closed)
	}

	idle := newE()
	idle.Retire(func() { closed++ })
	if closed != 2 {
		t.Error("an idle engine was not closed when retired")
	}
}
