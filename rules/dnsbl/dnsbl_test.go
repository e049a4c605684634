package dnsbl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/rules/dns"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

type env struct {
	c    *Checker
	res  *MapResolver
	clk  *fakeClock
	logs *bytes.Buffer
	reg  *prometheus.Registry
}

// newEnv builds a Checker over a MapResolver with the default lists and
// cfg changes applied by mod.
func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e := &env{res: &MapResolver{A: map[string][]netip.Addr{}, TXT: map[string][]string{}, Fail: map[string]error{}},
		clk: &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}, reg: prometheus.NewRegistry()}
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg, ResolverConfig{Deadline: 2 * time.Second}, Options{Resolver: e.res, Logger: log, Registerer: e.reg, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e.c = c
	return e
}

func metricValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestReverseIP(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "1.2.0.192"},
		{"203.0.113.79", "79.113.0.203"},
		{"127.0.0.2", "2.0.0.127"},
		{"::ffff:1.2.3.4", "4.3.2.1"},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"2001:db8:7ca6:22::45", "5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.0.0.6.a.c.7.8.b.d.0.1.0.0.2"},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"fe80::1%eth0", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f"},
	} {
		if got := ReverseIP(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("ReverseIP(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// RFC 5782 IPv6 test entry is queried in nibble form in health checks.
	if got := reverseNoUnmap(testListed6); got != "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0" {
		t.Errorf("::ffff:7f00:2 = %s", got)
	}
}

func TestQueryable(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"192.0.2.1", true}, {"198.51.100.7", true}, {"127.0.0.2", true}, {"2001:db8::1", true},
		{"8.8.8.8", true}, {"::ffff:192.0.2.1", true},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false}, {"169.254.1.1", false},
		{"100.64.0.1", false}, {"0.0.0.0", false}, {"::1", false}, {"fe80::1", false}, {"fd00::1", false},
		{"224.0.0.1", false}, {"::ffff:10.0.0.1", false},
	} {
		if got := Queryable(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Queryable(%s) = %v", tc.ip, got)
		}
	}
	if Queryable(netip.Addr{}) {
		t.Error("zero addr queryable")
	}
}

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Example.COM.", "example.com"},
		{"  mail.example.org ", "mail.example.org"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"localhost", ""},
		{"192.0.2.1", ""},
		{"[192.0.2.1]", ""},
		{"[IPv6:2001:db8::1]", ""},
		{"2001:db8::1", ""},
		{"1.2.3.4.5", ""},
		{"", ""},
		{".", ""},
		{"a..b", ""},
		{"exa mple.com", ""},
		{"ex\x00ample.com", ""},
		{"-bad.example", ""},
		{strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("abcdefghi.", 26) + "com", ""},
	} {
		if got := NormalizeDomain(tc.in); got != tc.want {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRegisteredDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"www.example.com", "example.com"},
		{"a.b.example.co.uk", "example.co.uk"},
		{"example.com", "example.com"},
		{"co.uk", ""},
		{"foo.blogspot.com", "foo.blogspot.com"},
	} {
		if got := RegisteredDomain(tc.in); got != tc.want {
			t.Errorf("RegisteredDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseMatch(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		ok      bool
		in, out []string
	}{
		{"127.0.0.2", true, []string{"127.0.0.2"}, []string{"127.0.0.3", "127.0.1.2"}},
		{"127.0.0.4/30", true, []string{"127.0.0.4", "127.0.0.7"}, []string{"127.0.0.3", "127.0.0.8"}},
		{"127.0.0.5/30", true, []string{"127.0.0.4"}, []string{"127.0.0.8"}}, // masked
		{"127.0.*.3", true, []string{"127.0.0.3", "127.0.15.3"}, []string{"127.0.0.2", "127.1.0.3"}},
		{"bitmask:8", true, []string{"127.0.0.8", "127.0.0.24", "127.0.0.255"}, []string{"127.0.0.2", "127.0.0.16"}},
		{"bitmask:0", false, nil, nil},
		{"bitmask:256", false, nil, nil},
		{"bitmask:x", false, nil, nil},
		{"10.0.0.1", false, nil, nil},
		{"127.0.0.0/7", false, nil, nil},
		{"::1", false, nil, nil},
		{"127.0.0", false, nil, nil},
		{"128.*.0.1", false, nil, nil},
		{"127.0.*.256", false, nil, nil},
		{"127.0.*.03", false, nil, nil},
		{"", false, nil, nil},
	} {
		m, err := parseMatch(tc.spec)
		if (err == nil) != tc.ok {
			t.Errorf("parseMatch(%q) err = %v", tc.spec, err)
			continue
		}
		for _, s := range tc.in {
			if !m.match(netip.MustParseAddr(s)) {
				t.Errorf("%q should match %s", tc.spec, s)
			}
		}
		for _, s := range tc.out {
			if m.match(netip.MustParseAddr(s)) {
				t.Errorf("%q should not match %s", tc.spec, s)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	lists := DefaultLists()
	surbl := List{Name: "multi.surbl.test", Zone: "multi.surbl.test", Kind: "domain", Answers: []Answer{
		{Match: "bitmask:8", Rule: "URIBL_PH_SURBL", Score: 3}, {Match: "bitmask:16", Rule: "URIBL_MW_SURBL", Score: 3}}}
	if err := surbl.validate(); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*zlist{}
	for _, l := range append(lists, surbl) {
		byName[l.Name] = &zlist{List: l}
	}
	rules := func(l *zlist, r classified) string {
		var s []string
		for _, i := range r.answers {
			s = append(s, l.Answers[i].Rule)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		list    string
		answers []string
		rules   string
		isErr   bool
		unknown int
	}{
		{"zen.spamhaus.org", []string{"127.0.0.2"}, "RCVD_IN_SBL", false, 0},
		{"zen.spamhaus.org", []string{"127.0.0.2", "127.0.0.4"}, "RCVD_IN_SBL,RCVD_IN_XBL", false, 0},
		{"zen.spamhaus.org", []string{"127.0.0.4", "127.0.0.5"}, "RCVD_IN_XBL", false, 0},
		{"zen.spamhaus.org", []string{"127.0.0.11"}, "RCVD_IN_PBL", false, 0},
		{"zen.spamhaus.org", []string{"127.255.255.254"}, "", true, 0},
		{"zen.spamhaus.org", []string{"127.255.255.255"}, "", true, 0},
		{"zen.spamhaus.org", []string{"127.255.255.1"}, "", true, 0},
		{"zen.spamhaus.org", []string{"127.0.0.2", "127.255.255.252"}, "", true, 0},
		{"zen.spamhaus.org", []string{"93.184.216.34"}, "", true, 0},
		{"zen.spamhaus.org", []string{"2001:db8::1"}, "", true, 0},
		{"zen.spamhaus.org", []string{"127.0.0.30"}, "", false, 1},
		{"zen.spamhaus.org", []string{"127.0.0.2", "127.0.0.30"}, "RCVD_IN_SBL", false, 1},
		{"dbl.spamhaus.org", []string{"127.0.1.2"}, "URIBL_DBL_SPAM", false, 0},
		{"dbl.spamhaus.org", []string{"127.0.1.255"}, "", true, 0},
		{"dbl.spamhaus.org", []string{"127.0.1.104"}, "URIBL_DBL_ABUSE_PHISH", false, 0},
		{"list.dnswl.org", []string{"127.0.15.3"}, "RCVD_IN_DNSWL_HI", false, 0},
		{"list.dnswl.org", []string{"127.0.0.255"}, "", true, 0},
		{"list.dnswl.org", []string{"127.0.3.255"}, "", true, 0},
		{"multi.surbl.test", []string{"127.0.0.24"}, "URIBL_PH_SURBL,URIBL_MW_SURBL", false, 0},
		{"multi.surbl.test", []string{"127.0.0.1"}, "", true, 0},
		{"multi.surbl.test", []string{"127.0.0.2"}, "", false, 1},
	} {
		l := byName[tc.list]
		r := l.classify(addrs(tc.answers...))
		if got := rules(l, r); got != tc.rules || r.isError != tc.isErr || len(r.unknown) != tc.unknown {
			t.Errorf("%s %v: rules %q err %v (%s) unknown %v", tc.list, tc.answers, got, r.isError, r.errWhy, r.unknown)
		}
	}
	if why := errorMeaning(&byName["zen.spamhaus.org"].List, netip.MustParseAddr("127.255.255.254")); !strings.Contains(why, "open/public resolver") {
		t.Error(why)
	}
}

func TestValidate(t *testing.T) {
	good := func() Config {
		return Config{Lists: []List{{Name: "bl", Zone: "bl.example", Kind: "ip", Answers: []Answer{{Match: "127.0.0.2", Rule: "RCVD_IN_BL", Score: 1}}}}}
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Backoff != DefaultBackoff || c.HealthInterval != DefaultHealthInterval || c.EarlyReject.Score != 15 {
		t.Errorf("defaults: %+v", c)
	}
	if l := c.Lists[0]; l.OnError != "ignore" || fmt.Sprint(l.Checks) != "[client]" {
		t.Errorf("list defaults: %+v", l)
	}
	d := Config{Lists: []List{{Zone: "dbl.example", Kind: "domain", Answers: []Answer{{Match: "127.0.1.2", Rule: "X"}}}}}
	if err := d.Validate(); err != nil || fmt.Sprint(d.Lists[0].Checks) != "[helo mail_from from reply_to urls]" || d.Lists[0].Name != "dbl.example" {
		t.Errorf("domain defaults: %v %+v", err, d.Lists[0])
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Lists[0].Kind = "asn" }, "list bl: kind"},
		{func(c *Config) { c.Lists[0].Zone = "" }, "list bl: zone: missing"},
		{func(c *Config) { c.Lists[0].Zone = "bad zone" }, "list bl: zone"},
		{func(c *Config) { c.Lists[0].Checks = []string{"helo"} }, "list bl: checks"},
		{func(c *Config) { c.Lists[0].OnError = "panic" }, "list bl: on_error"},
		{func(c *Config) { c.Lists[0].Answers[0].Match = "10.0.0.1" }, "list bl: answers[0].match"},
		{func(c *Config) { c.Lists[0].Answers[0].Rule = "lower" }, "list bl: answers[0].rule"},
		{func(c *Config) { c.Lists[0].Answers = nil }, "list bl: answers"},
		{func(c *Config) { c.Lists[0].ErrorCodes = []string{"x"} }, "list bl: error_codes[0]"},
		{func(c *Config) { c.Lists[0].Answers[0].RejectText = "a\r\nb" }, "reject_text"},
		{func(c *Config) { c.Lists[0].DQS = "a.b" }, "list bl: dqs"},
		{func(c *Config) { c.Lists = append(c.Lists, c.Lists[0]) }, "name used twice"},
		{func(c *Config) { c.AllowlistThreshold = 3 }, "allowlist_threshold"},
		{func(c *Config) { c.DQSKey = "bad key" }, "dqs_key"},
		{func(c *Config) { c.Lists[0].Name = ""; c.Lists[0].Kind = "" }, "list bl.example: kind"},
	} {
		c := good()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error %q, got %v", tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "bad key") {
			t.Errorf("error shows the key: %v", err)
		}
	}
	// YAML with KnownFields, as the caller decodes it.
	var doc struct {
		DNS   ResolverConfig `yaml:"dns"`
		DNSBL Config         `yaml:"dnsbl"`
	}
	src := "dns:\n  servers: [127.0.0.1:5353]\n  timeout: 1s\n  min_ttl: 30s\n  max_ttl: 10m\n  cache_size: 5\n" + string(DefaultYAML[bytes.Index(DefaultYAML, []byte("\ndnsbl:\n")):])
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if err := doc.DNS.Validate(); err != nil || doc.DNS.MinTTL != 30*time.Second || doc.DNS.Deadline != DefaultDeadline {
		t.Fatalf("%v %+v", err, doc.DNS)
	}
	if err := doc.DNSBL.Validate(); err != nil || len(doc.DNSBL.Lists) != 3 || doc.DNSBL.AllowlistThreshold != -5 {
		t.Fatal(err, len(doc.DNSBL.Lists))
	}
	if r := doc.DNSBL.Lists[0].Answers[4]; r.Rule != "RCVD_IN_PBL" || r.countsOnReceived() || !r.SkipAuthenticated {
		t.Errorf("PBL answer: %+v", r)
	}
}

func TestExpandReply(t *testing.T) {
	for _, tc := range []struct{ tmpl, txt, ip, zone, want string }{
		{DefaultRejectText, "Listed, see https://check.spamhaus.org/x", "192.0.2.1", "zen.spamhaus.org",
			"Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org; Listed, see https://check.spamhaus.org/x"},
		{DefaultRejectText, "", "192.0.2.1", "zen", "Service unavailable; client [192.0.2.1] blocked using zen"},
		{"Blocked by %{zone}: %{txt}", "100% spam\r\n550 injected", "x", "bl", "Blocked by bl: 100%% spam 550 injected"},
		{"%{unknown} %{ip", "", "1", "z", "%%{unknown} %%{ip"},
		{"%{txt}", "caf\u00e9\x00\x7f", "", "", "caf?"},
	} {
		if got := ExpandReply(tc.tmpl, tc.txt, tc.ip, tc.zone); got != tc.want {
			t.Errorf("ExpandReply(%q, %q) = %q, want %q", tc.tmpl, tc.txt, got, tc.want)
		}
	}
	long := ExpandReply("%{txt}", strings.Repeat("%", 5000), "", "")
	if len(long) > maxReply || len(long)%2 != 0 {
		t.Errorf("long: %d", len(long))
	}
}

func TestSessionZEN(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2", "127.0.0.4")
	e.res.TXT["2.2.0.192.zen.spamhaus.org"] = []string{"Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL1"}
	e.res.A["3.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.10")
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	s.CheckIP(SourceReceived, netip.MustParseAddr("192.0.2.3")) // PBL on a Received hop: no score
	s.CheckIP(SourceClient, netip.MustParseAddr("10.0.0.1"))    // private: not queried
	r := s.Result(context.Background())
	if len(r.Hits) != 2 || r.Hits[0].Rule != "RCVD_IN_SBL" || r.Hits[1].Rule != "RCVD_IN_XBL" || r.Score != 8 {
		t.Fatalf("%+v", r)
	}
	h := r.Hits[0]
	if h.List != "zen.spamhaus.org" || h.Query != "192.0.2.2" || h.Source != SourceClient || h.Code != netip.MustParseAddr("127.0.0.2") || !strings.Contains(h.TXT, "SBL1") {
		t.Errorf("%+v", h)
	}
	for _, q := range e.res.Queries() {
		if strings.Contains(q, "10.0.0.1") || strings.HasPrefix(q, "A 1.0.0.10") {
			t.Errorf("private IP queried: %s", q)
		}
	}
	if len(r.Errors) != 0 {
		t.Error(r.Errors)
	}

	// PBL for the client counts unless authenticated.
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.3"))
	if r := s.Result(context.Background()); r.Score != 2 || r.Hits[0].Rule != "RCVD_IN_PBL" {
		t.Errorf("pbl: %+v", r)
	}
	s = e.c.NewSession(true)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.3"))
	if r := s.Result(context.Background()); r.Score != 0 || len(r.Hits) != 0 {
		t.Errorf("pbl authenticated: %+v", r)
	}
	// IPv6 queried in nibble form; IPv4-mapped as IPv4.
	e.res.A[ReverseIP(netip.MustParseAddr("2001:db8::1"))+".zen.spamhaus.org"] = addrs("127.0.0.3")
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("2001:db8::1"))
	s.CheckIP(SourceReceived, netip.MustParseAddr("::ffff:192.0.2.2"))
	r = s.Result(context.Background())
	if r.Score != 10 || len(r.Hits) != 3 {
		t.Errorf("v6: %+v", r)
	}
}

func TestSessionDomains(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["xn--bcher-kva.example.dbl.spamhaus.org"] = addrs("127.0.1.4")
	e.res.A["spam.example.dbl.spamhaus.org"] = addrs("127.0.1.2")
	s := e.c.NewSession(false)
	s.CheckDomain(SourceFrom, "BÜCHER.example.")
	s.CheckDomain(SourceReplyTo, "bücher.example")  // same name: one query
	s.CheckDomain(SourceHelo, "[192.0.2.1]")        // IP literal: no query
	s.CheckDomain(SourceClientName, "spam.example") // not in dbl's checks
	for i := range 30 {
		s.CheckDomain(SourceURLs, fmt.Sprintf("h%d.example.net", i))
	}
	s.CheckDomain(SourceURLs, "spam.example") // over the cap
	r := s.Result(context.Background())
	if len(r.Hits) != 1 || r.Hits[0].Rule != "URIBL_DBL_PHISH" || r.Hits[0].Query != "xn--bcher-kva.example" || r.Hits[0].Source != SourceFrom {
		t.Fatalf("%+v", r)
	}
	if n := e.res.Count("A xn--bcher-kva.example.dbl.spamhaus.org"); n != 1 {
		t.Errorf("queried %d times", n)
	}
	urls := 0
	for _, q := range e.res.Queries() {
		if strings.Contains(q, "example.net") {
			urls++
		}
		if strings.Contains(q, "192") || strings.Contains(q, "spam.example") {
			t.Errorf("unexpected query %s", q)
		}
	}
	if urls != MaxURLHosts {
		t.Errorf("url queries %d", urls)
	}
}

func TestRegisteredDomainList(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Lists = append(c.Lists, List{Name: "multi.surbl.test", Zone: "multi.surbl.test", Kind: "domain", Checks: []string{"urls"},
			RegisteredDomain: true, Answers: []Answer{{Match: "bitmask:8", Rule: "URIBL_PH_SURBL", Score: 3}, {Match: "bitmask:16", Rule: "URIBL_MW_SURBL", Score: 2}}})
	})
	e.res.A["example.co.uk.multi.surbl.test"] = addrs("127.0.0.24")
	s := e.c.NewSession(false)
	s.CheckDomain(SourceURLs, "www.a.example.co.uk")
	s.CheckDomain(SourceURLs, "co.uk")
	r := s.Result(context.Background())
	if r.Score != 5 || len(r.Hits) != 2 {
		t.Fatalf("%+v", r)
	}
	if e.res.Count("A www.a.example.co.uk.dbl.spamhaus.org") != 1 || e.res.Count("A co.uk.multi.surbl.test") != 0 {
		t.Error(e.res.Queries())
	}
}

