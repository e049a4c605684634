package state

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The same table tests run against both stores: the bbolt file and a real
// redis-server (Debian's, started on a loopback port, no persistence).
// Time is injected through Batch.Now: no test sleeps.

var policy = GreyPolicy{Delay: 5 * time.Minute, Window: 48 * time.Hour, TTL: 35 * 24 * time.Hour, AutoAllow: 5}

// t0 is near the real time (Redis's own TTLs then match the values'
// expiry) and on an hour boundary (counter windows start there).
var t0 = time.Now().Truncate(time.Hour)

func inCI() bool { v := os.Getenv("CI"); return v != "" && v != "0" && v != "false" }

// redisServer is a private redis-server on a loopback port.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	port int
}

var (
	sharedRedisOnce sync.Once
	sharedRedis     *redisServer
	sharedRedisErr  error
)

// startRedis runs redis-server on a free loopback port with a private
// directory and no persistence; it is stopped at the end of the test.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if inCI() {
			t.Fatal("redis-server is not installed (.ci/test.sh installs it)")
		}
		t.Skip("redis-server is not installed")
	}
	r := &redisServer{dir: t.TempDir()}
	if err := r.start(bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	return r
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (r *redisServer) start(bin string) error {
	if r.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		r.port = p
		r.Addr = "127.0.0.1:" + strconv.Itoa(p)
	}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("redis-server on %s did not answer", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// testRedis is one redis-server for the package's tests; each test uses
// its own key prefix.
func testRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if inCI() {
			t.Fatal("redis-server is not installed (.ci/test.sh installs it)")
		}
		t.Skip("redis-server is not installed")
	}
	sharedRedisOnce.Do(func() {
		dir, err := os.MkdirTemp("", "levee-state-redis-")
		if err != nil {
			sharedRedisErr = err
			return
		}
		sharedRedis = &redisServer{dir: dir}
		bin, _ := exec.LookPath("redis-server")
		sharedRedisErr = sharedRedis.start(bin)
	})
	if sharedRedisErr != nil {
		t.Fatal(sharedRedisErr)
	}
	return sharedRedis
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRedis != nil {
		sharedRedis.stop()
		os.RemoveAll(sharedRedis.dir)
	}
	os.Exit(code)
}

var prefixSeq struct {
	sync.Mutex
	n int
}

