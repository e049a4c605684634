package view_test

import (
	"fmt"

	"github.com/levee-mail/levee/rules/sa/view"
)

func Example() {
	fields := []view.Field{
		{Name: "Received", Value: "from mail.example.net (mail.example.net [203.0.113.5])\n\tby mx.example.org (Postfix) with ESMTP id 1234"},
		{Name: "From", Value: "=?utf-8?Q?Jos=C3=A9?= <jose@example.net>"},
		{Name: "To", Value: "you@example.org"},
		{Name: "Subject", Value: "Hello"},
		{Name: "Content-Type", Value: "text/html; charset=iso-8859-1"},
	}
	body := []byte("<p>Caf\xe9 &amp; <b>more</b></p><a href=\"http://example.com/x\">click</a>\n")
	m := view.New(fields, body, view.Options{})

	from, _ := m.Get("From")
	addr, _ := m.Get("From:addr")
	name, _ := m.Get("From:name")
	relays, _ := m.Get("X-Spam-Relays-Untrusted")
	_, ok := m.Get("Reply-To")
	fmt.Printf("%q\n%q\n%q\n%s\n%v\n", from, addr, name, relays, ok)
	fmt.Printf("%q\n", m.Body())
	fmt.Println(m.URIs())
	// Output:
	// "José <jose@example.net>\n"
	// "jose@example.net"
	// "José"
	// [ ip=203.0.113.5 rdns=mail.example.net helo=mail.example.net by=mx.example.org ident= envfrom= intl=0 id=1234 auth= msa=0 ]
	// false
	// ["Hello\n" "\n" "Café & more\n" "click "]
	// [http://example.com/x]
}
