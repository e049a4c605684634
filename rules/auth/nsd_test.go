package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"testing"
	"time"

	"github.com/levee-mail/levee/rules/auth/authtest"
	"github.com/levee-mail/levee/rules/dns"
)

// nsdEnv: the test zone served by a real nsd on loopback, and a Checker on
// levee's real resolver (miekg/dns stub) pointed at it.
func nsdEnv(t *testing.T, mod func(*Config)) (*authtest.NSD, *Checker) {
	t.Helper()
	k := authtest.TestKeys()
	n := authtest.StartNSD(t, authtest.Zones(k))
	cfg := Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test", DMARCReject: "reject"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, dns.ResolverConfig{Servers: []string{n.Addr}, Timeout: 500 * time.Millisecond, Deadline: 2 * time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

func nsdRun(t *testing.T, c *Checker, raw []byte, ip, helo, from string) *Result {
	t.Helper()
	e := &env{c: c}
	return e.run(t, raw, ip, helo, from)
}

func TestNSDSPF(t *testing.T) {
	_, c := nsdEnv(t, func(c *Config) { c.DKIM, c.DMARC = false, false })
	for _, tc := range []struct{ ip, helo, from, want string }{
		{authtest.GoodIP, "mta.good.test", "a@good.test", "pass"},
		{authtest.BadIP, "x.example", "a@good.test", "fail"},
		{authtest.GoodIP6, "x", "a@good.test", "pass"},
		{authtest.BadIP, "x", "a@soft.test", "softfail"},
		{authtest.BadIP, "x", "a@neutral.test", "neutral"},
		{authtest.BadIP, "x", "a@perm.test", "permerror"},
		{authtest.BadIP, "x", "a@nothing.test", "none"},
		{authtest.IncIP, "x", "a@inc.test", "pass"},
		{authtest.BadIP, "x", "a@inc.test", "fail"},
		{authtest.BadIP, "x", "a@loop.test", "permerror"},
		{authtest.BadIP, "x", "a@many.test", "permerror"},
		{authtest.BadIP, "x", "a@void.test", "permerror"},
		{authtest.GoodIP, "x", "a@redirect.test", "pass"},
		{authtest.BadIP, "x", "a@redirect.test", "fail"},
		{authtest.V6IP, "x", "a@v6.test", "pass"},
		{authtest.GoodIP6, "x", "a@v6.test", "fail"},
		{authtest.MXIP, "x", "a@mx.test", "pass"},
		{authtest.ExistsIP, "x", "a@exists.test", "pass"},
		{authtest.GoodIP, "x", "a@exists.test", "fail"},
		{authtest.PTRIP, "x", "a@ptr.test", "pass"},
		{authtest.GoodIP, "x", "a@ptr.test", "fail"},
		// null sender: the HELO identity
		{authtest.GoodIP, "mta.good.test", "", "pass"},
		{authtest.BadIP, "mta.good.test", "", "fail"},
	} {
		r := nsdRun(t, c, message("a@x.test"), tc.ip, tc.helo, tc.from)
		if r.SPF.Result != tc.want {
			t.Errorf("%s %s %q: %s (%s), want %s", tc.ip, tc.helo, tc.from, r.SPF.Result, r.SPF.Reason, tc.want)
		}
	}
}

func TestNSDDKIMAndDMARC(t *testing.T) {
	authtest.NeedDKIMPy(t)
	n, c := nsdEnv(t, nil)
	k := authtest.TestKeys()
	msg := message("ceo@good.test")
	blk, _ := pem.Decode(k.Short)
	short, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := authtest.PEM(k.RSA)
	for _, tc := range []struct {
		name          string
		raw           []byte
		ip, mailFrom  string
		dkim, rule    string
		dmarc, action string
	}{
		// RSA 2048 (its record in several TXT strings), signed by go-msgauth
		{"rsa", sign(t, msg, dkimOpts("good.test", "rsa", k.RSA)), authtest.BadIP, "x@list.example", "pass", DKIMValid, "pass", ""},
		{"ed25519 by dkimpy", authtest.DKIMPySign(t, msg, "ed", "good.test", nil, k.Ed, false), authtest.BadIP, "x@list.example", "pass", DKIMValid, "pass", ""},
		{"rsa by dkimpy", authtest.DKIMPySign(t, msg, "rsa", "good.test", rsaPEM, nil, false), authtest.BadIP, "x@list.example", "pass", DKIMValid, "pass", ""},
		{"l= by dkimpy", authtest.DKIMPySign(t, msg, "rsa", "good.test", rsaPEM, nil, true), authtest.BadIP, "x@list.example", "policy", DKIMLength, "fail", "reject"},
		{"body changed", bytes.Replace(sign(t, msg, dkimOpts("good.test", "rsa", k.RSA)), []byte("attached"), []byte("attacked"), 1), authtest.BadIP, "x@list.example", "fail", DKIMInvalid, "fail", "reject"},
		{"revoked", sign(t, msg, dkimOpts("good.test", "revoked", k.RSA)), authtest.BadIP, "x@list.example", "permerror", DKIMKeyRevoked, "fail", "reject"},
		{"512 bits", sign(t, msg, dkimOpts("good.test", "short", short)), authtest.BadIP, "x@list.example", "permerror", DKIMKeyShort, "fail", "reject"},
		{"no key", sign(t, msg, dkimOpts("good.test", "nokey", k.RSA)), authtest.BadIP, "x@list.example", "permerror", DKIMPermError, "fail", "reject"},
		{"spf aligned, unsigned", msg, authtest.GoodIP, "bounce@good.test", "", DKIMNone, "pass", ""},
	} {
		r := nsdRun(t, c, tc.raw, tc.ip, "h.example", tc.mailFrom)
		got := ""
		if len(r.DKIM) > 0 {
			got = r.DKIM[0].Result
		}
		act := map[Action]string{ActionNone: "", ActionReject: "reject", ActionQuarantine: "quarantine"}[r.Action]
		if got != tc.dkim || !hasHit(r, tc.rule) || r.DMARC.Result != tc.dmarc || act != tc.action {
			t.Errorf("%s: dkim %s, dmarc %s, action %q, hits %s; want %s %s %s %q", tc.name, got, r.DMARC.Result, act, hitNames(r), tc.dkim, tc.rule, tc.dmarc, tc.action)
		}
	}
	// DMARC policies: quarantine, none, sp= for a subdomain, strict alignment
	for _, tc := range []struct{ from, mailFrom, ip, result, policy string }{
		{"a@quar.test", "x@spam.example", authtest.BadIP, "fail", "quarantine"},
		{"a@none.test", "x@spam.example", authtest.BadIP, "fail", "none"},
		{"a@sub.parent.test", "x@spam.example", authtest.BadIP, "fail", "quarantine"},
		{"a@parent.test", "x@spam.example", authtest.BadIP, "fail", "reject"},
		{"a@strict.test", "b@mail.strict.test", authtest.GoodIP, "fail", "reject"},
		{"a@strict.test", "b@strict.test", authtest.GoodIP, "pass", ""},
		{"a@nodmarc.test", "b@strict.test", authtest.GoodIP, "none", ""},
	} {
		r := nsdRun(t, c, message(tc.from), tc.ip, "h", tc.mailFrom)
		if r.DMARC.Result != tc.result || r.DMARC.Policy != tc.policy {
			t.Errorf("%s via %s: %+v", tc.from, tc.mailFrom, r.DMARC)
		}
	}
	// Mail signed by levee verifies with dkimpy (RSA and Ed25519 at once).
	dir := t.TempDir()
	c2, err := New(Config{Sign: []SignKey{
		{Domain: "good.test", Selector: "rsa", Key: authtest.WriteKey(t, dir, "rsa.key", rsaPEM)},
		{Domain: "good.test", Selector: "ed", Key: authtest.WriteKey(t, dir, "ed.key", authtest.PEM(k.Ed))},
	}}, dns.ResolverConfig{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fields, at, _ := splitHeader(msg)
	s := c2.StartSigning(fields)
	s.Body(msg[at:])
	sigs, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	for _, f := range sigs {
		signed.WriteString(f.Name + ": " + string(bytes.ReplaceAll([]byte(f.Value), []byte("\n"), []byte("\r\n"))) + "\r\n")
	}
	signed.Write(msg)
	if ok, out := authtest.DKIMPyVerify(t, n.Addr, signed.Bytes()); !ok {
		t.Errorf("dkimpy rejects levee's signatures:\n%s\n%s", out, signed.String())
	}
	if ok, out := authtest.DKIMPyVerify(t, n.Addr, bytes.Replace(signed.Bytes(), []byte("attached"), []byte("attacked"), 1)); ok {
		t.Errorf("dkimpy accepts a changed body: %s", out)
	}
}

// A DNS server that stops answering mid-run: results become temperror,
// never fail, and come within the deadline; when it answers again so do
// the results.
func TestNSDStopsAnswering(t *testing.T) {
	n, c := nsdEnv(t, nil)
	k := authtest.TestKeys()
	msg := sign(t, message("ceo@good.test"), dkimOpts("good.test", "rsa", k.RSA))
	if r := nsdRun(t, c, msg, authtest.BadIP, "h", "a@soft.test"); r.SPF.Result != "softfail" || r.DKIM[0].Result != "pass" {
		t.Fatalf("before: %+v %+v", r.SPF, r.DKIM)
	}
	n.Pause()
	// names not yet cached
	r := nsdRun(t, c, sign(t, message("a@quar.test"), dkimOpts("good.test", "ed", k.Ed)), authtest.BadIP, "h", "x@neutral.test")
	n.Resume()
	if r.SPF.Result != "temperror" || r.DKIM[0].Result != "temperror" || r.DMARC.Result != "temperror" || score(r) != 0 {
		t.Errorf("paused: spf %s dkim %s dmarc %s score %v", r.SPF.Result, r.DKIM[0].Result, r.DMARC.Result, score(r))
	}
	if r := nsdRun(t, c, message("a@quar.test"), authtest.BadIP, "h", "x@neutral.test"); r.SPF.Result != "neutral" || r.DMARC.Result != "fail" {
		t.Errorf("after: %+v %+v", r.SPF, r.DMARC)
	}
	_ = netip.Addr{}
	_ = context.Background
}
