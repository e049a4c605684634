package auth

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/levee-mail/levee/rules/dns"
)

func TestSPF(t *testing.T) {
	e := newEnv(t, nil)
	txt := e.res.TXT
	txt["pass.example"] = []string{"v=spf1 ip4:192.0.2.0/24 -all", "google-site-verification=x"}
	txt["fail.example"] = []string{"v=spf1 -all"}
	txt["soft.example"] = []string{"v=spf1 ~all"}
	txt["neutral.example"] = []string{"v=spf1 ?all"}
	txt["noall.example"] = []string{"v=spf1 ip4:198.51.100.1"}
	txt["syntax.example"] = []string{"v=spf1 ip4:300.1.1.1 -all"}
	txt["two.example"] = []string{"v=spf1 -all", "v=spf1 +all"}
	// include chain three deep, then pass
	txt["inc.example"] = []string{"v=spf1 include:_a.inc.example -all"}
	txt["_a.inc.example"] = []string{"v=spf1 include:_b.inc.example -all"}
	txt["_b.inc.example"] = []string{"v=spf1 ip4:192.0.2.7 -all"}
	// an include of a domain without a record is a permerror
	txt["incnone.example"] = []string{"v=spf1 include:nothing.example -all"}
	// a loop
	txt["loop.example"] = []string{"v=spf1 include:loop2.example -all"}
	txt["loop2.example"] = []string{"v=spf1 include:loop.example -all"}
	// 11 lookups
	many := "v=spf1"
	for i := range 11 {
		many += fmt.Sprintf(" a:h%d.many.example", i)
		e.res.A[fmt.Sprintf("h%d.many.example", i)] = ips("203.0.113.1") // not void
	}
	txt["many.example"] = []string{many + " -all"}
	// 3 void lookups
	txt["void.example"] = []string{"v=spf1 a:v1.void.example a:v2.void.example a:v3.void.example -all"}
	// redirect=
	txt["red.example"] = []string{"v=spf1 redirect=_spf.red.example"}
	txt["_spf.red.example"] = []string{"v=spf1 ip6:2001:db8::/32 -all"}
	// a, mx, exists, ptr
	txt["amx.example"] = []string{"v=spf1 a mx -all"}
	e.res.A["amx.example"] = ips("192.0.2.10")
	e.res.MX["amx.example"] = []dns.MX{{Host: "mx.amx.example", Pref: 10}}
	e.res.A["mx.amx.example"] = ips("192.0.2.11")
	txt["exists.example"] = []string{"v=spf1 exists:%{i}._spf.exists.example -all"}
	e.res.A["192.0.2.12._spf.exists.example"] = ips("127.0.0.2")
	txt["ptr.example"] = []string{"v=spf1 ptr -all"}
	e.res.PTR["13.2.0.192.in-addr.arpa"] = []string{"mail.ptr.example"}
	e.res.A["mail.ptr.example"] = ips("192.0.2.13")
	// DNS failures
	e.res.Fail["servfail.example"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrServFail)
	e.res.Fail["timeout.example"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrTimeout)
	txt["inctemp.example"] = []string{"v=spf1 include:servfail.example -all"}
	txt["helo.example"] = []string{"v=spf1 ip4:192.0.2.20 -all"}

	for _, tc := range []struct {
		ip, helo, from, want string
	}{
		{"192.0.2.1", "mx.pass.example", "a@pass.example", "pass"},
		{"198.51.100.9", "x", "a@pass.example", "fail"},
		{"198.51.100.9", "x", "a@fail.example", "fail"},
		{"198.51.100.9", "x", "a@soft.example", "softfail"},
		{"198.51.100.9", "x", "a@neutral.example", "neutral"},
		{"198.51.100.9", "x", "a@noall.example", "neutral"},
		{"198.51.100.9", "x", "a@unknown.example", "none"},
		{"198.51.100.9", "x", "a@localhost", "none"},
		{"198.51.100.9", "x", "a@syntax.example", "permerror"},
		{"198.51.100.9", "x", "a@two.example", "permerror"},
		{"192.0.2.7", "x", "a@inc.example", "pass"},
		{"192.0.2.8", "x", "a@inc.example", "fail"},
		{"192.0.2.8", "x", "a@incnone.example", "permerror"},
		{"192.0.2.8", "x", "a@loop.example", "permerror"},
		{"192.0.2.8", "x", "a@many.example", "permerror"},
		{"192.0.2.8", "x", "a@void.example", "permerror"},
		{"2001:db8::5", "x", "a@red.example", "pass"},
		{"2001:db9::5", "x", "a@red.example", "fail"},
		{"192.0.2.10", "x", "a@amx.example", "pass"},
		{"192.0.2.11", "x", "a@amx.example", "pass"},
		{"192.0.2.12", "x", "a@exists.example", "pass"},
		{"192.0.2.13", "x", "a@ptr.example", "pass"},
		{"192.0.2.14", "x", "a@ptr.example", "fail"},
		{"192.0.2.1", "x", "a@servfail.example", "temperror"},
		{"192.0.2.1", "x", "a@timeout.example", "temperror"},
		{"192.0.2.1", "x", "a@inctemp.example", "temperror"},
		// the null sender: the HELO identity
		{"192.0.2.20", "helo.example", "", "pass"},
		{"192.0.2.21", "helo.example", "", "fail"},
		{"192.0.2.21", "[192.0.2.21]", "", "none"},
	} {
		r := checkSPF(context.Background(), e.c.cache, netip.MustParseAddr(tc.ip), tc.helo, tc.from)
		if r.Result != tc.want {
			t.Errorf("%s from %s helo %s: %s (%s), want %s", tc.ip, tc.from, tc.helo, r.Result, r.Reason, tc.want)
		}
		if tc.from == "" && tc.want != "none" && (r.Identity != "helo" || r.Sender != "postmaster@"+tc.helo) {
			t.Errorf("null sender: %+v", r)
		}
	}
	// An IPv4 client asks for A only (RFC 7208 section 5.3).
	if n := e.res.Count("AAAA amx.example"); n != 0 {
		t.Errorf("AAAA asked for an IPv4 client: %d", n)
	}
	if r := checkSPF(context.Background(), e.c.cache, netip.MustParseAddr("192.0.2.8"), "x", "a@many.example"); r.Reason != "more than 10 DNS lookups" {
		t.Errorf("reason %q", r.Reason)
	}
}

// Results map to their hits, and a temperror is never a fail: it scores 0.
func TestSPFHits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DKIM, c.DMARC = false, false })
	e.res.TXT["fail.example"] = []string{"v=spf1 -all"}
	e.res.TXT["pass.example"] = []string{"v=spf1 +all"}
	e.res.Fail["dead.example"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrTimeout)
	for from, want := range map[string]string{"a@fail.example": SPFFail, "a@pass.example": SPFPass, "a@dead.example": SPFTempError, "a@none.example": SPFNone} {
		r := e.run(t, message("a@x.example"), "192.0.2.1", "h.example", from)
		if hitNames(r) != want {
			t.Errorf("%s: %s", from, hitNames(r))
		}
		if want == SPFTempError && (score(r) != 0 || r.TempFail) {
			t.Errorf("temperror scored %v tempfail %v", score(r), r.TempFail)
		}
	}
}
