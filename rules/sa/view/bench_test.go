package view_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa/view"
)

// benchSpecs are header specs the stock rules use most.
var benchSpecs = []string{"Subject", "From", "From:addr", "From:name", "To", "ToCc", "MESSAGEID", "Message-ID",
	"X-Mailer", "Received", "ALL", "Content-Type", "Reply-To:addr", "X-Spam-Relays-External", "X-Spam-Relays-Untrusted", "EnvelopeFrom", "Date", "User-Agent"}

// BenchmarkViews builds the views of a corpus sample (every 20th message):
// all of them, as judging with the stock rules does, and each alone (the
// message parse included: "new" is the lazy constructor alone).
func BenchmarkViews(b *testing.B) {
	corpus := evaltest.Corpus(b)
	type msg struct {
		fields []view.Field
		body   []byte
	}
	var msgs []msg
	n := 0
	err := eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		n++
		if n%20 == 0 {
			f, body := splitFields(it.Data)
			fixFolding(it.Data, f)
			msgs = append(msgs, msg{f, body})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	views := []struct {
		name string
		run  func(m *view.Message)
	}{
		{"all", func(m *view.Message) {
			for _, s := range benchSpecs {
				m.Get(s)
			}
			m.Body()
			m.Rawbody()
			m.Full()
			m.URIs()
			m.MIMEHeader("Content-Type")
		}},
		{"new", func(m *view.Message) {}},
		{"headers", func(m *view.Message) {
			for _, s := range benchSpecs[:13] {
				m.Get(s)
			}
		}},
		{"relays", func(m *view.Message) { m.Get("X-Spam-Relays-External") }},
		{"body", func(m *view.Message) { m.Body() }},
		{"rawbody", func(m *view.Message) { m.Rawbody() }},
		{"uris", func(m *view.Message) { m.URIs() }},
		{"mimeheader", func(m *view.Message) { m.MIMEHeader("Content-Type") }},
	}
	for _, v := range views {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			// CPU time too: on a shared machine the wall clock says little
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				x := msgs[i%len(msgs)]
				v.run(view.New(x.fields, x.body, view.Options{}))
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
