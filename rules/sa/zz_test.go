package sa_test

import (
	"testing"

	"github.com/levee-mail/levee/rules/sa"
	"github.com/levee-mail/levee/rules/sa/view"
)

func TestZZGateStats(t *testing.T) {
	set, _ := sa.Load([]string{stockDir}, sa.Options{})
	msgs := stockSample(t, 300)
	for _, m := range msgs {
		set.Eval(view.New(viewFields(m.Fields), m.Body, view.Options{}))
	}
	for _, s := range sa.GateStats(set) {
		t.Log(s)
	}
}
