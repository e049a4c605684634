package mta

import (
	"bytes"
	"net"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"
)

func TestParseAddr(t *testing.T) {
	cases := []struct {
		in, network, addr string
		bad               bool
	}{
		{"inet:127.0.0.1:8895", "tcp", "127.0.0.1:8895", false},
		{"inet:localhost:25", "tcp", "localhost:25", false},
		{"inet6:[::1]:8895", "tcp", "[::1]:8895", false},
		{"unix:/run/levee/levee.sock", "unix", "/run/levee/levee.sock", false},
		{"local:/tmp/x.sock", "unix", "/tmp/x.sock", false},
		{"unix:relative.sock", "", "", true},
		{"inet:127.0.0.1", "", "", true},
		{"inet:127.0.0.1:99999", "", "", true},
		{"127.0.0.1:8895", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range cases {
		n, a, err := ParseAddr(tc.in)
		if (err != nil) != tc.bad || n != tc.network || a != tc.addr {
			t.Errorf("%q: %q %q %v", tc.in, n, a, err)
		}
	}
}

// seen is what the test milter was told.
type seen struct {
	mu        sync.Mutex
	connMacro map[string]string // macros at CONNECT
	helo      string
	rcpts     []string
	headers   []string // name: value
	chunks    int
	bodyLen   int
	eomQueue  []string // macro i at each end of message
	aborts    int
}

// recorder is a go-milter backend that keeps what it sees, rejects the
// recipient "bad@example.org", and adds a header at end of message.
type recorder struct {
	milter.NoOpMilter
	s *seen
}

func (r recorder) Connect(host, family string, port uint16, addr net.IP, m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.connMacro = m.Macros
	return milter.RespContinue, nil
}

func (r recorder) Helo(name string, m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.helo = name
	return milter.RespContinue, nil
}

func (r recorder) RcptTo(rcpt string, m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if rcpt == "bad@example.org" {
		return milter.RespReject, nil
	}
	r.s.rcpts = append(r.s.rcpts, rcpt)
	return milter.RespContinue, nil
}

func (r recorder) Header(name, value string, m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.headers = append(r.s.headers, name+": "+value)
	return milter.RespContinue, nil
}

func (r recorder) BodyChunk(chunk []byte, m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.chunks++
	r.s.bodyLen += len(chunk)
	return milter.RespContinue, nil
}

func (r recorder) Body(m *milter.Modifier) (milter.Response, error) {
	r.s.mu.Lock()
	r.s.eomQueue = append(r.s.eomQueue, m.Macros["i"])
	r.s.mu.Unlock()
	m.AddHeader("X-Seen", "yes")
	return milter.RespAccept, nil
}

func (r recorder) Abort(m *milter.Modifier) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.aborts++
	return nil
}

// serveRecorder serves a recorder with go-milter's own server (protocol
// version 2) on a loopback port.
func serveRecorder(t *testing.T) (string, *seen) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	srv := &milter.Server{NewMilter: func() milter.Milter { return recorder{s: s} },
		Actions: milter.OptAddHeader | milter.OptChangeHeader}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "inet:" + ln.Addr().String(), s
}

// Connect and Send play a whole Postfix connection: what the milter gets
// (macros of each stage, recipients, header, body in 64 KiB chunks) and
// what Send returns, at end of message and at an early reject.
func TestSessionPlaysPostfix(t *testing.T) {
	for _, offer := range []milter.OptProtocol{0, PostfixProtocol} {
		addr, got := serveRecorder(t)
		s, err := Dial(addr, 5*time.Second, offer)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Version != 2 {
			t.Errorf("version %d: go-milter v0.5.0 speaks 2", s.Version)
		}
		r, err := s.Connect(&Client{IP: netip.MustParseAddr("192.0.2.1"), Name: "mail.example.com", Macros: []string{"j", "mx.example.org"}})
		if err != nil || r.Stage != milter.CodeHelo || r.Action.Code != milter.ActContinue {
			t.Fatalf("connect: %+v %v", r, err)
		}
		body := bytes.Repeat([]byte("0123456789abcdef\r\n"), 8000) // 144000 bytes: 3 chunks
		m := &Message{From: "a@example.com", Rcpts: []string{"b@example.org", "c@example.org"},
			Header: []Field{{"From", "<a@example.com>"}, {"Subject", "folded\n\tsubject"}}, Body: body, QueueID: "QID1"}
		r, err = s.Send(m)
		if err != nil || r.Stage != milter.CodeEOB || r.Action.Code != milter.ActAccept {
			t.Fatalf("send: %+v %v", r, err)
		}
		if len(r.Mods) != 1 || r.Mods[0].Code != milter.ActAddHeader || r.Mods[0].HeaderName != "X-Seen" || r.Mods[0].HeaderValue != "yes" {
			t.Errorf("changes %+v", r.Mods)
		}
		// An early reject ends the transaction; the next one goes on after ABORT.
		m.Rcpts = []string{"bad@example.org"}
		if r, err = s.Send(m); err != nil || r.Stage != milter.CodeRcpt || r.Action.Code != milter.ActReject {
			t.Fatalf("rejected recipient: %+v %v", r, err)
		}
		m.Rcpts, m.QueueID = []string{"d@example.org"}, ""
		if r, err = s.Send(m); err != nil || r.Stage != milter.CodeEOB || r.Action.Code != milter.ActAccept {
			t.Fatalf("after the reject: %+v %v", r, err)
		}
		s.Close()

		got.mu.Lock()
		if got.connMacro["j"] != "mx.example.org" || got.connMacro["_"] != "mail.example.com [192.0.2.1]" {
			t.Errorf("connect macros %v", got.connMacro)
		}
		if got.helo != "[192.0.2.1]" {
			t.Errorf("HELO %q, want the address literal", got.helo)
		}
		if strings.Join(got.rcpts, " ") != "b@example.org c@example.org d@example.org" {
			t.Errorf("recipients %q", got.rcpts)
		}
		if len(got.headers) != 4 || got.headers[1] != "Subject: folded\n\tsubject" {
			t.Errorf("headers %q", got.headers)
		}
		if got.chunks != 6 || got.bodyLen != 2*len(body) {
			t.Errorf("%d chunks, %d bytes; want 6 and %d", got.chunks, got.bodyLen, 2*len(body))
		}
		if got.aborts == 0 {
			t.Error("no ABORT after the early reject")
		}
		// The third message has no queue id, so no macros.
		if strings.Join(got.eomQueue, ",") != "QID1," {
			t.Errorf("queue id at each end of message %q", got.eomQueue)
		}
		got.mu.Unlock()
	}
}

