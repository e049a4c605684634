package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expired records go at the sweep, and only those.
func TestBoltSweep(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// 25000 pending triplets (more than one sweep chunk), one passed, counters
	for i := 0; i < 25000; i += 1000 {
		b := &Batch{Now: t0, Policy: policy}
		for j := i; j < i+1000; j++ {
			b.Grey = append(b.Grey, GreyOp{Triplet: fmt.Sprintf("192.0.2.0/24 s%d@example.com r@example.org", j), Network: "192.0.2.0/24"})
		}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	grey(t, s, t0, "keep", "keepnet")
	grey(t, s, t0.Add(10*time.Minute), "keep", "keepnet") // passed: kept for ttl
	count(t, s, t0, CountOp{Key: "c", Add: 1, Limit: 10, Window: time.Hour})
	st, _ := s.Stats()
	if st.Triplets != 25001 || st.Networks != 1 || st.Counters != 1 {
		t.Fatalf("before: %+v", st)
	}
	if n, err := s.Sweep(t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("early sweep deleted %d (%v)", n, err)
	}
	n, err := s.Sweep(t0.Add(49 * time.Hour)) // pending triplets and the counter expired
	if err != nil || n != 25001 {
		t.Fatalf("sweep deleted %d (%v), want 25001", n, err)
	}
	st, _ = s.Stats()
	if st.Triplets != 1 || st.Networks != 1 || st.Counters != 0 {
		t.Fatalf("after: %+v", st)
	}
	if o := grey(t, s, t0.Add(49*time.Hour), "keep", "keepnet").Outcome; o != GreyKnown {
		t.Fatalf("the passed triplet: %v", o)
	}
	if n, _ := s.Sweep(t0.Add(200 * 24 * time.Hour)); n != 2 {
		t.Fatalf("final sweep deleted %d, want 2", n)
	}
}

// The background sweeper uses the injected clock.
func TestBoltSweeper(t *testing.T) {
	now := t0.Add(100 * time.Hour)
	s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{SweepInterval: 10 * time.Millisecond, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	grey(t, s, t0, "old", "oldnet")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := s.Stats()
		if st.Triplets == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete the expired triplet")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBoltCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := OpenBolt(good, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := &Batch{Now: t0, Policy: policy}
	for i := 0; i < 2000; i++ {
		b.Grey = append(b.Grey, GreyOp{Triplet: fmt.Sprintf("t%d", i), Network: "n"})
	}
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, _ := os.ReadFile(good)
	cases := map[string][]byte{
		"garbage":        bytes.Repeat([]byte("levee!"), 4096),
		"empty":          {},
		"truncated":      data[:100],
		"meta pages bad": append(bytes.Repeat([]byte{0xff}, 8192), data[8192:]...),
		"data pages bad": append(append([]byte(nil), data[:16384]...), bytes.Repeat([]byte{0x5a}, len(data)-16384)...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".db")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenBolt(p, BoltOptions{})
			if name == "empty" {
				// bbolt initialises an empty file: that is a fresh store
				if err != nil {
					t.Fatalf("empty file: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("a corrupt file opened without error")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not say the file %s is corrupt", err, p)
			}
		})
	}
}

// helperHoldLock: run as a subprocess by TestBoltLocked, it opens the file
// and holds it until its stdin closes.
func TestHelperHoldLock(t *testing.T) {
	p := os.Getenv("LEVEE_STATE_HOLD")
	if p == "" {
		t.Skip("helper process")
	}
	s, err := OpenBolt(p, BoltOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	b := make([]byte, 1)
	os.Stdin.Read(b)
	s.Close()
	os.Exit(0)
}

// A second process holding the file: a clear error after the lock
// timeout, not a hang and not a panic.
func TestBoltLocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "LEVEE_STATE_HOLD="+p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "holding") {
				ready <- ""
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- all.String()
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			t.Fatalf("helper did not open the file: %s", msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not open the file in 20s")
	}
	start := time.Now()
	_, err := OpenBolt(p, BoltOptions{LockTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), ControlSocket(p)) {
		t.Fatalf("got %v, want ErrLocked naming %s and the control socket", err, p)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %v for the lock", d)
	}
	stdin.Close()
	cmd.Wait()
	s, err := OpenBolt(p, BoltOptions{})
	if err != nil {
		t.Fatalf("after the other process closed: %v", err)
	}
	s.Close()
}

// The default path in a directory that cannot be made is ErrNoDefaultDir
// (levee then runs without state); an explicit bad path is another error.
func TestOpenDefaultPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", filepath.Join(dir, "state"))
	c := Config{}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := Open(context.Background(), c, OpenOptions{NoSweep: true})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if _, err := os.Stat(filepath.Join(dir, "state", "state.db")); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	t.Setenv("STATE_DIRECTORY", filepath.Join(blocker, "sub"))
	if _, err := Open(context.Background(), c, OpenOptions{}); !IsUnavailableDefault(err) {
		t.Fatalf("default dir under a file: %v, want ErrNoDefaultDir", err)
	}
	c.Path = filepath.Join(blocker, "sub", "state.db")
	if _, err := Open(context.Background(), c, OpenOptions{}); err == nil || IsUnavailableDefault(err) {
		t.Fatalf("explicit bad path: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: "mysql"}, "state.type"},
		{Config{OnError: "reject"}, "state.on_error"},
		{Config{Path: "state.db"}, "state.path"},
		{Config{Type: "redis"}, "state.redis.address"},
		{Config{Timeout: -1}, "state.timeout"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	var c Config
	if err := c.Validate(); err != nil || c.Type != "bolt" || c.OnError != "accept" || c.Timeout != DefaultTimeout || c.Redis.Prefix != "levee:" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

// A store that fails is logged once, counted each time, and logged once
// more when it is back.
func TestGuardedRedisDown(t *testing.T) {
	r := startRedis(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := OpenRedis(context.Background(), RedisOptions{Addr: r.Addr, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g, err := Guard(s, 300*time.Millisecond, "accept", log, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	apply := func() error {
		return g.Apply(context.Background(), &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: "x", Network: "y"}}})
	}
	if err := apply(); err != nil {
		t.Fatal(err)
	}
	if up := gauge(t, reg, "levee_state_up", "redis"); up != 1 {
		t.Fatalf("levee_state_up = %v while Redis answers", up)
	}
	r.stop()
	for i := 0; i < 5; i++ {
		if err := apply(); err == nil {
			t.Fatal("no error with redis stopped")
		}
	}
	if !g.Down() || strings.Count(logs.String(), "state store not answering") != 1 {
		t.Fatalf("logged %d times, want once:\n%s", strings.Count(logs.String(), "state store not answering"), logs.String())
	}
	// a refused connection is an error, not a timeout, counted each time
	if got := counter(t, reg, "levee_state_calls_total", "redis", "error"); got != 5 {
		t.Fatalf("levee_state_calls_total{result=error} = %v, want 5", got)
	}
	if got := counter(t, reg, "levee_state_calls_total", "redis", "timeout"); got != 0 {
		t.Fatalf("levee_state_calls_total{result=timeout} = %v, want 0", got)
	}
	if up := gauge(t, reg, "levee_state_up", "redis"); up != 0 {
		t.Fatalf("levee_state_up = %v with Redis stopped", up)
	}
	if err := r.start(mustLook(t, "redis-server")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for apply() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g.Down() || strings.Count(logs.String(), "state store answering again") != 1 {
		t.Fatalf("recovery not logged once:\n%s", logs.String())
	}
	if up := gauge(t, reg, "levee_state_up", "redis"); up != 1 {
		t.Fatalf("levee_state_up = %v after recovery", up)
	}
	if got := counter(t, reg, "levee_state_calls_total", "redis", "ok"); got < 2 {
		t.Fatalf("levee_state_calls_total{result=ok} = %v, want >= 2", got)
	}
	if n := histCount(t, reg, "levee_state_call_duration_seconds", "redis"); n < 7 {
		t.Fatalf("levee_state_call_duration_seconds count = %d, want >= 7 (every call timed)", n)
	}
}

func mustLook(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Redis down at start is no error: the store starts down (on_error) and
// comes up when Redis answers. The password comes from a file.
func TestOpenRedisDownAndPassword(t *testing.T) {
	r := startRedis(t)
	c := redisClient(r.Addr)
	if err := c.ConfigSet(context.Background(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cfg := Config{Type: "redis", Redis: RedisConfig{Address: r.Addr, PasswordFile: pw}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Down() || g.Apply(context.Background(), &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: "a", Network: "b"}}}) != nil {
		t.Fatal("the password from the file did not work")
	}
	g.Close()

	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	g, err = Open(context.Background(), cfg, OpenOptions{})
	if err != nil || !g.Down() {
		t.Fatalf("wrong password: %v, down %v (want a store that is down)", err, g.Down())
	}
	g.Close()

	port, _ := freePort()
	cfg.Redis.Address = fmt.Sprintf("127.0.0.1:%d", port)
	g, err = Open(context.Background(), cfg, OpenOptions{})
	if err != nil || !g.Down() {
		t.Fatalf("nothing listening: %v, down %v", err, g.Down())
	}
	if err := g.Apply(context.Background(), &Batch{Now: t0}); err == nil {
		t.Fatal("Apply succeeded with Redis down")
	}
	g.Close()
}
