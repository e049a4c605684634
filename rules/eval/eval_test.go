package eval

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules"
)

// testRules are the checks the fixture corpus is judged with: the built-in
// checks are all set to 0 so the figures do not move when they change.
var testRules = []rules.Rule{
	{Name: "TEST_BUY", Score: 6, Desc: "Subject says buy now", Test: func(m *rules.Message) bool {
		return strings.Contains(strings.ToLower(m.Decoded("Subject")), "buy now")
	}},
	{Name: "TEST_NODATE", Score: 10, Desc: "no Date", Test: func(m *rules.Message) bool { return !m.Has("Date") }},
	{Name: "TEST_LIST", Score: 0.5, Desc: "List-Id", Test: func(m *rules.Message) bool { return m.Has("List-Id") }},
	// fires only when the envelope came from the Received field (no envelope.jsonl line)
	{Name: "TEST_RECEIVED_IP", Score: 0.2, Desc: "client 203.0.113.5", Test: func(m *rules.Message) bool {
		return m.Env.ClientIP == netip.MustParseAddr("203.0.113.5")
	}},
	// fires only when mail_from "" stays the null sender
	{Name: "TEST_NULL_SENDER", Score: 0.3, Desc: "null sender", Test: func(m *rules.Message) bool {
		return m.Env.MailFrom == "" && m.Env.ClientIP.IsValid() && !m.Env.Time.IsZero() && m.Env.Time.Year() == 2021
	}},
}

func testEngine(t testing.TB) *rules.Engine {
	t.Helper()
	cfg := rules.Config{Thresholds: rules.Thresholds{AddHeader: rules.At(5), Reject: rules.At(15)}, Scores: map[string]float64{}}
	for _, r := range rules.Builtin() {
		cfg.Scores[r.Name] = 0
	}
	e, err := rules.NewEngine(cfg, rules.Options{NoDNS: true, ExtraRules: testRules})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// tarGz packs dir into a .tar.gz as the corpus archives are made.
func tarGz(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "dev/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "corpus.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunFixture(t *testing.T) {
	const dir = "testdata/corpus"
	for _, tc := range []struct {
		name   string
		corpus Corpus
	}{
		{"directory", Corpus{Dir: dir}},
		{"tar.gz", Corpus{Dir: tarGz(t, dir)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t)
			var prog Progress
			res, err := Run(context.Background(), e, tc.corpus, Options{Workers: 3, Progress: &prog})
			if err != nil {
				t.Fatal(err)
			}
			if got := prog.Done.Load(); got != 7 {
				t.Errorf("progress done = %d, want 7", got)
			}
			scores := map[string]float64{}
			for _, m := range res.Messages {
				if m.Err != "" {
					t.Errorf("%s: %s", m.Name, m.Err)
				}
				scores[m.Name] = math.Round(m.Score*10) / 10
			}
			want := map[string]float64{
				"ham/a-1.eml": 0.5, "ham/a-2.eml": 6.5, "ham/b-1.eml": 0,
				"spam/c-1.eml": 16.3, "spam/c-2.eml": 6, "spam/d-1.eml": 0, "spam/e-1.eml": 6.2,
			}
			for n, w := range want {
				if scores[n] != w {
					t.Errorf("%s: score %v, want %v", n, scores[n], w)
				}
			}
			if len(scores) != len(want) {
				t.Errorf("%d messages judged, want %d", len(scores), len(want))
			}
			for _, c := range []struct {
				t          float64
				source     string
				ham, hamF  int
				spam, spmF int
			}{
				{5, "", 3, 1, 4, 3},
				{15, "", 3, 0, 4, 1},
				{5, "lists", 2, 1, 0, 0},
				{5, "b", 1, 0, 0, 0}, // no source in envelope.jsonl: file-name prefix
				{5, "trap", 0, 0, 3, 2},
				{5, "e", 0, 0, 1, 1}, // no envelope line at all
			} {
				got := res.Confusion(c.t, c.source)
				if got.Ham != c.ham || got.HamFlagged != c.hamF || got.Spam != c.spam || got.SpamFlagged != c.spmF {
					t.Errorf("Confusion(%v, %q) = %+v, want ham %d/%d spam %d/%d", c.t, c.source, got, c.hamF, c.ham, c.spmF, c.spam)
				}
			}
			var buy RuleStat
			for _, s := range res.RuleStats() {
				if s.Name == "TEST_BUY" {
					buy = s
				}
			}
			if buy.SpamHits != 3 || buy.HamHits != 1 || math.Abs(buy.SpamPct-75) > 1e-9 || math.Abs(buy.HamPct-100.0/3) > 1e-9 || math.Abs(buy.SO-75/(75+100.0/3)) > 1e-9 {
				t.Errorf("TEST_BUY stats = %+v", buy)
			}
			thr, caught := res.ThresholdFor(MaxHamRate)
			if math.Abs(thr-6.6) > 1e-9 || caught != 0.25 {
				t.Errorf("ThresholdFor = %v, %v; want 6.6, 0.25", thr, caught)
			}
			fp, fn := res.Worst(20)
			if len(fp) != 1 || fp[0].Name != "ham/a-2.eml" || len(fn) != 1 || fn[0].Name != "spam/d-1.eml" {
				t.Errorf("Worst: fp %v fn %v", names(fp), names(fn))
			}

			var text, page bytes.Buffer
			res.WriteText(&text, 5)
			if err := res.WriteHTML(&page); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"lists", "TEST_BUY", "ham/a-2.eml", "6.6"} {
				if !strings.Contains(text.String(), s) {
					t.Errorf("text summary lacks %q:\n%s", s, text.String())
				}
			}
			h := page.String()
			for _, s := range []string{"<svg", "</svg>", "TEST_BUY", "ham/a-2.eml", "<style>"} {
				if !strings.Contains(h, s) {
					t.Errorf("HTML report lacks %q", s)
				}
			}
			if strings.Contains(h, "http://") && strings.Count(h, "http://") != strings.Count(h, `xmlns="http://www.w3.org/2000/svg"`) {
				t.Errorf("HTML report refers to the network")
			}
		})
	}
}

