package auth

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/dns"
)

func dkimOpts(d, s string, k crypto.Signer) dkim.SignOptions {
	return dkim.SignOptions{Domain: d, Selector: s, Signer: k,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"}}
}

func TestDKIM(t *testing.T) {
	testKeys(t)
	e := newEnv(t, func(c *Config) { c.SPF, c.DMARC = false, false })
	e.res.TXT["rsa._domainkey.example.com"] = []string{keyRec(t, rsaKey)}
	e.res.TXT["ed._domainkey.example.com"] = []string{keyRec(t, edKey)}
	e.res.TXT["k1024._domainkey.example.com"] = []string{keyRec(t, rsaK2)}
	e.res.TXT["other._domainkey.other.example"] = []string{keyRec(t, rsaKey)}
	e.res.TXT["revoked._domainkey.example.com"] = []string{"v=DKIM1; k=rsa; p="}
	e.res.TXT["short._domainkey.example.com"] = []string{keyRec(t, rsa512)}
	e.res.Fail["dead._domainkey.example.com"] = fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrServFail)
	msg := message("alice@example.com")
	simple := dkimOpts("example.com", "rsa", rsaKey)
	simple.HeaderCanonicalization, simple.BodyCanonicalization = dkim.CanonicalizationSimple, dkim.CanonicalizationSimple
	expired := dkimOpts("example.com", "rsa", rsaKey)
	expired.Expiration = time.Now().Add(-time.Hour)
	withL := func(raw []byte) []byte {
		return bytes.Replace(raw, []byte("DKIM-Signature: "), []byte("DKIM-Signature: l=20; "), 1)
	}
	changeBody := func(raw []byte) []byte { return bytes.Replace(raw, []byte("minutes are"), []byte("minutes were"), 1) }
	changeSubject := func(raw []byte) []byte {
		return bytes.Replace(raw, []byte("Subject: minutes"), []byte("Subject: invoice"), 1)
	}

	for _, tc := range []struct {
		name   string
		raw    []byte
		result string
		hits   string
	}{
		{"rsa relaxed", sign(t, msg, dkimOpts("example.com", "rsa", rsaKey)), "pass", "DKIM_VALID,DKIM_VALID_AU"},
		{"rsa simple", sign(t, msg, simple), "pass", "DKIM_VALID,DKIM_VALID_AU"},
		{"rsa 1024", sign(t, msg, dkimOpts("example.com", "k1024", rsaK2)), "pass", "DKIM_VALID,DKIM_VALID_AU"},
		{"ed25519", sign(t, msg, dkimOpts("example.com", "ed", edKey)), "pass", "DKIM_VALID,DKIM_VALID_AU"},
		{"third party", sign(t, msg, dkimOpts("other.example", "other", rsaKey)), "pass", "DKIM_VALID"},
		{"body changed", changeBody(sign(t, msg, dkimOpts("example.com", "rsa", rsaKey))), "fail", "DKIM_INVALID"},
		{"subject changed", changeSubject(sign(t, msg, dkimOpts("example.com", "rsa", rsaKey))), "fail", "DKIM_INVALID"},
		{"l=", withL(sign(t, msg, dkimOpts("example.com", "rsa", rsaKey))), "policy", "DKIM_LENGTH"},
		{"expired", sign(t, msg, expired), "permerror", "DKIM_EXPIRED"},
		{"revoked", sign(t, msg, dkimOpts("example.com", "revoked", rsaKey)), "permerror", "DKIM_KEY_REVOKED"},
		{"short key", sign(t, msg, dkimOpts("example.com", "short", rsa512)), "permerror", "DKIM_KEY_SHORT"},
		{"no key", sign(t, msg, dkimOpts("example.com", "missing", rsaKey)), "permerror", "DKIM_PERMERROR"},
		{"dns failure", sign(t, msg, dkimOpts("example.com", "dead", rsaKey)), "temperror", "DKIM_TEMPERROR"},
		{"unsigned", msg, "", "DKIM_NONE"},
		{"malformed", []byte(strings.Replace(string(msg), "To:", "DKIM-Signature: v=1; d=example.com; s=rsa; b\r\nTo:", 1)), "permerror", "DKIM_PERMERROR"},
	} {
		r := e.run(t, tc.raw, "192.0.2.1", "h", "alice@example.com")
		got := ""
		if len(r.DKIM) > 0 {
			got = r.DKIM[0].Result
		}
		if got != tc.result || hitNames(r) != tc.hits {
			t.Errorf("%s: %s %s, want %s %s (%+v)", tc.name, got, hitNames(r), tc.result, tc.hits, r.DKIM)
		}
		if tc.result == "temperror" && (score(r) != 0 || r.TempFail) {
			t.Errorf("%s: temperror scored %v", tc.name, score(r))
		}
	}
	// Two signatures at once (RSA and Ed25519, RFC 8463 section 4), both checked.
	both := sign(t, sign(t, msg, dkimOpts("example.com", "rsa", rsaKey)), dkimOpts("example.com", "ed", edKey))
	r := e.run(t, both, "192.0.2.1", "h", "")
	if len(r.DKIM) != 2 || r.DKIM[0].Result != "pass" || r.DKIM[1].Result != "pass" || r.DKIM[0].Algorithm != "ed25519-sha256" {
		t.Errorf("two signatures: %+v", r.DKIM)
	}
	if !strings.Contains(r.Header, "dkim=pass header.a=ed25519-sha256") || !strings.Contains(r.Header, "header.s=rsa") {
		t.Errorf("header: %s", r.Header)
	}
}