// stores runs f against a fresh bbolt file and a fresh Redis key space.
func stores(t *testing.T, f func(t *testing.T, s Store)) {
	t.Run("bolt", func(t *testing.T) {
		s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f(t, s)
	})
	t.Run("redis", func(t *testing.T) {
		r := testRedis(t)
		prefixSeq.Lock()
		prefixSeq.n++
		prefix := fmt.Sprintf("test%d-%s:", prefixSeq.n, t.Name())
		prefixSeq.Unlock()
		s, err := OpenRedis(context.Background(), RedisOptions{Addr: r.Addr, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f(t, s)
	})
}

func grey(t *testing.T, s Store, now time.Time, triplet, network string) GreyOp {
	t.Helper()
	b := &Batch{Now: now, Policy: policy, Grey: []GreyOp{{Triplet: triplet, Network: network}}}
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b.Grey[0]
}

func TestGreylistTimes(t *testing.T) {
	const tr, nw = "192.0.2.0/24 a@example.com b@example.org", "192.0.2.0/24"
	type step struct {
		at    time.Duration // after t0
		want  GreyOutcome
		first time.Duration // expected first seen, after t0
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"retry after the delay passes, then known", []step{
			{0, GreyNew, 0}, {time.Minute, GreyEarly, 0}, {5*time.Minute - time.Millisecond, GreyEarly, 0},
			{5 * time.Minute, GreyPassed, 0}, {24 * time.Hour, GreyKnown, 0}}},
		{"a retry after the window starts over", []step{
			{0, GreyNew, 0}, {48*time.Hour + time.Millisecond, GreyNew, 48*time.Hour + time.Millisecond},
			{48*time.Hour + 6*time.Minute, GreyPassed, 48*time.Hour + time.Millisecond}}},
		{"a retry at the end of the window still passes", []step{
			{0, GreyNew, 0}, {48*time.Hour - time.Millisecond, GreyPassed, 0}}},
		{"a passed triplet is forgotten after ttl", []step{
			{0, GreyNew, 0}, {5 * time.Minute, GreyPassed, 0},
			{5*time.Minute + 35*24*time.Hour, GreyNew, 5*time.Minute + 35*24*time.Hour}}},
		{"use renews the ttl", []step{
			{0, GreyNew, 0}, {5 * time.Minute, GreyPassed, 0}, {30 * 24 * time.Hour, GreyKnown, 0},
			{60 * 24 * time.Hour, GreyKnown, 0}, {94 * 24 * time.Hour, GreyKnown, 0}}},
		{"early retries do not move the first attempt", []step{
			{0, GreyNew, 0}, {4 * time.Minute, GreyEarly, 0}, {5 * time.Minute, GreyPassed, 0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stores(t, func(t *testing.T, s Store) {
				for i, st := range c.steps {
					op := grey(t, s, t0.Add(st.at), tr, nw)
					if op.Outcome != st.want || !op.FirstSeen.Equal(t0.Add(st.first)) {
						t.Fatalf("step %d (t0+%v): %v first t0+%v, want %v first t0+%v", i, st.at, op.Outcome,
							op.FirstSeen.Sub(t0), st.want, st.first)
					}
				}
			})
		})
	}
}

func TestAutoAllow(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		const nw = "198.51.100.0/24"
		for i := 0; i < policy.AutoAllow; i++ {
			tr := fmt.Sprintf("%s s%d@example.com r@example.org", nw, i)
			if o := grey(t, s, t0, tr, nw).Outcome; o != GreyNew {
				t.Fatalf("triplet %d: %v", i, o)
			}
			if o := grey(t, s, t0.Add(10*time.Minute), tr, nw).Outcome; o != GreyPassed {
				t.Fatalf("triplet %d retry: %v", i, o)
			}
		}
		if o := grey(t, s, t0.Add(time.Hour), nw+" new@example.com r@example.org", nw).Outcome; o != GreyAllowed {
			t.Fatalf("after %d passes: %v, want auto_allowed", policy.AutoAllow, o)
		}
		// another network is not allowed
		if o := grey(t, s, t0.Add(time.Hour), "203.0.113.0/24 new@example.com r@example.org", "203.0.113.0/24").Outcome; o != GreyNew {
			t.Fatalf("other network: %v", o)
		}
		// the count expires with ttl
		if o := grey(t, s, t0.Add(time.Hour+36*24*time.Hour), nw+" x@example.com r@example.org", nw).Outcome; o != GreyNew {
			t.Fatalf("after ttl: %v", o)
		}
		// one pass short of auto_allow is not enough
		var n int
		err := s.List(context.Background(), t0.Add(time.Hour), KindNetwork, nw, func(e Entry) error { n++; return nil })
		if err != nil || n != 1 {
			t.Fatalf("list: %d %v", n, err)
		}
	})
}

func TestAllowAndDrop(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		const nw = "2001:db8:1::/64"
		tr := nw + " a@example.com b@example.org"
		if o := grey(t, s, t0, tr, nw).Outcome; o != GreyNew {
			t.Fatal(o)
		}
		if err := s.AllowNetwork(ctx, t0, nw, policy.TTL); err != nil {
			t.Fatal(err)
		}
		if o := grey(t, s, t0.Add(time.Second), nw+" c@example.com d@example.org", nw).Outcome; o != GreyAllowed {
			t.Fatalf("allowed network: %v", o)
		}
		var got []Entry
		if err := s.List(ctx, t0.Add(time.Second), "", nw, func(e Entry) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Kind != KindTriplet || got[0].State != "pending" || got[1].State != "allowed" {
			t.Fatalf("list: %+v", got)
		}
		n, err := s.Delete(ctx, KindTriplet, nw+" ", true)
		if err != nil || n != 1 {
			t.Fatalf("drop triplets: %d %v", n, err)
		}
		if n, err := s.Delete(ctx, KindNetwork, nw, false); err != nil || n != 1 {
			t.Fatalf("drop network: %d %v", n, err)
		}
		if o := grey(t, s, t0.Add(2*time.Second), tr, nw).Outcome; o != GreyNew {
			t.Fatalf("after drop: %v", o)
		}
		if err := s.PassTriplet(ctx, t0.Add(3*time.Second), tr, policy.TTL); err != nil {
			t.Fatal(err)
		}
		if o := grey(t, s, t0.Add(4*time.Second), tr, nw).Outcome; o != GreyKnown {
			t.Fatalf("after pass: %v", o)
		}
	})
}

func count(t *testing.T, s Store, now time.Time, ops ...CountOp) []CountOp {
	t.Helper()
	b := &Batch{Now: now, Policy: policy, Counts: ops}
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b.Counts
}

