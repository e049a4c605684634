package view_test

import (
	"context"
	"sort"
	"testing"

	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa/view"
)

// benchSpecs are header specs the stock rules use most.
var benchSpecs = []string{"Subject", "From", "From:addr", "From:name", "To", "ToCc", "MESSAGEID", "Message-ID",
	"X-Mailer", "Received", "ALL", "Content-Type", "Reply-To:addr", "X-Spam-Relays-External", "X-Spam-Relays-Untrusted", "EnvelopeFrom", "Date", "User-Agent"}

// BenchmarkViews builds every view of a corpus sample (every 20th message),
// as judging with the stock rules does.
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
	sort.SliceStable(msgs, func(i, j int) bool { return false })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := msgs[i%len(msgs)]
		m := view.New(x.fields, x.body, view.Options{})
		for _, s := range benchSpecs {
			m.Get(s)
		}
		m.Body()
		m.Rawbody()
		m.Full()
		m.URIs()
		m.MIMEHeader("Content-Type")
	}
}
