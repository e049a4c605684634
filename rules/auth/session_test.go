package auth

import (
	"bytes"
	"context"
	"crypto"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/dns"
)

func TestAuthservID(t *testing.T) {
	for v, want := range map[string]string{
		"mx.levee.test; spf=pass":                   "mx.levee.test",
		"  MX.Levee.Test. 1; dkim=pass":             "mx.levee.test",
		"(forged) mx.levee.test (c) ; none":         "mx.levee.test",
		`"mx.levee.test"; none`:                     "mx.levee.test",
		"mx.levee.test":                             "mx.levee.test",
		"(unterminated":                             "",
		"mx.example.org\r\n\t; spf=fail":            "mx.example.org",
		"((nested) comment) mx.levee.test;spf=pass": "mx.levee.test",
	} {
		if got := AuthservID(v); got != want {
			t.Errorf("%q: %q, want %q", v, got, want)
		}
	}
	e := newEnv(t, nil)
	fields := []Field{
		{"Received", "x"},
		{"Authentication-Results", "mx.example.org; spf=pass"},
		{"authentication-results", "(look) mx.levee.test; dmarc=pass"},
		{"Authentication-Results", "MX.LEVEE.TEST; dkim=pass"},
	}
	if got := e.c.ForgedAuthResults(fields); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("forged: %v", got)
	}
}

// The field levee writes parses back (go-msgauth's parser) with the same
// results, and every line is folded.
func TestAuthResultsRoundTrip(t *testing.T) {
	r := &Result{
		SPF:         SPFResult{Result: "fail", Identity: "mailfrom", Domain: "spam.example", Sender: "x@spam.example"},
		DKIMChecked: true,
		DKIM:        []DKIMResult{{Result: "permerror", Domain: "example.com", Selector: "s1", Algorithm: "rsa-sha256", B: "abcdefgh", Reason: "key revoked; \"oops\""}},
		DMARC:       DMARCResult{Result: "fail", From: "example.com", Requested: "reject"},
	}
	v := formatAuthResults("mx.levee.test", r)
	if strings.Count(v, "\n\t") != 3 {
		t.Errorf("folding: %q", v)
	}
	id, rs, err := authres.Parse(strings.ReplaceAll(v, "\n\t", " "))
	if err != nil || id != "mx.levee.test" || len(rs) != 3 {
		t.Fatalf("%q: %q %v %v", v, id, rs, err)
	}
	if s, ok := rs[0].(*authres.SPFResult); !ok || s.Value != "fail" || s.From != "x@spam.example" {
		t.Errorf("spf: %+v", rs[0])
	}
	if d, ok := rs[1].(*authres.DKIMResult); !ok || d.Value != "permerror" || d.Domain != "example.com" {
		t.Errorf("dkim: %+v", rs[1])
	}
	if d, ok := rs[2].(*authres.DMARCResult); !ok || d.Value != "fail" || d.From != "example.com" {
		t.Errorf("dmarc: %+v", rs[2])
	}
}

