package dnsbl

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkSessionCached: one message with a client IP and a few names,
// every answer from the cache.
func BenchmarkSessionCached(b *testing.B) {
	e := newEnv(b, nil)
	e.res.A["2.2.0.192.zen.spamhaus.org"] = addrs("127.0.0.2", "127.0.0.4")
	e.res.TXT["2.2.0.192.zen.spamhaus.org"] = []string{"Listed by SBL"}
	e.res.A["spam.example.dbl.spamhaus.org"] = addrs("127.0.1.2")
	ip := netip.MustParseAddr("192.0.2.2")
	ctx := context.Background()
	run := func() Result {
		s := e.c.NewSession(false)
		s.CheckIP(SourceClient, ip)
		s.CheckDomain(SourceHelo, "mx.example.net")
		s.CheckDomain(SourceMailFrom, "spam.example")
		s.CheckDomain(SourceFrom, "spam.example")
		s.CheckDomain(SourceURLs, "www.example.org")
		return s.Result(ctx)
	}
	run() // fill the cache
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := run(); r.Score != 11 {
			b.Fatalf("%+v", r)
		}
	}
}
