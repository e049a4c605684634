package sa_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa"
	"github.com/levee-mail/levee/rules/sa/view"
)

// stockSample reads the messages of the dev corpus that sampled picks.
func stockSample(tb testing.TB, n int) []*rules.Message {
	corpus := evaltest.Corpus(tb)
	var msgs []*rules.Message
	eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		if sampled(it.Name, n) {
			if m, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, 0); err == nil {
				msgs = append(msgs, m)
			}
		}
		return nil
	})
	return msgs
}

// TestShortcutsExactStock: with the stock rules on a sample of the dev
// corpus, the gates (gate.go) and the counting shortcuts (count.go)
// change no hit and no count.
func TestShortcutsExactStock(t *testing.T) {
	needSpamAssassin(t)
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 300
	if testing.Short() {
		n = 60
	}
	defer sa.SetFilters(true)
	defer sa.SetFastCount(true)
	for _, m := range stockSample(t, n) {
		v := view.New(viewFields(m.Fields), m.Body, view.Options{})
		sa.SetFilters(false)
		sa.SetFastCount(false)
		want := set.Eval(v)
		sa.SetFilters(true)
		sa.SetFastCount(true)
		got := set.Eval(v)
		if a, b := hitString(got), hitString(want); a != b {
			t.Errorf("%s: with shortcuts %s\nwithout %s", m.Header("Message-ID"), a, b)
		}
	}
}

// TestUnreadStock: with the stock rules, leaving out the sub-rules
// nothing reads changes no hit, count or value of the rules that run,
// on a sample of the dev corpus.
func TestUnreadStock(t *testing.T) {
	needSpamAssassin(t)
	pruned, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := sa.Load([]string{stockDir}, sa.Options{RunUnread: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned.Unread) == 0 || len(all.Unread) != 0 || pruned.Len() != all.Len() {
		t.Fatalf("unread %d and %d, loaded %d and %d", len(pruned.Unread), len(all.Unread), pruned.Len(), all.Len())
	}
	unread := map[string]bool{}
	for _, r := range pruned.Unread {
		unread[r.Name] = true
	}
	n := 200
	if testing.Short() {
		n = 40
	}
	for _, m := range stockSample(t, n) {
		v := view.New(viewFields(m.Fields), m.Body, view.Options{})
		var want []sa.Hit
		for _, h := range all.Eval(v) {
			if !unread[h.Rule.Name] {
				want = append(want, h)
			}
		}
		if a, b := hitString(pruned.Eval(v)), hitString(want); a != b {
			t.Errorf("%s: pruned %s\nall %s", m.Header("Message-ID"), a, b)
		}
	}
}

// TestEvalConcurrent: one rule set judges messages from several
// goroutines at once (the milter's sessions), with the answers of one at
// a time: the DFA caches and Eval's pooled scratch are shared.
func TestEvalConcurrent(t *testing.T) {
	needSpamAssassin(t)
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := stockSample(t, 40)
	want := make([]string, len(msgs))
	for i, m := range msgs {
		want[i] = hitString(set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{})))
	}
	if n := set.CacheBytes(); n <= 0 || n > 192<<20 {
		t.Errorf("the DFA caches hold %d bytes, outside the set's budget", n)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range msgs {
				i := (k + g*7) % len(msgs)
				m := msgs[i]
				if got := hitString(set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{}))); got != want[i] {
					t.Errorf("goroutine %d, message %d: %s, want %s", g, i, got, want[i])
				}
			}
		}(g)
	}
	wg.Wait()
}

func hitString(hs []sa.Hit) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s:%d:%g ", h.Rule.Name, h.Count, h.Value)
	}
	return b.String()
}

// BenchmarkEvalStock: the stock rules on a sample of the dev corpus,
// views included, per message.
func BenchmarkEvalStock(b *testing.B) {
	needSpamAssassin(&testing.T{})
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := stockSample(b, 300)
	if os.Getenv("LEVEE_SA_NOFILTERS") != "" { // the filters' share
		sa.SetFilters(false)
		defer sa.SetFilters(true)
	}
	if os.Getenv("LEVEE_SA_NOFASTCOUNT") != "" { // the counting shortcuts' share
		sa.SetFastCount(false)
		defer sa.SetFastCount(true)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{}))
	}
}

// BenchmarkCraftedRun judges messages made to make a backtracking engine
// (SpamAssassin's Perl) slow: one paragraph, one header and one URL of a
// long run of one character, at growing lengths; and lines that each
// start a match of a counted rule (__HAS_HREF: /^[^>].*?<a href=/m). MB/s
// stays flat (or grows) when the time is linear in the message.
func BenchmarkCraftedRun(b *testing.B) {
	needSpamAssassin(&testing.T{})
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		b.Fatal(err)
	}
	runs := map[string]func(n int) string{
		"a":     func(n int) string { return strings.Repeat("a", n) },
		"space": func(n int) string { return strings.Repeat(" ", n) },
		"1":     func(n int) string { return strings.Repeat("1", n) },
		"$":     func(n int) string { return strings.Repeat("$", n) },
		"href":  func(n int) string { return strings.Repeat("x<a href=y>z</a>\n", n/17) },
	}
	for _, name := range []string{"a", "space", "1", "$", "href"} {
		for _, n := range []int{4 << 10, 64 << 10, 1 << 20} {
			run := runs[name](n)
			msg := "From: x <x@example.com>\r\nSubject: " + strings.ReplaceAll(run[:min(len(run), 4096)], "\n", " ") + "\r\nTo: y@example.org\r\n" +
				"Content-Type: text/html\r\n\r\n<p>" + run + "</p><a href=\"http://example.com/" + strings.ReplaceAll(run[:min(len(run), 8192)], "\n", "") + "\">x</a>\r\n"
			m, err := rules.ReadMessage(strings.NewReader(msg), rules.Envelope{}, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{}))
				}
			})
		}
	}
}

var (
	fuzzSetOnce sync.Once
	fuzzSet     *sa.RuleSet
)

// FuzzEvalStock runs the stock rules on random messages: no panic, and
// the shortcuts (gates, counting) change no hit and no count.
func FuzzEvalStock(f *testing.F) {
	needSpamAssassin(&testing.T{})
	f.Add([]byte("From: a <a@b.example>\r\nSubject: FREE VIAGRA $1,000,000\r\n\r\n<a href=\"http://x.example/\">click</a>\r\n"))
	f.Add([]byte("Content-Type: text/html\r\n\r\n<p>x<a href=y>\n\n<a href=z>\nUS$ 4,500,000.00 \xe9t\xe9</p>"))
	f.Add([]byte("Received: from x (y [1.2.3.4]) by z; Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: \"=?utf-8?b?w6k=?=\" <c@d>\r\n\r\neeeee \xc3\xa9\xc3\xa8\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzSetOnce.Do(func() {
			set, err := sa.Load([]string{stockDir}, sa.Options{})
			if err != nil {
				t.Fatal(err)
			}
			fuzzSet = set
		})
		if fuzzSet == nil {
			t.Skip("no rule set")
		}
		m, err := rules.ReadMessage(bytes.NewReader(data), rules.Envelope{}, 0)
		if err != nil {
			return
		}
		v := view.New(viewFields(m.Fields), m.Body, view.Options{})
		got := hitString(fuzzSet.Eval(v))
		sa.SetFilters(false)
		sa.SetFastCount(false)
		defer sa.SetFilters(true)
		defer sa.SetFastCount(true)
		if want := hitString(fuzzSet.Eval(v)); got != want {
			t.Errorf("with shortcuts %s\nwithout %s", got, want)
		}
	})
}
