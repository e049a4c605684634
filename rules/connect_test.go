package rules

import (
	"context"
	"math"
	"net/netip"
	"testing"

	"github.com/levee-mail/levee/rules/dnsbl"
	"github.com/levee-mail/levee/rules/greylist"
)

// The connect-time score: client-IP listings, no or dynamic rDNS, HELO
// checks; a DNSWL hit makes the client allowlisted.
func TestConnectScore(t *testing.T) {
	res := &dnsbl.MapResolver{A: map[string][]netip.Addr{
		"10.2.0.192.zen.spamhaus.org": {netip.MustParseAddr("127.0.0.10")}, // PBL
		"20.2.0.192.list.dnswl.org":   {netip.MustParseAddr("127.0.5.2")},  // DNSWL med
		"30.2.0.192.zen.spamhaus.org": {netip.MustParseAddr("127.0.0.4")},  // XBL...
		"30.2.0.192.list.dnswl.org":   {netip.MustParseAddr("127.0.5.3")},  // ...and DNSWL high
	}}
	cfg := Config{DNSBL: dnsbl.DefaultConfig(), Greylist: greylist.Config{Enabled: true}}
	e, err := NewEngine(cfg, Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range []struct {
		name        string
		env         Envelope
		score       float64
		allowlisted bool
		wanted      bool
	}{
		{"clean", Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), ClientName: "mail.example.com", Helo: "mail.example.com", MailFrom: "a@example.com"}, 0, false, false},
		{"PBL", Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), ClientName: "mail.example.com", Helo: "mail.example.com", MailFrom: "a@example.com"}, 2, false, true},
		{"no rDNS", Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), ClientName: "[192.0.2.1]", Helo: "mail.example.com", MailFrom: "a@example.com"}, 1, false, true},
		{"DNSWL", Envelope{ClientIP: netip.MustParseAddr("192.0.2.20"), ClientName: "[192.0.2.20]", Helo: "x", MailFrom: "a@example.com"}, -0.5, true, false},
		{"listed and allowlisted", Envelope{ClientIP: netip.MustParseAddr("192.0.2.30"), ClientName: "mail.example.com", Helo: "mail.example.com", MailFrom: "a@example.com"}, -5, true, false},
		// good rDNS, no listing: the HELO heuristics alone reach greylist.score (1)...
		{"HELO only", Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), ClientName: "mail.example.com", Helo: "laptop", MailFrom: "a@example.com"}, 1.1, false, true},
		// ...or stay under it
		{"HELO only, under the score", Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), ClientName: "mail.example.com", Helo: "[192.0.2.1]", MailFrom: "a@example.com"}, 0.4, false, false},
		// a generic name gets greylist.rdns_score (1) besides RDNS_DYNAMIC
		{"dynamic rDNS", Envelope{ClientIP: netip.MustParseAddr("192.0.2.40"), ClientName: "host-192-0-2-40.dsl.example.net", Helo: "mail.example.net", MailFrom: "a@example.com"}, 1.5, false, true},
		{"authenticated", Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), ClientName: "[192.0.2.10]", AuthUser: "alice", MailFrom: "a@example.com"}, 0, false, false},
	} {
		env := c.env
		s := e.StartDNS(&env)
		got := e.ConnectScore(context.Background(), &env, s)
		want, _ := e.Config().Greylist.Wanted(got.GreylistSignals(&env))
		if got.Allowlisted != c.allowlisted || want != c.wanted || math.Abs(got.Score-c.score) > 0.01 {
			t.Errorf("%s: score %v hits %v allowlisted %v wanted %v; want score %v allowlisted %v wanted %v",
				c.name, got.Score, got.Hits, got.Allowlisted, want, c.score, c.allowlisted, c.wanted)
		}
	}
}
