package dfa

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules/eval/evaltest"
)

// stockRE is one line of testdata/stock_re2.jsonl: a regexp of
// SpamAssassin 4.0.1's stock rules (/usr/share/spamassassin/*.cf, with
// ReplaceTags applied) as rules/sa/perlre translates it. Generated once
// with perlre.Translate; the patterns that perlre refuses are not there.
type stockRE struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // header, mimeheader, body, rawbody, uri, full
	Header string `json:"header"` // for header rules: Subject, From:addr, ALL...
	RE2    string `json:"re2"`
}

func loadStock(tb testing.TB) []stockRE {
	tb.Helper()
	f, err := os.Open("testdata/stock_re2.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []stockRE
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r stockRE
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// compiled is a stock pattern compiled both ways.
type compiled struct {
	stockRE
	re  *regexp.Regexp
	dfa *DFA
}

func compileStock(tb testing.TB, pats []stockRE) []compiled {
	tb.Helper()
	out := make([]compiled, len(pats))
	for i, p := range pats {
		out[i] = compiled{stockRE: p, re: regexp.MustCompile(p.RE2), dfa: MustCompile(p.RE2)}
	}
	return out
}

// message is a corpus message cut into the texts the rules see, roughly
// as SpamAssassin's views make them (rules/sa/view builds the real ones):
// header rules match the values of their header, unfolded and joined with
// newlines (ALL: the whole header; X-Spam-Relays-*: the Received values
// stand in for SpamAssassin's relay lines), body and rawbody rules match
// the body lines less those that look like base64 (SpamAssassin decodes
// parts and leaves binary ones out), uri rules the URLs of the message,
// mimeheader rules the part headers, full rules the whole message. The
// text is raw octets.
type message struct {
	lines  []string            // every line of the message
	fields map[string][]string // lower-case name -> unfolded values
	head   string
	body   []string
	uris   []string
	mime   []string
	full   string
}

var (
	base64Line = regexp.MustCompile(`^[A-Za-z0-9+/=]{40,}\r?$`)
	uriRE      = regexp.MustCompile(`(?i)\b(?:https?://|ftp://|mailto:|www\.)[^\s"'<>]+`)
)

func (m *message) texts(p *stockRE) []string {
	switch p.Kind {
	case "header":
		return m.header(p.Header)
	case "mimeheader":
		return m.mime
	case "uri":
		return m.uris
	case "full":
		return []string{m.full}
	}
	return m.body
}

func (m *message) header(spec string) []string {
	name, _, _ := strings.Cut(spec, ":")
	var vals []string
	switch name {
	case "ALL":
		return []string{m.head}
	case "ToCc":
		vals = append(m.fields["to"], m.fields["cc"]...)
	case "MESSAGEID":
		vals = append(m.fields["message-id"], m.fields["resent-message-id"]...)
	case "EnvelopeFrom":
		vals = m.fields["return-path"]
	default:
		if strings.HasPrefix(name, "X-Spam-Relays-") {
			vals = m.fields["received"]
		} else {
			vals = m.fields[strings.ToLower(name)]
		}
	}
	if len(vals) == 0 {
		return []string{""}
	}
	return []string{strings.Join(vals, "\n") + "\n"}
}

func splitMessage(data []byte) message {
	m := message{full: string(data), fields: map[string][]string{}}
	head, body, _ := bytes.Cut(data, []byte("\n\n"))
	if h, b, ok := bytes.Cut(data, []byte("\r\n\r\n")); ok && len(h) < len(head) {
		head, body = h, b
	}
	m.head = string(head)
	var name string
	for _, l := range strings.Split(m.head, "\n") {
		m.lines = append(m.lines, l)
		l = strings.TrimSuffix(l, "\r")
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && name != "" {
			vs := m.fields[name]
			vs[len(vs)-1] += l
			continue
		}
		n, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(n))
		m.fields[name] = append(m.fields[name], strings.TrimSpace(v))
	}
	for _, l := range strings.Split(string(body), "\n") {
		m.lines = append(m.lines, l)
		if base64Line.MatchString(l) {
			continue
		}
		m.body = append(m.body, l)
		if strings.HasPrefix(strings.ToLower(l), "content-") {
			m.mime = append(m.mime, l)
		}
	}
	m.uris = uriRE.FindAllString(m.full, -1)
	return m
}

// loadMessages reads every step-th message of the dev corpus, n at most
// (skips, or fails in CI, when there is no corpus). The tarball is read
// here, not through rules/eval: rules imports this package, and a test
// of it may not import rules back.
func loadMessages(tb testing.TB, n, step int) []message {
	tb.Helper()
	f, err := os.Open(evaltest.Corpus(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []message
	i := 0
	for len(out) < n {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".eml") {
			continue
		}
		if i%step == 0 {
			data, err := io.ReadAll(tr)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, splitMessage(data))
		}
		i++
	}
	return out
}

// TestStock compares the DFA with regexp for every translated stock
// pattern on every line of a sample of the dev corpus (header and body
// lines alike, whatever the rule's kind), and on whole messages.
func TestStock(t *testing.T) {
	n, step, every := 6, 1400, 1
	if raceEnabled || testing.Short() {
		// the race detector makes regexp and the DFA some 20 times slower:
		// a sample of the patterns on one message
		n, step, every = 1, 1, 15
	}
	if v, err := strconv.Atoi(os.Getenv("LEVEE_DFA_STOCK_MESSAGES")); err == nil && v > 0 {
		// a wider comparison, by hand: messages spread over the corpus
		n, step, every = v, max(1, 8536/v), 1
	}
	msgs := loadMessages(t, n, step)
	all := loadStock(t)
	var some []stockRE
	for i := 0; i < len(all); i += every {
		some = append(some, all[i])
	}
	pats := compileStock(t, some)
	lines, bytes := 0, 0
	for _, m := range msgs {
		lines += len(m.lines)
		bytes += len(m.full)
	}
	hits, fulls := 0, 0
	for _, p := range pats {
		for _, m := range msgs {
			for _, ls := range [][]string{m.lines, {m.full}} {
				for _, l := range ls {
					got, w := p.dfa.Match(l), p.re.MatchString(byteRunes(l))
					if got != w {
						t.Errorf("%s %.60q on %.80q: DFA %v, regexp %v", p.Name, p.RE2, l, got, w)
					}
					if err := allKinds(p.dfa, l, w); err != "" {
						t.Errorf("%s %.60q on %.80q: %s", p.Name, p.RE2, l, err)
					}
					if w {
						hits++
					}
				}
			}
		}
	}
	total := 0
	for _, p := range pats {
		st := p.dfa.Stats()
		total += st.Bytes
		fulls += int(st.Fallbacks)
	}
	t.Logf("%d patterns, %d messages (%d lines, %d bytes): %d hits, %d fallbacks; DFAs hold %.1f MiB", len(pats), len(msgs), lines, bytes, hits, fulls, float64(total)/(1<<20))
}

// BenchmarkStock is the cost of the stock patterns on one message, as a
// rule engine runs them: each pattern over the texts of its kind (see
// message), stopping at its first hit. One op is one message; 100 messages of the dev corpus
// are cycled (every 85th: ham and spam of every source).
func BenchmarkStock(b *testing.B) {
	msgs := loadMessages(b, 100, 85)
	pats := compileStock(b, loadStock(b))
	run := func(b *testing.B, match func(p *compiled, s string) bool) {
		for i := 0; b.Loop(); i++ {
			m := &msgs[i%len(msgs)]
			for j := range pats {
				p := &pats[j]
				for _, s := range m.texts(&p.stockRE) {
					if match(p, s) {
						break
					}
				}
			}
		}
	}
	b.Run("dfa", func(b *testing.B) {
		run(b, func(p *compiled, s string) bool { return p.dfa.Match(s) })
		total := 0
		for _, p := range pats {
			total += p.dfa.Stats().Bytes
		}
		b.ReportMetric(float64(total)/(1<<20), "MiB-dfa")
	})
	b.Run("regexp", func(b *testing.B) {
		run(b, func(p *compiled, s string) bool { return p.re.MatchString(byteRunes(s)) })
	})
}
