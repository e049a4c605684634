package eval

import (
	"context"
	"errors"
	"testing"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval/evaltest"
)

// TestDevCorpusWalk streams the dev archive: envelope.jsonl comes first
// and gives the total of the corpus README, and the first messages (ham
// of two list archives) have their envelope lines. It stops early: a full
// pass takes seconds under -race.
func TestDevCorpusWalk(t *testing.T) {
	p := evaltest.Corpus(t)
	total, seen := 0, 0
	n := map[string]int{}
	err := Walk(context.Background(), Corpus{Dir: p}, func(x int) { total = x }, func(it Item) error {
		if !it.HasEnv || it.Env.Helo == "" || !it.Env.ClientIP.IsValid() {
			t.Errorf("%s: no envelope line", it.Name)
		}
		n[it.Source+"/"+it.Class.String()]++
		if seen++; seen == 400 {
			return errEnough
		}
		return nil
	})
	if err != errEnough {
		t.Fatal(err)
	}
	if total != 8536 {
		t.Errorf("total %d, want 8536", total)
	}
	if n["lfdr-mailing-lists/ham"] != 400 {
		t.Errorf("first 400 messages: %v, want all lfdr-mailing-lists ham", n)
	}
}

var errEnough = errors.New("enough")

// loadItems reads every step-th message of the dev corpus into memory, n
// at most: step 1 gives the first n (all lfdr ham); a larger step spreads
// the sample over every source.
func loadItems(tb testing.TB, n, step int) []Item {
	var items []Item
	i := 0
	err := Walk(context.Background(), Corpus{Dir: evaltest.Corpus(tb)}, nil, func(it Item) error {
		if i%step == 0 {
			items = append(items, it)
		}
		i++
		if len(items) == n {
			return errEnough
		}
		return nil
	})
	if err != nil && err != errEnough {
		tb.Fatal(err)
	}
	return items
}

// BenchmarkJudgeCorpus is the per-message cost of judging real mail, as the
// filter does it: ReadMessage, then Judge (default thresholds, built-in
// checks at their default scores, no DNS). One op is one message; 300
// messages are cycled: every 28th of the dev corpus, so all four sources
// (ham and spam) are in the sample.
func BenchmarkJudgeCorpus(b *testing.B) {
	items := loadItems(b, 300, 28)
	e, err := rules.NewEngine(rules.Config{Thresholds: rules.Thresholds{AddHeader: rules.At(5), Reject: rules.At(15)}}, rules.Options{NoDNS: true})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, it := range items {
		size += int64(len(it.Data))
	}
	b.SetBytes(size / int64(len(items)))
	b.ReportAllocs()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s := judge(ctx, e, items[i%len(items)])
		if s.Err != "" {
			b.Fatal(s.Err)
		}
		i++
	}
}
