package auth

import "sort"

// Rule is one named result of sender authentication, as it shows in
// X-Spam-Status and `levee rules list` (kind "auth"). Its score is the
// default; `scores:` overrides it. An auth hit is reported whatever its
// score (0 counts nothing but keeps the name in tests=).
type Rule struct {
	Name   string
	Score  float64
	Method string // spf, dkim, dmarc
	Desc   string
}

// Names of the auth rules. The SPF_*, DKIM_VALID*, DKIM_INVALID and DMARC_*
// names are SpamAssassin's (so that existing Sieve and procmail rules on
// X-Spam-Status keep working); SpamAssassin's DMARC_NONE means "failed, and
// the domain's policy is p=none", DMARC_MISSING "no DMARC record".
const (
	SPFPass      = "SPF_PASS"
	SPFFail      = "SPF_FAIL"
	SPFSoftFail  = "SPF_SOFTFAIL"
	SPFNeutral   = "SPF_NEUTRAL"
	SPFNone      = "SPF_NONE"
	SPFPermError = "SPF_PERMERROR"
	SPFTempError = "SPF_TEMPERROR"

	DKIMValid      = "DKIM_VALID"
	DKIMValidAU    = "DKIM_VALID_AU"
	DKIMInvalid    = "DKIM_INVALID"
	DKIMNone       = "DKIM_NONE"
	DKIMTempError  = "DKIM_TEMPERROR"
	DKIMPermError  = "DKIM_PERMERROR"
	DKIMLength     = "DKIM_LENGTH"
	DKIMExpired    = "DKIM_EXPIRED"
	DKIMKeyRevoked = "DKIM_KEY_REVOKED"
	DKIMKeyShort   = "DKIM_KEY_SHORT"

	DMARCPass      = "DMARC_PASS"
	DMARCReject    = "DMARC_REJECT"
	DMARCQuar      = "DMARC_QUAR"
	DMARCNone      = "DMARC_NONE"
	DMARCMissing   = "DMARC_MISSING"
	DMARCTempError = "DMARC_TEMPERROR"
	DMARCPermError = "DMARC_PERMERROR"
)

// The default scores follow two rules. A pass never makes a message clean
// on its own: spammers publish SPF and sign with DKIM too, so passes count
// -0.1 at most (-0.4 for SPF, DKIM, DKIM_VALID_AU and DMARC together). A
// fail is strong only where the domain's owner said so with DMARC
// (p=reject, p=quarantine); a bare SPF fail or a broken signature is weak
// (forwarding and mailing lists break them every day). Temporary errors and
// missing records score 0: a DNS problem never counts against a message.
var ruleTable = []Rule{
	{SPFPass, -0.1, "spf", "SPF: the client is allowed to send for the sender domain"},
	{SPFFail, 1.0, "spf", "SPF: the sender domain does not allow the client (-all)"},
	{SPFSoftFail, 0.5, "spf", "SPF: the sender domain probably does not allow the client (~all)"},
	{SPFNeutral, 0, "spf", "SPF: the sender domain says nothing about the client (?all)"},
	{SPFNone, 0, "spf", "SPF: the sender domain publishes no SPF record"},
	{SPFPermError, 0, "spf", "SPF: the sender domain's record is broken (syntax, loop, over 10 lookups or 2 void lookups)"},
	{SPFTempError, 0, "spf", "SPF: DNS failure (timeout, SERVFAIL): not judged"},

	{DKIMValid, -0.1, "dkim", "DKIM: a valid signature"},
	{DKIMValidAU, -0.1, "dkim", "DKIM: a valid signature of the From domain (aligned)"},
	{DKIMInvalid, 0.1, "dkim", "DKIM: a signature that does not verify (body or header changed)"},
	{DKIMNone, 0, "dkim", "DKIM: not signed"},
	{DKIMTempError, 0, "dkim", "DKIM: the key could not be fetched (DNS failure): not judged"},
	{DKIMPermError, 0, "dkim", "DKIM: a malformed signature or a missing key"},
	{DKIMLength, 0.1, "dkim", "DKIM: the signature covers only part of the body (l=): not accepted"},
	// An expired signature is usually stale (a long queue, an old message
	// resent), not forged: it counts nothing, like a missing one.
	{DKIMExpired, 0, "dkim", "DKIM: the signature has expired (x=)"},
	{DKIMKeyRevoked, 0.5, "dkim", "DKIM: the signing key is revoked (empty p=)"},
	{DKIMKeyShort, 0.5, "dkim", "DKIM: the signing key is shorter than 1024 bits (RFC 8301)"},

	{DMARCPass, -0.1, "dmarc", "DMARC: an aligned SPF or DKIM pass for the From domain"},
	{DMARCReject, 4.0, "dmarc", "DMARC: fails, and the From domain asks to reject (p=reject)"},
	{DMARCQuar, 2.5, "dmarc", "DMARC: fails, and the From domain asks to quarantine (p=quarantine)"},
	{DMARCNone, 0.1, "dmarc", "DMARC: fails; the From domain only monitors (p=none)"},
	{DMARCMissing, 0, "dmarc", "DMARC: the From domain publishes no DMARC record"},
	{DMARCTempError, 0, "dmarc", "DMARC: DNS failure: not judged"},
	{DMARCPermError, 0, "dmarc", "DMARC: a broken DMARC record or From field"},
}

var ruleIndex = func() map[string]Rule {
	m := map[string]Rule{}
	for _, r := range ruleTable {
		m[r.Name] = r
	}
	return m
}()

// Rules returns every auth rule with its default score, sorted by name.
func Rules() []Rule {
	out := append([]Rule(nil), ruleTable...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KnownRule reports whether name is an auth rule.
func KnownRule(name string) bool { _, ok := ruleIndex[name]; return ok }
