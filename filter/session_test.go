package filter

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/filter/mta/bench"
	"github.com/levee-mail/levee/rules"
)

func TestHamGetsStatusHeaders(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.10", "mail.example.com")
	acts, act := send(t, s, ham())
	if act.Code != milter.ActAccept {
		t.Fatalf("action %c, want accept", act.Code)
	}
	hs := addedHeaders(acts)
	if !strings.HasPrefix(hs["X-Spam-Status"], "No, score=") {
		t.Errorf("X-Spam-Status = %q", hs["X-Spam-Status"])
	}
	if _, ok := hs["X-Spam-Flag"]; ok {
		t.Error("X-Spam-Flag on ham")
	}
	if _, ok := hs["X-Spam-Score"]; !ok {
		t.Error("no X-Spam-Score")
	}
}

// go-milter replaces the backend after every response whose Continue() is
// false. The second and third messages of one SMTP session must still see
// the client IP and HELO, after an accept and after a discard.
func TestConnectionStateSurvivesFinalResponses(t *testing.T) {
	rc := testConfig()
	rc.Thresholds.Discard = rules.At(900) // GTUBE (1000) is discarded
	h := start(t, rc, rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.20", "mx.sender.example")

	_, act := send(t, s, ham())
	if act.Code != milter.ActAccept {
		t.Fatalf("msg 1: %c", act.Code)
	}
	g := ham()
	g.body = rules.GTUBE + "\r\n"
	_, act = send(t, s, g)
	if act.Code != milter.ActDiscard {
		t.Fatalf("msg 2: %c, want discard", act.Code)
	}
	m3 := ham()
	m3.from = "carol@example.net"
	send(t, s, m3)
	m, _ := h.rec.last(t)
	if m.Env.ClientIP.String() != "192.0.2.20" || m.Env.Helo != "mx.sender.example" || m.Env.ClientName != "mx.sender.example" {
		t.Errorf("third message lost connection state: ip=%v helo=%q name=%q", m.Env.ClientIP, m.Env.Helo, m.Env.ClientName)
	}
	if m.Env.MailFrom != "carol@example.net" {
		t.Errorf("from = %q", m.Env.MailFrom)
	}
	if m.Env.DaemonName != "smtpd-in" {
		t.Errorf("connect macro {daemon_name} lost: %q", m.Env.DaemonName)
	}
}

// Each macro packet replaces go-milter's whole map: connect-stage macros
// must still be known at end of message, and a stage that sends no macros
// must not inherit the previous message's.
func TestMacrosKeptPerConnectionAndPerMessage(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.30", "relay.example.com")

	m1 := ham()
	m1.macros = []string{"{mail_addr}", "alice@example.com"}
	if err := s.Macros(milter.CodeMail, m1.macros...); err != nil {
		t.Fatal(err)
	}
	m1.macros = nil
	a, err := s.Mail(m1.from, nil)
	must(t, a, err)
	if err := s.Macros(milter.CodeRcpt, "i", "QUEUE1", "{rcpt_addr}", "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	a, err = s.Rcpt("bob@example.org", nil)
	must(t, a, err)
	a, err = s.HeaderField("From", "alice@example.com")
	must(t, a, err)
	if err := s.Macros(milter.CodeEOB, "i", "QUEUE1", "{msg_id}", "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.End(); err != nil {
		t.Fatal(err)
	}
	m, _ := h.rec.last(t)
	if m.Env.DaemonName != "smtpd-in" || m.Env.QueueID != "QUEUE1" {
		t.Errorf("message 1: daemon_name=%q queue id=%q", m.Env.DaemonName, m.Env.QueueID)
	}

	// message 2, no ABORT, no macros at all: nothing of message 1 leaks.
	send(t, s, ham())
	m, _ = h.rec.last(t)
	if m.Env.QueueID != "" {
		t.Errorf("message 2 inherited queue id %q", m.Env.QueueID)
	}
	if m.Env.DaemonName != "smtpd-in" {
		t.Errorf("message 2 lost connect macro: %q", m.Env.DaemonName)
	}
}

// Sendmail sends no ABORT between messages: headers must not pile up.
func TestHeadersResetWithoutAbort(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.connected(t, "192.0.2.40", "a.example.com")
	m1 := ham()
	m1.headers = append(m1.headers, [2]string{"X-Test", "one"})
	send(t, s, m1)
	m2 := ham()
	m2.headers = append(m2.headers, [2]string{"X-Test", "two"})
	send(t, s, m2)
	m, _ := h.rec.last(t)
	if got := m.Headers("X-Test"); len(got) != 1 || got[0] != "two" {
		t.Errorf("message 2 X-Test = %q, want [two]", got)
	}
	if n := m.Count("Subject"); n != 1 {
		t.Errorf("message 2 has %d Subject fields", n)
	}
}

// go-milter must never be given OptNo*Reply: it answers every event anyway,
// which would desynchronise the stream. levee's connection layer agrees on
// exactly the no-reply flags of the events it always passes (never RCPT,
// where early rejects come) and holds go-milter's answers back. Negotiate
// as a v6 MTA offering every flag (Postfix does) and read the masks.
func TestNoReplyFlagsNegotiatedByLevee(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	s := h.dial(t, mta.PostfixProtocol)
	noReply := milter.OptNoConnReply | milter.OptNoHeloReply | milter.OptNoMailReply | milter.OptNoRcptReply |
		milter.OptNoDataReply | milter.OptNoUnknownReply | milter.OptNoEOHReply | milter.OptNoBodyReply | milter.OptNoHeaderReply
	if s.Protocol&noReply != milter.OptNoConnReply|milter.OptNoHeloReply|milter.OptNoMailReply|milter.OptNoHeaderReply|
		milter.OptNoEOHReply|milter.OptNoBodyReply {
		t.Fatalf("server negotiated no-reply flags %#x", s.Protocol&noReply)
	}
	if s.Protocol&(milter.OptNoUnknown|milter.OptNoData) != milter.OptNoUnknown|milter.OptNoData {
		t.Errorf("server did not ask to skip unknown commands and DATA: %#x", s.Protocol)
	}
	if s.Version != 2 {
		t.Errorf("protocol version %d: the docs say go-milter v0.5.0 speaks 2", s.Version)
	}
	// and the stream stays in step: messages on this session, whose
	// answers before RCPT and end of message are not awaited, work
	connect(t, s, "192.0.2.50", "b.example.com", "b.example.com")
	for i := 0; i < 2; i++ {
		if _, act := send(t, s, ham()); act.Code != milter.ActAccept {
			t.Fatalf("action %c", act.Code)
		}
	}
}

// go-milter logs with the standard log package: it must reach slog.
func TestStdLogRoutedToSlog(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	RouteStdLog(h.srv.Logger)
	network, address, _ := ParseAddr(h.addr)
	c, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// an unknown command makes go-milter log and close the session
	var pkt bytes.Buffer
	binary.Write(&pkt, binary.BigEndian, uint32(1))
	pkt.WriteByte('Z')
	c.Write(pkt.Bytes())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 1)) // wait for the close
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(h.logs.String(), "Unrecognized command code") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := h.logs.String()
	if !strings.Contains(out, "Unrecognized command code") || !strings.Contains(out, "component=go-milter") {
		t.Fatalf("go-milter's log line did not reach slog: %q", out)
	}
}

