package filter

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

// recorder is an Observer that keeps what each verdict saw.
type recorder struct {
	mu       sync.Mutex
	msgs     []*rules.Message
	verdicts []rules.Verdict
	panics   int
	early    int
}

func (r *recorder) Verdict(m *rules.Message, v *rules.Verdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	r.verdicts = append(r.verdicts, *v)
}
func (r *recorder) EarlyReject()  { r.mu.Lock(); r.early++; r.mu.Unlock() }
func (r *recorder) SessionStart() {}
func (r *recorder) SessionEnd()   {}
func (r *recorder) Panic()        { r.mu.Lock(); r.panics++; r.mu.Unlock() }

func (r *recorder) last(t *testing.T) (*rules.Message, rules.Verdict) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		t.Fatal("no verdict recorded")
	}
	return r.msgs[len(r.msgs)-1], r.verdicts[len(r.verdicts)-1]
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type harness struct {
	addr string
	srv  *Server
	rec  *recorder
	logs *syncBuf
}

// testConfig is a judgement config without DNS lists in which every
// built-in check is off: these tests are about the protocol, so only GTUBE
// and the tests' own rules score.
func testConfig() rules.Config {
	off := map[string]float64{}
	for _, r := range rules.Builtin() {
		off[r.Name] = 0
	}
	return rules.Config{
		Scores:            off,
		Thresholds:        rules.Thresholds{AddHeader: rules.At(5), Reject: rules.At(15)},
		SubjectPrefix:     "[SPAM] ",
		RejectText:        "Message rejected as spam",
		TempfailText:      "Try again later",
		QuarantineReason:  "held by levee",
		Report:            "spam",
		TrustedNetworks:   []string{"127.0.0.0/8", "::1/128"},
		SkipTrusted:       true,
		SkipAuthenticated: true,
		ScanLimit:         rules.DefaultScanLimit,
	}
}

func start(t *testing.T, rc rules.Config, opt rules.Options, fc Config) *harness {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opt.Logger = log
	opt.NoDNS = opt.Resolver == nil
	e, err := rules.NewEngine(rc, opt)
	if err != nil {
		t.Fatal(err)
	}
	fc.Listen = "inet:127.0.0.1:0"
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	h := serveEngine(t, e, fc, log)
	h.logs = logs
	return h
}

// startWithEngine serves an engine built by the test.
func startWithEngine(t *testing.T, e *rules.Engine) *harness {
	t.Helper()
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	h := serveEngine(t, e, fc, slog.New(slog.NewTextHandler(logs, nil)))
	h.logs = logs
	return h
}

func serveEngine(t *testing.T, e *rules.Engine, fc Config, log *slog.Logger) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, e, log)
	rec := &recorder{}
	s.Observer = rec
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		e.Close()
	})
	return &harness{addr: "inet:" + ln.Addr().String(), srv: s, rec: rec}
}

// session opens a milter session to h as an MTA that offers no protocol
// flags: every event is answered, so each call returns once levee has
// handled it.
func (h *harness) session(t *testing.T) *mta.Session {
	t.Helper()
	return h.dial(t, 0)
}

// dial opens a milter session to h, offering the event flags offer
// (mta.PostfixProtocol: what Postfix offers).
func (h *harness) dial(t *testing.T, offer milter.OptProtocol) *mta.Session {
	t.Helper()
	s, err := mta.Dial(h.addr, 10*time.Second, offer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connected opens a session (as session does) and plays connect and HELO
// for a client at ip whose reverse DNS name and HELO are name.
func (h *harness) connected(t *testing.T, ip, name string) *mta.Session {
	t.Helper()
	s := h.session(t)
	connect(t, s, ip, name, name)
	return s
}

func must(t *testing.T, a *milter.Action, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if a.Code != milter.ActContinue {
		t.Fatalf("got action %c %d %q, want continue", a.Code, a.SMTPCode, a.SMTPText)
	}
}

// connect plays Postfix's connect and HELO stages, with its default macros.
func connect(t *testing.T, s *mta.Session, ip, name, helo string) {
	t.Helper()
	r, err := s.Connect(&mta.Client{IP: netip.MustParseAddr(ip), Name: name, Helo: helo,
		Macros: []string{"j", "mx.example.org", "{daemon_name}", "smtpd-in"}})
	must(t, r.Action, err)
}

type msg struct {
	from    string
	rcpts   []string
	macros  []string // MAIL-stage macros
	headers [][2]string
	body    string
}

func ham() msg {
	return msg{
		from:  "alice@example.com",
		rcpts: []string{"bob@example.org"},
		headers: [][2]string{
			{"From", "Alice <alice@example.com>"}, {"To", "bob@example.org"},
			{"Subject", "lunch tomorrow"}, {"Date", "Mon, 2 Nov 2026 10:00:00 +0100"},
			{"Message-ID", "<1234@mail.example.com>"},
		},
		body: "See you at noon.\r\n",
	}
}

// send plays MAIL, RCPT, DATA, headers, body (64 KiB chunks) and EOM, and
// fails the test when levee answers before end of message.
func send(t *testing.T, s *mta.Session, m msg) ([]milter.ModifyAction, *milter.Action) {
	t.Helper()
	tm := &mta.Message{From: m.from, Rcpts: m.rcpts, Body: []byte(m.body), MailMacros: m.macros}
	for _, h := range m.headers {
		tm.Header = append(tm.Header, mta.Field{Name: h[0], Value: h[1]})
	}
	return play(t, s, tm)
}

// play sends one transaction and fails the test when levee answers before
// end of message.
func play(t *testing.T, s *mta.Session, tm *mta.Message) ([]milter.ModifyAction, *milter.Action) {
	t.Helper()
	r, err := s.Send(tm)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stage != milter.CodeEOB {
		t.Fatalf("answered %c %d %q at stage %c, before end of message", r.Action.Code, r.Action.SMTPCode, r.Action.SMTPText, r.Stage)
	}
	return r.Mods, r.Action
}

func addedHeaders(acts []milter.ModifyAction) map[string]string {
	out := map[string]string{}
	for _, a := range acts {
		if a.Code == milter.ActAddHeader {
			out[a.HeaderName] = a.HeaderValue
		}
	}
	return out
}
