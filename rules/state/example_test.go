package state_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/levee-mail/levee/rules/state"
)

// One decision: a recipient's greylist record and its sender's counter,
// atomically, in one call.
func ExampleStore() {
	dir, _ := os.MkdirTemp("", "state-example-")
	defer os.RemoveAll(dir)
	s, err := state.OpenBolt(filepath.Join(dir, "state.db"), state.BoltOptions{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	policy := state.GreyPolicy{Delay: 5 * time.Minute, Window: 48 * time.Hour, TTL: 35 * 24 * time.Hour, AutoAllow: 5}
	for _, at := range []time.Duration{0, 10 * time.Minute} {
		b := &state.Batch{Now: t0.Add(at), Policy: policy,
			Grey:   []state.GreyOp{{Triplet: "192.0.2.0/24 a@example.com b@example.org", Network: "192.0.2.0/24"}},
			Counts: []state.CountOp{{Key: "network:192.0.2.0/24:rcpts", Add: 1, Limit: 100, Window: time.Hour}}}
		if err := s.Apply(context.Background(), b); err != nil {
			panic(err)
		}
		fmt.Printf("%s, refused %v, counted before: %v\n", b.Grey[0].Outcome, b.Refused(), b.Counts[0].Count)
	}
	// Output:
	// new, refused true, counted before: 0
	// passed, refused false, counted before: 0
}

func ExampleParseDuration() {
	d, _ := state.ParseDuration("35d")
	fmt.Println(d, state.Duration(d))
	// Output: 840h0m0s 35d
}
