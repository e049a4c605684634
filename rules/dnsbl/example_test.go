package dnsbl_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/levee-mail/levee/rules/dnsbl"
)

// A message from a client listed in ZEN with two codes, checked against
// the default lists (answers come from a map resolver here).
func Example() {
	res := &dnsbl.MapResolver{
		A: map[string][]netip.Addr{
			"2.2.0.192.zen.spamhaus.org": {netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.4")},
		},
		TXT: map[string][]string{"2.2.0.192.zen.spamhaus.org": {"https://check.spamhaus.org/listed/?searchterm=192.0.2.2"}},
	}
	cfg := dnsbl.DefaultConfig()
	cfg.EarlyReject.Enabled = true
	c, err := dnsbl.New(cfg, dnsbl.ResolverConfig{}, dnsbl.Options{Resolver: res})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	s := c.NewSession(false)                                        // at MAIL FROM
	s.CheckIP(dnsbl.SourceClient, netip.MustParseAddr("192.0.2.2")) // queries start now
	s.CheckDomain(dnsbl.SourceMailFrom, "example.com")
	r := s.Result(context.Background()) // at end of message
	for _, h := range r.Hits {
		fmt.Printf("%s %+g (%s %s)\n", h.Rule, h.Score, h.List, h.Code)
	}
	fmt.Println("score", r.Score)
	_, reply := s.EarlyReject(context.Background()) // 8 < 15: no early reject
	fmt.Printf("early reject: %q\n", reply)
	// Output:
	// RCVD_IN_SBL +4 (zen.spamhaus.org 127.0.0.2)
	// RCVD_IN_XBL +4 (zen.spamhaus.org 127.0.0.4)
	// score 8
	// early reject: ""
}

// `levee lookup` output.
func ExampleFormatReports() {
	res := &dnsbl.MapResolver{A: map[string][]netip.Addr{
		"spam.example.dbl.spamhaus.org": {netip.MustParseAddr("127.0.1.2")},
	}}
	c, _ := dnsbl.New(dnsbl.DefaultConfig(), dnsbl.ResolverConfig{}, dnsbl.Options{Resolver: res})
	defer c.Close()
	reports := c.Lookup(context.Background(), "spam.example")
	for i := range reports {
		reports[i].Took = 0
	}
	dnsbl.FormatReports(os.Stdout, reports)
	// Output:
	// LIST              QUERY         RESULT                                TOOK
	// dbl.spamhaus.org  spam.example  LISTED 127.0.1.2 URIBL_DBL_SPAM (+3)  0s
	//                                   URIBL_DBL_SPAM: Spamhaus DBL: spam domain
}

// Reply texts are single lines with '%' doubled for the milter.
func ExampleExpandReply() {
	fmt.Println(dnsbl.ExpandReply("Blocked by %{zone}: %{txt}", "100% spam\r\nsecond line", "192.0.2.1", "zen.spamhaus.org"))
	// Output: Blocked by zen.spamhaus.org: 100%% spam second line
}
