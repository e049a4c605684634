package rules_test

// Benchmarks of judgement on real messages of the dev corpus:
//
//	go test -run '^$' -bench . -benchmem ./rules
//
// The Received parser and the cached DNSBL path have their own benchmarks
// (rules/received: BenchmarkParse; rules/dnsbl). The milter path end to end
// is in filter/mta/bench (BenchmarkMilter*), the load generator is
// `levee bench`.

import (
	"bytes"
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
)

// benchSampleEvery takes every n-th corpus message (about 430 of 8536,
// ham and spam of every source in corpus proportions).
const benchSampleEvery = 20

type benchSample struct {
	name string
	raw  []byte
	msg  *rules.Message // as read, envelope filled
}

var (
	benchOnce    sync.Once
	benchSamples []benchSample
	benchErr     error
)

// benchCorpus returns a sample of the dev corpus, read (streaming, with
// eval.Walk, as `levee eval` reads it) once.
func benchCorpus(tb testing.TB) []benchSample {
	tb.Helper()
	p := evaltest.Corpus(tb)
	benchOnce.Do(func() { benchSamples, benchErr = readBenchCorpus(p) })
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchSamples
}

func readBenchCorpus(p string) ([]benchSample, error) {
	var out []benchSample
	n := 0
	err := eval.Walk(context.Background(), eval.Corpus{Dir: p}, nil, func(it eval.Item) error {
		if n++; n%benchSampleEvery != 0 {
			return nil
		}
		m, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, 0)
		if err != nil {
			return err
		}
		if !it.HasEnv {
			rules.FillEnvelope(m)
		}
		out = append(out, benchSample{name: it.Name, raw: it.Data, msg: m})
		return nil
	})
	return out, err
}

