package view_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa/view"
)

// stockRulesDir is where Debian's spamassassin package puts the stock rules.
const stockRulesDir = "/usr/share/spamassassin"

// Agreement thresholds of TestAgainstSpamAssassin (exact equality per
// message and view); see README.md for what the remaining differences are.
var minAgreement = map[string]float64{
	"get":     0.98,
	"body":    0.98,
	"rawbody": 0.98,
	"full":    0.98,
	"mime":    0.98,
	"uris":    0.98,
}

// splitFields cuts a message file into the header fields and body a milter
// gets: the name as sent, the value without the one leading space after the
// colon, folding kept, without the final line ending.
func splitFields(data []byte) ([]view.Field, []byte) {
	var fields []view.Field
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		trim := bytes.TrimRight(line, "\r\n")
		if len(trim) == 0 {
			return fields, rest[len(line):]
		}
		if (trim[0] == ' ' || trim[0] == '\t') && len(fields) > 0 {
			f := &fields[len(fields)-1]
			f.Value += "\n"
			if bytes.HasSuffix(line, []byte("\r\n")) || strings.HasSuffix(f.Value, "\r\n") {
				f.Value = strings.TrimSuffix(f.Value, "\n") + "\r\n"
			}
			f.Value += string(trim)
			rest = rest[len(line):]
			continue
		}
		c := bytes.IndexByte(trim, ':')
		if c <= 0 {
			return fields, rest
		}
		v := string(trim[c+1:])
		v = strings.TrimPrefix(v, " ")
		fields = append(fields, view.Field{Name: string(trim[:c]), Value: v})
		rest = rest[len(line):]
	}
	return fields, nil
}

// reconstruct writes fields and body back as a message.
func reconstruct(fields []view.Field, body []byte, crlf bool) []byte {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.Name + ": " + f.Value + eol)
	}
	b.WriteString(eol)
	b.Write(body)
	return b.Bytes()
}

// The CRLF of a folded field follows the line ending of its first line.
func fixFolding(data []byte, fields []view.Field) {
	if !bytes.Contains(data, []byte("\r\n")) {
		for i := range fields {
			fields[i].Value = strings.ReplaceAll(fields[i].Value, "\r\n", "\n")
		}
	}
}

var (
	reHeaderRule = regexp.MustCompile(`^\s*header\s+\S+\s+(\S+)`)
	reMIMERule   = regexp.MustCompile(`^\s*mimeheader\s+\S+\s+(\S+)`)
)

// stockSpecs lists the header and mimeheader specs of the stock rules.
func stockSpecs(t testing.TB) (heads, mimes []string) {
	files, _ := filepath.Glob(filepath.Join(stockRulesDir, "*.cf"))
	hs, ms := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if m := reHeaderRule.FindStringSubmatch(line); m != nil {
				s := strings.TrimPrefix(m[1], "exists:")
				if strings.HasPrefix(s, "eval:") || s == "" {
					continue
				}
				hs[s] = true
			}
			if m := reMIMERule.FindStringSubmatch(line); m != nil {
				ms[m[1]] = true
			}
		}
	}
	for _, extra := range []string{"ALL-TRUSTED", "ALL-UNTRUSTED", "ALL-INTERNAL", "X-Spam-Relays-Trusted", "X-Spam-Relays-Internal", "ToCc:raw", "Subject:raw"} {
		hs[extra] = true
	}
	for s := range hs {
		heads = append(heads, s)
	}
	for s := range ms {
		mimes = append(mimes, s)
	}
	sort.Strings(heads)
	sort.Strings(mimes)
	return heads, mimes
}

// saResult is one line of testdata/sa-views.pl's output.
type saResult struct {
	File    string               `json:"file"`
	Get     map[string]*string   `json:"get"`
	Body    []string             `json:"body"`
	Rawbody []string             `json:"rawbody"`
	Full    string               `json:"full"`
	URIs    []string             `json:"uris"`
	MIME    map[string][]*string `json:"mime"`
}

