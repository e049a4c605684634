package view

import (
	"strings"
	"testing"
)

// FuzzView builds every view of random header and body bytes: no panic,
// and the outputs stay bounded by the input.
func FuzzView(f *testing.F) {
	f.Add("Subject: hi\nFrom: A <a@b.example>\nContent-Type: text/html; charset=utf-8\n", "<p>Hello <b>world</b> http://x.example/ &amp; &#x263a;</p>")
	f.Add("Content-Type: multipart/alternative; boundary=b\nReceived: from x (y [1.2.3.4]) by z with ESMTP id 1\n", "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b\nContent-Type: message/rfc822\n\nSubject: inner\n\nbody\n--b--\n")
	f.Add("Subject: =?utf-8?B?w6k=?= =?iso-8859-1?Q?=E9?=\nTo: \"x\" <y@z.example>, (c) w@v.example\n", "<![CDATA[x]]><script>a<b</script><!-- c --><a href=\"//www.example.com/?q=1\">x</a><style>")
	f.Add("Content-Type: text/html\n", "<font color=#fff style=\"display:none;background: url(x) red\">x</font><base href=http://a.example/b/c.html><img src=../d.png><table><td>x<tr>")
	f.Fuzz(func(t *testing.T, head, body string) {
		var fields []Field
		for _, line := range strings.Split(head, "\n") {
			if i := strings.IndexByte(line, ':'); i > 0 {
				fields = append(fields, Field{Name: line[:i], Value: strings.TrimPrefix(line[i+1:], " ")})
			}
		}
		m := New(fields, []byte(body), Options{})
		in := len(head) + len(body) + 64
		total := 0
		for _, l := range m.Body() {
			total += len(l)
		}
		// decoding grows text at most ~3x (Latin-1 to UTF-8, entities)
		if total > 8*in+1024 {
			t.Fatalf("body of %d bytes from %d", total, in)
		}
		total = 0
		for _, l := range m.Rawbody() {
			total += len(l)
		}
		if total > 8*in+1024 {
			t.Fatalf("rawbody of %d bytes from %d", total, in)
		}
		if len(m.Full()) > 2*in {
			t.Fatalf("full of %d bytes from %d", len(m.Full()), in)
		}
		for _, spec := range []string{"ALL", "ALL:raw", "Subject", "From:addr", "To:name", "ToCc", "MESSAGEID", "EnvelopeFrom", "X-Spam-Relays-External", "ALL-UNTRUSTED", "Received:ip", "From:host", "From:domain", "Received:revip:first"} {
			v, _ := m.Get(spec)
			if len(v) > 16*in+1024 {
				t.Fatalf("%s: %d bytes from %d", spec, len(v), in)
			}
		}
		if n := len(m.URIs()); n > 4*in+16 {
			t.Fatalf("%d URIs from %d bytes", n, in)
		}
		for _, spec := range []string{"Content-Type", "Content-Type:raw", "ALL"} {
			for _, v := range m.MIMEHeader(spec) {
				if len(v.Value) > 16*in+1024 {
					t.Fatalf("mimeheader %s: %d bytes", spec, len(v.Value))
				}
			}
		}
	})
}
