package sa_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa"
	"github.com/levee-mail/levee/rules/sa/view"
)

// stockDir is where Debian's spamassassin package puts the stock rules.
const stockDir = "/usr/share/spamassassin"

// needSpamAssassin skips (or in CI fails) when SpamAssassin 4's stock
// rules or Perl modules are missing.
func needSpamAssassin(t *testing.T) {
	t.Helper()
	_, err1 := os.Stat(filepath.Join(stockDir, "50_scores.cf"))
	_, err2 := exec.LookPath("perl")
	_, err3 := os.Stat("/usr/share/perl5/Mail/SpamAssassin.pm")
	if err1 != nil || err2 != nil || err3 != nil {
		if evaltest.InCI() {
			t.Fatal("SpamAssassin is not installed (the test command installs Debian's spamassassin)")
		}
		t.Skip("SpamAssassin is not installed")
	}
}

// TestStockRulesLoad loads Debian's stock rules and holds the share that
// levee runs: of the rules SpamAssassin runs without the network and
// without a plugin's code (header, body, rawbody, uri, full, mimeheader
// and meta rules with a non-zero score), at least 90%.
func TestStockRulesLoad(t *testing.T) {
	needSpamAssassin(t)
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	loaded, total := 0, 0
	per := map[sa.Kind][2]int{}
	for _, r := range set.Rules {
		loaded++
		total++
		p := per[r.Kind]
		p[0]++
		p[1]++
		per[r.Kind] = p
	}
	for _, s := range set.Skipped {
		if s.Class == "plugin" || s.Class == "net" || s.Score == 0 {
			continue // SpamAssassin without the network runs it by a plugin's code, or not at all
		}
		total++
		p := per[s.Kind]
		p[1]++
		per[s.Kind] = p
	}
	for _, k := range sa.Kinds() {
		t.Logf("%-10s %4d/%4d", k, per[k][0], per[k][1])
	}
	share := float64(loaded) / float64(total)
	t.Logf("loaded %d of %d (%.1f%%); %d skipped in all", loaded, total, 100*share, len(set.Skipped))
	if share < 0.90 {
		t.Errorf("levee runs %.1f%% of the stock rules it could, want at least 90%%", 100*share)
	}
}

// saHit is one line of sa-hits.pl's output.
type saHit struct {
	File   string         `json:"file"`
	Hits   []string       `json:"hits"`
	Counts map[string]int `json:"counts"`
	Score  float64        `json:"score"`
}

