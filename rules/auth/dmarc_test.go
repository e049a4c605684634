package auth

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/levee-mail/levee/rules/dns"
)

func TestDMARC(t *testing.T) {
	testKeys(t)
	e := newEnv(t, func(c *Config) { c.DMARCReject = "reject"; c.DMARCQuarantine = "quarantine" })
	txt := e.res.TXT
	txt["_dmarc.reject.example"] = []string{"v=DMARC1; p=reject; rua=mailto:d@reject.example"}
	txt["reject.example"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
	txt["rsa._domainkey.reject.example"] = []string{keyRec(t, rsaKey)}
	txt["_dmarc.quar.example"] = []string{"v=DMARC1; p=quarantine"}
	txt["_dmarc.none.example"] = []string{"v=DMARC1; p=none"}
	// sp= for subdomains: the organizational domain's record applies
	txt["_dmarc.parent.example"] = []string{"v=DMARC1; p=reject; sp=none"}
	txt["_dmarc.strict.example"] = []string{"v=DMARC1; p=reject; adkim=s; aspf=s"}
	txt["strict.example"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
	txt["mail.strict.example"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
	txt["rsa._domainkey.strict.example"] = []string{keyRec(t, rsaKey)}
	txt["_dmarc.pct.example"] = []string{"v=DMARC1; p=reject; pct=0"}
	txt["_dmarc.two.example"] = []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}
	txt["_dmarc.broken.example"] = []string{"v=DMARC1; p=bogus"}
	txt["_dmarc.brokenrua.example"] = []string{"v=DMARC1; p=bogus; rua=mailto:x@brokenrua.example"}
	txt["_dmarc.other.example"] = []string{"spf stuff", "v=DMARC10; p=reject"}
	e.res.Fail["_dmarc.dead.example"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrServFail)
	txt["_dmarc.tempspf.example"] = []string{"v=DMARC1; p=reject"}
	e.res.Fail["tempspf.example"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrTimeout)

	c := e.c
	sampled := true
	c.sample = func(int) bool { return sampled }
	for _, tc := range []struct {
		name, ip, mailFrom string
		raw                []byte
		result, hit        string
		action             Action
	}{
		{"forged p=reject", "198.51.100.1", "x@spam.example", message("ceo@reject.example"), "fail", DMARCReject, ActionReject},
		{"spf aligned", "192.0.2.1", "bounce@reject.example", message("ceo@reject.example"), "pass", DMARCPass, ActionNone},
		{"dkim aligned", "198.51.100.1", "x@list.example", sign(t, message("ceo@reject.example"), dkimOpts("reject.example", "rsa", rsaKey)), "pass", DMARCPass, ActionNone},
		{"dkim of another domain", "198.51.100.1", "x@list.example", sign(t, message("ceo@quar.example"), dkimOpts("reject.example", "rsa", rsaKey)), "fail", DMARCQuar, ActionQuarantine},
		{"p=none", "198.51.100.1", "x@spam.example", message("a@none.example"), "fail", DMARCNone, ActionNone},
		{"sp=none", "198.51.100.1", "x@spam.example", message("a@sub.parent.example"), "fail", DMARCNone, ActionNone},
		{"p at org", "198.51.100.1", "x@spam.example", message("a@parent.example"), "fail", DMARCReject, ActionReject},
		{"strict spf, subdomain sender", "192.0.2.1", "b@mail.strict.example", message("a@strict.example"), "fail", DMARCReject, ActionReject},
		{"strict spf, same domain", "192.0.2.1", "b@strict.example", message("a@strict.example"), "pass", DMARCPass, ActionNone},
		{"strict dkim, subdomain", "198.51.100.1", "x@y.example", sign(t, message("a@sub.strict.example"), dkimOpts("strict.example", "rsa", rsaKey)), "fail", DMARCReject, ActionReject},
		{"no record", "198.51.100.1", "x@spam.example", message("a@nodmarc.example"), "none", DMARCMissing, ActionNone},
		{"two records", "198.51.100.1", "x@spam.example", message("a@two.example"), "none", DMARCMissing, ActionNone},
		{"not DMARC1", "198.51.100.1", "x@spam.example", message("a@other.example"), "none", DMARCMissing, ActionNone},
		{"broken record", "198.51.100.1", "x@spam.example", message("a@broken.example"), "permerror", DMARCPermError, ActionNone},
		{"broken record with rua", "198.51.100.1", "x@spam.example", message("a@brokenrua.example"), "fail", DMARCNone, ActionNone},
		{"dns failure", "198.51.100.1", "x@spam.example", message("a@dead.example"), "temperror", DMARCTempError, ActionNone},
		{"aligned spf temperror", "198.51.100.1", "x@tempspf.example", message("a@tempspf.example"), "temperror", DMARCTempError, ActionNone},
		{"two From", "198.51.100.1", "x@spam.example", message("a@reject.example", "From: b@reject.example"), "permerror", DMARCPermError, ActionNone},
	} {
		r := e.run(t, tc.raw, tc.ip, "h.example", tc.mailFrom)
		if r.DMARC.Result != tc.result || !hasHit(r, tc.hit) || r.Action != tc.action {
			t.Errorf("%s: %s %s action %d, want %s %s %d (%+v)", tc.name, r.DMARC.Result, hitNames(r), r.Action, tc.result, tc.hit, tc.action, r.DMARC)
		}
		if tc.action == ActionReject && r.Reply != "550 5.7.1 Message from "+r.DMARC.From+" rejected by its DMARC policy (p=reject)" {
			t.Errorf("%s: reply %q", tc.name, r.Reply)
		}
	}
	// pct=0: not sampled, the policy drops to quarantine
	sampled = false
	r := e.run(t, message("a@pct.example"), "198.51.100.1", "h", "x@spam.example")
	if r.DMARC.Policy != "quarantine" || r.DMARC.Requested != "reject" || !hasHit(r, DMARCQuar) {
		t.Errorf("pct: %+v %s", r.DMARC, hitNames(r))
	}
}

// By default a failing p=reject only scores: no action.
func TestDMARCScoreOnly(t *testing.T) {
	e := newEnv(t, nil)
	e.res.TXT["_dmarc.reject.example"] = []string{"v=DMARC1; p=reject"}
	r := e.run(t, message("ceo@reject.example"), "198.51.100.1", "h", "x@spam.example")
	if r.Action != ActionNone || !hasHit(r, DMARCReject) || score(r) != 4 {
		t.Errorf("%d %s %v", r.Action, hitNames(r), score(r))
	}
	// scores: overrides
	e2 := newEnv(t, nil)
	e2.c.scores[DMARCReject] = 9
	e2.res.TXT["_dmarc.reject.example"] = []string{"v=DMARC1; p=reject"}
	if r := e2.run(t, message("ceo@reject.example"), "198.51.100.1", "h", "x@spam.example"); score(r) != 9 {
		t.Errorf("override: %v", score(r))
	}
}

func TestAligned(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		mode  string
		equal bool
	}{
		{"example.com", "EXAMPLE.com.", "s", true},
		{"mail.example.com", "example.com", "r", true},
		{"mail.example.com", "example.com", "s", false},
		{"a.example.co.uk", "b.example.co.uk", "r", true},
		{"example.co.uk", "other.co.uk", "r", false},
		{"", "example.com", "r", false},
	} {
		if got := aligned(tc.a, tc.b, alignMode(tc.mode)); got != tc.equal {
			t.Errorf("%s %s %s: %v", tc.a, tc.b, tc.mode, got)
		}
	}
}

func TestFromDomain(t *testing.T) {
	for v, want := range map[string]string{
		"Alice <alice@Example.COM>":              "example.com",
		"alice@example.com":                      "example.com",
		"=?utf-8?q?Al=C3=AFce?= <a@example.org>": "example.org",
		"\"PayPal\" <x@evil.example> <y@z>":      "",
		"a@b.example, c@d.example":               "",
		"Undisclosed":                            "",
		"a@localhost":                            "",
		"Bücher <info@bücher.example>":           "xn--bcher-kva.example",
	} {
		got, _ := fromDomain([]Field{{"From", v}})
		if got != want {
			t.Errorf("%q: %q, want %q", v, got, want)
		}
	}
	_ = netip.Addr{}
}