func TestAllowlist(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["1.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	e.res.A["1.2.0.192.list.dnswl.org"] = addrs("127.0.10.3")
	e.res.A["5.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	e.res.A["5.2.0.192.list.dnswl.org"] = addrs("127.0.10.1")
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r := s.Result(context.Background())
	if !r.Allowlisted || r.Score != -5 || len(r.Hits) != 1 || r.Hits[0].Rule != "RCVD_IN_DNSWL_HI" {
		t.Errorf("high trust: %+v", r)
	}
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.5"))
	r = s.Result(context.Background())
	if r.Allowlisted || r.Score != 3 || len(r.Hits) != 2 {
		t.Errorf("low trust: %+v", r)
	}
}

func TestDQS(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz"
	e := newEnv(t, func(c *Config) {
		c.DQSKey = key
		c.EarlyReject.Enabled = true
		c.EarlyReject.Score = 4
		c.Lists[0].Answers[0].RejectText = "Blocked by %{zone} (%{ip}): %{txt}"
	})
	if z := DQSZone(key, "zen"); z != key+".zen.dq.spamhaus.net" {
		t.Fatal(z)
	}
	q := "2.2.0.192." + key + ".zen.dq.spamhaus.net"
	e.res.A[q] = addrs("127.0.0.2")
	e.res.TXT[q] = []string{"Listed; query " + q}
	e.res.Fail["4.2.0.192."+key+".zen.dq.spamhaus.net"] = fmt.Errorf("%w: %w from 127.0.0.1:53 for %s", ErrDNS, ErrRefused, key)
	e.res.A["test."+key+".dbl.dq.spamhaus.net"] = addrs("127.0.1.2")
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	s.CheckIP(SourceReceived, netip.MustParseAddr("192.0.2.4"))
	rej, reply := s.EarlyReject(context.Background())
	r := s.Result(context.Background())
	all := fmt.Sprintf("%v %s %+v", rej, reply, r)
	if !rej || !strings.HasPrefix(reply, "550 5.7.1 Blocked by zen.spamhaus.org (192.0.2.2): Listed; query 2.2.0.192.<dqs-key>.zen.dq.spamhaus.net") {
		t.Errorf("reply %q", reply)
	}
	if len(r.Hits) != 1 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "refused") {
		t.Errorf("%+v", r)
	}
	var buf bytes.Buffer
	FormatReports(&buf, e.c.Lookup(context.Background(), "192.0.2.2"))
	e.c.Health(context.Background())
	all += buf.String() + e.logs.String() + fmt.Sprint(e.c.Disabled())
	if strings.Contains(all, key) {
		t.Errorf("key leaked: %s", all)
	}
	if e.res.Count("A 2.2.0.192.zen.spamhaus.org") != 0 {
		t.Error("public zone queried with a DQS key")
	}
}

func TestBackoff(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["1.2.0.192.zen.spamhaus.org"] = addrs("127.255.255.254")
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r := s.Result(context.Background())
	if r.Score != 0 || len(r.Hits) != 0 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "open/public resolver") {
		t.Fatalf("%+v", r)
	}
	// Paused: the next query is not sent.
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	r = s.Result(context.Background())
	if e.res.Count("A 2.2.0.192.zen.spamhaus.org") != 0 || len(r.Hits) != 0 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "paused") {
		t.Fatalf("during backoff: %+v %v", r, e.res.Queries())
	}
	if n := strings.Count(e.logs.String(), "list paused"); n != 1 {
		t.Errorf("logged %d times", n)
	}
	if got := metricValue(t, e.c.m.queries.WithLabelValues("zen.spamhaus.org", "error_answer")); got != 1 {
		t.Errorf("metric %v", got)
	}
	e.clk.Add(DefaultBackoff + time.Second)
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	if r := s.Result(context.Background()); r.Score != 4 {
		t.Fatalf("after backoff: %+v", r)
	}
}