// TestAgreeWithSpamAssassin runs the stock rules in levee and in
// SpamAssassin 4 (spamassassin -L, through testdata/sa-hits.pl) on a
// sample of the dev corpus and compares every (message, rule) pair of the
// rules levee loads. LEVEE_SA_AGREE_N sets the sample (default 200),
// LEVEE_SA_AGREE_ALL=1 takes the whole corpus, LEVEE_SA_HITS names a
// file of SpamAssassin's answers already computed (JSONL of sa-hits.pl).
func TestAgreeWithSpamAssassin(t *testing.T) {
	needSpamAssassin(t)
	corpus := evaltest.Corpus(t)
	// every loaded rule, the sub-rules nothing reads too
	set, err := sa.Load([]string{stockDir}, sa.Options{RunUnread: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("LEVEE_SA_AGREE_N")); err == nil && v > 0 {
		n = v
	}
	all := os.Getenv("LEVEE_SA_AGREE_ALL") == "1"
	dir := t.TempDir()
	type msg struct {
		name string
		path string
		hits map[string]bool
	}
	var msgs []*msg
	err = eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		if !all && !sampled(it.Name, n) {
			return nil
		}
		m := &msg{name: filepath.Base(it.Name), path: filepath.Join(dir, strings.ReplaceAll(it.Name, "/", "_"))}
		rm, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, 0)
		if err != nil {
			return nil // not a message levee would get
		}
		v := view.New(viewFields(rm.Fields), rm.Body, view.Options{})
		m.hits = map[string]bool{}
		for _, h := range set.Eval(v) {
			m.hits[h.Rule.Name] = true
		}
		if err := os.WriteFile(m.path, it.Data, 0o600); err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := spamAssassinHits(t, msgs, func(m *msg) string { return m.path }, func(m *msg) string { return m.name })
	if err != nil {
		t.Fatal(err)
	}
	var pairs, agree, either, eitherAgree int
	type diff struct {
		rule         string
		onlyLevee    int
		onlySA, both int
	}
	diffs := map[string]*diff{}
	for _, m := range msgs {
		h, ok := theirs[m.name]
		if !ok {
			t.Errorf("%s: no answer from SpamAssassin", m.name)
			continue
		}
		saSet := map[string]bool{}
		for _, x := range h.Hits {
			saSet[x] = true
		}
		for _, r := range set.Rules {
			l, s := m.hits[r.Name], saSet[r.Name]
			pairs++
			if l == s {
				agree++
			}
			if l || s {
				either++
				if l == s {
					eitherAgree++
				}
				d := diffs[r.Name]
				if d == nil {
					d = &diff{rule: r.Name}
					diffs[r.Name] = d
				}
				switch {
				case l && s:
					d.both++
				case l:
					d.onlyLevee++
				default:
					d.onlySA++
				}
			}
		}
	}
	var ds []*diff
	for _, d := range diffs {
		if d.onlyLevee+d.onlySA > 0 {
			ds = append(ds, d)
		}
	}
	sort.Slice(ds, func(i, j int) bool {
		a, b := ds[i].onlyLevee+ds[i].onlySA, ds[j].onlyLevee+ds[j].onlySA
		if a != b {
			return a > b
		}
		return ds[i].rule < ds[j].rule
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages, %d rules: %d of %d (message, rule) pairs agree (%.2f%%); where either hit: %d of %d (%.2f%%)\n",
		len(msgs), set.Len(), agree, pairs, pct(agree, pairs), eitherAgree, either, pct(eitherAgree, either))
	fmt.Fprintf(&b, "%-32s %6s %8s %6s\n", "RULE", "BOTH", "ONLY_SA", "ONLY_LEVEE")
	for i, d := range ds {
		if i == 40 {
			break
		}
		fmt.Fprintf(&b, "%-32s %6d %8d %6d\n", d.rule, d.both, d.onlySA, d.onlyLevee)
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("LEVEE_SA_AGREE_REPORT"); out != "" {
		os.WriteFile(out, []byte(b.String()), 0o644)
	}
	if pct(agree, pairs) < 98 {
		t.Errorf("levee and SpamAssassin agree on %.2f%% of (message, rule) pairs, want at least 98%%", pct(agree, pairs))
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// sampled picks about n of the corpus's messages, the same ones every run
// (by a hash of the name).
func sampled(name string, n int) bool {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32()%8536) < n
}

func viewFields(fs []rules.Field) []view.Field {
	out := make([]view.Field, len(fs))
	for i, f := range fs {
		out[i] = view.Field{Name: f.Name, Value: f.Value}
	}
	return out
}

// spamAssassinHits asks SpamAssassin for the hits of every message: from
// the file $LEVEE_SA_HITS when set, else by running testdata/sa-hits.pl.
func spamAssassinHits[M any](t *testing.T, msgs []M, path, name func(M) string) (map[string]saHit, error) {
	out := map[string]saHit{}
	read := func(r *bufio.Scanner) error {
		for r.Scan() {
			var h saHit
			if err := json.Unmarshal(r.Bytes(), &h); err != nil {
				return fmt.Errorf("sa-hits.pl: %v: %s", err, r.Bytes())
			}
			out[filepath.Base(h.File)] = h
		}
		return r.Err()
	}
	if f := os.Getenv("LEVEE_SA_HITS"); f != "" {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		if err := read(sc); err != nil {
			return nil, err
		}
		missing := false
		for _, m := range msgs {
			if _, ok := out[name(m)]; !ok {
				missing = true
			}
		}
		if !missing {
			return out, nil
		}
		t.Logf("%s lacks some messages: asking SpamAssassin", f)
	}
	var in strings.Builder
	for _, m := range msgs {
		in.WriteString(path(m) + "\n")
	}
	cmd := exec.Command("perl", "testdata/sa-hits.pl", "--rules", stockDir, "--no-site-cf")
	// SpamAssassin's own address parser, whether Email::Address::XS is
	// installed or not (rules/sa/view follows that parser)
	cmd.Env = append(os.Environ(), "SA_HEADER_ADDRESS_PARSER=1")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("sa-hits.pl: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	if err := read(sc); err != nil {
		return nil, err
	}
	// the file names SpamAssassin saw are the copies; key by corpus name
	byCopy := map[string]saHit{}
	for _, m := range msgs {
		if h, ok := out[filepath.Base(path(m))]; ok {
			byCopy[name(m)] = h
		}
	}
	return byCopy, nil
}
