package rules

import (
	"bytes"
	"strings"
	"testing"
)

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		limit     int64
		fields    []Field
		body      string
		size      int64
		truncated bool
	}{
		{
			name:   "simple CRLF",
			in:     "From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n",
			fields: []Field{{"From", "a@b.example"}, {"Subject", "hi"}},
			body:   "body\r\n", size: 6,
		},
		{
			name:   "folded LF",
			in:     "Subject: one\n two\nTo: x@y.example\n\nb\n",
			fields: []Field{{"Subject", "one\n two"}, {"To", "x@y.example"}},
			body:   "b\n", size: 2,
		},
		{
			name:   "folded last field, then a line that is not a field",
			in:     "To: a\n b\n\tc\nnot a field\n",
			fields: []Field{{"To", "a\n b\n\tc"}},
			body:   "not a field\n", size: 12,
		},
		{
			name:   "a field folded over many lines",
			in:     "To: a@b.c," + strings.Repeat("\n\tx@y.z,", 1<<15) + "\nSubject: s\n\nb",
			fields: []Field{{"To", "a@b.c," + strings.Repeat("\n\tx@y.z,", 1<<15)}, {"Subject", "s"}},
			body:   "b", size: 1,
		},
		{
			name:   "mbox From line skipped",
			in:     "From someone Mon Jan  1 00:00:00 2024\nFrom: a@b.example\n\nx",
			fields: []Field{{"From", "a@b.example"}},
			body:   "x", size: 1,
		},
		{
			name:   "non-header line ends the header",
			in:     "From: a@b.example\nthis is not a header\nmore\n",
			fields: []Field{{"From", "a@b.example"}},
			body:   "this is not a header\nmore\n", size: 26,
		},
		{
			name:   "empty value, no body",
			in:     "Subject:\nX: y",
			fields: []Field{{"Subject", ""}, {"X", "y"}},
		},
		{
			name:   "scan limit",
			in:     "A: b\n\n0123456789",
			limit:  4,
			fields: []Field{{"A", "b"}},
			body:   "0123", size: 10, truncated: true,
		},
		{name: "empty input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadMessage(strings.NewReader(tc.in), Envelope{}, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Fields) != len(tc.fields) {
				t.Fatalf("fields %q, want %q", m.Fields, tc.fields)
			}
			for i := range m.Fields {
				if m.Fields[i] != tc.fields[i] {
					t.Errorf("field %d: %q, want %q", i, m.Fields[i], tc.fields[i])
				}
			}
			if string(m.Body) != tc.body || m.BodySize != tc.size || m.Truncated != tc.truncated {
				t.Errorf("body %q size %d trunc %v, want %q %d %v", m.Body, m.BodySize, m.Truncated, tc.body, tc.size, tc.truncated)
			}
		})
	}
}

func TestHeaderAccessors(t *testing.T) {
	m, _ := ReadMessage(strings.NewReader("Subject: =?utf-8?q?caf=C3=A9?=\nReceived: one\nreceived: two\n\n"), Envelope{}, 0)
	if got := m.Decoded("subject"); got != "café" {
		t.Errorf("Decoded = %q", got)
	}
	if got := m.Headers("RECEIVED"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("Headers = %q", got)
	}
	if m.Count("x-none") != 0 || m.Has("x-none") {
		t.Error("phantom header")
	}
	if _, err := Decode("=?x-unknown?b?AAAA?="); err == nil {
		t.Error("unknown charset decoded without error")
	}
}

func TestParts(t *testing.T) {
	in := "Content-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 http://www.Example.com/x\n--XX\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\nPGI+aGk8L2I+\n--XX--\n"
	m, _ := ReadMessage(strings.NewReader(in), Envelope{}, 0)
	ps := m.Parts()
	if len(ps) != 2 {
		t.Fatalf("parts %+v errs %v", ps, m.MIMEErrors())
	}
	if ps[0].ContentType != "text/plain" || !strings.HasPrefix(ps[0].Text, "café") || ps[0].Charset != "iso-8859-1" {
		t.Errorf("part 0 %+v", ps[0])
	}
	if ps[1].ContentType != "text/html" || ps[1].Text != "<b>hi</b>" || ps[1].Encoding != "base64" {
		t.Errorf("part 1 %+v", ps[1])
	}
	if hs := m.URLHosts(); len(hs) != 1 || hs[0] != "www.example.com" {
		t.Errorf("URLHosts %q", hs)
	}
	// broken multipart: no boundary
	m, _ = ReadMessage(strings.NewReader("Content-Type: multipart/mixed\n\nx\n"), Envelope{}, 0)
	if len(m.MIMEErrors()) == 0 {
		t.Error("no error for a multipart without boundary")
	}
}

func TestEnvelopeRDNS(t *testing.T) {
	for _, tc := range []struct {
		in    string
		name  string
		known bool
	}{{"", "", false}, {"unknown", "", true}, {"[192.0.2.1]", "", true}, {"Mail.Example.COM.", "mail.example.com", true}} {
		e := Envelope{ClientName: tc.in}
		n, k := e.RDNS()
		if n != tc.name || k != tc.known {
			t.Errorf("%q: %q %v", tc.in, n, k)
		}
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n\r\nbody"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n!!!\n--a"))
	f.Add([]byte("Subject: =?utf-8?b?====?=\nReceived: from x ([1.2.3.4]) by y; Mon, 1 Jan 2024 00:00:00 +0000\n\nhttp://a.b/"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadMessage(bytes.NewReader(b), Envelope{}, 4096)
		if err != nil {
			return
		}
		m.Parts()
		m.URLHosts()
		m.Decoded("Subject")
		FillEnvelope(m)
		e, err := NewEngine(Config{Thresholds: Thresholds{AddHeader: At(5), Reject: At(15)}}, Options{NoDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		e.Judge(t.Context(), m, nil)
	})
}
