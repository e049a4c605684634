package main

// End-to-end tests with Debian's real Postfix in front of the real levee
// binary. One private Postfix instance (filter/mta/postfix: its own config,
// queue and data directories, loopback ports) serves the whole package; its
// main.cf carries configs/postfix/main.cf verbatim, so the shipped snippet is
// what is tested.
//
// Postfix services (master.cf), all on 127.0.0.1:
//
//	main       smtpd, milters of main.cf (levee "main", fail open)
//	down_acc   smtpd, levee "spare" (stopped and started by tests), milter_default_action=accept
//	down_tf    smtpd, levee "spare", milter_default_action=tempfail
//	relay_main smtpd without milter, content_filter to "main" through the relayb
//	           smtp client: the message sits in Postfix's own queue, so a 4xx of
//	           "main" leaves it deferred there (as on any relay in front of a filtering MX)
//	relay_down same, to "down_tf"
//	grey       smtpd, levee "grey" (greylisting; started by e2e_state_postfix_test.go), milter_default_action=tempfail
//	auth       smtpd, levee "auth" (e2e_auth_test.go), milter_default_action=tempfail
//
// Everything accepted is relayed (relayhost) to a postfix.Sink that records it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
	"github.com/levee-mail/levee/filter/mta/rbldnsd"
)

const (
	e2eReject   = "E2E says no to this spam"
	e2eTempfail = "E2E asks to come back later"
)

// e2eLeveeConfig: loopback clients are judged (skip_trusted off: the relay
// services reach "main" from 127.0.0.1), and each action has a check that a
// test can trigger on purpose (scores:), so no case depends on the fitted
// default scores.
const e2eLeveeConfig = `listen: inet:%s
skip_trusted: false
thresholds:
  add_header: 5
  rewrite_subject: 6
  tempfail: 30
  quarantine: 50
  reject: 100
  greylist: off             # e2e_state_test.go tests greylisting
subject_prefix: "[SPAM] "
reject_text: "` + e2eReject + `"
tempfail_text: "` + e2eTempfail + `"
scores:
  SUBJ_ALL_CAPS: 6          # Subject in capitals: tagged, Subject rewritten
  FROM_LOCAL_HEX: 30        # hex local part: tempfail
  FROM_NAME_HAS_TITLE: 50   # "Dr." display name: quarantine
log:
  level: debug
metrics:
  listen: 127.0.0.1:%d
%s`

// postfixInst is the package's private Postfix instance (filter/mta/postfix)
// and what stands behind it.
type postfixInst struct {
	*postfix.Instance
	sink      *sink
	main      *leveeProc // levee behind "main"
	spare     *leveeProc // levee behind down_acc/down_tf (tests stop it)
	spareAddr string
	greyAddr  string // levee "grey" (e2e_state_postfix_test.go starts it)
	metrics   int    // main levee's /metrics port
	rbl       *rbldnsd.Server
}

// e2eAuthSetup, when set, returns the auth: YAML of the main levee and
// more smtpd services of the instance.
var e2eAuthSetup func(t *testing.T, dir string) (mainYAML string, services []postfix.Service, stops []func(), err error)

var (
	pfOnce sync.Once
	pf     *postfixInst
	pfErr  error
)

