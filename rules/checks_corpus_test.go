package rules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corpusPath finds the dev corpus: $LEVEE_CORPUS, else
// <dir of go.mod>/../shared/corpus/dev.tar.gz.
func corpusPath(t testing.TB) string {
	if p := os.Getenv("LEVEE_CORPUS"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
	return filepath.Join(dir, "..", "shared", "corpus", "dev.tar.gz")
}

type corpusEnv struct {
	File       string `json:"file"`
	Class      string `json:"class"`
	Source     string `json:"source"`
	ClientIP   string `json:"client_ip"`
	ClientName string `json:"client_name"`
	Helo       string `json:"helo"`
	MailFrom   string `json:"mail_from"`
	RcptTo     string `json:"rcpt_to"`
	ReceivedAt string `json:"received_at"`
}

type corpusMsg struct {
	corpusEnv
	m *Message
}

// eachCorpusMessage streams the dev corpus and calls fn for every message,
// built as the milter would see it. It skips the test when the corpus is
// missing, unless CI is set.
func eachCorpusMessage(t testing.TB, fn func(c corpusMsg)) {
	p := corpusPath(t)
	f, err := os.Open(p)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("dev corpus not found: %v", err)
		}
		t.Fatalf("dev corpus: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	envs := map[string]corpusEnv{}
	pending := map[string][]byte{}
	emit := func(name string, b []byte) {
		e, ok := envs[name]
		if !ok {
			t.Fatalf("no envelope for %s", name)
		}
		env := Envelope{Helo: e.Helo, MailFrom: e.MailFrom, ClientName: e.ClientName}
		env.ClientIP, _ = netip.ParseAddr(e.ClientIP)
		if e.RcptTo != "" {
			env.Rcpts = []string{e.RcptTo}
		}
		env.Time, _ = time.Parse(time.RFC3339, e.ReceivedAt)
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		m, err := ReadMessage(bytes.NewReader(b), env, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.ClientName == "" {
			// Postfix would say "unknown" unless the hop did not record it:
			// Microsoft 365 never writes the rDNS name.
			if h := m.Received(); len(h) == 0 || !strings.HasSuffix(strings.ToLower(h[0].By), ".outlook.com") {
				m.Env.ClientName = "unknown"
			}
		}
		fn(corpusMsg{e, m})
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "envelope.jsonl":
			dec := json.NewDecoder(tr)
			for dec.More() {
				var e corpusEnv
				if err := dec.Decode(&e); err != nil {
					t.Fatal(err)
				}
				envs[e.File] = e
			}
			for n, b := range pending {
				emit(n, b)
			}
			pending = nil
		case strings.HasSuffix(name, ".eml"):
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if pending != nil {
				pending[name] = b
				continue
			}
			emit(name, b)
		}
	}
	if len(envs) == 0 {
		t.Fatal("corpus has no envelope.jsonl")
	}
}

func shortSource(s string) string {
	switch s {
	case "spamassassin-public":
		return "sa"
	case "lfdr-mailing-lists":
		return "lfdr"
	case "phishing-pot":
		return "pot"
	}
	return s
}

// TestCorpusHitFrequencies prints SpamAssassin-style hit frequencies of
// the built-in checks on the dev corpus (set LEVEE_HITFREQ=1; add
// LEVEE_HITFREQ_SHOW=RULE to list the ham files a rule hits).
func TestCorpusHitFrequencies(t *testing.T) {
	if os.Getenv("LEVEE_HITFREQ") == "" {
		t.Skip("set LEVEE_HITFREQ=1 to print hit frequencies")
	}
	var dump *os.File
	if p := os.Getenv("LEVEE_HITFREQ_DUMP"); p != "" {
		var err error
		if dump, err = os.Create(p); err != nil {
			t.Fatal(err)
		}
		defer dump.Close()
	}
	rules := Builtin()
	total := map[string]int{}            // class/source -> messages
	hits := map[string]map[string]int{}  // rule -> class/source -> hits
	over := map[string]map[float64]int{} // class/source -> threshold -> messages
	thresholds := []float64{5, 10, 15}
	for _, r := range rules {
		hits[r.Name] = map[string]int{}
	}
	eachCorpusMessage(t, func(c corpusMsg) {
		key := c.Class + "/" + shortSource(c.Source)
		total[key]++
		total[c.Class]++
		score := 0.0
		var names []string
		for _, r := range rules {
			if r.Test(c.m) {
				hits[r.Name][key]++
				hits[r.Name][c.Class]++
				score += r.Score
				names = append(names, r.Name)
			}
		}
		for _, th := range thresholds {
			if score >= th {
				if over[key] == nil {
					over[key] = map[float64]int{}
				}
				over[key][th]++
				if over[c.Class] == nil {
					over[c.Class] = map[float64]int{}
				}
				over[c.Class][th]++
			}
		}
		if dump != nil {
			fmt.Fprintf(dump, "%s\t%.2f\t%s\n", c.File, score, strings.Join(names, " "))
		}
	})
	cols := []string{"spam", "spam/sa", "spam/pot", "ham", "ham/sa", "ham/lfdr"}
	pct := func(n int, key string) float64 {
		if total[key] == 0 {
			return 0
		}
		return 100 * float64(n) / float64(total[key])
	}
	sort.SliceStable(rules, func(i, j int) bool {
		return pct(hits[rules[i].Name]["spam"], "spam") > pct(hits[rules[j].Name]["spam"], "spam")
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %5s", "RULE", "SCORE")
	for _, c := range cols {
		fmt.Fprintf(&b, " %8s", c)
	}
	b.WriteString("\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "%-28s %5.2f", r.Name, r.Score)
		for _, c := range cols {
			fmt.Fprintf(&b, " %8.2f", pct(hits[r.Name][c], c))
		}
		b.WriteString("\n")
	}
	for _, th := range thresholds {
		fmt.Fprintf(&b, "%-28s %5.0f", ">= points", th)
		for _, c := range cols {
			fmt.Fprintf(&b, " %8.2f", pct(over[c][th], c))
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}
