package main

// Helpers of the end-to-end tests (e2e_*_test.go): the levee binary run as a
// subprocess, package mta's SMTP client failing the test on an I/O error,
// what an MTA delivers to a postfix.Sink, and bounded polling. Every
// process a test starts is stopped in t.Cleanup (or, for the package-wide
// Postfix instance, in TestMain).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/filter/mta/postfix"
)

// teardowns run after every test of the package (package-wide MTAs).
var (
	teardownMu sync.Mutex
	teardowns  []func()
)

func atTeardown(f func()) {
	teardownMu.Lock()
	teardowns = append(teardowns, f)
	teardownMu.Unlock()
}

func TestMain(m *testing.M) {
	// levee's default state directory is /var/lib/levee: every levee these
	// tests start gets a private one instead (leveeProc.start), and this one
	// is for the others.
	if dir, err := os.MkdirTemp("", "levee-e2e-state-"); err == nil {
		os.Setenv("STATE_DIRECTORY", dir)
		atTeardown(func() { os.RemoveAll(dir) })
	}
	code := m.Run()
	teardownMu.Lock()
	for i := len(teardowns) - 1; i >= 0; i-- {
		teardowns[i]()
	}
	teardownMu.Unlock()
	os.Exit(code)
}

// inCI says whether e2e tests must run rather than skip.
func inCI() bool { v := os.Getenv("CI"); return v != "" && v != "0" && v != "false" }

// needTool skips (or, in CI, fails) when an external program is missing.
func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if inCI() {
			t.Fatalf("%s is missing (CI=true: e2e tests must run; .ci/test.sh installs it)", path)
		}
		t.Skipf("%s is not installed", path)
	}
}