func TestToCRLF(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"a", "a"}, {"a\nb\n", "a\r\nb\r\n"}, {"a\r\nb\n", "a\r\nb\r\n"}, {"\n", "\r\n"}, {"a\r\n", "a\r\n"},
	} {
		if got := string(ToCRLF([]byte(tc.in))); got != tc.want {
			t.Errorf("ToCRLF(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzMilterAnswer: `levee bench` reads any milter's answers; bad ones are
// errors, never panics.
func FuzzMilterAnswer(f *testing.F) {
	f.Add(byte('y'), []byte("550 5.7.1 no\x00"))
	f.Add(byte('m'), []byte("\x00\x00\x00\x01Subject\x00[SPAM] hi\x00"))
	f.Add(byte('h'), []byte("X-Spam-Flag\x00YES\x00"))
	f.Add(byte('q'), []byte("held\x00"))
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		if _, ok, err := parseModify(code, data); ok || err != nil {
			return
		}
		parseAction(code, data)
	})
}

// smtpScript is an SMTP server for one connection that answers each
// command from a table (by the whole line, or its first word); data
// returns the message data it got.
func smtpScript(t *testing.T, answers map[string]string) (addr string, data func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var (
		mu  sync.Mutex
		got strings.Builder
	)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tp := textproto.NewConn(c)
		tp.PrintfLine("220 script ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			a, ok := answers[line]
			if !ok {
				verb, _, _ := strings.Cut(line, " ")
				a = answers[verb]
			}
			tp.PrintfLine("%s", a)
			if line == "DATA" && strings.HasPrefix(a, "354") {
				lines, _ := tp.ReadDotLines()
				mu.Lock()
				got.WriteString(strings.Join(lines, "\n"))
				mu.Unlock()
				tp.PrintfLine("250 2.0.0 queued")
			}
		}
	}()
	return ln.Addr().String(), func() string { mu.Lock(); defer mu.Unlock(); return got.String() }
}

// The SMTP client returns the reply of every stage, as it came.
func TestSMTPClientTranscript(t *testing.T) {
	addr, data := smtpScript(t, map[string]string{
		"MAIL": "250 2.1.0 ok", "RCPT": "250 2.1.5 ok", "RCPT TO:<bad@example.org>": "550-5.7.1 no\r\n550 5.7.1 such user",
		"RSET": "250 2.0.0 ok", "DATA": "354 go ahead", "QUIT": "221 bye",
	})
	c, err := DialSMTP(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.Greeting.Code != 220 {
		t.Errorf("greeting %v", c.Greeting)
	}
	tr, err := c.Send("a@example.com", []string{"b@example.org", "bad@example.org"}, "Subject: x\r\n\r\nhi\r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MAIL FROM:<a@example.com> 250", "RCPT TO:<b@example.org> 250", "RCPT TO:<bad@example.org> 550", "RSET 250"}
	if len(tr) != len(want) {
		t.Fatalf("transcript %v", tr)
	}
	for i, w := range want {
		if got := tr[i].Command + " " + strconv.Itoa(tr[i].Code); got != w {
			t.Errorf("reply %d: %q, want %q", i, got, w)
		}
	}
	if f := tr.Final(); f.Code != 550 || f.Text != "5.7.1 no\n5.7.1 such user" {
		t.Errorf("final %v", f)
	}
	tr, err = c.Send("a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\n.dot\r\nhi\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 4 || tr[2].Command != "DATA" || tr[2].Code != 354 || tr.Final().Command != "." || tr.Final().Code != 250 {
		t.Errorf("transcript %v", tr)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
	if got := data(); got != "Subject: x\n\n.dot\nhi" {
		t.Errorf("data %q (dot-stuffing lost?)", got)
	}
}
