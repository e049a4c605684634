package received_test

import (
	"fmt"
	"net/netip"

	"github.com/levee-mail/levee/rules/received"
)

func ExampleParse() {
	h := received.Parse("from mail.example.com (mail-out.example.com [192.0.2.25])\r\n" +
		"\tby mx.example.net (Postfix) with ESMTPS id 4ABC123\r\n" +
		"\tfor <user@example.net>; Mon, 8 Sep 2025 10:37:42 +0200 (CEST)")
	fmt.Println(h.Helo, h.RDNS, h.IP, h.By, h.With, h.ID, h.For)
	fmt.Println(h.Date.UTC(), h.Authenticated)
	// Output:
	// mail.example.com mail-out.example.com 192.0.2.25 mx.example.net ESMTPS 4ABC123 user@example.net
	// 2025-09-08 08:37:42 +0000 UTC false
}

func ExampleLastUntrusted() {
	hops := received.ParseAll([]string{ // topmost first, as in the header
		"from mx1.example.net (mx1.example.net [10.1.0.5]) by mda.example.net (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 00:00:02 +0000",
		"from dyn.example.org (dsl-66.example.org [203.0.113.66]) by mx1.example.net (Postfix) with ESMTP id 2; Mon, 1 Jan 2024 00:00:01 +0000",
		"from forged.example (forged.example [198.51.100.1]) by elsewhere.example with SMTP id 3; Mon, 1 Jan 2024 00:00:00 +0000",
	})
	internal := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h, i, ok := received.LastUntrusted(hops, nil, internal)
	fmt.Println(h.IP, h.RDNS, h.Helo, i, ok)
	// Output:
	// 203.0.113.66 dsl-66.example.org dyn.example.org 1 true
}