// e2ePostfix starts (once) and returns the shared Postfix instance.
func e2ePostfix(t *testing.T) *postfixInst {
	t.Helper()
	needRoot(t)
	needTool(t, postfix.Bin)
	bin := leveeBinary(t)
	pfOnce.Do(func() { pf, pfErr = startPostfixInst(t, bin) })
	if pfErr != nil {
		t.Fatal(pfErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Postfix log (tail):\n%s", pf.MaillogTail(40))
			t.Logf("levee log (tail):\n%s", tail(pf.main.log.String(), 40))
		}
	})
	return pf
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func startPostfixInst(t *testing.T, bin string) (_ *postfixInst, err error) {
	// Postfix's daemons run as user postfix: every directory on the way to
	// the queue must be searchable, so no t.TempDir (0700) here.
	dir, err := os.MkdirTemp("", "levee-e2e-postfix-")
	if err != nil {
		return nil, err
	}
	p := &postfixInst{}
	var stops []func()
	defer func() {
		if err != nil {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
		}
	}()
	stops = append(stops, func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}

	if p.sink, err = startSink(); err != nil {
		return nil, err
	}
	stops = append(stops, p.sink.Close)

	// The DNSBL: rbldnsd on loopback, when the list code is there.
	rb, dnsblYAML, err := startE2EDNSBL(dir)
	if err != nil {
		return nil, err
	}
	if rb != nil {
		p.rbl = rb
		stops = append(stops, rb.Stop)
	}

	// Sender authentication (e2e_auth_test.go): the auth: part of the main
	// levee's config, and its own levee behind an "auth" service.
	authYAML, authServices := "auth:\n  enabled: false\n", []postfix.Service(nil)
	if e2eAuthSetup != nil {
		y, sv, st, err := e2eAuthSetup(t, dir)
		stops = append(stops, st...)
		if err != nil {
			return nil, err
		}
		authYAML, authServices = y, sv
	}

	mainAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p.metrics = freePort(t)
	cfg := writeLeveeConfig(t, dir, fmt.Sprintf(e2eLeveeConfig, mainAddr, p.metrics, dnsblYAML+authYAML))
	p.main = startLeveeShared(bin, cfg, mainAddr)
	if p.main == nil {
		return nil, fmt.Errorf("levee (main) did not start")
	}
	stops = append(stops, func() { p.main.stop() })

	p.spareAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	spareDir := filepath.Join(dir, "spare")
	os.MkdirAll(spareDir, 0o755)
	spareCfg := writeLeveeConfig(t, spareDir, fmt.Sprintf("listen: inet:%s\nskip_trusted: false\ndnsbl:\n  lists: []\nauth:\n  enabled: false\n", p.spareAddr))
	p.spare = &leveeProc{bin: bin, cfgPath: spareCfg, addr: p.spareAddr, log: &syncBuffer{}}
	stops = append(stops, func() {
		if p.spare.cmd != nil {
			p.spare.stop()
		}
	})

	p.greyAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	snippet, err := os.ReadFile("../../configs/postfix/main.cf")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(snippet), "inet:127.0.0.1:8895") {
		return nil, fmt.Errorf("configs/postfix/main.cf does not name inet:127.0.0.1:8895")
	}
	milter := func(addr, action string) []string {
		return []string{"-o", "smtpd_milters=inet:" + addr, "-o", "milter_default_action=" + action}
	}
	relay := func(to string) []string {
		return []string{"-o", "smtpd_milters=", "-o", "content_filter=relayb:[127.0.0.1]:{" + to + "}"}
	}
	p.Instance, err = postfix.Start(postfix.Config{
		Dir:       filepath.Join(dir, "postfix"),
		Relayhost: p.sink.Addr(),
		// configs/postfix/main.cf, verbatim but for the port
		Extra: strings.ReplaceAll(string(snippet), "inet:127.0.0.1:8895", "inet:"+mainAddr),
		Services: append([]postfix.Service{
			{Name: "main"},
			{Name: "down_acc", Args: milter(p.spareAddr, "accept")},
			{Name: "down_tf", Args: milter(p.spareAddr, "tempfail")},
			{Name: "relay_main", Args: relay("main")},
			{Name: "relay_down", Args: relay("down_tf")},
			{Name: "grey", Args: milter(p.greyAddr, "tempfail")},
		}, authServices...),
		Transports: []postfix.Transport{{Name: "relayb", Command: "smtp", Args: []string{"-o", "myhostname=relay.levee.test"}}},
	})
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { p.Stop() })
	atTeardown(func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	})
	return p, nil
}

// startLeveeShared starts a levee that outlives the test that started it.
func startLeveeShared(bin, cfgPath, addr string) *leveeProc {
	p := &leveeProc{t: &sharedTB{}, bin: bin, cfgPath: cfgPath, addr: addr, log: &syncBuffer{}}
	defer func() { recover() }()
	p.start()
	return p
}

// sharedTB lets package-wide processes use leveeProc outside a test: a
// failure panics (caught by startLeveeShared).
type sharedTB struct{ testing.TB }

