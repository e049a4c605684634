package auth_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/dns"
)

// One message through a Session, as the milter feeds it: Start at MAIL
// FROM, Header at end of header, Body per chunk, Result at end of message.
func Example() {
	res := &dns.MapResolver{TXT: map[string][]string{
		"bank.example":        {"v=spf1 ip4:192.0.2.0/24 -all"},
		"_dmarc.bank.example": {"v=DMARC1; p=reject"},
	}}
	c, err := auth.New(auth.Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.example.org"},
		dns.ResolverConfig{}, auth.Options{Resolver: res})
	if err != nil {
		panic(err)
	}
	s := c.Start(auth.Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), Helo: "bot.example", MailFrom: "security@bank.example"})
	s.Header([]auth.Field{{Name: "From", Value: "Bank <security@bank.example>"}, {Name: "Subject", Value: "verify your account"}}, nil)
	s.Body([]byte("Click here.\r\n"))
	r := s.Result(context.Background())
	for _, h := range r.Hits {
		fmt.Printf("%s %.1f\n", h.Rule, h.Score)
	}
	fmt.Println(r.Header)
	// Output:
	// SPF_FAIL 1.0
	// DKIM_NONE 0.0
	// DMARC_REJECT 4.0
	// mx.example.org;
	// 	spf=fail smtp.mailfrom=security@bank.example;
	// 	dkim=none;
	// 	dmarc=fail header.from=bank.example policy.dmarc=reject
}

// Signing the operator's own mail: KeysFor finds the keys of the From
// domain or of its nearest parent.
func ExampleChecker_StartSigning() {
	c, err := auth.New(auth.Config{}, dns.ResolverConfig{}, auth.Options{})
	if err != nil {
		panic(err)
	}
	// without keys nothing is signed
	fmt.Println(c.StartSigning([]auth.Field{{Name: "From", Value: "a@example.org"}}) == nil)
	// Output: true
}
