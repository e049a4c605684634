package sa_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
	"github.com/levee-mail/levee/rules/eval/evaltest"
	"github.com/levee-mail/levee/rules/sa"
	"github.com/levee-mail/levee/rules/sa/view"
)

// BenchmarkEvalStock: the stock rules on a sample of the dev corpus,
// views included, per message.
func BenchmarkEvalStock(b *testing.B) {
	needSpamAssassin(&testing.T{})
	set, err := sa.Load([]string{stockDir}, sa.Options{})
	if err != nil {
		b.Fatal(err)
	}
	corpus := evaltest.Corpus(b)
	var msgs []*rules.Message
	eval.Walk(context.Background(), eval.Corpus{Dir: corpus}, nil, func(it eval.Item) error {
		if sampled(it.Name, 300) {
			if m, err := rules.ReadMessage(bytes.NewReader(it.Data), it.Env, 0); err == nil {
				msgs = append(msgs, m)
			}
		}
		return nil
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{}))
	}
}
