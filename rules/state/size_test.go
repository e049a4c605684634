package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStoreSize measures the size of both stores after a million distinct
// triplets and shows that expiry bounds it (the README's figures). It runs
// only with LEVEE_STATE_SIZE=1 (a minute or two):
//
//	LEVEE_STATE_SIZE=1 go test -run TestStoreSize -v -timeout 30m ./rules/state/
func TestStoreSize(t *testing.T) {
	if os.Getenv("LEVEE_STATE_SIZE") == "" {
		t.Skip("set LEVEE_STATE_SIZE=1 to measure")
	}
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("LEVEE_STATE_SIZE")); err == nil && v > 1 {
		n = v
	}
	ops := func(round, from int) []GreyOp {
		out := make([]GreyOp, 0, 1000)
		for i := from; i < from+1000 && i < n; i++ {
			net := fmt.Sprintf("%d.%d.%d.0/24", 10+round, (i>>8)&255, i&255)
			out = append(out, GreyOp{Triplet: fmt.Sprintf("%s user%d@sender%d.example.com rcpt%d@example.org", net, i, i%5000, i%100), Network: net})
		}
		return out
	}
	fill := func(s Store, now time.Time, round int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i += 1000 {
			if err := s.Apply(context.Background(), &Batch{Now: now, Policy: sizePolicy, Grey: ops(round, i)}); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	t.Run("bolt", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "state.db")
		s, err := OpenBolt(p, BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		now := time.Now()
		took := fill(s, now, 0)
		st, _ := s.Stats()
		t.Logf("bolt: %d triplets written in %v: file %.1f MiB (%d triplets, %d networks)", n, took.Round(time.Millisecond), mib(st.FileBytes), st.Triplets, st.Networks)
		for round := 1; round <= 2; round++ {
			now = now.Add(sizePolicy.Window + time.Minute) // all pending ones expired
			start := time.Now()
			del, err := s.Sweep(now)
			if err != nil {
				t.Fatal(err)
			}
			st, _ = s.Stats()
			t.Logf("bolt: sweep after the window deleted %d in %v: file %.1f MiB, %d triplets left", del, time.Since(start).Round(time.Millisecond), mib(st.FileBytes), st.Triplets)
			fill(s, now, round)
			st, _ = s.Stats()
			t.Logf("bolt: another %d distinct triplets: file %.1f MiB (%d triplets): the freed pages were reused", n, mib(st.FileBytes), st.Triplets)
		}
		s.Close()
		start := time.Now()
		s2, err := OpenBolt(p, BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bolt: open with the consistency check of the whole file: %v", time.Since(start).Round(time.Millisecond))
		s2.Close()
	})
	t.Run("redis", func(t *testing.T) {
		r := startRedis(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		defer c.Close()
		used := func() float64 {
			s, _ := c.Info(context.Background(), "memory").Result()
			for _, l := range strings.Split(s, "\r\n") {
				if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
					b, _ := strconv.ParseFloat(v, 64)
					return b
				}
			}
			return 0
		}
		s, err := OpenRedis(context.Background(), RedisOptions{Addr: r.Addr, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		base := used()
		// Redis expires keys by its own clock: a short window lets the
		// pending triplets expire during the test.
		pol := sizePolicy
		pol.Window = 90 * time.Second
		start := time.Now()
		for i := 0; i < n; i += 1000 {
			if err := s.Apply(context.Background(), &Batch{Now: time.Now(), Policy: pol, Grey: ops(0, i)}); err != nil {
				t.Fatal(err)
			}
		}
		keys, _ := c.DBSize(context.Background()).Result()
		full := used()
		t.Logf("redis: %d triplets written in %v: used_memory %.1f MiB above the empty server's %.1f MiB (%d keys, %.0f bytes a triplet)",
			n, time.Since(start).Round(time.Millisecond), mib(int64(full-base)), mib(int64(base)), keys, (full-base)/float64(n))
		deadline := time.Now().Add(5 * time.Minute)
		for {
			keys, _ = c.DBSize(context.Background()).Result()
			if keys == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		t.Logf("redis: %v after the window: %d keys, used_memory %.1f MiB", time.Since(start).Round(time.Second), keys, mib(int64(used())))
		if keys != 0 {
			t.Errorf("%d keys left after expiry", keys)
		}
	})
}

var sizePolicy = GreyPolicy{Delay: 5 * time.Minute, Window: 48 * time.Hour, TTL: 35 * 24 * time.Hour, AutoAllow: 5}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