// octets turns the script's \u00XX escapes back into bytes.
func octets(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

func octetsAll(ss []string) []string {
	for i := range ss {
		ss[i] = octets(ss[i])
	}
	return ss
}

func needSpamAssassin(t *testing.T) {
	t.Helper()
	err := exec.Command("perl", "-MMail::SpamAssassin", "-e", "1").Run()
	if _, serr := os.Stat(stockRulesDir); err != nil || serr != nil {
		if evaltest.InCI() {
			t.Fatalf("SpamAssassin is not installed: %v", err)
		}
		t.Skip("SpamAssassin (perl Mail::SpamAssassin and the stock rules) is not installed")
	}
}

type tally struct{ agree, total int }

func TestAgainstSpamAssassin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SpamAssassin")
	}
	needSpamAssassin(t)
	corpus := evaltest.Corpus(t)
	all := os.Getenv("LEVEE_SA_VIEWS_ALL") == "1"

	var items []eval.Item
	err := eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	if !all {
		step := max(1, len(items)/300)
		var s []eval.Item
		for i := 0; i < len(items); i += step {
			s = append(s, items[i])
		}
		items = s
	}
	compareWithSA(t, items, minAgreement)
}

// TestSyntheticAgainstSpamAssassin compares the views of the crafted
// messages of testdata/synthetic (charsets, HTML corner cases, MIME
// oddities, Received dialects) with SpamAssassin's.
func TestSyntheticAgainstSpamAssassin(t *testing.T) {
	needSpamAssassin(t)
	files, _ := filepath.Glob("testdata/synthetic/*.eml")
	var items []eval.Item
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, eval.Item{Name: f, Data: b})
	}
	if len(items) == 0 {
		t.Fatal("no testdata/synthetic/*.eml")
	}
	min := map[string]float64{}
	for k := range minAgreement {
		min[k] = 1
	}
	compareWithSA(t, items, min)
}

