package bench

// Benchmarks of the milter path end to end, in process: a server and the
// bench client (Postfix's side) over loopback TCP, one connection per
// message, real messages of the dev corpus (or the small fixture when the
// corpus is missing).
//
//	go test -run '^$' -bench Milter -benchmem ./filter/mta/bench
//
// BenchmarkMilterBaseline is go-milter's own server with a no-op backend:
// the protocol's floor. BenchmarkMilterLevee minus it is levee's own cost
// per message. Judgement alone: rules.BenchmarkJudge; the Received parser:
// rules/received.BenchmarkParse; the cached DNSBL path: rules/dnsbl.

import (
	"os"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval/evaltest"
)

var (
	milterBenchOnce sync.Once
	milterBenchMsgs []Message
	milterBenchErr  error
)

// milterBenchMessages is every 20th message of the dev corpus, or the
// fixture when the corpus is missing (with CI set, a missing corpus fails).
func milterBenchMessages(b *testing.B) []Message {
	b.Helper()
	p := evaltest.Path()
	if _, err := os.Stat(p); p == "" || err != nil {
		if evaltest.InCI() {
			b.Fatalf("dev corpus not found (%q)", p)
		}
		b.Logf("dev corpus not found (%q): using the fixture", p)
		msgs, err := Load(writeBenchFixture(b), "")
		if err != nil {
			b.Fatal(err)
		}
		return msgs
	}
	milterBenchOnce.Do(func() {
		all, err := Load(p, "")
		if err != nil {
			milterBenchErr = err
			return
		}
		for i := 19; i < len(all); i += 20 {
			milterBenchMsgs = append(milterBenchMsgs, all[i])
		}
	})
	if milterBenchErr != nil {
		b.Fatal(milterBenchErr)
	}
	return milterBenchMsgs
}

// defaultEngine is the engine of the embedded default config, without DNS
// (serveLevee closes it).
func defaultEngine(b *testing.B) *rules.Engine {
	b.Helper()
	var c struct {
		rules.Config `yaml:",inline"`
	}
	if err := yaml.Unmarshal(configs.Default, &c); err != nil {
		b.Fatal(err)
	}
	e, err := rules.NewEngine(c.Config, rules.Options{NoDNS: true})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchMilter(b *testing.B, addr string, msgs []Message) {
	var n int
	for _, m := range msgs {
		n += len(m.Body)
		for _, f := range m.Header {
			n += len(f.Name) + len(f.Value) + 3
		}
	}
	b.SetBytes(int64(n / len(msgs)))
	b.ReportAllocs()
	cl := &client{opt: &Options{Addr: addr, Reuse: 1, Timeout: 30 * time.Second}}
	i := 0
	for b.Loop() {
		if out := cl.send(&msgs[i%len(msgs)]); out.err != nil {
			b.Fatal(out.err)
		}
		i++
	}
}

// BenchmarkMilterBaseline: go-milter's no-op server, one message per connection.
func BenchmarkMilterBaseline(b *testing.B) {
	msgs := milterBenchMessages(b)
	addr, stop, err := StartBaseline()
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	benchMilter(b, addr, msgs)
}

// BenchmarkMilterLevee: levee's Server with the default config (no DNS),
// one message per connection, judged and answered.
func BenchmarkMilterLevee(b *testing.B) {
	msgs := milterBenchMessages(b)
	benchMilter(b, serveLevee(b, defaultEngine(b)), msgs)
}
