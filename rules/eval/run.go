package eval

import (
	"bytes"
	"context"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/levee-mail/levee/rules"
)

// Scored is the judgement of one corpus message.
type Scored struct {
	Name   string
	Class  Class
	Source string
	Score  float64
	Hits   []rules.Hit // sorted by name
	// Skipped is set when the engine did not score the message (trusted or
	// authenticated sender).
	Skipped string
	// Err is a read error; the message is then left out of every figure.
	Err string
}

// Result is the judgement of a whole corpus.
type Result struct {
	Corpus   string
	Messages []Scored // sorted by name
	// Tag and Reject are the thresholds the figures are given at (the
	// config's add_header and reject; Reject is 0 when off).
	Tag, Reject float64
	// Rules are the checks the engine ran, with their scores, sorted by name.
	Rules   []rules.Rule
	Elapsed time.Duration
	Workers int
}

// Progress counts judged messages for a progress display; Total is 0
// until known.
type Progress struct {
	Done, Total atomic.Int64
}

// Options tune Run.
type Options struct {
	// Workers judging in parallel; <= 0 means runtime.NumCPU().
	Workers int
	// Progress, when not nil, is updated as messages are judged.
	Progress *Progress
}

// Run judges every message of the corpus with e (as `levee serve` would:
// rules.ReadMessage, then Judge with no DNS session of the filter's) and
// returns the verdicts. Messages that cannot be read are kept with Err set.
func Run(ctx context.Context, e *rules.Engine, c Corpus, opt Options) (*Result, error) {
	start := time.Now()
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	prog := opt.Progress
	if prog == nil {
		prog = new(Progress)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	items := make(chan Item, 2*workers)
	var (
		mu  sync.Mutex
		out []Scored
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				s := judge(ctx, e, it)
				mu.Lock()
				out = append(out, s)
				mu.Unlock()
				prog.Done.Add(1)
			}
		}()
	}
	err := Walk(ctx, c, func(n int) { prog.Total.Store(int64(n)) }, func(it Item) error {
		select {
		case items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(items)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	t := e.Config().Thresholds
	r := &Result{Corpus: c.String(), Messages: out, Tag: e.Required(), Workers: workers}
	if t.Reject.On {
		r.Reject = t.Reject.Value
	}
	r.Rules = append([]rules.Rule(nil), e.Rules()...)
	sort.Slice(r.Rules, func(i, j int) bool { return r.Rules[i].Name < r.Rules[j].Name })
	r.Elapsed = time.Since(start)
	return r, nil
}

// judge reads and judges one message the way the filter does.
func judge(ctx context.Context, e *rules.Engine, it Item) Scored {
	s := Scored{Name: it.Name, Class: it.Class, Source: it.Source}
	m, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, e.ScanLimit())
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if !it.HasEnv {
		rules.FillEnvelope(m)
	}
	jctx, cancel := context.WithTimeout(ctx, e.Config().DNS.Deadline+time.Second)
	v := e.Judge(jctx, m, nil)
	cancel()
	s.Score, s.Hits, s.Skipped = v.Score, v.Hits, v.Skipped
	return s
}
