package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// startFake is a miekg/dns server on loopback (UDP and TCP on one port).
// Behaviour by name:
//
//	*.ok.test       A 192.0.2.1, AAAA 2001:db8::1, TXT "v=spf1" "-all" (two strings),
//	                MX 10 mx.ok.test, 5 mx2.ok.test
//	nodata.ok.test  NOERROR, no answer, SOA minimum 30
//	1.2.0.192.in-addr.arpa PTR host.ok.test.
//	*.timeout.test  no reply at all
//	*.servfail.test SERVFAIL
//	*.refused.test  REFUSED
//	*.trunc.test    truncated over UDP, 40 A records over TCP
//	anything else   NXDOMAIN with SOA (TTL 600, minimum 30)
func startFake(t testing.TB) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	soa, _ := mdns.NewRR("test. 600 IN SOA ns.test. admin.test. 1 3600 600 86400 30")
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		qn := q.Question[0].Name
		name := strings.ToLower(strings.TrimSuffix(qn, "."))
		m := new(mdns.Msg).SetReply(q)
		rr := func(s string) {
			r, err := mdns.NewRR(qn + " 60 IN " + s)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, r)
		}
		udp := w.LocalAddr().Network() == "udp"
		switch {
		case name == "nodata.ok.test":
			m.Ns = append(m.Ns, soa)
		case strings.HasSuffix(name, ".ok.test"):
			switch q.Question[0].Qtype {
			case mdns.TypeA:
				rr("A 192.0.2.1")
			case mdns.TypeAAAA:
				rr("AAAA 2001:db8::1")
			case mdns.TypeTXT:
				rr(`TXT "v=spf1" " -all"`)
			case mdns.TypeMX:
				rr("MX 10 mx.ok.test.")
				rr("MX 5 mx2.ok.test.")
			}
		case name == "1.2.0.192.in-addr.arpa":
			rr("PTR host.ok.test.")
		case strings.HasSuffix(name, ".timeout.test"):
			return
		case strings.HasSuffix(name, ".servfail.test"):
			m.Rcode = mdns.RcodeServerFailure
		case strings.HasSuffix(name, ".refused.test"):
			m.Rcode = mdns.RcodeRefused
		case strings.HasSuffix(name, ".trunc.test"):
			if udp {
				m.Truncated = true
				break
			}
			for i := range 40 {
				rr(fmt.Sprintf("A 127.0.0.%d", 2+i))
			}
		default:
			m.Rcode = mdns.RcodeNameError
			m.Ns = append(m.Ns, soa)
		}
		w.WriteMsg(m)
	})
	us := &mdns.Server{PacketConn: pc, Handler: h}
	ts := &mdns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return pc.LocalAddr().String()
}

