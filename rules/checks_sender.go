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
		Rule{Name: "ADVANCE_FEE_2", Score: 1.5, Kind: KindMIME, Desc: "Two or more advance-fee fraud phrases (next of kin, inheritance fund, barrister)",
			Test: func(m *Message) bool { return advanceFeeCount(m) >= 2 }},
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

var advanceFeeREs = mustPhrases(true,
	`\bnext\s+of\s+kin\b`,
	`\b(?:inheritance|unclaimed|dormant|abandoned)\s+(?:fund|account|sum|deposit|estate)`,
	`\b(?:barrister|attorney|solicitor)\b.{0,80}\b(?:late|deceased|client)\b`,
	`\b(?:sum|amount|fund|funds)\s+of\s+(?:us\s*)?\$?\s?\d[\d,.]{0,20}\s*(?:million|m\b)|\b\d{1,12}(?:\.\d{1,6})?\s+million\s+(?:us\s+)?(?:dollars|usd|euros|pounds)`,
	`\b(?:consignment|diplomat(?:ic)?|atm\s+card|bank\s+draft|compensation\s+(?:fund|payment))\b`,
	`\b(?:strictly\s+confidential|utmost\s+(?:confidentiality|secrecy)|absolute\s+confidentiality)\b`,
	`\b(?:your\s+(?:urgent|prompt|swift|immediate)\s+(?:reply|response|attention)|reply\s+(?:urgently|asap))\b`,
	`\b(?:business\s+proposal|mutual\s+benefit|transfer\s+(?:of\s+)?(?:the\s+)?funds?|foreign\s+partner)\b`,
	`\b(?:widow|deceased|late\s+husband|terminal(?:ly)?\s+ill|cancer)\b.{0,120}\b(?:fund|donate|charity|money)`,
	`\b(?:united\s+nations|world\s+bank|imf|fbi)\b.{0,80}\b(?:payment|fund|compensation|beneficiary)`,
	`\bbeneficiary\b`,
)

func advanceFeeCount(m *Message) int { return lureCount(m).advanceFee }

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
