package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/rules"
)

// scoreRule fires on messages whose Subject contains "SCORE-ME".
func scoreRule(score float64) rules.Rule {
	return rules.Rule{Name: "TEST_SCORE", Score: score, Kind: rules.KindHeader, Desc: "test rule",
		Test: func(m *rules.Message) bool { return strings.Contains(m.Header("Subject"), "SCORE-ME") }}
}

func scored() msg {
	m := ham()
	for i := range m.headers {
		if m.headers[i][0] == "Subject" {
			m.headers[i][1] = "SCORE-ME please"
		}
	}
	return m
}

func TestActions(t *testing.T) {
	th := rules.Thresholds{AddHeader: rules.At(5), RewriteSubject: rules.At(8), Tempfail: rules.At(9),
		Quarantine: rules.At(10), Reject: rules.At(15), Discard: rules.At(50)}
	cases := []struct {
		name    string
		score   float64
		mode    string
		code    milter.ActionCode
		smtp    int
		text    string
		flag    bool
		subject bool
		quar    bool
	}{
		{"accept", 1, "", milter.ActAccept, 0, "", false, false, false},
		{"add_header", 6, "", milter.ActAccept, 0, "", true, false, false},
		{"rewrite_subject", 8.5, "", milter.ActAccept, 0, "", true, true, false},
		{"tempfail", 9.5, "", milter.ActReplyCode, 451, "4.7.1 Try again later", false, false, false},
		{"quarantine", 12, "", milter.ActAccept, 0, "", true, false, true},
		{"reject", 20, "", milter.ActReplyCode, 550, "5.7.1 Message rejected as spam", false, false, false},
		{"discard", 60, "", milter.ActDiscard, 0, "", false, false, false},
		{"monitor reject", 20, "monitor", milter.ActAccept, 0, "", true, false, false},
		{"monitor quarantine", 12, "monitor", milter.ActAccept, 0, "", true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := testConfig()
			rc.Thresholds = th
			rc.Mode = tc.mode
			h := start(t, rc, rules.Options{ExtraRules: []rules.Rule{scoreRule(tc.score)}}, Config{})
			s := h.connected(t, "192.0.2.70", "d.example.com")
			acts, act := send(t, s, scored())
			if act.Code != tc.code {
				t.Fatalf("action %c, want %c", act.Code, tc.code)
			}
			if tc.smtp != 0 && (act.SMTPCode != tc.smtp || act.SMTPText != tc.text) {
				t.Errorf("reply %d %q, want %d %q", act.SMTPCode, act.SMTPText, tc.smtp, tc.text)
			}
			hs := addedHeaders(acts)
			if got := hs["X-Spam-Flag"] == "YES"; got != tc.flag {
				t.Errorf("X-Spam-Flag: got %v want %v (%v)", got, tc.flag, hs)
			}
			var subj, quar bool
			for _, a := range acts {
				if a.Code == milter.ActChangeHeader && a.HeaderName == "Subject" {
					subj = a.HeaderValue == "[SPAM] SCORE-ME please" && a.HeaderIndex == 1
				}
				if a.Code == milter.ActQuarantine {
					quar = a.Reason == "held by levee"
				}
			}
			if subj != tc.subject || quar != tc.quar {
				t.Errorf("subject rewritten %v (want %v), quarantined %v (want %v): %+v", subj, tc.subject, quar, tc.quar, acts)
			}
			if tc.code == milter.ActAccept && !strings.Contains(hs["X-Spam-Status"], "tests=") {
				t.Errorf("no X-Spam-Status: %v", hs)
			}
		})
	}
}

func TestGTUBERejected(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.80", "e.example.com")
	m := ham()
	m.body = "Hello\r\n" + rules.GTUBE + "\r\n"
	_, act := send(t, s, m)
	if act.Code != milter.ActReplyCode || act.SMTPCode != 550 || act.SMTPText != "5.7.1 Message rejected as spam" {
		t.Fatalf("got %c %d %q", act.Code, act.SMTPCode, act.SMTPText)
	}
	_, v := h.rec.last(t)
	if v.Score < 1000 || v.Hits[0].Name != "GTUBE" {
		t.Errorf("verdict %+v", v)
	}
}

func TestForgedSpamHeadersRemoved(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.90", "f.example.com")
	m := ham()
	m.headers = append(m.headers, [2]string{"X-Spam-Flag", "NO"}, [2]string{"X-Spam-Status", "No, score=-100"},
		[2]string{"x-spam-flag", "NO"}, [2]string{"X-Spamming", "keep me"})
	acts, act := send(t, s, m)
	if act.Code != milter.ActAccept {
		t.Fatalf("%c", act.Code)
	}
	deleted := map[string][]uint32{}
	for _, a := range acts {
		if a.Code == milter.ActChangeHeader && a.HeaderValue == "" {
			deleted[strings.ToLower(a.HeaderName)] = append(deleted[strings.ToLower(a.HeaderName)], a.HeaderIndex)
		}
	}
	if got := deleted["x-spam-flag"]; len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Errorf("X-Spam-Flag deletions %v, want [2 1]", got)
	}
	if got := deleted["x-spam-status"]; len(got) != 1 || got[0] != 1 {
		t.Errorf("X-Spam-Status deletions %v", got)
	}
	if _, ok := deleted["x-spamming"]; ok {
		t.Error("X-Spamming is not a verdict header")
	}
	// deletions come before levee's own headers
	seenAdd := false
	for _, a := range acts {
		if a.Code == milter.ActAddHeader {
			seenAdd = true
		}
		if a.Code == milter.ActChangeHeader && seenAdd {
			t.Error("a deletion after an added header")
		}
	}
}