func names(s []Scored) []string {
	var out []string
	for _, m := range s {
		out = append(out, m.Name)
	}
	return out
}

func TestPlainFolders(t *testing.T) {
	res, err := Run(context.Background(), testEngine(t), Corpus{Ham: "testdata/corpus/ham", Spam: "testdata/corpus/spam"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Confusion(5, "")
	if c.Ham != 3 || c.Spam != 4 {
		t.Fatalf("counts %+v", c)
	}
	for _, m := range res.Messages {
		// envelopes come from the Received field: client 192.0.2.10 for all
		// but e-1, and no null sender, so TEST_NULL_SENDER never fires
		for _, h := range m.Hits {
			if h.Name == "TEST_NULL_SENDER" {
				t.Errorf("%s: null sender without an envelope", m.Name)
			}
		}
		if want := SourceOf(m.Name); m.Source != want {
			t.Errorf("%s: source %q, want %q", m.Name, m.Source, want)
		}
	}
}

func TestCorpusErrors(t *testing.T) {
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "ham"), 0o755)
	os.WriteFile(filepath.Join(bad, "ham", "x.eml"), []byte("Subject: x\n\nbody\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "envelope.jsonl"), []byte(`{"file":"ham/x.eml","class":"ham","client_ip":"not-an-ip"}`+"\n"), 0o644)
	notGz := filepath.Join(t.TempDir(), "x.tar.gz")
	os.WriteFile(notGz, []byte("plain text"), 0o644)
	for _, tc := range []struct {
		name string
		c    Corpus
		want string
	}{
		{"missing", Corpus{Dir: filepath.Join(bad, "nope")}, "no such file"},
		{"bad envelope", Corpus{Dir: bad}, "envelope.jsonl line 1: client_ip"},
		{"not gzip", Corpus{Dir: notGz}, "gzip"},
		{"empty", Corpus{Dir: t.TempDir()}, "no messages"},
		{"both", Corpus{Dir: bad, Ham: bad}, "not both"},
		{"none", Corpus{}, "no corpus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), testEngine(t), tc.c, Options{Workers: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseEnvelopeLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		err   string
		check func(EnvelopeLine, Class, rules.Envelope) bool
	}{
		{`{"file":"spam/x.eml","class":"spam","source":"s","client_ip":"2001:db8::1","client_name":"","helo":"h","mail_from":"","rcpt_to":"r@x","received_at":"2021-06-01T08:00:00+02:00"}`, "",
			func(l EnvelopeLine, c Class, e rules.Envelope) bool {
				_, known := e.RDNS()
				return c == Spam && l.Source == "s" && e.ClientIP.Is6() && !known && e.MailFrom == "" && len(e.Rcpts) == 1 && e.Time.UTC().Hour() == 6
			}},
		{`{"file":"ham/x.eml","class":"ham","client_ip":"","received_at":""}`, "",
			func(l EnvelopeLine, c Class, e rules.Envelope) bool {
				return c == Ham && !e.ClientIP.IsValid() && e.Time.IsZero() && e.Rcpts == nil
			}},
		{`{"file":"ham/x.eml","class":"eggs"}`, "not ham or spam", nil},
		{`{"class":"ham"}`, `no "file"`, nil},
		{`{"file":"ham/x.eml","class":"ham","received_at":"yesterday"}`, "RFC 3339", nil},
		{`{"file":`, "unexpected end", nil},
	} {
		l, c, e, err := ParseEnvelopeLine([]byte(tc.line))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !tc.check(l, c, e) {
			t.Errorf("%s: %+v %v %+v %v", tc.line, l, c, e, err)
		}
	}
}

func FuzzParseEnvelopeLine(f *testing.F) {
	data, _ := os.ReadFile("testdata/corpus/envelope.jsonl")
	for _, l := range bytes.Split(data, []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"file":"ham/x","class":"ham","client_ip":"::ffff:1.2.3.4%eth0","received_at":"2020-02-30T25:00:00Z"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		l, _, env, err := ParseEnvelopeLine(line)
		if err != nil {
			return
		}
		if l.File == "" {
			t.Fatal("accepted a line without a file")
		}
		if l.ClientIP != "" && !env.ClientIP.IsValid() {
			t.Fatal("accepted a bad client_ip")
		}
		// the whole corpus path must cope with it: build the item and judge it
		idx := envelopeIndex{l.File: {}}
		_ = idx.item(l.File, Ham, nil)
	})
}

func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"ham/sa-0001.eml": "sa", "x/lfdr-ksummit-1.eml": "lfdr", "plain.eml": "unknown", "-x.eml": "unknown",
	} {
		if got := SourceOf(in); got != want {
			t.Errorf("SourceOf(%q) = %q, want %q", in, got, want)
		}
	}
}