func TestCounters(t *testing.T) {
	fixed := CountOp{Key: "user:alice:msgs", Add: 1, Limit: 3, Window: time.Hour}
	sliding := CountOp{Key: "user:bob:msgs", Add: 1, Limit: 10, Window: time.Hour, Sliding: true}
	stores(t, func(t *testing.T, s Store) {
		for i := 0; i < 3; i++ {
			if c := count(t, s, t0.Add(time.Duration(i)*time.Minute), fixed)[0]; c.Over || c.Count != float64(i) {
				t.Fatalf("fixed %d: %+v", i, c)
			}
		}
		if c := count(t, s, t0.Add(59*time.Minute), fixed)[0]; !c.Over || c.Count != 3 {
			t.Fatalf("fixed over: %+v", c)
		}
		if c := count(t, s, t0.Add(60*time.Minute), fixed)[0]; c.Over || c.Count != 0 {
			t.Fatalf("fixed, next window: %+v", c)
		}
		// sliding: 10 late in the first hour...
		for i := 0; i < 10; i++ {
			if c := count(t, s, t0.Add(50*time.Minute), sliding)[0]; c.Over {
				t.Fatalf("sliding %d: %+v", i, c)
			}
		}
		if c := count(t, s, t0.Add(59*time.Minute), sliding)[0]; !c.Over {
			t.Fatalf("sliding over: %+v", c)
		}
		// ...half an hour into the next, half of them still count
		if c := count(t, s, t0.Add(90*time.Minute), sliding)[0]; c.Over || c.Count != 5 {
			t.Fatalf("sliding at 1h30: %+v", c)
		}
		add := sliding
		add.Add = 5
		if c := count(t, s, t0.Add(90*time.Minute), add)[0]; !c.Over || c.Count != 6 {
			t.Fatalf("sliding +5 at 1h30: %+v", c)
		}
		// two hours on, the first hour is gone
		if c := count(t, s, t0.Add(180*time.Minute), sliding)[0]; c.Over || c.Count != 0 {
			t.Fatalf("sliding at 3h: %+v", c)
		}
	})
}

// A refused greylist record costs no quota, and a counter over its limit
// stops every counter of the batch.
func TestBatchRules(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		msgs := CountOp{Key: "net:192.0.2.0/24:msgs", Add: 1, Limit: 100, Window: time.Hour}
		rcpts := CountOp{Key: "net:192.0.2.0/24:rcpts", Add: 1, Limit: 1, Window: time.Hour}
		b := &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: "t1", Network: "n1"}}, Counts: []CountOp{msgs, rcpts}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if !b.Refused() || b.Over() {
			t.Fatalf("new triplet: refused %v over %v", b.Refused(), b.Over())
		}
		b = &Batch{Now: t0.Add(time.Minute), Counts: []CountOp{msgs, rcpts}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.Counts[0].Count != 0 || b.Counts[1].Count != 0 || b.Over() {
			t.Fatalf("the refused attempt was counted: %+v", b.Counts)
		}
		b = &Batch{Now: t0.Add(2 * time.Minute), Counts: []CountOp{msgs, rcpts}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if !b.Over() || !b.Counts[1].Over || b.Counts[0].Over || b.Counts[0].Count != 1 {
			t.Fatalf("second recipient: %+v", b.Counts)
		}
		b = &Batch{Now: t0.Add(3 * time.Minute), Counts: []CountOp{msgs}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.Counts[0].Count != 1 {
			t.Fatalf("a batch over its limit incremented another counter: %+v", b.Counts)
		}
		// several greylist records in one batch (end of message)
		b = &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: "m1", Network: "n2"}, {Triplet: "m2", Network: "n2"}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Now = t0.Add(6 * time.Minute)
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.Grey[0].Outcome != GreyPassed || b.Grey[1].Outcome != GreyPassed {
			t.Fatalf("%+v", b.Grey)
		}
		var c int64
		s.List(ctx, t0.Add(6*time.Minute), KindNetwork, "n2", func(e Entry) error { c = e.Count; return nil })
		if c != 2 {
			t.Fatalf("network count %d after two passes in one batch", c)
		}
	})
}

// Concurrent decisions on one triplet: exactly one first attempt.
func TestConcurrentNew(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[GreyOutcome]int{}
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: "race", Network: "race-net"}}}
				if err := s.Apply(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[b.Grey[0].Outcome]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if got[GreyNew] != 1 || got[GreyEarly] != 15 {
			t.Fatalf("%v", got)
		}
	})
}

func redisClient(addr string) *redis.Client { return redis.NewClient(&redis.Options{Addr: addr}) }