// benchEngine is the engine of the embedded default config, without DNS.
func benchEngine(tb testing.TB, saRules ...string) *rules.Engine {
	tb.Helper()
	var c struct {
		rules.Config `yaml:",inline"`
	}
	if err := yaml.Unmarshal(configs.Default, &c); err != nil {
		tb.Fatal(err)
	}
	c.SA.Rules = saRules
	e, err := rules.NewEngine(c.Config, rules.Options{NoDNS: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// fresh returns a new Message with the sample's parts, so that derived
// views (index, MIME parts, Received hops, URLs) are computed again, as for
// every message the milter judges.
func (s *benchSample) fresh() *rules.Message {
	m := s.msg
	return rules.NewMessage(m.Env, m.Fields, m.Body, m.BodySize)
}

func benchBytes(ss []benchSample) int64 {
	var n int
	for _, s := range ss {
		n += len(s.raw)
	}
	return int64(n / len(ss))
}

// BenchmarkReadMessage splits real message files into header fields and body.
func BenchmarkReadMessage(b *testing.B) {
	ss := benchCorpus(b)
	b.SetBytes(benchBytes(ss))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := &ss[i%len(ss)]
		if _, err := rules.ReadMessage(bytes.NewReader(s.raw), s.msg.Env, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHeuristics runs every enabled check of the default config on one
// message (with its lazy parsing: header index, MIME, Received, URLs).
func BenchmarkHeuristics(b *testing.B) {
	ss := benchCorpus(b)
	rs := benchEngine(b).Rules()
	b.SetBytes(benchBytes(ss))
	b.ReportAllocs()
	i, hits := 0, 0
	for b.Loop() {
		m := ss[i%len(ss)].fresh()
		for _, r := range rs {
			if r.Test(m) {
				hits++
			}
		}
		i++
	}
	b.ReportMetric(float64(hits)/float64(i), "hits/msg")
}

// BenchmarkHeuristicsEach runs each check alone on every sample message,
// after the shared lazy parsing is done: which check costs what.
func BenchmarkHeuristicsEach(b *testing.B) {
	ss := benchCorpus(b)
	msgs := make([]*rules.Message, len(ss))
	for i := range ss {
		msgs[i] = ss[i].fresh()
		msgs[i].Parts()
		msgs[i].Received()
		msgs[i].URLHosts()
		msgs[i].Has("From")
	}
	for _, r := range benchEngine(b).Rules() {
		b.Run(r.Name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Test(msgs[i%len(msgs)])
				i++
			}
		})
	}
}

// BenchmarkJudge is a whole verdict without DNS: checks, GTUBE, score,
// action and the X-Spam-* headers, from the fields and body the milter
// collected.
func BenchmarkJudge(b *testing.B) {
	ss := benchCorpus(b)
	e := benchEngine(b)
	ctx := context.Background()
	b.SetBytes(benchBytes(ss))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v := e.Judge(ctx, ss[i%len(ss)].fresh(), nil)
		if v.Action == rules.Accept && v.Spam {
			b.Fatal("spam accepted without headers")
		}
		i++
	}
}

// BenchmarkJudgeSA is BenchmarkJudge with Debian's stock SpamAssassin
// rules loaded beside levee's checks (sa_rules: [/usr/share/spamassassin]).
func BenchmarkJudgeSA(b *testing.B) {
	const stock = "/usr/share/spamassassin"
	if _, err := os.Stat(stock); err != nil {
		b.Skip("no SpamAssassin stock rules")
	}
	ss := benchCorpus(b)
	e := benchEngine(b, stock)
	ctx := context.Background()
	b.SetBytes(benchBytes(ss))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Judge(ctx, ss[i%len(ss)].fresh(), nil)
		i++
	}
}

// BenchmarkJudgeSACorpus judges every message of the dev corpus with the
// stock SpamAssassin rules, twice: a first pass from cold DFA caches, as
// a freshly started daemon, then a warm one. It reports the mean and the
// slowest message of each pass (run it with -benchtime 1x; it takes the
// whole corpus whatever b.N).
func BenchmarkJudgeSACorpus(b *testing.B) {
	const stock = "/usr/share/spamassassin"
	if _, err := os.Stat(stock); err != nil {
		b.Skip("no SpamAssassin stock rules")
	}
	// the raw messages (pointer-free: the collector does not walk them),
	// each read just before it is judged, as the milter gets them
	var msgs []eval.Item
	err := eval.Walk(context.Background(), eval.Corpus{Dir: evaltest.Corpus(b)}, nil, func(it eval.Item) error {
		msgs = append(msgs, it)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEngine(b, stock)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for pass, name := range []string{"cold", "warm"} {
			var total, max time.Duration
			slowest := ""
			times := make([]time.Duration, len(msgs))
			for i, it := range msgs {
				m, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, 0)
				if err != nil {
					b.Fatal(it.Name, err)
				}
				if !it.HasEnv {
					rules.FillEnvelope(m)
				}
				t0 := time.Now()
				e.Judge(ctx, m, nil)
				d := time.Since(t0)
				times[i] = d
				total += d
				if d > max {
					max, slowest = d, it.Name
				}
			}
			over := 0
			for _, d := range times {
				if d > 20*time.Millisecond {
					over++
				}
			}
			sorted := slices.Clone(times)
			slices.Sort(sorted)
			b.ReportMetric(float64(sorted[len(sorted)*99/100].Microseconds())/1000, name+"-p99-ms")
			b.ReportMetric(float64(over), name+"-over-20ms")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(len(msgs)), name+"-ms/msg")
			b.ReportMetric(float64(max.Microseconds())/1000, name+"-max-ms")
			b.Logf("pass %d (%s): %d messages, mean %.3f ms, slowest %.2f ms (%s)", pass+1, name, len(msgs),
				float64(total.Microseconds())/1000/float64(len(msgs)), float64(max.Microseconds())/1000, slowest)
		}
	}
}

// BenchmarkMessageViews measures the lazy views alone.
func BenchmarkMessageViews(b *testing.B) {
	ss := benchCorpus(b)
	for _, v := range []struct {
		name string
		fn   func(m *rules.Message)
	}{
		{"Index", func(m *rules.Message) { m.Has("From") }},
		{"Parts", func(m *rules.Message) { m.Parts() }},
		{"Text", func(m *rules.Message) { _ = m.Text() }},
		{"Received", func(m *rules.Message) { m.Received() }},
		{"URLHosts", func(m *rules.Message) { m.URLHosts() }},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v.fn(ss[i%len(ss)].fresh())
				i++
			}
		})
	}
}