func TestAuthenticatedSenderNotScored(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.session(t)
	connect(t, s, "198.51.100.7", "[198.51.100.7]", "laptop")
	m := ham()
	m.macros = []string{"{auth_authen}", "alice"}
	m.body = rules.GTUBE // would be rejected if scored
	acts, act := send(t, s, m)
	if act.Code != milter.ActAccept || len(acts) != 0 {
		t.Fatalf("authenticated: %c %+v", act.Code, acts)
	}
	_, v := h.rec.last(t)
	if v.Skipped != "authenticated" {
		t.Errorf("skipped = %q", v.Skipped)
	}
	// the next, unauthenticated message on the same connection is scored
	m2 := ham()
	m2.body = rules.GTUBE
	if _, act := send(t, s, m2); act.Code != milter.ActReplyCode || act.SMTPCode != 550 {
		t.Errorf("unauthenticated GTUBE: %c %d", act.Code, act.SMTPCode)
	}
}

func TestTrustedNetworkNotScored(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "127.0.0.1", "localhost")
	m := ham()
	m.body = rules.GTUBE
	if _, act := send(t, s, m); act.Code != milter.ActAccept {
		t.Fatalf("trusted GTUBE: %c", act.Code)
	}
}

func TestTwentyMiBMessage(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.100", "g.example.com")
	m := ham()
	line := strings.Repeat("x", 1022) + "\r\n"
	m.body = strings.Repeat(line, 20*1024) + rules.GTUBE + "\r\n" // GTUBE past the scan limit
	_, act := send(t, s, m)
	if act.Code != milter.ActAccept {
		t.Fatalf("action %c", act.Code)
	}
	got, v := h.rec.last(t)
	if got.BodySize != int64(len(m.body)) || len(got.Body) != rules.DefaultScanLimit || !got.Truncated {
		t.Errorf("body kept %d of %d (truncated %v)", len(got.Body), got.BodySize, got.Truncated)
	}
	if v.Score >= 1000 {
		t.Error("GTUBE beyond the scan limit was seen")
	}
}

// Beyond the first 64 KiB, bodies draw on a server-wide budget: while one
// session holds it, another keeps only its free part; once released, the
// budget serves again.
func TestBodyMemoryBudget(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{BodyMemory: 100 << 10})
	big := strings.Repeat(strings.Repeat("y", 1022)+"\r\n", 1024) // 1 MiB

	a := h.connected(t, "192.0.2.110", "a.example")
	m := ham()
	am, err := a.Mail(m.from, nil)
	must(t, am, err)
	am, err = a.Rcpt("bob@example.org", nil)
	must(t, am, err)
	am, err = a.HeaderEnd()
	must(t, am, err)
	for i := 0; i < 5; i++ { // 300 KB: A holds the whole 100 KiB budget
		am, err = a.BodyChunk([]byte(big[i*60000 : (i+1)*60000]))
		must(t, am, err)
	}

	b := h.connected(t, "192.0.2.111", "b.example")
	mb := ham()
	mb.body = big
	send(t, b, mb)
	got, _ := h.rec.last(t)
	if len(got.Body) != freeBody || got.BodySize != int64(len(big)) {
		t.Errorf("B kept %d of %d, want the free %d", len(got.Body), got.BodySize, freeBody)
	}

	if _, _, err := a.End(); err != nil {
		t.Fatal(err)
	}
	got, _ = h.rec.last(t)
	if len(got.Body) != freeBody+100<<10 {
		t.Errorf("A kept %d, want %d", len(got.Body), freeBody+100<<10)
	}
	// A released its share: the next message gets it again
	send(t, b, mb)
	got, _ = h.rec.last(t)
	if len(got.Body) != freeBody+100<<10 {
		t.Errorf("after release kept %d", len(got.Body))
	}
	// a connection that dies mid-message gives its share back too
	c := h.connected(t, "192.0.2.112", "c.example")
	am, err = c.Mail(m.from, nil)
	must(t, am, err)
	am, err = c.HeaderEnd()
	must(t, am, err)
	for i := 0; i < 5; i++ {
		am, err = c.BodyChunk([]byte(big[i*60000 : (i+1)*60000]))
		must(t, am, err)
	}
	if h.srv.budget.Load() != 0 {
		t.Fatalf("budget %d, want spent", h.srv.budget.Load())
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.budget.Load() != 100<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.srv.budget.Load(); got != 100<<10 {
		t.Errorf("budget after a dead session: %d", got)
	}
}