func TestCache(t *testing.T) {
	e := newEnv(t, nil)
	e.res.TTL = 10 * time.Minute
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	run := func(ip string) Result {
		s := e.c.NewSession(false)
		s.CheckIP(SourceClient, netip.MustParseAddr(ip))
		return s.Result(context.Background())
	}
	run("192.0.2.2")
	run("192.0.2.2")
	run("192.0.2.9") // negative answer
	run("192.0.2.9")
	if n := e.res.Count("A 2.2.0.192.zen.spamhaus.org"); n != 1 {
		t.Errorf("positive queried %d", n)
	}
	if n := e.res.Count("A 9.2.0.192.zen.spamhaus.org"); n != 1 {
		t.Errorf("negative queried %d", n)
	}
	hits, misses := metricValue(t, e.c.m.hits), metricValue(t, e.c.m.misses)
	if hits < 4 || misses < 4 {
		t.Errorf("hits %v misses %v", hits, misses)
	}
	e.clk.Add(9 * time.Minute)
	run("192.0.2.2")
	if n := e.res.Count("A 2.2.0.192.zen.spamhaus.org"); n != 1 {
		t.Errorf("before ttl: %d", n)
	}
	e.clk.Add(2 * time.Minute)
	run("192.0.2.2")
	if n := e.res.Count("A 2.2.0.192.zen.spamhaus.org"); n != 2 {
		t.Errorf("after ttl: %d", n)
	}
	// TTL clamped: 2h answer kept 1h at most; 0 kept 1m at least.
	c := newCache(e.res, ResolverConfig{CacheSize: 2, MinTTL: time.Minute, MaxTTL: time.Hour, Deadline: time.Second}, e.clk.Now)
	c.Put(&dns.Entry{Key: "a"}, 2*time.Hour)
	c.Put(&dns.Entry{Key: "b"}, 0)
	if _, ok := c.Get("b"); !ok {
		t.Error("b missing")
	}
	e.clk.Add(61 * time.Second)
	if _, ok := c.Get("b"); ok {
		t.Error("b kept past min ttl")
	}
	c.Put(&dns.Entry{Key: "c"}, time.Hour)
	c.Put(&dns.Entry{Key: "d"}, time.Hour)
	if c.Len() != 2 {
		t.Errorf("size %d", c.Len())
	}
	if _, ok := c.Get("a"); ok {
		t.Error("LRU kept a")
	}
	// Failures are not cached.
	e.res.Fail["7.2.0.192.zen.spamhaus.org"] = fmt.Errorf("%w: %w", ErrDNS, ErrServFail)
	run("192.0.2.7")
	run("192.0.2.7")
	if n := e.res.Count("A 7.2.0.192.zen.spamhaus.org"); n != 2 {
		t.Errorf("failure cached: %d", n)
	}
}

