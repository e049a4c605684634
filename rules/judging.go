package rules

import (
	"runtime"
	"sync"

	"github.com/levee-mail/levee/rules/dnsbl"
)

// judging bounds the messages running the checks at once.
var judging = make(chan struct{}, runtime.GOMAXPROCS(0))

// startChecks waits for a turn to run the checks (and starts the lookups
// of the message's names and links); the function it returns ends the
// turn, and may be called more than once.
//
// The checks are CPU work: at most GOMAXPROCS messages run them at once,
// so that a burst of messages (hundreds at end of message while DNS is
// slow) does not hold what each derives from its body (MIME parts, texts,
// phrase counts) all at once. With a DNS session, what the checks derived
// is dropped at the end of the turn: the message then waits for its DNS
// answers without it. That wait is not bounded by the turns.
func (e *Engine) startChecks(m *Message, dns *dnsbl.Session) func() {
	judging <- struct{}{}
	if dns != nil {
		e.addHeaderLookups(m, dns)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if dns != nil {
				m.ReleaseDerived()
			}
			<-judging
		})
	}
}
