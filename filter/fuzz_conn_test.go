package filter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

// panicWatch is a log sink that only remembers whether a line told of a
// panic (levee's recovered ones, go-milter's): a long fuzz run logs a lot.
// It is reset before each input (see fuzzConnOnce), so only the panics of
// the input being run count: one panic must not fail every later input of
// the process, or a long run would shrink and save a "crasher" that does
// not reproduce.
type panicWatch struct {
	mu    sync.Mutex
	first string
}

func (w *panicWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("panic")) {
		w.mu.Lock()
		if w.first == "" {
			w.first = string(p)
		}
		w.mu.Unlock()
	}
	return len(p), nil
}

func (w *panicWatch) panicked() string { w.mu.Lock(); defer w.mu.Unlock(); return w.first }

// reset forgets the panics seen so far. Every log line of a connection is
// written before levee closes it (the session goroutine recovers and logs
// a panic before go-milter's loop ends), and runConn waits for that close,
// so a reset before the next input loses none of the previous one's.
func (w *panicWatch) reset() { w.mu.Lock(); w.first = ""; w.mu.Unlock() }

// pipeEnd is levee's end of a net.Pipe with a half-close (net.Pipe has
// none): once the MTA side has written everything (endInput), levee's
// reads end in io.EOF while its replies still go through. It tells when
// levee closed it.
type pipeEnd struct {
	net.Conn
	mu   sync.Mutex
	eof  bool
	once sync.Once
	done chan struct{}
}

func (c *pipeEnd) endInput() {
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	c.Conn.SetReadDeadline(time.Now()) // wakes a read in progress
}

func (c *pipeEnd) ended() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.eof }

func (c *pipeEnd) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	var ne net.Error
	if n == 0 && errors.As(err, &ne) && ne.Timeout() && c.ended() {
		return 0, io.EOF
	}
	return n, err
}

func (c *pipeEnd) SetReadDeadline(t time.Time) error {
	if c.ended() {
		return nil // the past deadline of endInput stays
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *pipeEnd) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *pipeEnd) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// defaultRules is the judgement part of the embedded default config.
func defaultRules(tb testing.TB) rules.Config {
	tb.Helper()
	var c struct {
		rules.Config `yaml:",inline"`
	}
	if err := yaml.Unmarshal(configs.Default, &c); err != nil {
		tb.Fatal(err)
	}
	return c.Config
}