func compareWithSA(t *testing.T, items []eval.Item, minAgreement map[string]float64) {
	dir := t.TempDir()
	byFile := map[string]eval.Item{}
	var paths []string
	lossy := 0
	for i, it := range items {
		p := filepath.Join(dir, fmt.Sprintf("m%05d.eml", i))
		// SpamAssassin reads the message a milter hands over: the fields
		// written back as "Name: value" (a field sent without the space
		// after its colon gains one, the milter protocol drops the
		// difference)
		fields, body := splitFields(it.Data)
		fixFolding(it.Data, fields)
		milterMsg := reconstruct(fields, body, bytes.Contains(it.Data, []byte("\r\n")))
		if !bytes.Equal(milterMsg, it.Data) {
			lossy++
		}
		if err := os.WriteFile(p, milterMsg, 0o600); err != nil {
			t.Fatal(err)
		}
		byFile[p] = it
		paths = append(paths, p)
	}
	heads, mimes := stockSpecs(t)
	specFile, mimeFile := filepath.Join(dir, "specs"), filepath.Join(dir, "mimespecs")
	os.WriteFile(specFile, []byte(strings.Join(heads, "\n")+"\n"), 0o600)
	os.WriteFile(mimeFile, []byte(strings.Join(mimes, "\n")+"\n"), 0o600)

	tallies := map[string]*tally{}
	perSpec := map[string]*tally{}
	var diffs []string
	perView := map[string]int{}
	count := func(view, key string, ok bool, detail func() string) {
		tl := tallies[view]
		if tl == nil {
			tl = &tally{}
			tallies[view] = tl
		}
		tl.total++
		if ok {
			tl.agree++
		} else if perView[view] < 100 && detail != nil {
			perView[view]++
			diffs = append(diffs, detail())
		}
		if key != "" {
			ps := perSpec[key]
			if ps == nil {
				ps = &tally{}
				perSpec[key] = ps
			}
			ps.total++
			if ok {
				ps.agree++
			}
		}
	}

	// the script, in batches (one perl process per batch)
	const batch = 400
	for off := 0; off < len(paths); off += batch {
		args := append([]string{"testdata/sa-views.pl", specFile, mimeFile}, paths[off:min(off+batch, len(paths))]...)
		cmd := exec.Command("perl", args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var r saResult
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("bad line from sa-views.pl: %v", err)
			}
			it := byFile[r.File]
			fields, body := splitFields(it.Data)
			fixFolding(it.Data, fields)
			m := view.New(fields, body, view.Options{})
			name := it.Name

			for spec, want := range r.Get {
				got, ok := m.Get(spec)
				same := (want == nil) == !ok && (want == nil || octets(*want) == got)
				count("get", spec, same, func() string {
					w := "<undef>"
					if want != nil {
						w = octets(*want)
					}
					return fmt.Sprintf("%s get %s:\n  sa: %q\n  go: %q (ok=%v)", name, spec, w, got, ok)
				})
			}
			wb := octetsAll(r.Body)
			gb := m.Body()
			count("body", "", equalStrings(wb, gb), func() string { return fmt.Sprintf("%s body:\n%s", name, firstDiff(wb, gb)) })
			wr := octetsAll(r.Rawbody)
			gr := m.Rawbody()
			count("rawbody", "", equalStrings(wr, gr), func() string { return fmt.Sprintf("%s rawbody:\n%s", name, firstDiff(wr, gr)) })
			wf := octets(r.Full)
			gf := m.Full()
			count("full", "", wf == gf, func() string {
				return fmt.Sprintf("%s full:\n%s", name, firstDiff(splitKeep(wf), splitKeep(gf)))
			})
			wu := octetsAll(r.URIs)
			gu := m.URIs()
			count("uris", "", equalStrings(wu, gu), func() string { return fmt.Sprintf("%s uris:\n%s", name, firstDiff(wu, gu)) })
			for spec, want := range r.MIME {
				got := m.MIMEHeader(spec)
				same := len(got) == len(want)
				for i := 0; same && i < len(want); i++ {
					if (want[i] == nil) != !got[i].OK || want[i] != nil && octets(*want[i]) != got[i].Value {
						same = false
					}
				}
				count("mime", "mime "+spec, same, func() string {
					var w []string
					for _, x := range want {
						if x == nil {
							w = append(w, "<undef>")
						} else {
							w = append(w, octets(*x))
						}
					}
					var g []string
					for _, x := range got {
						if !x.OK {
							g = append(g, "<undef>")
						} else {
							g = append(g, x.Value)
						}
					}
					return fmt.Sprintf("%s mime %s:\n%s", name, spec, firstDiff(w, g))
				})
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sa-views.pl: %v", err)
		}
	}
	t.Logf("%d of %d messages differ from what a milter hands over (a field without a space after its colon)", lossy, len(items))
	if p := os.Getenv("LEVEE_SA_VIEWS_DIFFS"); p != "" {
		os.WriteFile(p, []byte(strings.Join(diffs, "\n\n")+"\n"), 0o644)
	}
	var keys []string
	for k, v := range perSpec {
		if v.agree < v.total {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := perSpec[keys[i]], perSpec[keys[j]]
		return a.total-a.agree > b.total-b.agree
	})
	for i, k := range keys {
		if i >= 25 {
			break
		}
		t.Logf("  %-32s %d/%d", k, perSpec[k].agree, perSpec[k].total)
	}
	for _, v := range []string{"get", "body", "rawbody", "full", "mime", "uris"} {
		tl := tallies[v]
		if tl == nil || tl.total == 0 {
			continue
		}
		r := float64(tl.agree) / float64(tl.total)
		t.Logf("%-8s %6d/%-6d = %.2f%% exact", v, tl.agree, tl.total, 100*r)
		if r < minAgreement[v] {
			t.Errorf("%s: %.2f%% exact agreement with SpamAssassin, want >= %.0f%% (LEVEE_SA_VIEWS_DIFFS=file lists the differences)", v, 100*r, 100*minAgreement[v])
		}
	}
}

func splitKeep(s string) []string { return strings.SplitAfter(s, "\n") }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstDiff(a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("  [%d] (sa %d, go %d elements)\n  sa: %q\n  go: %q", i, len(a), len(b), clip(x), clip(y))
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}
