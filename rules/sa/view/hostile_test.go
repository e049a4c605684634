package view

import (
	"strings"
	"testing"
	"time"
)

// TestHostile builds every view of crafted messages that would be slow
// with a quadratic step: each must take well under a second.
func TestHostile(t *testing.T) {
	html := []Field{{"Content-Type", "text/html"}}
	cases := []struct {
		name   string
		fields []Field
		body   string
	}{
		{"entity", html, "&" + strings.Repeat("a", 1<<20)},
		{"attrs", html, "<a" + strings.Repeat(" b", 1<<16) + ">x"},
		{"styles", html, strings.Repeat("<style>", 5000) + "<a href=\"x"},
		{"quote", html, "<a href=\"" + strings.Repeat("x ", 1<<19)},
		{"comment", html, "<!--" + strings.Repeat("- ", 1<<19)},
		{"hosts", nil, strings.Repeat("/a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a", 1<<14)},
		{"mail", nil, strings.Repeat("x", 1<<16) + " @" + strings.Repeat(".y", 1<<15)},
		{"parts", []Field{{"Content-Type", "multipart/mixed; boundary=b"}}, strings.Repeat("--b\nContent-Type: multipart/mixed; boundary=b\n\nx\n", 1<<13)},
		{"received", []Field{{"Received", "from " + strings.Repeat("[1.2.3.4] (", 1<<10) + " by x"}}, "x"},
		{"addresses", []Field{{"To", strings.Repeat("a <b@c.d>, \"e\" f@g.h (i), ", 300)}}, "x"},
		{"words", []Field{{"Subject", strings.Repeat("=?utf-8?q?a?= ", 1<<11)}}, "x"},
		// a field folded over many lines: each line appended to a string
		// copied the field again
		{"folded", []Field{{"To", "a@b.c," + strings.Repeat("\n\tx@y.z,", 1<<17)}}, "x"},
		{"part-folded", []Field{{"Content-Type", "multipart/mixed; boundary=b"}},
			"--b\nContent-Type: text/plain;" + strings.Repeat("\n\tx=y;", 1<<17) + "\n\nbody\n--b--\n"},
	}
	for _, c := range cases {
		start := time.Now()
		m := New(c.fields, []byte(c.body), Options{})
		m.Body()
		m.Rawbody()
		m.URIs()
		for _, s := range []string{"ALL", "To:addr", "To:name", "Subject", "X-Spam-Relays-External", "EnvelopeFrom"} {
			m.Get(s)
		}
		m.MIMEHeader("Content-Type")
		if d := time.Since(start); d > 10*time.Second { // quadratic work on these sizes takes minutes
			t.Errorf("%s: %v", c.name, d)
		} else {
			t.Logf("%-10s %v", c.name, d)
		}
	}
}

// TestConcurrentViews asks for every view from several goroutines (run
// with -race).
func TestConcurrentViews(t *testing.T) {
	fields := []Field{{"Content-Type", "multipart/alternative; boundary=b"}, {"Subject", "x"}, {"Received", "from a (b [1.2.3.4]) by c with SMTP id d"}}
	body := "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gaHR0cDovL2V4YW1wbGUuY29tLw==\n--b\nContent-Type: text/html\n\n<p>x <a href=http://a.example/>y</a>\n--b--\n"
	m := New(fields, []byte(body), Options{})
	done := make(chan bool)
	for i := 0; i < 4; i++ {
		go func(i int) {
			defer func() { done <- true }()
			switch i {
			case 0:
				m.Body()
				m.URIs()
			case 1:
				m.Rawbody()
			case 2:
				m.Get("X-Spam-Relays-Untrusted")
				m.Get("ALL")
			case 3:
				m.MIMEHeader("Content-Type")
				m.Full()
			}
		}(i)
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if got := m.Rawbody(); len(got) != 2 || got[0] != "hello http://example.com/" {
		t.Fatalf("rawbody %q", got)
	}
}
