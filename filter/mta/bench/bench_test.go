package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules"
)

// benchFixture is a small corpus: two ham, one GTUBE spam, one message
// that the test rule BENCH_TAG tags.
var benchFixture = map[string]string{
	"ham/a.eml": "Received: from mail.example.com (mail.example.com [192.0.2.10])\n\tby mx.example.org with ESMTP id 1; Mon, 2 Nov 2026 10:00:00 +0100\n" +
		"From: Alice <alice@example.com>\nTo: bob@example.org\nSubject: lunch\nDate: Mon, 2 Nov 2026 10:00:00 +0100\n" +
		"Message-ID: <a1@mail.example.com>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nSee you at noon.\n",
	"ham/b.eml": "From: Carol <carol@example.com>\r\nTo: bob@example.org\r\nSubject: minutes\r\nDate: Mon, 2 Nov 2026 11:00:00 +0100\r\n" +
		"Message-ID: <b2@mail.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("The minutes are attached below.\r\n", 4000),
	"spam/gtube.eml": "From: x@example.net\nTo: bob@example.org\nSubject: test\nDate: Mon, 2 Nov 2026 12:00:00 +0100\n" +
		"Message-ID: <g3@example.net>\n\n" + rules.GTUBE + "\n",
	"spam/tag.eml": "From: y@example.net\nTo: bob@example.org\nSubject: please tag me\nDate: Mon, 2 Nov 2026 12:00:00 +0100\n" +
		"Message-ID: <t4@example.net>\n\nbuy now\n",
}

const benchFixtureEnvelopes = `{"file": "ham/a.eml", "class": "ham", "client_ip": "192.0.2.10", "client_name": "mail.example.com", "helo": "mail.example.com", "mail_from": "alice@example.com", "rcpt_to": "bob@example.org"}
{"file": "ham/b.eml", "class": "ham", "client_ip": "2001:db8::11", "client_name": "", "helo": "mail.example.com", "mail_from": "carol@example.com", "rcpt_to": "bob@example.org"}
{"file": "spam/gtube.eml", "class": "spam", "client_ip": "198.51.100.7", "client_name": "", "helo": "x", "mail_from": "", "rcpt_to": "bob@example.org"}
{"file": "spam/tag.eml", "class": "spam", "client_ip": "198.51.100.8", "client_name": "", "helo": "y", "mail_from": "y@example.net", "rcpt_to": "bob@example.org"}
`

func writeBenchFixture(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range benchFixture {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "envelope.jsonl"), []byte(benchFixtureEnvelopes), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBenchLevee starts a levee Server on loopback with no DNS, a high tag
// threshold (so only the test rule tags) and the test rule BENCH_TAG.
func startBenchLevee(t testing.TB) string {
	t.Helper()
	rc := rules.Config{
		Thresholds:      rules.Thresholds{AddHeader: rules.At(50), Reject: rules.At(100)},
		RejectText:      "Message rejected as spam",
		TempfailText:    "Try again later",
		Report:          "spam",
		TrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
		SkipTrusted:     true,
	}
	tag := rules.Rule{Name: "BENCH_TAG", Score: 60, Desc: "test", Kind: rules.KindHeader,
		Test: func(m *rules.Message) bool { return strings.Contains(m.Header("Subject"), "tag me") }}
	e, err := rules.NewEngine(rc, rules.Options{NoDNS: true, ExtraRules: []rules.Rule{tag}})
	if err != nil {
		t.Fatal(err)
	}
	return serveLevee(t, e)
}

// serveLevee serves e with levee's milter (package filter) on a loopback
// port until the test ends, then closes e too.
func serveLevee(tb testing.TB, e *rules.Engine) string {
	tb.Helper()
	fc := filter.Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := filter.NewServer(fc, e, nil)
	go s.Serve(ln)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		e.Close()
	})
	return "inet:" + ln.Addr().String()
}