// A trusted client: SPF checks the last untrusted Received hop; without
// one (mail that originated inside) nothing is verified.
func TestTrustedClient(t *testing.T) {
	e := newEnv(t, nil)
	e.res.TXT["example.com"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
	en := Envelope{ClientIP: netip.MustParseAddr("10.0.0.5"), MailFrom: "a@example.com", Trusted: true}
	r := e.runEnv(t, message("a@example.com"), en, &Hop{IP: netip.MustParseAddr("192.0.2.9"), Helo: "out.example.com"}, 100)
	if r.Skipped != "" || r.SPF.Result != "pass" {
		t.Errorf("hop: %+v", r.SPF)
	}
	r = e.runEnv(t, message("a@example.com"), en, &Hop{IP: netip.MustParseAddr("198.51.100.9")}, 100)
	if r.SPF.Result != "fail" {
		t.Errorf("hop fail: %+v", r.SPF)
	}
	r = e.runEnv(t, message("a@example.com"), en, nil, 100)
	if r.Skipped != "trusted" || len(r.Hits) != 0 || r.Header != "" {
		t.Errorf("no hop: %+v", r)
	}
	if n := e.res.Count("TXT example.com"); n != 1 {
		t.Errorf("SPF asked %d times (the cache answers the second)", n)
	}
}

// A trusted forwarder: its SPF result is taken, levee does not check SPF
// on the forwarder's address; its DKIM pass counts for DMARC.
func TestTrustedForwarder(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.TrustedForwarders = []Forwarder{{Networks: []string{"203.0.113.0/24"}, AuthservID: "fwd.example.net"}}
	})
	e.res.TXT["_dmarc.example.com"] = []string{"v=DMARC1; p=reject"}
	ar := "Authentication-Results: (checked) fwd.example.net 1; spf=pass smtp.mailfrom=a@example.com; dkim=pass header.d=example.com"
	forged := "Authentication-Results: other.example; spf=fail smtp.mailfrom=a@example.com"
	r := e.run(t, message("a@example.com", forged, ar), "203.0.113.4", "fwd.example.net", "a@example.com")
	if r.SPF.Result != "pass" || r.SPF.FromForwarder != "fwd.example.net" || r.DMARC.Result != "pass" {
		t.Errorf("forwarder: spf %+v dmarc %+v", r.SPF, r.DMARC)
	}
	if e.res.Count("TXT example.com") != 0 {
		t.Error("SPF checked on the forwarder's address")
	}
	if !strings.Contains(r.Header, "reason=\"from trusted forwarder fwd.example.net\"") {
		t.Errorf("header %s", r.Header)
	}
	// without its field: no SPF result, DMARC fails (no aligned pass)
	r = e.run(t, message("a@example.com"), "203.0.113.4", "fwd.example.net", "a@example.com")
	if r.SPF.Result != "" || r.DMARC.Result != "fail" {
		t.Errorf("no field: %+v %+v", r.SPF, r.DMARC)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	_, pemKey, err := GenerateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, pemKey, 0o600)
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{OnError: "maybe"}, "on_error"},
		{Config{DMARCReject: "drop"}, "dmarc_reject"},
		{Config{DMARCQuarantine: "reject"}, "dmarc_quarantine"},
		{Config{AuthservID: "bad id;"}, "authserv_id"},
		{Config{Sign: []SignKey{{Domain: "example.com", Selector: "s", Key: bad}}}, bad},
		{Config{Sign: []SignKey{{Domain: "example.com", Selector: "s", Key: filepath.Join(dir, "missing.key")}}}, "missing.key"},
		{Config{Sign: []SignKey{{Domain: "exa mple", Selector: "s", Key: good}}}, "domain"},
		{Config{Sign: []SignKey{{Domain: "example.com", Selector: "s;1", Key: good}}}, "selector"},
		{Config{TrustedForwarders: []Forwarder{{Networks: []string{"x"}, AuthservID: "a.example"}}}, "trusted_forwarders[0]"},
		{Config{SignHeaders: []string{"Subject"}}, "From must be signed"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	c := Config{Sign: []SignKey{{Domain: "Example.COM.", Selector: "s", Key: good}}, hostname: "mx.test"}
	if err := c.Validate(); err != nil || c.Sign[0].Domain != "example.com" || c.AuthservID != "mx.test" || c.Sign[0].algo != "ed25519" {
		t.Errorf("%v %+v", err, c)
	}
}