func TestInflightMerge(t *testing.T) {
	e := newEnv(t, nil)
	e.res.Delay = 100 * time.Millisecond
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	e.c.Prefetch(netip.MustParseAddr("192.0.2.2"))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.c.NewSession(false)
			s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
			if r := s.Result(context.Background()); r.Score != 4 {
				t.Errorf("%+v", r)
			}
		}()
	}
	wg.Wait()
	if n := e.res.Count("A 2.2.0.192.zen.spamhaus.org"); n != 1 {
		t.Errorf("queried %d times", n)
	}
}

func TestDeadlineAndOnError(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lists[0].OnError = "tempfail" })
	e.res.Delay = time.Hour // never answers
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := s.Result(ctx)
	if !r.TempFail || !strings.HasPrefix(r.TempFailReply, "451 4.4.3 ") || len(r.Errors) != 2 {
		t.Errorf("%+v", r)
	}
	e2 := newEnv(t, nil)
	e2.res.Fail["1.2.0.192.zen.spamhaus.org"] = fmt.Errorf("%w: %w", ErrDNS, ErrServFail)
	s = e2.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r = s.Result(context.Background())
	if r.TempFail || r.Score != 0 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "servfail") {
		t.Errorf("ignore: %+v", r)
	}
}

func TestHealthAndLookup(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["2.0.0.127.zen.spamhaus.org"] = addrs("127.0.0.2", "127.0.0.10")
	e.res.A[reverseNoUnmap(testListed6)+".zen.spamhaus.org"] = addrs("127.0.0.2")
	e.res.A["test.dbl.spamhaus.org"] = addrs("127.0.1.2")
	e.res.A["2.0.0.127.list.dnswl.org"] = addrs("127.0.10.0")
	e.res.A["1.0.0.127.list.dnswl.org"] = addrs("127.0.10.0") // broken
	reps := e.c.Health(context.Background())
	if !reps[0].OK || !reps[1].OK || reps[2].OK || !reps[2].Disabled {
		t.Fatalf("%+v", reps)
	}
	if reps[0].IPv6Err != nil || fmt.Sprint(e.c.Disabled()) != "[list.dnswl.org (IPv6)]" && fmt.Sprint(e.c.Disabled()) != "[list.dnswl.org]" {
		t.Errorf("disabled %v", e.c.Disabled())
	}
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r := s.Result(context.Background())
	if e.res.Count("A 1.2.0.192.list.dnswl.org") != 0 || len(r.Errors) != 1 {
		t.Errorf("disabled list queried: %+v", r)
	}
	if !strings.Contains(e.logs.String(), "level=ERROR") {
		t.Error("not logged loudly")
	}
	delete(e.res.A, "1.0.0.127.list.dnswl.org")
	reps = e.c.Health(context.Background())
	if reps[2].Err != nil || reps[2].IPv6Err == nil || len(e.c.Disabled()) != 1 || e.c.Disabled()[0] != "list.dnswl.org (IPv6)" {
		t.Errorf("%+v %v", reps, e.c.Disabled())
	}
	e.res.A[reverseNoUnmap(testListed6)+".list.dnswl.org"] = addrs("127.0.10.0")
	e.c.Health(context.Background())
	if len(e.c.Disabled()) != 0 {
		t.Error(e.c.Disabled())
	}

	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2", "127.0.0.9")
	e.res.TXT["2.2.0.192.zen.spamhaus.org"] = []string{"see https://check.spamhaus.org"}
	e.res.A["2.2.0.192.list.dnswl.org"] = addrs("127.0.0.255")
	reps2 := e.c.Lookup(context.Background(), "192.0.2.2")
	if len(reps2) != 2 || !reps2[0].Listed || len(reps2[0].Hits) != 2 || reps2[1].Err == nil || reps2[1].Listed {
		t.Fatalf("%+v", reps2)
	}
	var buf bytes.Buffer
	FormatReports(&buf, reps2)
	for _, want := range []string{"zen.spamhaus.org", "RCVD_IN_DROP (+7)", "TXT: see https", "error answer 127.0.0.255"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %q in\n%s", want, buf.String())
		}
	}
	if reps := e.c.Lookup(context.Background(), "Example.COM"); len(reps) != 1 || reps[0].Query != "example.com" || reps[0].Listed {
		t.Errorf("%+v", reps)
	}
	if reps := e.c.Lookup(context.Background(), "not a name"); len(reps) != 1 || reps[0].Err == nil {
		t.Errorf("%+v", reps)
	}
	if reps := e.c.Lookup(context.Background(), "10.1.1.1"); len(reps) != 1 || reps[0].Err == nil {
		t.Errorf("%+v", reps)
	}
}