func TestLoad(t *testing.T) {
	dir := writeBenchFixture(t)
	msgs, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4", len(msgs))
	}
	byName := map[string]Message{}
	for _, m := range msgs {
		byName[m.Name] = m
		if bytes.Contains(bytes.ReplaceAll(m.Body, []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("%s: body has a bare LF", m.Name)
		}
	}
	a := byName["ham/a.eml"]
	if a.Client.IP != netip.MustParseAddr("192.0.2.10") || a.Client.Name != "mail.example.com" ||
		a.From != "alice@example.com" || len(a.Rcpts) != 1 || a.Rcpts[0] != "bob@example.org" {
		t.Errorf("ham/a.eml envelope = %+v %q %q", a.Client, a.From, a.Rcpts)
	}
	if len(a.Header) != 8 || !strings.Contains(a.Header[0].Value, "\n\tby mx") || strings.Contains(a.Header[0].Value, "\r") {
		t.Errorf("ham/a.eml fields = %q", a.Header)
	}
	if g := byName["spam/gtube.eml"]; g.From != "" || g.Client.IP != netip.MustParseAddr("198.51.100.7") {
		t.Errorf("spam/gtube.eml envelope = %+v %q", g.Client, g.From)
	}

	// The same corpus as a .tar.gz under a leading directory.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	add("dev/envelope.jsonl", benchFixtureEnvelopes)
	for _, n := range []string{"ham/a.eml", "ham/b.eml", "spam/gtube.eml", "spam/tag.eml"} {
		add("dev/"+n, benchFixture[n])
	}
	tw.Close()
	zw.Close()
	tgz := filepath.Join(t.TempDir(), "c.tar.gz")
	if err := os.WriteFile(tgz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromTar, err := Load(tgz, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(fromTar) != 4 {
		t.Fatalf("tar.gz: got %d messages, want 4", len(fromTar))
	}
	for _, m := range fromTar {
		d := byName[m.Name]
		if m.Client.IP != d.Client.IP || !bytes.Equal(m.Body, d.Body) || len(m.Header) != len(d.Header) {
			t.Errorf("tar.gz %s differs from the directory's", m.Name)
		}
	}
}

func TestLoadPlainEML(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "one.eml"), []byte(benchFixture["ham/a.eml"]), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a message"), 0o644)
	msgs, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1 (.eml only)", len(msgs))
	}
	// No envelope.jsonl: the envelope comes from the Received field, the
	// recipient from To.
	m := msgs[0]
	if m.Client.IP != netip.MustParseAddr("192.0.2.10") || m.Client.Helo != "mail.example.com" ||
		len(m.Rcpts) != 1 || m.Rcpts[0] != "bob@example.org" {
		t.Errorf("envelope = %+v %q", m.Client, m.Rcpts)
	}
	// --envelope replaces it.
	ef := filepath.Join(dir, "env.jsonl")
	os.WriteFile(ef, []byte(`{"file": "one.eml", "client_ip": "203.0.113.5", "helo": "h", "mail_from": "m@example.com", "rcpt_to": "r@example.org"}`), 0o644)
	if msgs, err = Load(dir, ef); err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; m.Client.IP != netip.MustParseAddr("203.0.113.5") || m.Rcpts[0] != "r@example.org" {
		t.Errorf("with --envelope: %+v %q", m.Client, m.Rcpts)
	}
	if _, err := Load(t.TempDir(), ""); err == nil {
		t.Error("an empty directory loaded without error")
	}
}

func TestBenchBaseline(t *testing.T) {
	msgs, err := Load(writeBenchFixture(t), "")
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := StartBaseline()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r, err := Run(context.Background(), msgs, Options{Addr: addr, Concurrency: 2, N: 10, Reuse: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Messages != 10 || r.Verdicts != (Verdicts{Accept: 10}) {
		t.Fatalf("baseline: %d messages, %d errors %q, verdicts %+v; want 10 accepted", r.Messages, r.Errors, r.ErrorSample, r.Verdicts)
	}
	if r.P50ms <= 0 || r.MaxMs < r.P99ms || r.P99ms < r.P50ms {
		t.Errorf("latencies p50 %v p99 %v max %v", r.P50ms, r.P99ms, r.MaxMs)
	}
}

func TestBenchLevee(t *testing.T) {
	msgs, err := Load(writeBenchFixture(t), "")
	if err != nil {
		t.Fatal(err)
	}
	addr := startBenchLevee(t)
	for _, tc := range []struct {
		name           string
		conc, n, reuse int
		warmup         int
		mixed, plain   bool
	}{
		{"one per connection", 1, 4, 1, 0, false, false},
		{"reused connections", 2, 12, 5, 0, false, false},
		{"after warm-up", 3, 8, 1, 4, false, false},
		{"mixed order", 2, 8, 2, 0, true, false},
		{"plain protocol, reused connections", 2, 12, 5, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(context.Background(), msgs, Options{Addr: addr, Concurrency: tc.conc, N: tc.n,
				Reuse: tc.reuse, Warmup: tc.warmup, Mixed: tc.mixed, Plain: tc.plain, Timeout: 10 * time.Second, CPUPIDs: []int{os.Getpid()}})
			if err != nil {
				t.Fatal(err)
			}
			// Each pass over the 4 messages: 2 ham accepted, GTUBE rejected, one tagged.
			k := tc.n / 4
			want := Verdicts{Accept: 2 * k, Reject: k, Tagged: k}
			if r.Errors != 0 || r.Messages != tc.n || r.Verdicts != want {
				t.Fatalf("%d messages, %d errors %q, verdicts %+v; want %d, %+v", r.Messages, r.Errors, r.ErrorSample, r.Verdicts, tc.n, want)
			}
			if r.CPUSource == "" {
				t.Error("no CPU source with CPUPIDs set")
			}
		})
	}
}

func TestBenchErrorsCounted(t *testing.T) {
	msgs, err := Load(writeBenchFixture(t), "")
	if err != nil {
		t.Fatal(err)
	}
	// A listener that closes every connection at once: every message is an error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r, err := Run(context.Background(), msgs, Options{Addr: "inet:" + ln.Addr().String(), N: 3, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 3 || r.Messages != 0 || len(r.ErrorSample) == 0 {
		t.Fatalf("errors %d, messages %d, sample %q; want 3 errors", r.Errors, r.Messages, r.ErrorSample)
	}
}

