package dnsbl

import (
	"net/netip"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseMatch: Answer.Match / error_codes specs never panic, and a
// parsed matcher only ever matches inside 127.0.0.0/8.
func FuzzParseMatch(f *testing.F) {
	for _, s := range []string{"127.0.0.2", "127.0.0.4/30", "127.0.*.3", "bitmask:8", "127.255.255.0/24",
		"bitmask:", "127.*.*.*", "::1", "127.0.0.1/0", "1.2.3.4", "127.0.0.02", "*"} {
		f.Add(s, []byte{127, 0, 0, 2})
	}
	f.Fuzz(func(t *testing.T, spec string, b []byte) {
		m, err := parseMatch(spec)
		if err != nil || len(b) < 4 {
			return
		}
		a := netip.AddrFrom4([4]byte(b[:4]))
		if m.match(a) && m.kind != matchBitmask && !loopback8.Contains(a) {
			t.Errorf("%q matches %s", spec, a)
		}
	})
}

// FuzzAnswerTable: a whole list config from YAML validates or fails
// cleanly, and classifying any answer gives a consistent reading.
func FuzzAnswerTable(f *testing.F) {
	f.Add("lists:\n- {name: z, zone: zen.example, kind: ip, answers: [{match: 127.0.0.2, rule: A, score: 1}, {match: 127.0.0.4/30, rule: B}], error_codes: [127.255.255.0/24]}\n", []byte{127, 0, 0, 2})
	f.Add("lists:\n- {zone: dbl.example, kind: domain, answers: [{match: 'bitmask:8', rule: P}]}\n", []byte{127, 0, 0, 1})
	f.Add("lists:\n- {zone: wl.example, kind: ip, answers: [{match: '127.0.*.3', rule: HI, score: -5}]}\nallowlist_threshold: -5\n", []byte{127, 0, 9, 3})
	f.Fuzz(func(t *testing.T, doc string, b []byte) {
		if len(doc) > 4096 {
			return
		}
		var cfg Config
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		if dec.Decode(&cfg) != nil || cfg.Validate() != nil {
			return
		}
		for _, l := range cfg.Lists {
			z := &zlist{List: l}
			var ips []netip.Addr
			for i := 0; i+4 <= len(b) && i < 64; i += 4 {
				ips = append(ips, netip.AddrFrom4([4]byte(b[i:i+4])))
			}
			r := z.classify(ips)
			if r.isError && len(r.answers) > 0 {
				t.Fatal("error answer with hits")
			}
			for _, i := range r.answers {
				if i < 0 || i >= len(l.Answers) {
					t.Fatal("answer index out of range")
				}
			}
			for _, ip := range ips {
				if !loopback8.Contains(ip) && !r.isError {
					t.Fatalf("%s outside 127/8 not an error", ip)
				}
			}
		}
	})
}

// FuzzQueryName: names and IPs from arbitrary strings give a valid query
// name or nothing.
func FuzzQueryName(f *testing.F) {
	for _, s := range []string{"example.com", "bücher.example", "[192.0.2.1]", "2001:db8::1", "::ffff:1.2.3.4",
		"a..b", "xn--", "EXAMPLE.COM.", strings.Repeat("a.", 200), "\x00.com", "1.2.3.4", "foo.co.uk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := NormalizeDomain(s); d != "" {
			if !validName(d) || strings.ToLower(d) != d {
				t.Fatalf("NormalizeDomain(%q) = %q", s, d)
			}
			if q := queryName(d, "dbl.spamhaus.org"); q != "" && !validName(q) {
				t.Fatalf("query %q", q)
			}
			if rd := RegisteredDomain(d); rd != "" && !strings.HasSuffix(d, rd) {
				t.Fatalf("RegisteredDomain(%q) = %q", d, rd)
			}
		}
		if ip, err := netip.ParseAddr(s); err == nil {
			rev := ReverseIP(ip)
			labels := strings.Count(rev, ".") + 1
			if labels != 4 && labels != 32 || !validName(rev) {
				t.Fatalf("ReverseIP(%s) = %q", s, rev)
			}
		}
		_ = ExpandReply(s, s, s, s)
	})
}