// connSeeds are whole MTA sides of a connection: a valid negotiation and
// every command, Sendmail's and Postfix's ways, lengths at and over the
// limit, and broken packets.
func connSeeds() [][]byte {
	p := func(code byte, parts ...string) []byte { return append([]byte{code}, strings.Join(parts, "\x00")...) }
	neg := optneg(6, uint32(mta.PostfixActions), uint32(mta.PostfixProtocol))
	negPlain := optneg(2, uint32(mta.ClientActions), 0)
	conn := [][]byte{
		p('D', "Cj", "mx.example.org", "{daemon_name}", "smtpd-in", "_", "a.example.com [192.0.2.70]", ""),
		p('C', "a.example.com", "4\x00\x19192.0.2.70", ""),
		p('D', "H{tls_version}", "TLSv1.3", ""),
		p('H', "a.example.com", ""),
	}
	msg := func(body string) [][]byte {
		return [][]byte{
			p('D', "M{mail_addr}", "alice@example.com", ""),
			p('M', "<alice@example.com>", "SIZE=100", ""),
			p('D', "Ri", "4XyZ1", "{rcpt_addr}", "bob@example.org", ""),
			p('R', "<bob@example.org>", ""),
			p('D', "Ti", "4XyZ1", ""),
			p('T'),
			p('L', "From", " Alice <alice@example.com>", ""),
			p('L', "To", " bob@example.org", ""),
			p('L', "Subject", " lunch", ""),
			p('L', "X-Spam-Flag", " YES", ""),
			p('L', "Received", " from a.example.com ([192.0.2.70]) by mx.example.org", ""),
			p('D', "Ni", "4XyZ1", ""),
			p('N'),
			append([]byte("B"), body...),
			p('D', "Ei", "4XyZ1", ""),
			p('E'),
		}
	}
	cat := func(parts ...[][]byte) []byte {
		var all [][]byte
		for _, x := range parts {
			all = append(all, x...)
		}
		return packetStream(all...)
	}
	withLen := func(prefix []byte, n uint32, data string) []byte {
		return append(binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), n), data...)
	}
	postfix := cat([][]byte{neg}, conn, msg("See you at noon.\r\n"), [][]byte{p('A'), p('Q')})
	gtube := cat([][]byte{neg}, conn, msg("Hi\r\n"+rules.GTUBE+"\r\n"), [][]byte{p('A'), p('Q')})
	sendmail := cat([][]byte{negPlain}, conn, msg("one\r\n"), msg("two\r\n"), [][]byte{p('Q')})
	html := cat([][]byte{neg}, conn, msg("<html><a href=\"http://x.example/\">click</a></html>\r\n"))
	big := cat([][]byte{neg}, conn, msg(strings.Repeat("a 64 KiB chunk ", 65535/15)))
	field := cat([][]byte{neg}, conn, [][]byte{p('M', "<a@example.com>", ""),
		p('L', "X-Long", strings.Repeat("v", 100<<10), "")})
	negOnly := packetStream(neg)
	return [][]byte{
		postfix, gtube, sendmail, html, big, field,
		packetStream(negPlain, p('A'), p('B', "body before anything"), p('E'), p('Q')),
		withLen(negOnly, maxPacket, "Bonly a few bytes of a packet at the limit"),
		withLen(negOnly, maxPacket+1, "B"),
		withLen(negOnly, 1<<31, "B"),
		withLen(negOnly, 0xFFFFFFFF, "B"),
		withLen(negOnly, 0, ""),
		withLen(nil, 1<<31, "O"),
		packetStream(neg, p('U', "XFOO"), p('Q')),
		packetStream(neg, p('K')),
		packetStream(neg, []byte("C"), []byte("D"), p('L', "only-a-name"), p('C', "h", "4")),
		packetStream(p('C', "a.example.com", "6\x00\x19::1", ""), p('M', "<x@example.com>", ""), p('E')),
		postfix[:len(postfix)/2],
		// A header and its end with no MAIL FROM before them: no engine
		// is held, nothing to verify or sign (a panic found by CI's fuzz).
		cat([][]byte{neg}, conn, [][]byte{p('L', "From", " a@example.com", ""), p('N'), p('B', "x"), p('E'), p('Q')}),
	}
}