func TestResolverTypes(t *testing.T) {
	addr := startFake(t)
	r, err := NewResolver(ResolverConfig{Servers: []string{addr}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ips, ttl, err := r.LookupA(ctx, "x.ok.test"); err != nil || len(ips) != 1 || ips[0].String() != "192.0.2.1" || ttl != time.Minute {
		t.Errorf("A: %v %v %v", ips, ttl, err)
	}
	if ips, _, err := r.LookupAAAA(ctx, "x.ok.test."); err != nil || len(ips) != 1 || ips[0].String() != "2001:db8::1" {
		t.Errorf("AAAA: %v %v", ips, err)
	}
	// The strings of one TXT record are joined without separator.
	if txt, _, err := r.LookupTXT(ctx, "x.ok.test"); err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Errorf("TXT: %q %v", txt, err)
	}
	if mx, _, err := r.LookupMX(ctx, "x.ok.test"); err != nil || len(mx) != 2 || mx[0] != (MX{"mx.ok.test", 10}) {
		t.Errorf("MX: %v %v", mx, err)
	}
	if names, _, err := r.LookupPTR(ctx, netip.MustParseAddr("192.0.2.1")); err != nil || len(names) != 1 || names[0] != "host.ok.test" {
		t.Errorf("PTR: %v %v", names, err)
	}
	// NODATA and NXDOMAIN are ErrNotFound with the negative TTL.
	if _, ttl, err := r.LookupTXT(ctx, "nodata.ok.test"); !errors.Is(err, ErrNotFound) || ttl != 30*time.Second {
		t.Errorf("nodata: %v %v", ttl, err)
	}
	if _, ttl, err := r.LookupMX(ctx, "x.other.test"); !errors.Is(err, ErrNotFound) || ttl != 30*time.Second {
		t.Errorf("nxdomain: %v %v", ttl, err)
	}
	if _, _, err := r.LookupPTR(ctx, netip.MustParseAddr("2001:db8::2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("ptr nxdomain: %v", err)
	}
	// Failures are ErrDNS with their cause, never ErrNotFound.
	for _, tc := range []struct {
		name string
		want error
	}{{"x.servfail.test", ErrServFail}, {"x.refused.test", ErrRefused}, {"x.timeout.test", ErrTimeout}} {
		_, _, err := r.LookupTXT(ctx, tc.name)
		if !errors.Is(err, ErrDNS) || !errors.Is(err, tc.want) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if ips, _, err := r.LookupA(ctx, "x.trunc.test"); err != nil || len(ips) != 40 {
		t.Errorf("truncated: %d %v", len(ips), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.LookupA(cctx, "x.ok.test"); !errors.Is(err, ErrDNS) {
		t.Errorf("cancelled: %v", err)
	}
	// Fallback: a dead server first, then the good one.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	r2, err := NewResolver(ResolverConfig{Servers: []string{dead.LocalAddr().String(), addr}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ips, _, err := r2.LookupA(ctx, "y.ok.test"); err != nil || len(ips) != 1 {
			t.Errorf("fallback: %v %v", ips, err)
		}
	}
}

func TestServerAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1:53"}, {"127.0.0.1:5353", "127.0.0.1:5353"}, {"::1", "[::1]:53"},
		{"[::1]:5353", "[::1]:5353"}, {"ns.example", "ns.example:53"}, {"", ""}, {":53", ""},
	} {
		got, err := serverAddr(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("serverAddr(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":        "1.2.0.192.in-addr.arpa",
		"::ffff:192.0.2.1": "1.2.0.192.in-addr.arpa",
		"2001:db8::1":      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	} {
		if got := ReverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestCache(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	res := &MapResolver{
		TXT:  map[string][]string{"a.example": {"v=spf1 -all"}},
		MX:   map[string][]MX{"a.example": {{"mx.a.example", 10}}},
		Fail: map[string]error{"bad.example": fmt.Errorf("%w: %w", ErrDNS, ErrServFail)},
		TTL:  10 * time.Minute,
	}
	c := NewCache(res, ResolverConfig{CacheSize: 100, MinTTL: time.Minute, MaxTTL: time.Hour, Deadline: time.Second}, clk.Now)
	hits, misses := 0, 0
	c.OnHit, c.OnMiss = func() { hits++ }, func() { misses++ }
	ctx := context.Background()
	for range 3 {
		if txt, err := c.LookupTXT(ctx, "a.example"); err != nil || txt[0] != "v=spf1 -all" {
			t.Fatal(txt, err)
		}
		if _, err := c.LookupTXT(ctx, "none.example"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := c.LookupTXT(ctx, "bad.example"); !errors.Is(err, ErrServFail) {
			t.Fatal(err)
		}
		if mx, err := c.LookupMX(ctx, "a.example"); err != nil || len(mx) != 1 {
			t.Fatal(mx, err)
		}
	}
	// answers and NXDOMAIN cached, failures asked each time
	if res.Count("TXT a.example") != 1 || res.Count("TXT none.example") != 1 || res.Count("TXT bad.example") != 3 || res.Count("MX a.example") != 1 {
		t.Errorf("queries: %v", res.Queries())
	}
	if hits != 6 || misses != 6 {
		t.Errorf("hits %d misses %d", hits, misses)
	}
	if ok, pos := c.Fresh("TXT a.example"); !ok || !pos {
		t.Error("fresh positive")
	}
	if ok, pos := c.Fresh("TXT none.example"); !ok || pos {
		t.Error("fresh negative")
	}
	clk.Add(11 * time.Minute)
	c.LookupTXT(ctx, "a.example")
	if res.Count("TXT a.example") != 2 {
		t.Error("kept past its TTL")
	}
	// TTL clamped: 2h kept 1h at most; 0 kept 1m at least; LRU bound.
	c2 := NewCache(res, ResolverConfig{CacheSize: 2, MinTTL: time.Minute, MaxTTL: time.Hour, Deadline: time.Second}, clk.Now)
	c2.Put(&Entry{Key: "a"}, 2*time.Hour)
	c2.Put(&Entry{Key: "b"}, 0)
	if _, ok := c2.Get("b"); !ok {
		t.Error("b missing")
	}
	clk.Add(61 * time.Second)
	if _, ok := c2.Get("b"); ok {
		t.Error("b kept past min ttl")
	}
	c2.Put(&Entry{Key: "c"}, time.Hour)
	c2.Put(&Entry{Key: "d"}, time.Hour)
	if c2.Len() != 2 {
		t.Errorf("size %d", c2.Len())
	}
	if _, ok := c2.Get("a"); ok {
		t.Error("LRU kept a")
	}
}

// A lookup in flight is shared; a caller whose context ends gets a
// timeout error (never ErrNotFound) while the lookup goes on for the others.
func TestCacheInflight(t *testing.T) {
	res := &MapResolver{TXT: map[string][]string{"a.example": {"x"}}, Delay: 100 * time.Millisecond}
	c := NewCache(res, ResolverConfig{CacheSize: 100, MinTTL: time.Minute, MaxTTL: time.Hour, Deadline: 5 * time.Second}, nil)
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := c.LookupTXT(short, "a.example"); !errors.Is(err, ErrDNS) || !errors.Is(err, ErrTimeout) {
		t.Errorf("short: %v", err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if txt, err := c.LookupTXT(context.Background(), "a.example"); err != nil || txt[0] != "x" {
				t.Error(txt, err)
			}
		}()
	}
	wg.Wait()
	if n := res.Count("TXT a.example"); n != 1 {
		t.Errorf("asked %d times", n)
	}
}

func TestMapResolver(t *testing.T) {
	r := &MapResolver{PTR: map[string][]string{"1.2.0.192.in-addr.arpa": {"h.example"}}}
	ctx := context.Background()
	if _, _, err := r.LookupA(ctx, "x.example."); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if _, _, err := r.LookupMX(ctx, "x.example"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if n, _, err := r.LookupPTR(ctx, netip.MustParseAddr("192.0.2.1")); err != nil || n[0] != "h.example" {
		t.Error(n, err)
	}
}