// needRoot: Postfix's master and a dpkg install need root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if inCI() {
			t.Fatal("e2e tests need root (a private Postfix instance starts as root)")
		}
		t.Skip("e2e tests need root")
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// leveeBinary builds cmd/levee once per test run.
func leveeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "levee-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		atTeardown(func() { os.RemoveAll(dir) })
		buildBin = filepath.Join(dir, "levee")
		// Static, as the Debian package ships it (and the same build
		// cache as configs/debian/build-deb.sh).
		cmd := exec.Command("go", "build", "-o", buildBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// freePort is postfix.FreePort, failing the test on an error.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := postfix.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is an io.Writer safe for a process's output and a test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// leveeProc is `levee serve` running as a subprocess.
type leveeProc struct {
	t       testing.TB
	bin     string
	cfgPath string
	addr    string // milter address host:port
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan struct{}
	exit    int
	// stateDir is the process's STATE_DIRECTORY (its default state.db),
	// kept across restarts.
	stateDir string
}

// leveeConfig is the base of every e2e config: LISTEN is replaced by the
// milter address.
func writeLeveeConfig(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "levee.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startLevee runs `levee serve --config cfgPath` and waits until the milter
// port (addr, "127.0.0.1:PORT") accepts connections.
func startLevee(t testing.TB, bin, cfgPath, addr string) *leveeProc {
	t.Helper()
	p := &leveeProc{t: t, bin: bin, cfgPath: cfgPath, addr: addr, log: &syncBuffer{}}
	p.start()
	return p
}

func (p *leveeProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "serve", "--config", p.cfgPath)
	if p.stateDir == "" {
		if dir, err := os.MkdirTemp("", "levee-e2e-state-"); err == nil {
			p.stateDir = dir
			atTeardown(func() { os.RemoveAll(dir) })
		}
	}
	p.cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+p.stateDir)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) {
		err := cmd.Wait()
		p.exit = cmd.ProcessState.ExitCode()
		_ = err
		close(done)
	}(p.cmd, p.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.done:
			p.t.Fatalf("levee exited with %d before listening:\n%s", p.exit, p.log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.stop()
			p.t.Fatalf("levee not listening on %s:\n%s", p.addr, p.log.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// signal sends sig to levee.
func (p *leveeProc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Errorf("signal %v: %v", sig, err)
	}
}

// stop ends levee with SIGTERM (SIGKILL after 10s) and returns its exit code.
func (p *leveeProc) stop() int {
	select {
	case <-p.done:
		return p.exit
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.exit
}

// waitLog waits until levee's log contains s.
func (p *leveeProc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.log.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("levee log has no %q after %v:\n%s", s, timeout, p.log.String())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// smtpClient is the SMTP client of package mta (every reply returned,
// none interpreted, so tests assert exactly what an SMTP client sees),
// failing the test on an I/O error.
type smtpClient struct {
	t testing.TB
	c *mta.SMTPClient
}

func dialSMTP(t testing.TB, addr string) *smtpClient {
	t.Helper()
	c, err := mta.DialSMTP(addr, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return wrapSMTP(t, c)
}

// newSMTPClient speaks SMTP over rwc (the pipes of `sendmail -bs`) and
// reads the greeting.
func newSMTPClient(t testing.TB, rwc io.ReadWriteCloser) *smtpClient {
	t.Helper()
	c, err := mta.NewSMTPClient(rwc)
	if err != nil {
		rwc.Close()
		t.Fatal(err)
	}
	return wrapSMTP(t, c)
}

func wrapSMTP(t testing.TB, c *mta.SMTPClient) *smtpClient {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	if c.Greeting.Code != 220 {
		t.Fatalf("greeting: %d %s, want 220", c.Greeting.Code, c.Greeting.Text)
	}
	return &smtpClient{t: t, c: c}
}

// cmd sends one command and returns the reply code and text.
func (s *smtpClient) cmd(format string, args ...any) (int, string) {
	s.t.Helper()
	r, err := s.c.Cmd(format, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r.Code, r.Text
}

// expect sends a command and fails the test unless the reply's code is want.
func (s *smtpClient) expect(want int, format string, args ...any) string {
	s.t.Helper()
	code, msg := s.cmd(format, args...)
	if code != want {
		s.t.Fatalf("%q: got %d %s, want %d", fmt.Sprintf(format, args...), code, msg, want)
	}
	return msg
}

// xclient sets the client's identity (Postfix XCLIENT, smtpd_authorized_xclient_hosts),
// then greets with EHLO helo.
func (s *smtpClient) xclient(attrs, helo string) {
	s.t.Helper()
	s.expect(250, "EHLO e2e.client.test")
	s.expect(220, "XCLIENT %s", attrs)
	s.expect(250, "EHLO %s", helo)
}

// send runs one whole transaction and returns the reply to the final dot
// (or to the first command that failed).
func (s *smtpClient) send(from string, rcpts []string, msg string) (int, string) {
	s.t.Helper()
	tr, err := s.c.Send(from, rcpts, msg)
	if err != nil {
		s.t.Fatalf("%v (replies so far: %v)", err, tr)
	}
	f := tr.Final()
	return f.Code, f.Text
}

func (s *smtpClient) quit() { s.c.Quit() }

// step is one message of an SMTP session of several.
type step struct {
	tok, subject, body string
	code               int    // the reply to the final dot
	flag               bool   // tagged: X-Spam-Flag: YES
	from               string // envelope and header sender; default alice@example.com
	signed             bool   // levee DKIM-signs it (its domain has a key)
}

// gtubeLine makes a message score 1000 (GTUBE): rejected.
const gtubeLine = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"

// severalSteps is a session of four messages: clean, tagged (an all-caps
// Subject), GTUBE (rejected), clean again. Nothing of the spam may leak
// into the messages after it.
func severalSteps(prefix, capsSubject string) []step {
	return []step{
		{tok: newToken(prefix + "-clean1"), code: 250},
		{tok: newToken(prefix + "-tag"), subject: capsSubject, code: 250, flag: true},
		{tok: newToken(prefix + "-gtube"), body: gtubeLine, code: 550},
		{tok: newToken(prefix + "-clean2"), code: 250},
	}
}

// sendSteps sends the steps' messages in this one session and fails the
// test on a reply that is not the step's (a reject must carry the
// configured text).
func (s *smtpClient) sendSteps(steps []step) {
	s.t.Helper()
	for _, st := range steps {
		from := st.from
		if from == "" {
			from = "alice@example.com"
		}
		code, text := s.send(from, []string{"bob@example.org"}, testMessage(st.tok, from, st.subject, "", st.body))
		if code != st.code {
			s.t.Fatalf("%s: %d %s, want %d", st.tok, code, text, st.code)
		}
		if st.code == 550 && !strings.Contains(text, e2eReject) {
			s.t.Errorf("GTUBE reply %q lacks %q", text, e2eReject)
		}
	}
}

// sink records what an MTA delivers to a postfix.Sink.
type sink struct {
	*postfix.Sink
	mu   sync.Mutex
	msgs []*postfix.Delivery
}

func startSink() (*sink, error) {
	s := &sink{}
	var err error
	s.Sink, err = postfix.StartSink("127.0.0.1:0", func(d *postfix.Delivery) {
		s.mu.Lock()
		s.msgs = append(s.msgs, d)
		s.mu.Unlock()
	})
	return s, err
}

// find returns the delivered messages whose data contains token.
func (s *sink) find(token string) []*postfix.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*postfix.Delivery
	for _, m := range s.msgs {
		if bytes.Contains(m.Data, []byte(token)) {
			out = append(out, m)
		}
	}
	return out
}

// waitMsg waits until a message containing token was delivered.
func (s *sink) waitMsg(t testing.TB, token string, timeout time.Duration) *postfix.Delivery {
	t.Helper()
	var m []*postfix.Delivery
	waitFor(t, "delivery of "+token, timeout, func() bool { m = s.find(token); return len(m) > 0 })
	return m[0]
}

// header returns the first value of a field of a delivered message's
// header (unfolded), and whether it has one.
func header(m *postfix.Delivery, name string) (string, bool) {
	if v := postfix.Get(postfix.HeaderOf(m.Data), name); len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// testMessage builds a well-formed message (it scores low) with a unique
// token in its Subject and Message-ID; extra header lines and the body can
// be changed.
func testMessage(token, from, subject, extraHeaders, body string) string {
	if subject == "" {
		subject = "Minutes of the meeting " + token
	} else if subject == strings.ToUpper(subject) {
		subject += " " + strings.ToUpper(token) // keep an all-caps Subject all caps
	} else {
		subject += " " + token
	}
	if body == "" {
		body = "Hello,\r\n\r\nthe minutes of Tuesday's meeting are below. We agreed to move the\r\nrelease to next week and to review the open tickets on Friday.\r\n\r\nRegards,\r\nAlice\r\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: Alice Example <%s>\r\n", from)
	b.WriteString("To: Bob Example <bob@example.org>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%s@mail.example.com>\r\n", token)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n")
	b.WriteString(extraHeaders)
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

var tokenSeq struct {
	sync.Mutex
	n int
}

// newToken is unique within a test run.
func newToken(prefix string) string {
	tokenSeq.Lock()
	defer tokenSeq.Unlock()
	tokenSeq.n++
	return prefix + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(tokenSeq.n)
}

// runTool runs an external command with a timeout and returns its output.
func runTool(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
