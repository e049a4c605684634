package rules

import (
	"strings"
)

// Phishing checks on the links of a message: what a link shows against
// where it goes, where it goes (raw addresses, shorteners, free hosting),
// and forms. Phishing relayed through abused Microsoft 365 and Google
// tenants passes every envelope and Received check; its links give it
// away. Scores are defaults, never negative.
func init() {
	register(
		Rule{Name: "FROM_ABUSED_TLD", Score: 1.0, Kind: KindHeader, Desc: "From address domain is under a top-level domain mostly used for abuse",
			Test: func(m *Message) bool { return abusedTLDHost(domainOf(addrOf(m.Header("From")))) }},
	)
}

func setOf(s string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Fields(s) {
		out[f] = true
	}
	return out
}

// hostIn reports whether host is one of the domains or under one.
func hostIn(host string, set map[string]bool) bool {
	for h := host; h != ""; {
		if set[h] {
			return true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return false
		}
		h = h[i+1:]
	}
	return false
}
