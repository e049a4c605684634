package filter

// Benchmarks of the milter path end to end, in process: a server and the
// bench client (Postfix's side) over loopback TCP, one connection per
// message, real messages of the dev corpus (or the small fixture when the
// corpus is missing).
//
//	go test -run '^$' -bench Milter -benchmem ./filter
//
// BenchmarkMilterBaseline is go-milter's own server with a no-op backend:
// the protocol's floor. BenchmarkMilterLevee minus it is levee's own cost
// per message. Judgement alone: rules.BenchmarkJudge; the Received parser:
// rules/received.BenchmarkParse; the cached DNSBL path: rules/dnsbl.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/rules"
)

var (
	milterBenchOnce sync.Once
	milterBenchMsgs []BenchMessage
	milterBenchErr  error
)

// benchCorpusPath finds the dev corpus: $LEVEE_CORPUS, else
// ../shared/corpus/dev.tar.gz beside the module root.
func benchCorpusPath() string {
	if p := os.Getenv("LEVEE_CORPUS"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "corpus", "dev.tar.gz")
		}
		up := filepath.Dir(dir)
		if up == dir {
			break
		}
		dir = up
	}
	return ""
}

// milterBenchMessages is every 20th message of the dev corpus, or the
// fixture when the corpus is missing (with CI set, a missing corpus fails).
func milterBenchMessages(b *testing.B) []BenchMessage {
	b.Helper()
	p := benchCorpusPath()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			b.Fatalf("dev corpus not found (%s)", p)
		}
		b.Logf("dev corpus not found (%s): using the fixture", p)
		msgs, err := LoadBenchCorpus(writeBenchFixture(b), "")
		if err != nil {
			b.Fatal(err)
		}
		return msgs
	}
	milterBenchOnce.Do(func() {
		all, err := LoadBenchCorpus(p, "")
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

// defaultEngine is the engine of the embedded default config, without DNS.
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
	b.Cleanup(e.Close)
	return e
}

func benchMilter(b *testing.B, addr string, msgs []BenchMessage) {
	var n int
	for _, m := range msgs {
		n += len(m.Body)
		for _, f := range m.Fields {
			n += len(f.Name) + len(f.Value) + 3
		}
	}
	b.SetBytes(int64(n / len(msgs)))
	b.ReportAllocs()
	cl := &benchClient{opt: &BenchOptions{Addr: addr, Reuse: 1, Timeout: 30 * time.Second}}
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
	e := defaultEngine(b)
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := NewServer(fc, e, nil)
	go s.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	benchMilter(b, "inet:"+ln.Addr().String(), msgs)
}
