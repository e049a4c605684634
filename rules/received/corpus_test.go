package received

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules/eval/evaltest"
)

// The independent "this Received field carries a client IP" heuristic: the
// field starts with "from", and the text before the first " by " holds an
// IPv4 literal (in brackets, parentheses or as the from word, possibly
// after user@), or a bracketed or parenthesised IPv6 literal; IPs written
// as HELO arguments ("HELO [1.2.3.4]", "helo=1.2.3.4") do not count.
var (
	reFromPart = regexp.MustCompile(`(?is)^from\s(.*?)(?:\sby\s|$)`)
	reHeloArg  = regexp.MustCompile(`(?i)(?:\(\s*[he]hlo\s+|helo=|"[he]hlo\s+)\S*`)
	reIPv4     = regexp.MustCompile(`(?:^|[\[(\s@])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[\]):\s]|$)`)
	reIPv6     = regexp.MustCompile(`(?i)[\[(](?:ipv6:)?[0-9a-f]{0,4}:[0-9a-f:.]*:[0-9a-f.]+[\])]`)
)

func carriesIP(v string) bool {
	m := reFromPart.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	part := reHeloArg.ReplaceAllString(m[1], " ")
	for _, g := range reIPv4.FindAllStringSubmatch(part, -1) {
		ok := true
		for _, o := range g[1:] {
			if len(o) > 1 && o[0] == '0' || len(o) == 3 && o > "255" {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return reIPv6.MatchString(part)
}

type corpusStats struct {
	fields, withIP, parsedIP int
	messages, topMatch       int
	rdnsMatch, heloMatch     int
	dated                    int
	misses, topMisses        []string
	rdnsMisses, heloMisses   []string
}

type envelope struct {
	File       string `json:"file"`
	ClientIP   string `json:"client_ip"`
	ClientName string `json:"client_name"`
	Helo       string `json:"helo"`
}

func TestCorpusCoverage(t *testing.T) {
	path := evaltest.Corpus(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)

	var st corpusStats
	top := map[string]Hop{}       // file -> the parsed top Received field
	envs := map[string]envelope{} // file -> envelope
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		switch {
		case strings.HasSuffix(name, ".eml"):
			values := receivedFields(tr)
			for i, v := range values {
				h := Parse(v)
				if i == 0 {
					top[name] = h
				}
				st.fields++
				if carriesIP(v) {
					st.withIP++
					if h.IP.IsValid() {
						st.parsedIP++
					} else if len(st.misses) < 20 {
						st.misses = append(st.misses, v)
					}
				}
			}
		case strings.HasSuffix(name, "envelope.jsonl"):
			sc := bufio.NewScanner(tr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var e envelope
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("envelope: %v", err)
				}
				envs[e.File] = e
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(envs) == 0 {
		t.Fatal("no envelope.jsonl in corpus")
	}
	for file, e := range envs {
		st.messages++
		w, err := netip.ParseAddr(e.ClientIP)
		h, ok := top[file]
		if ok && err == nil && h.IP == w.Unmap() {
			st.topMatch++
		} else if len(st.topMisses) < 20 {
			st.topMisses = append(st.topMisses, file+": got "+h.IP.String()+" want "+e.ClientIP)
		}
		if strings.EqualFold(h.RDNS, e.ClientName) {
			st.rdnsMatch++
		} else if len(st.rdnsMisses) < 30 {
			st.rdnsMisses = append(st.rdnsMisses, "got "+h.RDNS+" want "+e.ClientName+": "+h.Raw)
		}
		if h.Helo == e.Helo {
			st.heloMatch++
		} else if len(st.heloMisses) < 30 {
			st.heloMisses = append(st.heloMisses, "got "+h.Helo+" want "+e.Helo+": "+h.Raw)
		}
		if h.HasDate {
			st.dated++
		}
	}
	ipRate := float64(st.parsedIP) / float64(max(st.withIP, 1))
	topRate := float64(st.topMatch) / float64(max(st.messages, 1))
	t.Logf("Received fields: %d; carrying an IP (heuristic): %d; Parse found an IP: %d (%.2f%%)",
		st.fields, st.withIP, st.parsedIP, 100*ipRate)
	t.Logf("messages: %d; top hop IP == envelope client_ip: %d (%.2f%%)",
		st.messages, st.topMatch, 100*topRate)
	t.Logf("top hop: RDNS == client_name %d, Helo == helo %d, dated %d (of %d)",
		st.rdnsMatch, st.heloMatch, st.dated, st.messages)
	if testing.Verbose() {
		for _, m := range st.rdnsMisses {
			t.Logf("rdns mismatch: %s", m)
		}
		for _, m := range st.heloMisses {
			t.Logf("helo mismatch: %s", m)
		}
	}
	if ipRate < 0.99 || testing.Verbose() {
		for _, m := range st.misses {
			t.Logf("no IP: %s", m)
		}
	}
	if topRate < 0.99 || testing.Verbose() {
		for _, m := range st.topMisses {
			t.Logf("top mismatch: %s", m)
		}
	}
	if st.withIP == 0 || ipRate < 0.99 {
		t.Errorf("IP coverage %.2f%% < 99%%", 100*ipRate)
	}
	if topRate < 0.99 {
		t.Errorf("top-hop match %.2f%% < 99%%", 100*topRate)
	}
}

// receivedFields reads a message header and returns its Received field
// values in order, unfolded by net/textproto. A malformed header line ends
// the header (textproto returns what it read before it).
func receivedFields(r io.Reader) []string {
	tp := textproto.NewReader(bufio.NewReader(r))
	h, _ := tp.ReadMIMEHeader()
	return h.Values("Received")
}
