package received

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// sampleLines returns the Received values of testdata/received.txt.
func sampleLines(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/received.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

func FuzzParse(f *testing.F) {
	for _, l := range sampleLines(f) {
		f.Add(l)
	}
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Add("from ((((([1.2.3.4]")
	f.Add("from x ([::ffff:0:0]) by y") // CI's crasher: an IPv4-mapped address written in hex
	f.Add("from x (y [IPv6:::ffff:1.2.3.4%eth0]) by z; 31 Feb 2024 25:61:61 +9999")
	f.Fuzz(func(t *testing.T, s string) {
		h := Parse(s)
		if !h.IP.IsValid() && h.IP != (netip.Addr{}) {
			t.Errorf("invalid but non-zero IP %#v", h.IP)
		}
		if h.IP.IsValid() {
			if h.IP.Is4In6() || h.IP.Zone() != "" {
				t.Errorf("IP %v not normalised", h.IP)
			}
			// An IPv4 address appears literally in the input, or as an
			// IPv4-mapped IPv6 address in hex ("::ffff:0:0" is 0.0.0.0).
			if h.IP.Is4() && !strings.Contains(s, h.IP.String()) && !strings.Contains(strings.ToLower(s), "ffff:") {
				t.Errorf("IP %v not in input", h.IP)
			}
		}
		if h.Raw != unfold(s) {
			t.Errorf("Raw %q != unfold %q", h.Raw, unfold(s))
		}
		for _, f := range []string{h.Helo, h.RDNS, h.By, h.With, h.ID, h.For} {
			if len(f) > len(s)+8 {
				t.Errorf("field longer than input: %q", f)
			}
		}
		if h.HasDate && h.Date.IsZero() {
			t.Errorf("HasDate with zero Date")
		}
		_ = ParseAll([]string{s, s})
	})
}
