package sa

import (
	"testing"

	"github.com/levee-mail/levee/rules/sa/view"
)

// The built-in messages parse into their fields and body, and the stock
// rules hit on them (Warm runs them through every kind of rule).
func TestWarmMessages(t *testing.T) {
	ents, err := warmFS.ReadDir("warm")
	if err != nil || len(ents) < 3 {
		t.Fatalf("warm messages: %v, %d", err, len(ents))
	}
	for _, e := range ents {
		b, _ := warmFS.ReadFile("warm/" + e.Name())
		fields, body := splitMessage(b)
		if len(fields) < 8 || len(body) < 200 {
			t.Errorf("%s: %d fields, %d bytes of body", e.Name(), len(fields), len(body))
		}
		for _, f := range fields {
			if f.Name == "Received" && f.Value[0] == ' ' {
				t.Errorf("%s: Received value starts with a space", e.Name())
			}
		}
		m := view.New(fields, body, view.Options{})
		if len(m.Body()) < 3 || len(m.URIs()) == 0 && e.Name() == "html.eml" {
			t.Errorf("%s: body %d lines, %d URIs", e.Name(), len(m.Body()), len(m.URIs()))
		}
	}
}

// Warm runs the rules: their DFAs hold states for the built-in messages
// before the first real one.
func TestWarmBuildsStates(t *testing.T) {
	set := mustParse(t, "body  B_MAILBOX /your mailbox (?:has|is)/i\nheader H_EXAMPLE From =~ /example\\.(?:org|com)/\n")
	before := set.Rule("B_MAILBOX").dfa.Stats().States + set.Rule("H_EXAMPLE").dfa.Stats().States
	if err := set.Warm(); err != nil {
		t.Fatal(err)
	}
	after := set.Rule("B_MAILBOX").dfa.Stats().States + set.Rule("H_EXAMPLE").dfa.Stats().States
	if after <= before {
		t.Errorf("%d DFA states before Warm, %d after", before, after)
	}
}
