package main

// Greylisting and rate limits through real Postfix. The package's Postfix
// instance has a "grey" smtpd whose milter is a levee that greylists every
// client (when: always, delay 1s) and limits each authenticated user to 2
// messages an hour. A second private Postfix instance, "sender", plays a
// real sending MTA in front of it: its queue retries after 1-2 s
// (minimal_backoff_time, maximal_backoff_time, queue_run_delay), so a
// greylisted message is delivered on its own retry.
//
// Authentication: XCLIENT LOGIN= sets the SASL login name of the session in
// Postfix's smtpd, which Postfix hands to milters as {auth_authen}, exactly
// as after a real AUTH; a SASL backend (Cyrus or Dovecot) is not needed for
// what levee sees.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const greyLeveeConfig = `listen: inet:%s
skip_trusted: false
trusted_networks: []
dnsbl:
  lists: []
thresholds:
  greylist: off
state:
  path: %s
greylist:
  enabled: true
  when: always
  delay: 1s
  window: 10m
  ttl: 1d
ratelimit:
  mode: fixed
  user:
    messages: 2
    recipients: 100
    window: 1h
log:
  level: debug
`

var (
	greyOnce sync.Once
	greyProc *leveeProc
)

// e2eGrey returns the shared Postfix instance with its greylisting levee running.
func e2eGrey(t *testing.T) *postfixInst {
	t.Helper()
	p := e2ePostfix(t)
	greyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "levee-e2e-grey-")
		if err != nil {
			return
		}
		atTeardown(func() { os.RemoveAll(dir) })
		cfg := writeLeveeConfig(t, dir, fmt.Sprintf(greyLeveeConfig, p.greyAddr, filepath.Join(dir, "state.db")))
		greyProc = startLeveeShared(leveeBinary(t), cfg, p.greyAddr)
		if greyProc != nil {
			atTeardown(func() { greyProc.stop() })
		}
	})
	if greyProc == nil {
		t.Fatal("levee (grey) did not start")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("levee (grey) log (tail):\n%s", tail(greyProc.log.String(), 30))
		}
	})
	return p
}

// senderInst is a second private Postfix instance that relays everything
// to relayhost and retries deferred mail every second or two.
type senderInst struct {
	dir, conf string
	port      int
}

func startSender(t *testing.T, relayhost string) *senderInst {
	t.Helper()
	dir, err := os.MkdirTemp("", "levee-e2e-sender-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	s := &senderInst{dir: dir, conf: filepath.Join(dir, "conf"), port: freePort(t)}
	for _, d := range []string{"conf", "queue", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	mainCf := fmt.Sprintf(`# the sending MTA of levee's greylisting e2e test
compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.levee.test
mydomain = levee.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relay_domains = example.org
relayhost = %[2]s
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
# a real MTA retries after minutes; this one after 1-2 seconds
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_connect_timeout = 5s
`, dir, relayhost)
	masterCf := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, s.port)
	os.WriteFile(filepath.Join(s.conf, "main.cf"), []byte(mainCf), 0o644)
	os.WriteFile(filepath.Join(s.conf, "master.cf"), []byte(masterCf), 0o644)
	if out, err := runTool(t, time.Minute, postfixBin, "-c", s.conf, "start"); err != nil {
		t.Fatalf("postfix (sender) start: %v\n%s\n%s", err, out, s.maillog())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sender Postfix log:\n%s", tail(s.maillog(), 30))
		}
		if out, err := runTool(t, time.Minute, postfixBin, "-c", s.conf, "stop"); err != nil {
			t.Logf("postfix (sender) stop: %v %s", err, out)
		}
		pid, _ := os.ReadFile(filepath.Join(dir, "queue", "pid", "master.pid"))
		waitFor(t, "the sender Postfix to stop", 20*time.Second, func() bool {
			_, err := os.Stat("/proc/" + strings.TrimSpace(string(pid)))
			return len(strings.TrimSpace(string(pid))) == 0 || err != nil
		})
		os.RemoveAll(dir)
	})
	if err := waitDial(fmt.Sprintf("127.0.0.1:%d", s.port), 20*time.Second); err != nil {
		t.Fatalf("postfix (sender): %v\n%s", err, s.maillog())
	}
	return s
}

func (s *senderInst) maillog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "maillog"))
	return string(b)
}

// A sending Postfix whose first attempt is greylisted delivers on its own
// retry, 1-2 s later, with the message intact.
func TestE2EPostfixGreylistRetry(t *testing.T) {
	p := e2eGrey(t)
	snd := startSender(t, "[127.0.0.1]:"+fmt.Sprint(p.ports["grey"]))
	tok := newToken("grey-retry")
	from := tok + "@example.com"
	body := "Hello Bob,\r\n\r\nthe greylisted minutes.\r\n..a line that starts with a dot\r\nBye\r\n"
	msg := testMessage(tok, from, "", "X-Custom: kept as it was\r\n", body)
	c := dialSMTP(t, fmt.Sprintf("127.0.0.1:%d", snd.port))
	c.expect(250, "EHLO client.levee.test")
	if code, text := c.send(from, []string{"bob@example.org"}, msg); code != 250 {
		t.Fatalf("the sender refused the message: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 90*time.Second)

	// The sender met the greylist, deferred, and retried.
	log := snd.maillog()
	if !strings.Contains(log, "451 4.7.1 Greylisted") || !strings.Contains(log, "status=deferred") || !strings.Contains(log, "status=sent") {
		t.Errorf("the sender's log does not show a greylisted attempt then a delivery:\n%s", tail(log, 20))
	}
	glog := greyProc.log.String()
	if !strings.Contains(glog, "outcome=new") || !strings.Contains(glog, "outcome=passed") {
		t.Errorf("levee did not log new then passed:\n%s", tail(glog, 20))
	}
	// The message is intact: every header line and the body as sent.
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(hdr, "\r\n") {
		if !strings.Contains(m.Data, line+"\r\n") {
			t.Errorf("delivered message lacks header line %q:\n%s", line, m.Data)
		}
	}
	if !strings.HasSuffix(m.Data, "\r\n\r\n"+body) {
		t.Errorf("delivered body differs:\n%q\nwant suffix\n%q", m.Data, body)
	}
	if m.From != from || len(m.Rcpts) != 1 || m.Rcpts[0] != "bob@example.org" {
		t.Errorf("envelope %q %q", m.From, m.Rcpts)
	}
	mustHeader(t, m, "X-Spam-Status", "No, score=")
}

// A client that does not retry (a bot) never gets its message in.
func TestE2EPostfixGreylistNoRetry(t *testing.T) {
	p := e2eGrey(t)
	tok := newToken("grey-bot")
	from := tok + "@example.com"
	c := p.client(t, "grey", "ADDR=198.51.100.66 NAME=[UNAVAILABLE]", "bot")
	code, text := c.send(from, []string{"bob@example.org"}, testMessage(tok, from, "", "", ""))
	if code != 451 || !strings.Contains(text, "4.7.1 Greylisted") {
		t.Fatalf("RCPT: %d %s, want 451 4.7.1 Greylisted", code, text)
	}
	c.quit()
	waitFor(t, "Postfix's log of the refused recipient", 10*time.Second, func() bool {
		return strings.Contains(p.maillogTail(200), "NOQUEUE: milter-reject: RCPT from unknown[198.51.100.66]: 451 4.7.1 Greylisted")
	})
	time.Sleep(2 * time.Second) // past the delay: nothing arrives by itself
	if len(p.sink.find(tok)) != 0 {
		t.Fatal("a message that was never retried got in")
	}
	for _, e := range p.queue(t) {
		if e.Sender == from {
			t.Fatalf("queued at the greylisting MX: %+v", e)
		}
	}
}

// An authenticated user (XCLIENT LOGIN: Postfix's {auth_authen}) past its
// limit of 2 messages gets 451 4.7.1 at RCPT, and levee's log names it.
func TestE2EPostfixRateLimitAuthenticated(t *testing.T) {
	p := e2eGrey(t)
	c := p.client(t, "grey", "ADDR=203.0.113.44 NAME=laptop.example.net LOGIN=mallory", "laptop")
	for i := 1; i <= 3; i++ {
		tok := newToken("rate")
		code, text := c.send("mallory@example.net", []string{fmt.Sprintf("victim%d@example.org", i)}, testMessage(tok, "mallory@example.net", "", "", ""))
		switch {
		case i <= 2 && code != 250:
			t.Fatalf("message %d: %d %s, want 250 (authenticated: not greylisted, under the limit)", i, code, text)
		case i == 3 && (code != 451 || !strings.Contains(text, "4.7.1 Sending rate limit exceeded")):
			t.Fatalf("message 3: %d %s, want 451 4.7.1 rate limit", code, text)
		}
		if i <= 2 {
			p.sink.waitMsg(t, tok, 30*time.Second)
		}
	}
	c.quit()
	greyProc.waitLog("account=mallory", 10*time.Second)
}
