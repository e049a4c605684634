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
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
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

// startSender starts a second private Postfix instance, a sending MTA
// that relays everything to relayhost ("127.0.0.1:PORT") through its
// queue, and retries deferred mail after a second or two (a real MTA
// waits minutes).
func startSender(t *testing.T, relayhost string) *postfix.Instance {
	t.Helper()
	dir, err := os.MkdirTemp("", "levee-e2e-sender-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := postfix.Start(postfix.Config{
		Dir:       dir,
		Relayhost: relayhost,
		Params: map[string]string{
			"myhostname":           "sender.levee.test",
			"minimal_backoff_time": "1s",
			"maximal_backoff_time": "2s",
			"queue_run_delay":      "1s",
		},
		Services: []postfix.Service{{Name: "smtpd"}},
	})
	if err != nil {
		t.Fatalf("postfix (sender): %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sender Postfix log:\n%s", s.MaillogTail(30))
		}
		if err := s.Stop(); err != nil {
			t.Logf("postfix (sender) stop: %v", err)
		}
	})
	return s
}

// A sending Postfix whose first attempt is greylisted delivers on its own
// retry, 1-2 s later, with the message intact.
func TestE2EPostfixGreylistRetry(t *testing.T) {
	p := e2eGrey(t)
	snd := startSender(t, p.Addr("grey"))
	tok := newToken("grey-retry")
	from := tok + "@example.com"
	body := "Hello Bob,\r\n\r\nthe greylisted minutes.\r\n..a line that starts with a dot\r\nBye\r\n"
	msg := testMessage(tok, from, "", "X-Custom: kept as it was\r\n", body)
	c := dialSMTP(t, snd.Addr("smtpd"))
	c.expect(250, "EHLO client.levee.test")
	if code, text := c.send(from, []string{"bob@example.org"}, msg); code != 250 {
		t.Fatalf("the sender refused the message: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 90*time.Second)

	// The sender met the greylist, deferred, and retried.
	st, err := snd.Statuses()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st {
		if s.Status == "deferred" && !strings.Contains(s.Text, "451 4.7.1 Greylisted") {
			continue
		}
		got = append(got, s.Status)
	}
	if len(got) < 2 || got[0] != "deferred" || got[len(got)-1] != "sent" {
		t.Errorf("the sender's log does not show a greylisted attempt then a delivery: %q\n%s", got, snd.MaillogTail(20))
	}
	glog := greyProc.log.String()
	if !strings.Contains(glog, "outcome=new") || !strings.Contains(glog, "outcome=passed") {
		t.Errorf("levee did not log new then passed:\n%s", tail(glog, 20))
	}
	// The message is intact: every header line and the body as sent.
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(hdr, "\r\n") {
		if !strings.Contains(string(m.Data), line+"\r\n") {
			t.Errorf("delivered message lacks header line %q:\n%s", line, m.Data)
		}
	}
	if !strings.HasSuffix(string(m.Data), "\r\n\r\n"+body) {
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
		return strings.Contains(p.MaillogTail(200), "NOQUEUE: milter-reject: RCPT from unknown[198.51.100.66]: 451 4.7.1 Greylisted")
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