func (sharedTB) Helper()                           {}
func (sharedTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (sharedTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (sharedTB) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// queue lists Postfix's queues, failing the test on an error.
func (p *postfixInst) queue(t *testing.T) []postfix.QueueEntry {
	t.Helper()
	q, err := p.Queue()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitQueued waits until Postfix's queue holds a message from sender in
// queue (hold, deferred, ...), optionally with a delay reason.
func (p *postfixInst) waitQueued(t *testing.T, sender, queue, reason string) postfix.QueueEntry {
	t.Helper()
	var found postfix.QueueEntry
	waitFor(t, fmt.Sprintf("%s in Postfix's %s queue", sender, queue), 30*time.Second, func() bool {
		for _, e := range p.queue(t) {
			if e.Sender != sender || e.QueueName != queue {
				continue
			}
			if reason != "" && (len(e.Recipients) == 0 || !strings.Contains(e.Recipients[0].DelayReason, reason)) {
				continue
			}
			found = e
			return true
		}
		return false
	})
	return found
}

// deleteQueued removes a message from Postfix's queue.
func (p *postfixInst) deleteQueued(t *testing.T, id string) {
	if err := p.Delete(id); err != nil {
		t.Error(err)
	}
}

// client opens an SMTP session to a service as an outside client.
func (p *postfixInst) client(t *testing.T, service, xclient, helo string) *smtpClient {
	c := dialSMTP(t, p.Addr(service))
	c.xclient(xclient, helo)
	return c
}

const outsider = "ADDR=203.0.113.25 NAME=mail.example.com"

func mustHeader(t *testing.T, m *postfix.Delivery, name, wantPrefix string) string {
	t.Helper()
	v, ok := header(m, name)
	if !ok {
		t.Fatalf("delivered message has no %s:\n%s", name, m.Data)
	}
	if !strings.HasPrefix(v, wantPrefix) {
		t.Fatalf("%s: %q, want prefix %q", name, v, wantPrefix)
	}
	return v
}

func TestE2EPostfixClean(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("clean")
	c := p.client(t, "main", outsider, "mail.example.com")
	code, text := c.send("alice@example.com", []string{"bob@example.org"}, testMessage(tok, "alice@example.com", "", "", ""))
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	mustHeader(t, m, "X-Spam-Status", "No, score=")
	if _, ok := header(m, "X-Spam-Flag"); ok {
		t.Errorf("clean mail got X-Spam-Flag:\n%s", m.Data)
	}
	if m.From != "alice@example.com" || len(m.Rcpts) != 1 || m.Rcpts[0] != "bob@example.org" {
		t.Errorf("envelope %q %q", m.From, m.Rcpts)
	}
	// Postfix (milter_protocol = 6) took levee's no-reply flags: connect,
	// HELO, MAIL, header, EOH and body answers are not awaited, DATA and
	// unknown commands are not sent. Every test here runs that way.
	if log := p.main.log.String(); !strings.Contains(log, "agreed=0xc7380") {
		t.Errorf("no negotiation of the no-reply flags in levee's log:\n%s", tail(log, 20))
	}
}

func TestE2EPostfixTagAndSubject(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("tag")
	c := p.client(t, "main", outsider, "mail.example.com")
	// A forged verdict that came with the message must go.
	msg := testMessage(tok, "alice@example.com", "CHEAP WATCHES FOR EVERYONE", "X-Spam-Flag: NO\r\nX-Spam-Status: No, forged\r\n", "")
	code, text := c.send("alice@example.com", []string{"bob@example.org"}, msg)
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	mustHeader(t, m, "X-Spam-Flag", "YES")
	st := mustHeader(t, m, "X-Spam-Status", "Yes, score=")
	if !strings.Contains(st, "SUBJ_ALL_CAPS") {
		t.Errorf("X-Spam-Status %q lacks the hit", st)
	}
	mustHeader(t, m, "Subject", "[SPAM] CHEAP WATCHES")
	if strings.Contains(string(m.Data), "forged") || strings.Count(string(m.Data), "X-Spam-Flag:") != 1 {
		t.Errorf("forged X-Spam fields survived:\n%s", m.Data)
	}
}

func TestE2EPostfixRejectGTUBE(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("gtube")
	c := p.client(t, "main", outsider, "mail.example.com")
	code, text := c.send("alice@example.com", []string{"bob@example.org"},
		testMessage(tok, "alice@example.com", "", "", "Test:\r\n"+gtubeLine))
	if code != 550 || !strings.Contains(text, "5.7.1 "+e2eReject) {
		t.Fatalf("GTUBE at end of data: %d %q, want 550 5.7.1 %s", code, text, e2eReject)
	}
	c.quit()
	time.Sleep(200 * time.Millisecond)
	if len(p.sink.find(tok)) != 0 {
		t.Fatal("rejected mail was delivered")
	}
}

func TestE2EPostfixQuarantine(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("quarantine")
	sender := tok + "@example.com"
	c := p.client(t, "main", outsider, "mail.example.com")
	msg := strings.Replace(testMessage(tok, sender, "", "", ""), "From: Alice Example", "From: Dr. Alice Example", 1)
	code, text := c.send(sender, []string{"bob@example.org"}, msg)
	if code != 250 {
		t.Fatalf("end of data: %d %s (quarantine accepts)", code, text)
	}
	c.quit()
	e := p.waitQueued(t, sender, "hold", "")
	defer p.deleteQueued(t, e.QueueID)
	if len(p.sink.find(tok)) != 0 {
		t.Fatal("quarantined mail was delivered")
	}
	if !strings.Contains(p.MaillogTail(400), e.QueueID+": milter-hold: END-OF-MESSAGE") {
		t.Errorf("Postfix's log does not show the milter hold of %s", e.QueueID)
	}
}

func TestE2EPostfixTempfail(t *testing.T) {
	p := e2ePostfix(t)
	hexSender := "0a1b2c3d4e5f60718293@example.com" // FROM_LOCAL_HEX: tempfail

	// Straight from the client: 451 at end of data, the client keeps it.
	tok := newToken("tempfail")
	c := p.client(t, "main", outsider, "mail.example.com")
	code, text := c.send(hexSender, []string{"bob@example.org"}, testMessage(tok, hexSender, "", "", ""))
	if code != 451 || !strings.Contains(text, "4.7.1 "+e2eTempfail) {
		t.Fatalf("end of data: %d %q, want 451 4.7.1 %s", code, text, e2eTempfail)
	}
	c.quit()

	// Through a relay: the message is in Postfix's own queue, and a 451
	// from the filtering hop leaves it deferred there for retry.
	tok = newToken("tempfail-relay")
	sender := tok + "@example.com"
	c = p.client(t, "relay_main", outsider, "mail.example.com")
	code, text = c.send(sender, []string{"bob@example.org"}, testMessage(tok, hexSender, "", "", ""))
	if code != 250 {
		t.Fatalf("relay end of data: %d %s", code, text)
	}
	c.quit()
	e := p.waitQueued(t, sender, "deferred", e2eTempfail)
	p.deleteQueued(t, e.QueueID)
	if len(p.sink.find(tok)) != 0 {
		t.Fatal("tempfailed mail was delivered")
	}
}

func TestE2EPostfixSessionOfSeveral(t *testing.T) {
	p := e2ePostfix(t)
	c := p.client(t, "main", outsider, "mail.example.com")
	steps := severalSteps("multi", "LIMITED OFFER")
	c.sendSteps(steps)
	c.quit()
	for _, s := range steps {
		if s.code != 250 {
			continue
		}
		m := p.sink.waitMsg(t, s.tok, 30*time.Second)
		_, flagged := header(m, "X-Spam-Flag")
		if flagged != s.flag {
			t.Errorf("%s: X-Spam-Flag present %v, want %v:\n%s", s.tok, flagged, s.flag, m.Data)
		}
		if n := strings.Count(string(m.Data), "X-Spam-Status:"); n != 1 {
			t.Errorf("%s: %d X-Spam-Status fields (verdicts leaking between messages?)", s.tok, n)
		}
	}
}

func TestE2EPostfixFiftyRecipients(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("fifty")
	var rcpts []string
	for i := 0; i < 50; i++ {
		rcpts = append(rcpts, fmt.Sprintf("user%02d@example.org", i))
	}
	c := p.client(t, "main", outsider, "mail.example.com")
	code, text := c.send("alice@example.com", rcpts, testMessage(tok, "alice@example.com", "", "", ""))
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, text)
	}
	c.quit()
	got := map[string]bool{}
	waitFor(t, "50 recipients delivered", 30*time.Second, func() bool {
		for _, m := range p.sink.find(tok) {
			for _, r := range m.Rcpts {
				got[r] = true
			}
		}
		return len(got) == 50
	})
	for _, m := range p.sink.find(tok) {
		if n := strings.Count(string(m.Data), "X-Spam-Status:"); n != 1 {
			t.Errorf("%d X-Spam-Status fields", n)
		}
	}
}

// TestE2EPostfixLeveeDown: with levee stopped, Postfix applies
// milter_default_action. accept: delivered unjudged. tempfail: the SMTP
// client gets a 4xx and keeps the message (at a relay, the message stays
// in Postfix's deferred queue), and once levee is back the next queue run
// delivers it, judged. Nothing is lost either way.
func TestE2EPostfixLeveeDown(t *testing.T) {
	p := e2ePostfix(t)
	if p.spare.cmd != nil {
		p.spare.stop()
	}

	// accept: delivered without a verdict
	tok := newToken("down-accept")
	c := p.client(t, "down_acc", outsider, "mail.example.com")
	if code, text := c.send("alice@example.com", []string{"bob@example.org"}, testMessage(tok, "alice@example.com", "", "", "")); code != 250 {
		t.Fatalf("down, accept: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	if _, ok := header(m, "X-Spam-Status"); ok {
		t.Errorf("judged though levee was down:\n%s", m.Data)
	}

	// tempfail, client straight to the filtering smtpd: Postfix cannot
	// reach the milter at CONNECT (replayed after XCLIENT) and answers
	// every later command of the session with 451 4.7.1, from MAIL FROM
	// on: the client keeps the message and retries.
	c = p.client(t, "down_tf", outsider, "mail.example.com")
	code, text := c.cmd("MAIL FROM:<alice@example.com>")
	if code != 451 || !strings.HasPrefix(text, "4.7.1") {
		t.Fatalf("down, tempfail: MAIL FROM got %d %s, want 451 4.7.1", code, text)
	}
	c.quit()

	// tempfail at a relay: deferred in Postfix's queue...
	tok = newToken("down-relay")
	sender := tok + "@example.com"
	c = p.client(t, "relay_down", outsider, "mail.example.com")
	if code, text := c.send(sender, []string{"bob@example.org"}, testMessage(tok, "alice@example.com", "", "", "")); code != 250 {
		t.Fatalf("relay: %d %s", code, text)
	}
	c.quit()
	p.waitQueued(t, sender, "deferred", "")
	if len(p.sink.find(tok)) != 0 {
		t.Fatal("delivered while levee was down and the action is tempfail")
	}
	// ...and delivered, judged, on the next queue run once levee is back.
	p.spare.t = t
	p.spare.start()
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	m = p.sink.waitMsg(t, tok, 30*time.Second)
	mustHeader(t, m, "X-Spam-Status", "No, score=")
	for _, e := range p.queue(t) {
		if e.Sender == sender {
			t.Errorf("still queued after the flush: %+v", e)
		}
	}
}

// TestE2EPostfixAuthenticated: an SMTP-authenticated client (XCLIENT LOGIN,
// Postfix's {auth_authen}) is accepted without scoring, GTUBE included.
func TestE2EPostfixAuthenticated(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("auth")
	c := p.client(t, "main", outsider+" LOGIN=alice", "mail.example.com")
	code, text := c.send("alice@example.com", []string{"bob@example.org"},
		testMessage(tok, "alice@example.com", "", "", gtubeLine))
	if code != 250 {
		t.Fatalf("authenticated GTUBE: %d %s, want 250 (not scored)", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	if _, ok := header(m, "X-Spam-Status"); ok {
		t.Errorf("an authenticated sender's mail was scored:\n%s", m.Data)
	}
	waitFor(t, "levee's log of the skip", 10*time.Second, func() bool {
		return strings.Contains(p.main.log.String(), "skipped=authenticated")
	})
}

// TestE2EPostfixLocalSubmission: mail submitted with Postfix's sendmail(1)
// goes through pickup and cleanup, which use non_smtpd_milters (the
// snippet's "$smtpd_milters"): levee judges it too.
func TestE2EPostfixLocalSubmission(t *testing.T) {
	p := e2ePostfix(t)
	tok := newToken("local")
	cmd := exec.Command("/usr/sbin/sendmail", "-C", p.Conf, "-f", "alice@example.com", "bob@example.org")
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(testMessage(tok, "alice@example.com", "", "", ""), "\r\n", "\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v %s", err, out)
	}
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	mustHeader(t, m, "X-Spam-Status", "No, score=")
}
