package rules

import (
	"sort"
	"sync"

	"github.com/levee-mail/levee/rules/auth"
)

// Kinds of checks, shown by `levee rules list`.
const (
	KindHeader   = "header"   // header fields
	KindEnvelope = "envelope" // HELO, client name, MAIL FROM
	KindReceived = "received" // the Received chain
	KindMIME     = "mime"     // body structure and text
	KindDNSBL    = "dnsbl"    // DNS blocklists (names come from the config)
	KindSpecial  = "special"  // GTUBE
)

// Rule is one named check. Test reports whether the message shows the sign.
type Rule struct {
	Name  string  // UPPER_SNAKE
	Score float64 // default score
	Desc  string  // one line
	Kind  string
	// Test is run on every judged message; it must not panic on any input
	// (the engine turns a panic into the configured safe verdict anyway).
	Test func(m *Message) bool
}

var (
	registryMu sync.Mutex
	registry   = map[string]Rule{}
)

// register adds a built-in rule; it is called from init functions of the
// files that define checks. Names are unique.
func register(rs ...Rule) {
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, r := range rs {
		if _, dup := registry[r.Name]; dup {
			panic("rules: duplicate rule " + r.Name)
		}
		registry[r.Name] = r
	}
}

// Builtin returns every built-in rule with its default score, sorted by
// name. The default is the fitted score (scores_fitted.go, written by
// `levee eval --fit`) when there is one, else the registered score.
func Builtin() []Rule {
	registryMu.Lock()
	defer registryMu.Unlock()
	out := make([]Rule, 0, len(registry))
	for _, r := range registry {
		if s, ok := fittedScores[r.Name]; ok {
			r.Score = s // fitted on the corpus (scores_fitted.go); the registered score is the fallback
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func knownRule(name string) bool {
	registryMu.Lock()
	defer registryMu.Unlock()
	_, ok := registry[name]
	return ok || name == RuleGTUBE || auth.KnownRule(name)
}