func TestHoldBaseline(t *testing.T) {
	addr, stop, err := StartBaseline()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r, err := Hold(context.Background(), HoldOptions{Addr: addr, Sessions: 5, Size: 300 << 10, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sessions != 5 || r.Errors != 0 || r.RSSMiB <= 0 || r.HWMMiB < r.RSSMiB || r.SentMiB <= 0 {
		t.Fatalf("hold: %+v", r)
	}
}

func TestVerdictOf(t *testing.T) {
	for _, tc := range []struct {
		act  milter.Action
		mods []milter.ModifyAction
		want string
	}{
		{milter.Action{Code: milter.ActAccept}, nil, "accept"},
		{milter.Action{Code: milter.ActContinue}, nil, "accept"},
		{milter.Action{Code: milter.ActAccept}, []milter.ModifyAction{{Code: milter.ActAddHeader, HeaderName: "X-Spam-Flag", HeaderValue: "NO"}}, "accept"},
		{milter.Action{Code: milter.ActAccept}, []milter.ModifyAction{{Code: milter.ActAddHeader, HeaderName: "X-Spam-Flag", HeaderValue: " YES"}}, "tagged"},
		{milter.Action{Code: milter.ActAccept}, []milter.ModifyAction{{Code: milter.ActInsertHeader, HeaderName: "X-Spam", HeaderValue: "Yes"}}, "tagged"},
		{milter.Action{Code: milter.ActAccept}, []milter.ModifyAction{{Code: milter.ActQuarantine, Reason: "x"}}, "quarantine"},
		{milter.Action{Code: milter.ActReject}, nil, "reject"},
		{milter.Action{Code: milter.ActTempFail}, nil, "tempfail"},
		{milter.Action{Code: milter.ActDiscard}, nil, "discard"},
		{milter.Action{Code: milter.ActReplyCode, SMTPCode: 550}, nil, "reject"},
		{milter.Action{Code: milter.ActReplyCode, SMTPCode: 451}, nil, "tempfail"},
	} {
		if got := verdictOf(&tc.act, tc.mods); got != tc.want {
			t.Errorf("verdictOf(%c %d, %v) = %s, want %s", tc.act.Code, tc.act.SMTPCode, tc.mods, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{d, 50, 50}, {d, 99, 99}, {d, 100, 100}, {d[:1], 99, 1}, {nil, 50, 0}, {d[:10], 90, 9}, {d[:10], 99, 10},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %d) = %d, want %d", len(tc.in), tc.p, got, tc.want)
		}
	}
}

func TestMixedStride(t *testing.T) {
	for _, n := range []int{1, 2, 4, 10, 97, 8536} {
		s := mixedStride(n)
		seen := map[int]bool{}
		for i := 0; i < n; i++ {
			seen[i*s%n] = true
		}
		if len(seen) != n {
			t.Errorf("n=%d stride %d visits %d messages, want all", n, s, len(seen))
		}
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	pids, err := withDescendants([]int{os.Getpid()})
	if err != nil || len(pids) < 1 || pids[0] == 0 {
		t.Fatalf("withDescendants = %v, %v", pids, err)
	}
	if _, err := withDescendants([]int{1 << 30}); err == nil {
		t.Error("a missing pid gave no error")
	}
}