// FuzzMilterConn feeds random bytes as the MTA's side of one connection to
// a real Server (the default rules, no DNS): no panic, the connection
// ends once the MTA side is closed, and no allocation the size of a
// claimed packet length (what a whole connection allocates stays within
// a bound of the bytes sent).
func FuzzMilterConn(f *testing.F) {
	for _, s := range connSeeds() {
		f.Add(s)
	}
	watch := &panicWatch{}
	logger := slog.New(slog.NewTextHandler(watch, nil))
	prevOut, prevFlags := log.Writer(), log.Flags()
	log.SetOutput(watch) // go-milter's own messages
	f.Cleanup(func() { log.SetOutput(prevOut); log.SetFlags(prevFlags) })
	e, err := rules.NewEngine(defaultRules(f), rules.Options{Logger: logger, NoDNS: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	fc := Config{Listen: "inet:127.0.0.1:0", IdleTimeout: 5 * time.Second,
		Limits: Limits{NegotiationTimeout: 5 * time.Second, PacketTimeout: 5 * time.Second}}
	if err := fc.Validate(); err != nil {
		f.Fatal(err)
	}
	s := NewServer(fc, e, logger)
	f.Fuzz(func(t *testing.T, in []byte) {
		// What a connection allocates stays within a bound of the bytes
		// sent. The count is the whole process's (the fuzzing engine's
		// own work included), so only a bound exceeded on three runs of
		// the same input fails.
		bound := uint64(64*len(in) + 768<<10)
		var grew [3]uint64
		for i := range grew {
			before := totalAlloc()
			if err := fuzzConnOnce(s, watch, in); err != nil {
				t.Fatal(err)
			}
			if grew[i] = totalAlloc() - before; grew[i] <= bound {
				return
			}
		}
		t.Fatalf("a %d-byte connection allocated %v bytes in three runs (bound %d)", len(in), grew, bound)
	})
}

// fuzzConnOnce runs one input of FuzzMilterConn: it forgets the panics of
// earlier inputs, plays in, and tells of a panic logged (by levee or by
// go-milter, whose log package output goes to watch too) while it ran.
func fuzzConnOnce(s *Server, watch *panicWatch, in []byte) error {
	watch.reset()
	if err := runConn(s, in); err != nil {
		return err
	}
	if p := watch.panicked(); p != "" {
		return fmt.Errorf("panic: %s", p)
	}
	return nil
}

// runConn plays in as the MTA side of one connection to s (over a pipe,
// replies read and dropped), ends its input, and waits until levee has
// closed the connection.
func runConn(s *Server, in []byte) error {
	server, client := net.Pipe()
	end := &pipeEnd{Conn: server, done: make(chan struct{})}
	s.serveConn(end)
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, client); close(drained) }()
	client.SetWriteDeadline(time.Now().Add(10 * time.Second))
	client.Write(in) // returns once levee has read it all, or closed
	end.endInput()
	defer client.Close()
	select {
	case <-end.done:
	case <-time.After(20 * time.Second):
		return errors.New("the connection did not end after the MTA side's end of input")
	}
	<-drained
	return nil
}

// The fuzz harness reaches verdicts: the seeds' messages are judged.
func TestConnSeedsJudged(t *testing.T) {
	e, err := rules.NewEngine(defaultRules(t), rules.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, e, nil)
	rec := &recorder{}
	s.Observer = rec
	seeds := connSeeds()
	for _, in := range seeds[:3] { // Postfix ham, Postfix GTUBE, Sendmail two messages
		if err := runConn(s, in); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "four verdicts", 10*time.Second, func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.verdicts) == 4 })
	var got []string
	for _, v := range rec.verdicts {
		got = append(got, v.Action.String())
	}
	if strings.Join(got, ",") != "accept,reject,accept,accept" {
		t.Errorf("verdicts %v", got)
	}
}

// Only the current input's panics fail it: after an input that panicked,
// a harmless one passes again, so a long fuzz run does not blame (and
// shrink to) inputs that do not reproduce. The panic is levee's own,
// recovered and logged; go-milter's log output still reaches the watch.
func TestFuzzConnPanicPerInput(t *testing.T) {
	watch := &panicWatch{}
	logger := slog.New(slog.NewTextHandler(watch, nil))
	prevOut := log.Writer()
	log.SetOutput(watch)
	t.Cleanup(func() { log.SetOutput(prevOut) })
	e, err := rules.NewEngine(defaultRules(t), rules.Options{Logger: logger, NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, e, logger)
	ham := connSeeds()[0]
	testHook = func(stage string) {
		if stage == "body" {
			panic("planted by the test")
		}
	}
	t.Cleanup(func() { testHook = nil })
	if err := fuzzConnOnce(s, watch, ham); err == nil || !strings.Contains(err.Error(), "planted by the test") {
		t.Fatalf("an input that panics: %v, want its panic", err)
	}
	testHook = nil
	for i := 0; i < 2; i++ {
		if err := fuzzConnOnce(s, watch, ham); err != nil {
			t.Fatalf("a harmless input after one that panicked (run %d): %v", i+1, err)
		}
	}
	// go-milter's messages go through the log package: still watched.
	log.Print("milter: panic in the MTA side's handler")
	if watch.panicked() == "" {
		t.Error("a panic logged by go-milter is not seen")
	}
}
