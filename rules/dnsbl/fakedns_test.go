package dnsbl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeServer is a miekg/dns server on loopback (UDP and TCP on the same
// port) for what rbldnsd cannot do. Behaviour by zone:
//
//	*.listed.test   A 127.0.0.2, TXT "Listed: reason"
//	*.timeout.test  no reply at all
//	*.servfail.test SERVFAIL
//	*.refused.test  REFUSED
//	*.slow.test     A 127.0.0.2 after 300ms
//	*.trunc.test    truncated over UDP, 40 A records over TCP
//	anything else   NXDOMAIN with SOA (TTL 600, minimum 30)
type fakeServer struct {
	addr string
	stop func()
}

func startFake(t testing.TB) *fakeServer {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 { // the TCP port of a free UDP port may be taken
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
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		name := strings.ToLower(strings.TrimSuffix(q.Question[0].Name, "."))
		m := new(dns.Msg).SetReply(q)
		a := func(ip string) {
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		udp := w.LocalAddr().Network() == "udp"
		switch {
		case strings.HasSuffix(name, ".timeout.test"):
			return
		case strings.HasSuffix(name, ".servfail.test"):
			m.Rcode = dns.RcodeServerFailure
		case strings.HasSuffix(name, ".refused.test"):
			m.Rcode = dns.RcodeRefused
		case strings.HasSuffix(name, ".slow.test"):
			time.Sleep(300 * time.Millisecond)
			a("127.0.0.2")
		case strings.HasSuffix(name, ".trunc.test"):
			if udp {
				m.Truncated = true
				break
			}
			for i := range 40 {
				a(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}).String())
			}
		case strings.HasSuffix(name, ".listed.test"):
			if q.Question[0].Qtype == dns.TypeTXT {
				rr, _ := dns.NewRR(q.Question[0].Name + ` 60 IN TXT "Listed: " "reason"`)
				m.Answer = append(m.Answer, rr)
			} else {
				a("127.0.0.2")
			}
		default:
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("test. 600 IN SOA ns.test. admin.test. 1 3600 600 86400 30")
			m.Ns = append(m.Ns, soa)
		}
		w.WriteMsg(m)
	})
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: ln, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	f := &fakeServer{addr: pc.LocalAddr().String(), stop: func() { us.Shutdown(); ts.Shutdown() }}
	t.Cleanup(f.stop)
	return f
}

func TestResolverRcodes(t *testing.T) {
	f := startFake(t)
	r, err := NewResolver(ResolverConfig{Servers: []string{f.addr}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ips, ttl, err := r.LookupA(ctx, "2.2.0.192.listed.test")
	if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("127.0.0.2") || ttl != time.Minute {
		t.Errorf("listed: %v %v %v", ips, ttl, err)
	}
	txt, _, err := r.LookupTXT(ctx, "2.2.0.192.listed.test")
	if err != nil || len(txt) != 1 || txt[0] != "Listed: reason" {
		t.Errorf("txt: %q %v", txt, err)
	}
	if _, ttl, err := r.LookupA(ctx, "1.2.0.192.other.test"); !errors.Is(err, ErrNotFound) || ttl != 30*time.Second {
		t.Errorf("nxdomain: %v %v", ttl, err)
	}
	for _, tc := range []struct {
		name string
		want error
	}{{"x.servfail.test", ErrServFail}, {"x.refused.test", ErrRefused}, {"x.timeout.test", ErrTimeout}} {
		_, _, err := r.LookupA(ctx, tc.name)
		if !errors.Is(err, ErrDNS) || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if ips, _, err := r.LookupA(ctx, "x.trunc.test"); err != nil || len(ips) != 40 {
		t.Errorf("truncated: %d %v", len(ips), err)
	}
	// ctx respected: a cancelled context returns at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.LookupA(cctx, "x.listed.test"); !errors.Is(err, ErrDNS) {
		t.Errorf("cancelled: %v", err)
	}

	// Fallback: a dead server first, then the good one.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	r2, err := NewResolver(ResolverConfig{Servers: []string{dead.LocalAddr().String(), f.addr}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ips, _, err := r2.LookupA(ctx, "y.listed.test"); err != nil || len(ips) != 1 {
			t.Errorf("fallback: %v %v", ips, err)
		}
	}
}

// TestFailuresRealResolver: timeouts, SERVFAIL, REFUSED and slow answers
// through NewResolver; the Result comes within the deadline, on_error
// ignore scores nothing and records the error, tempfail gives 451 4.4.3.
func TestFailuresRealResolver(t *testing.T) {
	f := startFake(t)
	list := func(zone, onErr string) List {
		return List{Name: zone, Zone: zone, Kind: "ip", OnError: onErr,
			Answers: []Answer{{Match: "127.0.0.2", Rule: "RCVD_IN_" + strings.ToUpper(strings.Split(zone, ".")[0]), Score: 1}}}
	}
	cfg := Config{HealthInterval: -1, Lists: []List{
		list("timeout.test", "ignore"), list("servfail.test", "ignore"), list("refused.test", "ignore"),
		list("slow.test", "ignore"), list("listed.test", "ignore"),
	}}
	dnsCfg := ResolverConfig{Servers: []string{f.addr}, Timeout: 5 * time.Second, Deadline: time.Second}
	c, err := New(cfg, dnsCfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r := resultWithin(t, s, 10*time.Second)
	if r.TempFail || r.Score != 2 || len(r.Hits) != 2 {
		t.Errorf("ignore: %+v", r)
	}
	errs := strings.Join(r.Errors, "\n")
	for _, want := range []string{"timeout.test: 192.0.2.1", "servfail", "refused"} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing %q in %s", want, errs)
		}
	}

	cfg.Lists[1].OnError = "tempfail"
	c2, err := New(cfg, dnsCfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s = c2.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	r = resultWithin(t, s, 10*time.Second)
	if !r.TempFail || r.TempFailReply != TempFailReply || strings.Contains(r.TempFailReply, "servfail") {
		t.Errorf("tempfail: %+v", r)
	}

	// Timeout (no answer) with on_error: tempfail.
	cfg.Lists[0].OnError, cfg.Lists[1].OnError = "tempfail", "ignore"
	c3, err := New(cfg, dnsCfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	s = c3.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.1"))
	if r := resultWithin(t, s, 10*time.Second); !r.TempFail {
		t.Errorf("timeout tempfail: %+v", r)
	}
}

// resultWithin fails the test if Result hangs (a hang guard, not a speed
// assertion).
func resultWithin(t *testing.T, s *Session, d time.Duration) Result {
	t.Helper()
	ch := make(chan Result, 1)
	go func() { ch <- s.Result(context.Background()) }()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatal("Result hangs past the deadline")
		return Result{}
	}
}
