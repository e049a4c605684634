package ratelimit_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/levee-mail/levee/rules/ratelimit"
	"github.com/levee-mail/levee/rules/state"
)

// An authenticated user allowed 3 recipients an hour: the fourth gets 451.
func Example() {
	dir, _ := os.MkdirTemp("", "ratelimit-example-")
	defer os.RemoveAll(dir)
	store, err := state.OpenBolt(filepath.Join(dir, "state.db"), state.BoltOptions{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	cfg := ratelimit.Config{User: ratelimit.Limit{Recipients: 3, Window: state.Duration(time.Hour)}}
	cfg.Validate()
	subj, lim, _ := cfg.SubjectOf("alice", netip.MustParseAddr("192.0.2.1"), false)
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 4; i++ {
		b := &state.Batch{Now: t0.Add(time.Duration(i) * time.Minute), Counts: cfg.Ops(subj, lim, i == 0)}
		if err := store.Apply(context.Background(), b); err != nil {
			panic(err)
		}
		reply := "250"
		if b.Over() {
			reply = cfg.Reply()
		}
		fmt.Printf("recipient %d (%s %s had %v): %s\n", i+1, subj.Kind, subj.Name, b.Counts[0].Count, reply)
	}
	// Output:
	// recipient 1 (user alice had 0): 250
	// recipient 2 (user alice had 1): 250
	// recipient 3 (user alice had 2): 250
	// recipient 4 (user alice had 3): 451 4.7.1 Sending rate limit exceeded, please try again later
}
