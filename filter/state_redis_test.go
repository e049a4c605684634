package filter

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/levee-mail/levee/rules/state"
)

// redisProc is a private redis-server on a loopback port, no persistence.
type redisProc struct {
	bin, dir, addr string
	port           int
	cmd            *exec.Cmd
}

func startRedisProc(t *testing.T) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed (the test command installs it)")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisProc{bin: bin, dir: t.TempDir(), port: port, addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.start(t)
	t.Cleanup(r.kill)
	return r
}

func (r *redisProc) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", r.addr, 200*time.Millisecond); err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", r.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) kill() {
	if r.cmd != nil {
		r.cmd.Process.Signal(syscall.SIGCONT) // in case it was stopped
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// state.on_error: tempfail on a real Redis, through the milter: while
// redis-server answers, greylisting works (451 4.7.1); stalled (SIGSTOP)
// or stopped, each recipient gets 451 4.3.0, within the store's deadline
// (300ms; accepted up to 2s more, the margin for -race on a loaded
// 2-core machine) for the stalled one; when Redis is back, greylisting
// is back.
func TestStoreDownOnErrorRedis(t *testing.T) {
	r := startRedisProc(t)
	cfg := state.Config{Type: "redis", OnError: "tempfail", Timeout: 300 * time.Millisecond,
		Redis: state.RedisConfig{Address: r.addr, Prefix: "levee-filter-test:"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := state.Open(context.Background(), cfg, state.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	h := startState(t, greyConfig("always"), g, cfg.OnError)
	n := 0
	attempt := func() (*time.Duration, string) { // a new sender each time: a new triplet
		n++
		s := h.session(t)
		defer s.Abort()
		connect(t, s, "192.0.2.99", "unknown", "bot")
		start := time.Now()
		a := rcptAnswer(t, s, "s"+strconv.Itoa(n)+"@example.net", "b@example.org")
		took := time.Since(start)
		return &took, strconv.Itoa(a.SMTPCode) + " " + a.SMTPText
	}
	want := func(what, got, prefix string) {
		t.Helper()
		if !strings.HasPrefix(got, prefix) {
			t.Fatalf("%s: %q, want %q", what, got, prefix)
		}
	}
	const greylisted, tempfail = "451 4.7.1 Greylisted", "451 4.3.0"

	_, got := attempt()
	want("Redis answering", got, greylisted)

	r.signal(t, syscall.SIGSTOP)
	took, got := attempt()
	want("Redis stalled", got, tempfail)
	if timeout := cfg.Timeout; *took > timeout+2*time.Second {
		t.Fatalf("Redis stalled: answered after %v, want the deadline %v (+ at most 2s)", *took, timeout)
	}
	r.signal(t, syscall.SIGCONT)
	waitAnswer(t, attempt, greylisted, "after SIGCONT")

	r.kill()
	_, got = attempt()
	want("Redis stopped", got, tempfail)
	if !g.Down() {
		t.Fatal("the store is not down with Redis stopped")
	}
	r.start(t)
	waitAnswer(t, attempt, greylisted, "after a restart")

	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "error")); got < 2 {
		t.Errorf("levee_greylist_total{stage=rcpt,outcome=error} = %v, want >= 2", got)
	}
}

// waitAnswer retries until an attempt gets the answer (the store comes
// back at its next successful call).
func waitAnswer(t *testing.T, attempt func() (*time.Duration, string), prefix, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := attempt()
		if strings.HasPrefix(got, prefix) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %q, want %q", what, got, prefix)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