func TestPanicBecomesTempfail(t *testing.T) {
	boom := rules.Rule{Name: "BOOM", Score: 1, Kind: rules.KindHeader, Desc: "panics",
		Test: func(m *rules.Message) bool { panic("boom") }}
	for _, tc := range []struct {
		onPanic string
		want    milter.ActionCode
	}{{"", milter.ActReplyCode}, {"accept", milter.ActAccept}} {
		t.Run("on_panic="+tc.onPanic, func(t *testing.T) {
			h := start(t, testConfig(), rules.Options{ExtraRules: []rules.Rule{boom}}, Config{OnPanic: tc.onPanic})
			s := h.connected(t, "192.0.2.60", "c.example.com")
			_, act := send(t, s, ham())
			if act.Code != tc.want {
				t.Fatalf("action %c, want %c", act.Code, tc.want)
			}
			if tc.want == milter.ActReplyCode && (act.SMTPCode != 451 || !strings.HasPrefix(act.SMTPText, "4.")) {
				t.Errorf("reply %d %q", act.SMTPCode, act.SMTPText)
			}
			if !strings.Contains(h.logs.String(), "goroutine") {
				t.Error("no stack in the log")
			}
			// the process and the session are still alive
			_, act = send(t, s, ham())
			if act.Code != tc.want {
				t.Fatalf("second message: %c", act.Code)
			}
		})
	}
}

// `levee bench --baseline` measures go-milter's no-op server asking for
// the actions levee asks for, so that both negotiate alike.
func TestBaselineAsksLeveesActions(t *testing.T) {
	if bench.BaselineActions != actions {
		t.Errorf("bench.BaselineActions %#x, levee's actions %#x", uint32(bench.BaselineActions), uint32(actions))
	}
}

// A reload swaps the engine while a message is in flight: that message
// ends with the engine it started with, which is closed as soon as the
// message is done; the next message uses the new engine.
func TestRetiredEngineClosesAfterItsLastMessage(t *testing.T) {
	h := start(t, testConfig(), rules.Options{}, Config{})
	old := h.srv.Engine()
	s := h.connected(t, "192.0.2.20", "mail.example.net")
	m := ham()
	a, err := s.Mail(m.from, nil)
	must(t, a, err)
	a, err = s.Rcpt(m.rcpts[0], nil)
	must(t, a, err)

	next, err := rules.NewEngine(testConfig(), rules.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	var closed atomic.Int32
	h.srv.SetEngine(next)
	old.Retire(func() { closed.Add(1) })
	if closed.Load() != 0 || old.Users() != 1 {
		t.Fatalf("the in-flight message's engine: closed %d, users %d", closed.Load(), old.Users())
	}
	for _, f := range m.headers {
		a, err = s.HeaderField(f[0], f[1])
		must(t, a, err)
	}
	a, err = s.HeaderEnd()
	must(t, a, err)
	a, err = s.BodyChunk([]byte(m.body))
	must(t, a, err)
	if _, act, err := s.End(); err != nil || act.Code != milter.ActAccept {
		t.Fatalf("end of message: %v %v", act, err)
	}
	waitFor(t, "the retired engine closed", 5*time.Second, func() bool { return closed.Load() == 1 })
	if _, act := send(t, s, ham()); act.Code != milter.ActAccept {
		t.Fatalf("next message: %c", act.Code)
	}
	if old.Users() != 0 || next.Users() != 0 {
		t.Errorf("users after the messages: old %d, new %d", old.Users(), next.Users())
	}
}
