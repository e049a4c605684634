package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A store that stops answering without failing (a bbolt write transaction
// held open, a redis-server stopped with SIGSTOP: the connection stays up,
// nothing comes back) costs each call its deadline, no more: Apply returns
// ErrTimeout, the first one is logged, every one is counted, and calls go
// through again once the store answers.
//
// The deadline is 300ms; an answer within deadline + 2s is accepted (the
// margin covers -race on a loaded 2-core machine), and a call must not end
// before the deadline (the store really was waited for).
func TestGuardedSlowStore(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const margin = 2 * time.Second
	cases := []struct {
		name string
		open func(t *testing.T) (s Store, block, release func())
	}{
		{"bolt", func(t *testing.T) (Store, func(), func()) {
			s, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var held interface{ Rollback() error }
			block := func() {
				tx, err := s.db.Begin(true) // holds bbolt's writer lock
				if err != nil {
					t.Fatal(err)
				}
				held = tx
			}
			return s, block, func() { held.Rollback() }
		}},
		{"redis", func(t *testing.T) (Store, func(), func()) {
			r := startRedis(t)
			s, err := OpenRedis(context.Background(), RedisOptions{Addr: r.Addr, Timeout: time.Second}) // as Config: max(timeout, 1s)
			if err != nil {
				t.Fatal(err)
			}
			pid := r.cmd.Process.Pid
			stopped := false
			t.Cleanup(func() {
				if stopped {
					syscall.Kill(pid, syscall.SIGCONT)
				}
			})
			block := func() {
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				stopped = true
			}
			release := func() {
				if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				stopped = false
			}
			return s, block, release
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, block, release := c.open(t)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
			reg := prometheus.NewRegistry()
			g, err := Guard(s, timeout, "accept", log, reg)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			n := 0
			apply := func() error { // a new triplet each time: bbolt must write
				n++
				tr := fmt.Sprintf("192.0.2.0/24 s%d@example.com r@example.org", n)
				return g.Apply(context.Background(), &Batch{Now: t0, Policy: policy, Grey: []GreyOp{{Triplet: tr, Network: "192.0.2.0/24"}}})
			}
			if err := apply(); err != nil {
				t.Fatal(err)
			}
			up := func() float64 { return gauge(t, reg, "levee_state_up", c.name) }
			if up() != 1 {
				t.Fatal("levee_state_up is not 1 while the store answers")
			}

			block()
			const slow = 3
			for i := 0; i < slow; i++ {
				start := time.Now()
				err := apply()
				took := time.Since(start)
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("call %d with the store blocked: %v, want ErrTimeout", i, err)
				}
				if took < timeout || took > timeout+margin {
					t.Fatalf("call %d returned after %v, want the deadline %v (+ at most %v)", i, took, timeout, margin)
				}
			}
			if !g.Down() || up() != 0 {
				t.Fatalf("down %v, levee_state_up %v with the store blocked", g.Down(), up())
			}
			if got := strings.Count(logs.String(), "state store not answering"); got != 1 ||
				!strings.Contains(logs.String(), "did not answer in time") {
				t.Fatalf("logged %d times (want once, saying it timed out):\n%s", got, logs.String())
			}
			if got := counter(t, reg, "levee_state_calls_total", c.name, "timeout"); got != slow {
				t.Fatalf("levee_state_calls_total{result=timeout} = %v, want %d", got, slow)
			}
			if got := counter(t, reg, "levee_state_calls_total", c.name, "error"); got != 0 {
				t.Fatalf("levee_state_calls_total{result=error} = %v, want 0 (a slow store is a timeout)", got)
			}

			release()
			deadline := time.Now().Add(10 * time.Second)
			for apply() != nil {
				if time.Now().After(deadline) {
					t.Fatal("no recovery after the store answered again")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if g.Down() || up() != 1 || strings.Count(logs.String(), "state store answering again") != 1 {
				t.Fatalf("after recovery: down %v, levee_state_up %v, logs:\n%s", g.Down(), up(), logs.String())
			}
			if got := counter(t, reg, "levee_state_calls_total", c.name, "ok"); got < 2 {
				t.Fatalf("levee_state_calls_total{result=ok} = %v, want >= 2", got)
			}
			if got := histCount(t, reg, "levee_state_call_duration_seconds", c.name); got < slow+2 {
				t.Fatalf("levee_state_call_duration_seconds count = %d, want >= %d (every call timed)", got, slow+2)
			}
		})
	}
}

// syncWriter serializes writes to the log buffer (the test reads it
// while calls may still be logging).
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// metric finds the series of a family whose labels include want.
func metric(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			return m
		}
	}
	t.Fatalf("no series %s%v in the registry", name, want)
	return nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name, store string) float64 {
	t.Helper()
	return metric(t, reg, name, map[string]string{"store": store}).GetGauge().GetValue()
}

func counter(t *testing.T, reg *prometheus.Registry, name, store, result string) float64 {
	t.Helper()
	return metric(t, reg, name, map[string]string{"store": store, "op": "apply", "result": result}).GetCounter().GetValue()
}

func histCount(t *testing.T, reg *prometheus.Registry, name, store string) uint64 {
	t.Helper()
	return metric(t, reg, name, map[string]string{"store": store}).GetHistogram().GetSampleCount()
}
