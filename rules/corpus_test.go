package rules_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
)

type corpusMsg struct {
	File, Class, Source string
	m                   *rules.Message
}

// eachCorpusMessage streams the dev corpus (eval.Walk) and calls fn for
// every message, built as the milter would see it. It skips the test when
// the corpus is missing, unless in CI.
func eachCorpusMessage(t testing.TB, fn func(c corpusMsg)) {
	err := eval.Walk(context.Background(), eval.Corpus{Dir: evaltest.Corpus(t)}, nil, func(it eval.Item) error {
		if !it.HasEnv {
			t.Fatalf("no envelope for %s", it.Name)
		}
		b := bytes.ReplaceAll(it.Data, []byte("\r\n"), []byte("\n"))
		m, err := rules.ReadMessage(bytes.NewReader(b), it.Env, 0)
		if err != nil {
			t.Fatalf("%s: %v", it.Name, err)
		}
		if it.Env.ClientName == "" {
			// Postfix would say "unknown" unless the hop did not record it:
			// Microsoft 365 never writes the rDNS name.
			if h := m.Received(); len(h) == 0 || !strings.HasSuffix(strings.ToLower(h[0].By), ".outlook.com") {
				m.Env.ClientName = "unknown"
			}
		}
		fn(corpusMsg{it.Name, it.Class.String(), it.Source, m})
		return nil
	})
	if err != nil {
		t.Fatal(err)
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
	builtin := rules.Builtin()
	total := map[string]int{}            // class/source -> messages
	hits := map[string]map[string]int{}  // rule -> class/source -> hits
	over := map[string]map[float64]int{} // class/source -> threshold -> messages
	thresholds := []float64{5, 10, 15}
	for _, r := range builtin {
		hits[r.Name] = map[string]int{}
	}
	eachCorpusMessage(t, func(c corpusMsg) {
		key := c.Class + "/" + shortSource(c.Source)
		total[key]++
		total[c.Class]++
		score := 0.0
		var names []string
		for _, r := range builtin {
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
	sort.SliceStable(builtin, func(i, j int) bool {
		return pct(hits[builtin[i].Name]["spam"], "spam") > pct(hits[builtin[j].Name]["spam"], "spam")
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-28s %5s", "RULE", "SCORE")
	for _, c := range cols {
		fmt.Fprintf(&b, " %8s", c)
	}
	b.WriteString("\n")
	for _, r := range builtin {
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
