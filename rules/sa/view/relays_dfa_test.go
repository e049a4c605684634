package view_test

import (
	"context"
	"os"
	"testing"

	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa/view"
)

// TestRelaysDFAExact: the Received fields of a quarter of the dev corpus
// (every fourth message; LEVEE_RELAYS_ALL=1 takes all) parse to the same
// relays with and without the DFA test of their patterns.
func TestRelaysDFAExact(t *testing.T) {
	corpus := evaltest.Corpus(t)
	specs := []string{"X-Spam-Relays-Untrusted", "X-Spam-Relays-Trusted", "X-Spam-Relays-Internal", "X-Spam-Relays-External", "X-Spam-Relays-Untrusted:addr"}
	n := 0
	defer view.SetRelaysDFA(true)
	err := eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		if every := 4; os.Getenv("LEVEE_RELAYS_ALL") != "1" && n%every != 0 {
			n++
			return nil
		}
		n++
		fields, body := splitFields(it.Data)
		var want, got []string
		for _, on := range []bool{false, true} {
			view.SetRelaysDFA(on)
			m := view.New(fields, body, view.Options{})
			for _, s := range specs {
				v, _ := m.Get(s)
				if on {
					got = append(got, v)
				} else {
					want = append(want, v)
				}
			}
		}
		for i := range specs {
			if got[i] != want[i] {
				t.Errorf("%s: %s with the DFA %q, without %q", it.Name, specs[i], got[i], want[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