func TestEarlyReject(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EarlyReject.Enabled = true; c.EarlyReject.Score = 5 })
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2", "127.0.0.9")
	e.res.TXT["2.2.0.192.zen.spamhaus.org"] = []string{"https://check.spamhaus.org/listed?ip=192.0.2.2"}
	e.res.A["3.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2")
	s := e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	rej, reply := s.EarlyReject(context.Background())
	want := "550 5.7.1 Service unavailable; client [192.0.2.2] blocked using zen.spamhaus.org; https://check.spamhaus.org/listed?ip=192.0.2.2"
	if !rej || reply != want {
		t.Errorf("%v %q", rej, reply)
	}
	s = e.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.3"))
	if rej, _ := s.EarlyReject(context.Background()); rej {
		t.Error("4 < 5 rejected")
	}
	off := newEnv(t, nil)
	off.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.9")
	s = off.c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	if rej, _ := s.EarlyReject(context.Background()); rej {
		t.Error("disabled early reject rejected")
	}
}

func TestMapResolverErrors(t *testing.T) {
	r := &MapResolver{}
	if _, _, err := r.LookupA(context.Background(), "x.example."); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if _, _, err := r.LookupTXT(context.Background(), "x.example"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
}

// A health check whose test query gets no answer (SERVFAIL, a timeout)
// learns nothing about the list: an enabled list stays enabled (a DNS
// outage at a start or a reload must not turn every list off until the
// next interval) and a disabled one stays disabled.
func TestHealthNoAnswerKeepsState(t *testing.T) {
	e := newEnv(t, nil)
	e.res.A["2.0.0.127.zen.spamhaus.org"] = addrs("127.0.0.2")
	e.res.A[reverseNoUnmap(testListed6)+".zen.spamhaus.org"] = addrs("127.0.0.2")
	e.res.A["test.dbl.spamhaus.org"] = addrs("127.0.1.2")
	e.res.A["2.0.0.127.list.dnswl.org"] = addrs("127.0.10.0")
	e.res.A[reverseNoUnmap(testListed6)+".list.dnswl.org"] = addrs("127.0.10.0")
	e.res.Fail["2.0.0.127.zen.spamhaus.org"] = fmt.Errorf("%w: %w", ErrDNS, ErrServFail)
	e.res.Fail["test.dbl.spamhaus.org"] = fmt.Errorf("%w: %w", ErrDNS, ErrTimeout)
	e.res.A["1.0.0.127.list.dnswl.org"] = addrs("127.0.10.0") // answers everything: really broken
	reps := e.c.Health(context.Background())
	if !reps[0].Inconclusive || reps[0].Disabled || !reps[1].Inconclusive || reps[1].Disabled {
		t.Fatalf("no answer disabled a list: %+v", reps)
	}
	if reps[2].Inconclusive || !reps[2].Disabled {
		t.Fatalf("a list that answers everything: %+v", reps[2])
	}
	if got := fmt.Sprint(e.c.Disabled()); got != "[list.dnswl.org]" {
		t.Errorf("disabled %s", got)
	}
	if !strings.Contains(reps[0].String(), "NO ANSWER (list stays enabled)") {
		t.Errorf("report line %q", reps[0].String())
	}
	// the broken list's server now fails to answer: it stays disabled
	delete(e.res.A, "1.0.0.127.list.dnswl.org")
	e.res.Fail["2.0.0.127.list.dnswl.org"] = fmt.Errorf("%w: %w", ErrDNS, ErrTimeout)
	reps = e.c.Health(context.Background())
	if !reps[2].Inconclusive || !reps[2].Disabled || fmt.Sprint(e.c.Disabled()) != "[list.dnswl.org]" {
		t.Errorf("a disabled list re-enabled by no answer: %+v %v", reps[2], e.c.Disabled())
	}
	// answers again: everything passes
	clear(e.res.Fail)
	e.c.Health(context.Background())
	if len(e.c.Disabled()) != 0 {
		t.Errorf("still disabled: %v", e.c.Disabled())
	}
}