// The body hash covers the whole body, far past any scan limit, fed in
// 64 KiB chunks: a change in the last line breaks the signature.
func TestDKIMWholeBody(t *testing.T) {
	testKeys(t)
	e := newEnv(t, func(c *Config) { c.SPF, c.DMARC = false, false })
	e.res.TXT["rsa._domainkey.example.com"] = []string{keyRec(t, rsaKey)}
	big := bytes.Repeat([]byte("a line of the long report, seventy characters or so, again and again\r\n"), 50000) // 3.5 MB
	raw := append(message("alice@example.com"), big...)
	raw = append(raw, []byte("the last line\r\n")...)
	signed := sign(t, raw, dkimOpts("example.com", "rsa", rsaKey))
	en := Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "alice@example.com"}
	if r := e.runEnv(t, signed, en, nil, 64<<10); r.DKIM[0].Result != "pass" {
		t.Fatalf("whole body: %+v", r.DKIM)
	}
	changed := bytes.Replace(signed, []byte("the last line"), []byte("the last lime"), 1)
	if r := e.runEnv(t, changed, en, nil, 64<<10); r.DKIM[0].Result != "fail" {
		t.Fatalf("changed tail: %+v", r.DKIM)
	}
}

// gateResolver holds every answer until release is closed.
type gateResolver struct {
	*dns.MapResolver
	release chan struct{}
}

func (g *gateResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: %w", dns.ErrDNS, dns.ErrTimeout)
	}
	return g.MapResolver.LookupTXT(ctx, name)
}

