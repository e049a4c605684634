package auth

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
)

// BenchmarkSession: one typical message (a 4 KB body, one RSA-2048
// signature, SPF and DMARC records), every DNS answer from the cache:
// what auth adds to a verdict, in CPU.
func BenchmarkSession(b *testing.B) {
	testKeys(b)
	e := newEnv(b, nil)
	e.res.TXT["rsa._domainkey.example.com"] = []string{keyRec(b, rsaKey)}
	e.res.TXT["example.com"] = []string{"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net ~all"}
	e.res.TXT["_dmarc.example.com"] = []string{"v=DMARC1; p=quarantine"}
	raw := append(message("alice@example.com"), bytes.Repeat([]byte("Some text of an ordinary message, line after line.\r\n"), 80)...)
	signed := sign(b, raw, dkimOpts("example.com", "rsa", rsaKey))
	fields, at, _ := splitHeader(signed)
	body := signed[at:]
	en := Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mx.example.com", MailFrom: "bounce@example.com"}
	ctx := context.Background()
	run := func() *Result {
		s := e.c.Start(en)
		s.Header(fields, nil)
		s.Body(body)
		return s.Result(ctx)
	}
	if r := run(); r.DKIM[0].Result != "pass" || r.SPF.Result != "pass" || r.DMARC.Result != "pass" {
		b.Fatalf("%+v", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		run()
	}
}
