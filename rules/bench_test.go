package rules

// Benchmarks of judgement on real messages of the dev corpus:
//
//	go test -run '^$' -bench . -benchmem ./rules
//
// The Received parser and the cached DNSBL path have their own benchmarks
// (rules/received: BenchmarkParse; rules/dnsbl). The milter path end to end
// is in filter (BenchmarkMilter*), the load generator is `levee bench`.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
)

// benchSampleEvery takes every n-th corpus message (about 430 of 8536,
// ham and spam of every source in corpus proportions).
const benchSampleEvery = 20

type benchSample struct {
	name string
	raw  []byte
	msg  *Message // as read, envelope filled
}

var (
	benchOnce    sync.Once
	benchSamples []benchSample
	benchErr     error
	benchMissing string
)

// benchCorpusFile finds dev.tar.gz: $LEVEE_CORPUS, else ../shared/corpus/
// beside the module root.
func benchCorpusFile() string {
	if p := os.Getenv("LEVEE_CORPUS"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "corpus", "dev.tar.gz")
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// benchCorpus returns a sample of the dev corpus, read streaming once.
func benchCorpus(tb testing.TB) []benchSample {
	tb.Helper()
	benchOnce.Do(func() {
		p := benchCorpusFile()
		if _, err := os.Stat(p); err != nil {
			benchMissing = "dev corpus not found (" + p + "); set LEVEE_CORPUS"
			return
		}
		benchSamples, benchErr = readBenchCorpus(p)
	})
	if benchMissing != "" {
		if os.Getenv("CI") != "" {
			tb.Fatal(benchMissing)
		}
		tb.Skip(benchMissing)
	}
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchSamples
}

func readBenchCorpus(p string) ([]benchSample, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	envs := map[string]Envelope{}
	var out []benchSample
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if path.Base(name) == "envelope.jsonl" {
			sc := bufio.NewScanner(tr)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var l struct {
					File       string `json:"file"`
					ClientIP   string `json:"client_ip"`
					ClientName string `json:"client_name"`
					Helo       string `json:"helo"`
					MailFrom   string `json:"mail_from"`
					RcptTo     string `json:"rcpt_to"`
				}
				if json.Unmarshal(sc.Bytes(), &l) != nil {
					continue
				}
				env := Envelope{ClientName: l.ClientName, Helo: l.Helo, MailFrom: l.MailFrom, Rcpts: []string{l.RcptTo}}
				env.ClientIP, _ = netip.ParseAddr(l.ClientIP)
				envs[l.File] = env
			}
			continue
		}
		i := strings.Index(name, "ham/")
		if j := strings.Index(name, "spam/"); i < 0 || (j >= 0 && j < i) {
			i = j
		}
		if i < 0 {
			continue
		}
		if n++; n%benchSampleEvery != 0 {
			continue
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, benchSample{name: name[i:], raw: raw})
	}
	for k := range out {
		env, ok := envs[out[k].name]
		m, err := ReadMessage(bytes.NewReader(out[k].raw), env, 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			FillEnvelope(m)
		}
		out[k].msg = m
	}
	return out, nil
}

// benchEngine is the engine of the embedded default config, without DNS.
func benchEngine(tb testing.TB) *Engine {
	tb.Helper()
	var c struct {
		Config `yaml:",inline"`
	}
	if err := yaml.Unmarshal(configs.Default, &c); err != nil {
		tb.Fatal(err)
	}
	e, err := NewEngine(c.Config, Options{NoDNS: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// fresh returns a new Message with the sample's parts, so that derived
// views (index, MIME parts, Received hops, URLs) are computed again, as for
// every message the milter judges.
func (s *benchSample) fresh() *Message {
	m := s.msg
	return NewMessage(m.Env, m.Fields, m.Body, m.BodySize)
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
		if _, err := ReadMessage(bytes.NewReader(s.raw), s.msg.Env, 0); err != nil {
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
	msgs := make([]*Message, len(ss))
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
		if v.Action == Accept && v.Spam {
			b.Fatal("spam accepted without headers")
		}
		i++
	}
}

// BenchmarkMessageViews measures the lazy views alone.
func BenchmarkMessageViews(b *testing.B) {
	ss := benchCorpus(b)
	for _, v := range []struct {
		name string
		fn   func(m *Message)
	}{
		{"Index", func(m *Message) { m.Has("From") }},
		{"Parts", func(m *Message) { m.Parts() }},
		{"Text", func(m *Message) { _ = m.Text() }},
		{"Received", func(m *Message) { m.Received() }},
		{"URLHosts", func(m *Message) { m.URLHosts() }},
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
