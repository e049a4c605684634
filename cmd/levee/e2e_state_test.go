package main

// End-to-end tests of the state store with the real levee binary: two
// levee instances sharing a real redis-server, Redis stopped and started
// again, the bbolt file across a restart and a kill -9, `levee greylist`
// while the daemon holds the file. They play the MTA with levee's milter
// client (no Postfix, no root); e2e_state_postfix_test.go goes through
// Postfix. The greylist delay is 1s by config: the retries wait for it.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	"github.com/redis/go-redis/v9"

	"github.com/levee-mail/levee/filter/mta"
)

const redisServerBin = "/usr/bin/redis-server"

// redisProc is a private redis-server: loopback, a free port, its own
// directory, no persistence.
type redisProc struct {
	addr string
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisProc {
	t.Helper()
	needTool(t, redisServerBin)
	r := &redisProc{port: freePort(t), dir: t.TempDir()}
	r.addr = "127.0.0.1:" + strconv.Itoa(r.port)
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(redisServerBin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	waitFor(t, "redis-server to answer", 10*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (r *redisProc) stop() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// info reads one field of INFO commandstats (e.g. "cmdstat_evalsha").
func (r *redisProc) calls(t *testing.T, stat string) int {
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	s, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, stat+":calls=") {
			v, _, _ := strings.Cut(strings.TrimPrefix(l, stat+":calls="), ",")
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// stateConfig: every client is greylisted (when: always, no trusted
// networks), with a 1s delay; %s is the state section.
const stateConfig = `listen: inet:%s
skip_trusted: false
trusted_networks: []
dnsbl:
  lists: []
greylist:
  enabled: true
  when: always
  delay: 1s
  window: 10m
  ttl: 1d
log:
  level: debug
%s`

func startStateLevee(t *testing.T, stateYAML string) *leveeProc {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeLeveeConfig(t, dir, fmt.Sprintf(stateConfig, addr, stateYAML))
	p := startLevee(t, leveeBinary(t), cfg, addr)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("levee %s log:\n%s", addr, tail(p.log.String(), 40))
		}
	})
	return p
}

// rcptAt opens a session to levee, plays MAIL and RCPT and returns the
// RCPT answer (the session is aborted).
func rcptAt(t *testing.T, addr, from, rcpt string) *milter.Action {
	t.Helper()
	s := milterSession(t, addr)
	defer s.Close()
	mustContinue(t, "mail")(s.Mail(from, nil))
	a, err := s.Rcpt(rcpt, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
	return a
}

func greylisted(a *milter.Action) bool {
	return a.Code == milter.ActReplyCode && a.SMTPCode == 451 && strings.Contains(a.SMTPText, "4.7.1 Greylisted")
}

func passes(a *milter.Action) bool { return a.Code == milter.ActContinue }

// retryAfterDelay retries until the 1s delay has passed (bounded).
func retryAfterDelay(t *testing.T, addr, from, rcpt string) *milter.Action {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // greylist.delay: 1s
	return rcptAt(t, addr, from, rcpt)
}

// Two levee instances on one Redis see one greylist: the first attempt at
// A, the retry at B passes. Redis stopped: on_error (accept), logged once;
// started again: greylisting is back.
func TestE2EStateRedisShared(t *testing.T) {
	r := startRedisServer(t)
	section := fmt.Sprintf("state:\n  type: redis\n  timeout: 300ms\n  redis:\n    address: %s\n    prefix: \"e2e:\"\n", r.addr)
	a := startStateLevee(t, section)
	b := startStateLevee(t, section)

	if got := rcptAt(t, a.addr, "alice@example.com", "bob@example.org"); !greylisted(got) {
		t.Fatalf("first attempt at A: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	if got := rcptAt(t, b.addr, "alice@example.com", "bob@example.org"); !greylisted(got) {
		t.Fatalf("immediate retry at B: %c %d %s (want early-retry 451)", got.Code, got.SMTPCode, got.SMTPText)
	}
	before := r.calls(t, "cmdstat_evalsha")
	if got := retryAfterDelay(t, b.addr, "alice@example.com", "bob@example.org"); !passes(got) {
		t.Fatalf("retry at B after the delay: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	if n := r.calls(t, "cmdstat_evalsha") - before; n != 1 {
		t.Errorf("one recipient cost %d script calls, want 1", n)
	}
	if got := rcptAt(t, a.addr, "alice@example.com", "bob@example.org"); !passes(got) {
		t.Fatalf("A after B's pass: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}

	// Redis down: on_error accept lets new triplets pass, logged once.
	r.stop()
	for i := 0; i < 3; i++ {
		if got := rcptAt(t, a.addr, fmt.Sprintf("down%d@example.com", i), "bob@example.org"); !passes(got) {
			t.Fatalf("redis down, attempt %d: %c %d %s (on_error: accept)", i, got.Code, got.SMTPCode, got.SMTPText)
		}
	}
	if n := strings.Count(a.log.String(), "state store not answering"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	// Back: greylisting works again.
	r.start(t)
	waitFor(t, "greylisting after redis came back", 15*time.Second, func() bool {
		return greylisted(rcptAt(t, a.addr, "back-"+newToken("r")+"@example.com", "bob@example.org"))
	})
	a.waitLog("state store answering again", 5*time.Second)
}

// The bbolt file keeps the greylist across a restart, survives kill -9 in
// the middle of a load, and a second levee cannot take it.
func TestE2EStateBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	section := "state:\n  path: " + path + "\n"
	p := startStateLevee(t, section)
	if got := rcptAt(t, p.addr, "carol@example.com", "dave@example.org"); !greylisted(got) {
		t.Fatalf("first attempt: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	// A second levee on the same file: a clear error at start.
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte(fmt.Sprintf(stateConfig, fmt.Sprintf("127.0.0.1:%d", freePort(t)), section)), 0o644)
	out, err := runTool(t, 30*time.Second, leveeBinary(t), "serve", "--config", other)
	if err == nil || !strings.Contains(out, "locked by another process") || !strings.Contains(out, path) {
		t.Fatalf("second levee on %s: %v\n%s", path, err, out)
	}

	// Restart: the pending triplet is still known, its retry passes.
	if code := p.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p.start()
	if got := retryAfterDelay(t, p.addr, "carol@example.com", "dave@example.org"); !passes(got) {
		t.Fatalf("retry after a restart: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}

	// SIGHUP keeps the one open store (bbolt's lock would refuse a second
	// open); a changed state section needs a restart, and says so.
	p.signal(syscall.SIGHUP)
	p.waitLog("config reloaded", 10*time.Second)
	if got := rcptAt(t, p.addr, "carol@example.com", "dave@example.org"); !passes(got) {
		t.Fatalf("after a reload: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	cfgBody, _ := os.ReadFile(p.cfgPath)
	os.WriteFile(p.cfgPath, []byte(strings.Replace(string(cfgBody), "state.db", "moved.db", 1)), 0o644)
	p.signal(syscall.SIGHUP)
	p.waitLog("a restart is needed to apply these changes: state", 10*time.Second)
	os.WriteFile(p.cfgPath, cfgBody, 0o644)

	// kill -9 while 4 clients write new triplets as fast as they can.
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if loadAttempt(p.addr, fmt.Sprintf("load%d-%d@example.com", w, i)) == nil {
					sent.Add(1)
				}
			}
		}(w)
	}
	waitFor(t, "200 attempts under load", 60*time.Second, func() bool { return sent.Load() >= 200 })
	p.signal(syscall.SIGKILL)
	<-p.done
	close(stop)
	wg.Wait()
	p.start() // opening runs bbolt's consistency check of the whole file
	if strings.Contains(p.log.String(), "not a valid bbolt database") {
		t.Fatalf("corrupt after kill -9:\n%s", p.log.String())
	}
	if got := rcptAt(t, p.addr, "carol@example.com", "dave@example.org"); !passes(got) {
		t.Fatalf("the passed triplet after kill -9: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	if got := rcptAt(t, p.addr, "load0-0@example.com", "bob@example.org"); !greylisted(got) && !passes(got) {
		t.Fatalf("a load triplet after kill -9: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}

	// `levee greylist` while the daemon holds the file: through its socket.
	cfg := p.cfgPath
	list, err := runTool(t, 30*time.Second, leveeBinary(t), "greylist", "list", "--config", cfg, "203.0.113.0/24 carol")
	if err != nil || !strings.Contains(list, "203.0.113.0/24 carol@example.com dave@example.org") || !strings.Contains(list, "passed") {
		t.Fatalf("greylist list: %v\n%s", err, list)
	}
	if got := rcptAt(t, p.addr, "erin@example.com", "dave@example.org"); !greylisted(got) {
		t.Fatalf("new sender: %c", got.Code)
	}
	if out, err := runTool(t, 30*time.Second, leveeBinary(t), "greylist", "allow", "--config", cfg, "203.0.113.9"); err != nil || !strings.Contains(out, "allowed 203.0.113.0/24") {
		t.Fatalf("greylist allow: %v\n%s", err, out)
	}
	if got := rcptAt(t, p.addr, "erin@example.com", "dave@example.org"); !passes(got) {
		t.Fatalf("after allow: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	if out, err := runTool(t, 30*time.Second, leveeBinary(t), "greylist", "drop", "--config", cfg, "203.0.113.0/24"); err != nil || !strings.Contains(out, "dropped") {
		t.Fatalf("greylist drop: %v\n%s", err, out)
	}
	if got := rcptAt(t, p.addr, "carol@example.com", "dave@example.org"); !greylisted(got) {
		t.Fatalf("after drop the network starts over: %c %d %s", got.Code, got.SMTPCode, got.SMTPText)
	}
	p.waitLog("greylist edited through the control socket", 5*time.Second)
}

// loadAttempt is one greylisted attempt without a testing.T (run from the
// load goroutines, which outlive the process they load).
func loadAttempt(addr, from string) error {
	s, err := mta.Dial("inet:"+addr, 5*time.Second, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Connect(&mta.Client{IP: netip.MustParseAddr("203.0.113.9"), Name: "mail.example.com", Helo: "mail.example.com"}); err != nil {
		return err
	}
	if _, err := s.Mail(from, nil); err != nil {
		return err
	}
	_, err = s.Rcpt("bob@example.org", nil)
	return err
}
