package greylist_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/levee-mail/levee/rules/greylist"
	"github.com/levee-mail/levee/rules/state"
)

// A first attempt is refused, a retry after the delay passes, and later
// messages of the triplet are known.
func Example() {
	dir, _ := os.MkdirTemp("", "greylist-example-")
	defer os.RemoveAll(dir)
	store, err := state.OpenBolt(filepath.Join(dir, "state.db"), state.BoltOptions{})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	cfg := greylist.Config{Enabled: true}
	cfg.Validate() // defaults: 5m delay, 2d window, 35d ttl
	client := netip.MustParseAddr("192.0.2.25")
	if ok, _ := cfg.Wanted(greylist.Signals{ClientIP: client, Score: 2}); !ok {
		panic("not doubtful")
	}
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, time.Minute, 6 * time.Minute, 24 * time.Hour} {
		b := &state.Batch{Now: t0.Add(at), Policy: cfg.Policy(),
			Grey: []state.GreyOp{cfg.Op(client, "alice@example.com", "bob@example.org")}}
		if err := store.Apply(context.Background(), b); err != nil {
			panic(err)
		}
		reply := "250"
		if b.Refused() {
			reply = cfg.Reply()
		}
		fmt.Printf("+%v %s: %s\n", at, b.Grey[0].Outcome, reply)
	}
	// Output:
	// +0s new: 451 4.7.1 Greylisted, please try again later
	// +1m0s early_retry: 451 4.7.1 Greylisted, please try again later
	// +6m0s passed: 250
	// +24h0m0s known: 250
}
