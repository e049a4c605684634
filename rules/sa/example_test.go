package sa_test

import (
	"fmt"

	"github.com/levee-mail/levee/rules/sa"
)

// A message as SpamAssassin sees it; rules/sa/view builds the real one.
type message struct{ subject string }

func (m message) Get(spec string) (string, bool) {
	if spec == "Subject" {
		return m.subject + "\n", true
	}
	return "", false
}
func (m message) Body() []string                   { return []string{m.subject + "\n"} }
func (m message) Rawbody() []string                { return nil }
func (m message) Full() string                     { return "" }
func (m message) URIs() []string                   { return nil }
func (m message) MIMEHeader(string) []sa.PartValue { return nil }

func Example() {
	set, err := sa.Parse("local.cf", []byte(`
header   LOCAL_SUBJ_WIN   Subject =~ /\byou (?:have )?won\b/i
describe LOCAL_SUBJ_WIN   Subject says you won
score    LOCAL_SUBJ_WIN   2.5
body     __LOCAL_PRIZE    /\bprize\b/i
meta     LOCAL_WIN_PRIZE  LOCAL_SUBJ_WIN && __LOCAL_PRIZE
score    LOCAL_WIN_PRIZE  1.0
`), sa.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range set.Eval(message{subject: "You have WON a prize"}) {
		fmt.Printf("%s %.1f\n", h.Rule.Name, h.Score())
	}
	// Output:
	// LOCAL_SUBJ_WIN 2.5
	// __LOCAL_PRIZE 0.0
	// LOCAL_WIN_PRIZE 1.0
}