// While the key is not in yet (slow DNS), body chunks are queued and Body
// returns: the milter's body events never wait for DNS (up to 256 KiB
// queued). If Body waited for the answer, this test would deadlock.
func TestDKIMBodyDoesNotWaitForDNS(t *testing.T) {
	testKeys(t)
	g := &gateResolver{MapResolver: &dns.MapResolver{TXT: map[string][]string{"rsa._domainkey.example.com": {keyRec(t, rsaKey)}}}, release: make(chan struct{})}
	c, err := New(Config{Enabled: true, DKIM: true, AuthservID: "mx.levee.test"}, dns.ResolverConfig{Deadline: time.Minute}, Options{Resolver: g})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789012345678901234567890123456789012345678901234567890123456789\r\n"), 3400) // 245 KB
	signed := sign(t, append(message("alice@example.com"), body...), dkimOpts("example.com", "rsa", rsaKey))
	fields, at, _ := splitHeader(signed)
	s := c.Start(Envelope{ClientIP: netip.MustParseAddr("192.0.2.1")})
	s.Header(fields, nil)
	for b := signed[at:]; len(b) > 0; {
		n := min(64<<10, len(b))
		s.Body(b[:n])
		b = b[n:]
	}
	close(g.release) // only now does the key arrive
	if r := s.Result(context.Background()); r.DKIM[0].Result != "pass" {
		t.Fatalf("%+v", r.DKIM)
	}
}

// A DNS server that never answers: the key lookup ends at the message's
// deadline, Body never blocks past it, the result is temperror (never
// fail) and on_error decides.
func TestDKIMDeadDNS(t *testing.T) {
	testKeys(t)
	for _, onErr := range []string{"ignore", "tempfail"} {
		g := &gateResolver{MapResolver: &dns.MapResolver{}, release: make(chan struct{})}
		c, err := New(Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test", OnError: onErr},
			dns.ResolverConfig{Deadline: 200 * time.Millisecond}, Options{Resolver: g})
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Repeat([]byte("x\r\n"), 1<<20) // 3 MiB: more than the queue holds (Body waits, until the deadline)
		signed := sign(t, append(message("alice@example.com"), body...), dkimOpts("example.com", "rsa", rsaKey))
		fields, at, _ := splitHeader(signed)
		s := c.Start(Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "alice@example.com", Helo: "h.example"})
		s.Header(fields, nil)
		for b := signed[at:]; len(b) > 0; {
			n := min(64<<10, len(b))
			s.Body(b[:n])
			b = b[n:]
		}
		r := s.Result(context.Background())
		if r.SPF.Result != "temperror" || r.DKIM[0].Result != "temperror" || r.DMARC.Result != "temperror" {
			t.Fatalf("%s: spf %s dkim %s dmarc %s", onErr, r.SPF.Result, r.DKIM[0].Result, r.DMARC.Result)
		}
		if score(r) != 0 || hitNames(r) != "DKIM_TEMPERROR,DMARC_TEMPERROR,SPF_TEMPERROR" && hitNames(r) != "SPF_TEMPERROR,DKIM_TEMPERROR,DMARC_TEMPERROR" {
			t.Errorf("%s: hits %s score %v", onErr, hitNames(r), score(r))
		}
		if r.TempFail != (onErr == "tempfail") {
			t.Errorf("%s: tempfail %v", onErr, r.TempFail)
		}
		close(g.release)
	}
}

func TestKeyProblem(t *testing.T) {
	testKeys(t)
	for rec, want := range map[string]string{
		"v=DKIM1; p=":               "revoked",
		"v=DKIM1; k=rsa; p= ":       "revoked",
		keyRec(t, rsa512):           "short",
		keyRec(t, rsaKey):           "",
		keyRec(t, edKey):            "",
		"v=DKIM1; p=!!!":            "",
		"garbage":                   "",
		"v=DKIM1; k=ed25519; p=AAA": "",
	} {
		if got := keyProblem(rec); got != want {
			t.Errorf("%.40q: %q, want %q", rec, got, want)
		}
	}
}

func TestParseTags(t *testing.T) {
	tags, err := parseTags(" v=1; a=rsa-sha256;\r\n\td=example.com ; s = sel; b= abc\r\n def ;")
	if err != nil || tags["d"] != "example.com" || tags["s"] != "sel" || stripFWS(tags["b"]) != "abcdef" {
		t.Errorf("%v %v", tags, err)
	}
	for _, bad := range []string{"v=1; v=1", "novalue", "1x=2", "=x"} {
		if _, err := parseTags(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