func TestKeys(t *testing.T) {
	for _, typ := range []string{"rsa", "ed25519"} {
		k, p, err := GenerateKey(typ, 0)
		if err != nil {
			t.Fatal(err)
		}
		k2, algo, err := ParseKey(p)
		if err != nil || algo != typ || !k2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("%s: %v %s", typ, err, algo)
		}
		rec, _ := KeyRecord(k.Public())
		z := ZoneRecord("example.com", "s1", rec)
		if !strings.HasPrefix(z, "s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k="+typ) {
			t.Errorf("%s", z)
		}
		for _, part := range strings.Split(z, "\"")[1:] {
			if len(part) > 255 {
				t.Errorf("string of %d bytes", len(part))
			}
		}
	}
	if _, _, err := GenerateKey("rsa", 512); err == nil {
		t.Error("512-bit key made")
	}
	// dkimpy/rspamd Ed25519 seed files
	if _, algo, err := ParseKey([]byte("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n")); err != nil || algo != "ed25519" {
		t.Errorf("seed: %v", err)
	}
}

// levee's Signing signs what go-msgauth's verifier (through levee's own
// verification) accepts, RSA and Ed25519 at once; mail of a domain without
// keys is not signed.
func TestSigning(t *testing.T) {
	dir := t.TempDir()
	var keys []SignKey
	res := &dns.MapResolver{TXT: map[string][]string{}}
	for _, typ := range []string{"rsa", "ed25519"} {
		k, p, err := GenerateKey(typ, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, typ+".key")
		os.WriteFile(f, p, 0o600)
		keys = append(keys, SignKey{Domain: "example.com", Selector: typ, Key: f})
		rec, _ := KeyRecord(k.Public())
		res.TXT[typ+"._domainkey.example.com"] = []string{rec}
	}
	c, err := New(Config{Enabled: true, DKIM: true, AuthservID: "mx.test", Sign: keys}, dns.ResolverConfig{}, Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	raw := message("alice@sub.example.com")
	fields, at, _ := splitHeader(raw)
	s := c.StartSigning(fields)
	if s == nil {
		t.Fatal("not signing")
	}
	s.Body(raw[at : at+5])
	s.Body(raw[at+5:])
	sigs, err := s.Finish()
	if err != nil || len(sigs) != 2 {
		t.Fatal(sigs, err)
	}
	var signed bytes.Buffer
	for _, f := range sigs {
		signed.WriteString(f.Name + ": " + strings.ReplaceAll(f.Value, "\n", "\r\n") + "\r\n")
		if !strings.Contains(f.Value, "c=relaxed/relaxed") || !strings.Contains(f.Value, "h=From:From:") {
			t.Errorf("%s", f.Value)
		}
	}
	signed.Write(raw)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed.Bytes()), &dkim.VerifyOptions{LookupTXT: mapTXT(res)})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("go-msgauth verify: %v %v %v\n%s", err, vs[0].Err, vs[1].Err, signed.String())
	}
	fields, at, _ = splitHeader(signed.Bytes())
	sess := c.Start(Envelope{ClientIP: netip.MustParseAddr("192.0.2.1")})
	sess.Header(fields, nil)
	sess.Body(signed.Bytes()[at:])
	if r := sess.Result(context.Background()); len(r.DKIM) != 2 || r.DKIM[0].Result != "pass" || r.DKIM[1].Result != "pass" || !hasHit(r, DKIMValidAU) {
		t.Errorf("levee verify: %+v", r.DKIM)
	}
	if c.StartSigning([]Field{{"From", "a@other.example"}}) != nil {
		t.Error("signed a domain without keys")
	}
	// levee dkim sign
	var out bytes.Buffer
	k, _, _ := LoadKey(keys[0].Key)
	if err := SignMessage(&out, bytes.NewReader(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))), "example.com", "rsa", k); err != nil {
		t.Fatal(err)
	}
	if vs, err := dkim.VerifyWithOptions(&out, &dkim.VerifyOptions{LookupTXT: mapTXT(res)}); err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Errorf("SignMessage: %v %+v", err, vs)
	}
}

// mapTXT is go-msgauth's LookupTXT over a MapResolver: tests never let the
// library fall back to the system resolver.
func mapTXT(res *dns.MapResolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txt, _, err := res.LookupTXT(context.Background(), name)
		return txt, netErr(name, err)
	}
}
