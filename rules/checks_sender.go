package rules

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Checks on who the message claims to be from, against what a real sender
// of that kind writes.
func init() {
	register(
		Rule{Name: "FROM_DOMAIN_INVALID", Score: 1.5, Kind: KindHeader, Desc: "From address domain has no valid top-level domain (noreply@netto, x@host.)",
			Test: fromDomainInvalid},
		Rule{Name: "FROM_FREE_HOSTING", Score: 1.5, Kind: KindHeader, Desc: "From address is on a free app or web hosting domain (firebaseapp.com, web.app)",
			Test: func(m *Message) bool { return hostIn(domainOf(addrOf(m.Header("From"))), freeHosting) }},
		Rule{Name: "FROM_DOMAIN_MANY_LABELS", Score: 1.0, Kind: KindHeader, Desc: "From address domain has six or more labels or runs of one-letter labels",
			Test: fromDomainManyLabels},
	)
}

// fromDomainInvalid: the From domain ends in a label that is no top-level
// domain at all, or has a trailing dot or an empty label. (A real sender's
// mail system always writes a resolvable domain: RFC 5321 2.3.5.)
func fromDomainInvalid(m *Message) bool {
	a := addrOf(m.Header("From"))
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return false
	}
	d := strings.ToLower(strings.Trim(a[i+1:], "<> \t"))
	if d == "" || strings.HasPrefix(d, "[") {
		return false
	}
	if strings.HasSuffix(d, ".") || strings.Contains(d, "..") || !strings.Contains(d, ".") {
		return true
	}
	suffix, icann := publicsuffix.PublicSuffix(d)
	return !icann && !strings.Contains(suffix, ".")
}

// fromDomainManyLabels: "x@j.u.t.o.s.b.i.m.a.m75.example.shop": generated
// sub-domains that make every campaign's sender look new.
func fromDomainManyLabels(m *Message) bool {
	d := domainOf(addrOf(m.Header("From")))
	if d == "" {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) >= 6 {
		return true
	}
	run := 0
	for _, l := range labels {
		if len(l) == 1 {
			run++
			if run >= 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
