package auth

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"

	"github.com/levee-mail/levee/rules/dns"
)

// SPFResult is the SPF verdict (RFC 7208 section 2.6) for one identity.
type SPFResult struct {
	// Result is none, neutral, pass, fail, softfail, temperror or
	// permerror; "" when SPF was not checked.
	Result string
	// Identity is "mailfrom" (the envelope sender's domain) or "helo" (the
	// HELO name, for the null sender: RFC 7208 section 2.3).
	Identity string
	Domain   string // the domain checked
	Sender   string // the address checked (postmaster@helo for the null sender)
	Reason   string // for logs and Authentication-Results: never a DNS server name
	// FromForwarder is set when the result was taken from a trusted
	// forwarder's Authentication-Results.
	FromForwarder string
}

// checkSPF runs check_host() (RFC 7208 section 4) for the client ip and
// the envelope sender, the HELO identity when the sender is null, through
// levee's resolver. The library keeps RFC 7208 section 4.6.4's limits: 10
// mechanisms and modifiers that query DNS (include, a, mx, ptr, exists,
// redirect), 2 void lookups (NXDOMAIN or NODATA), at most 10 MX names:
// beyond that, permerror; include and redirect loops end there too.
func checkSPF(ctx context.Context, c *dns.Cache, ip netip.Addr, helo, mailFrom string) SPFResult {
	r := SPFResult{Identity: "mailfrom"}
	helo = strings.TrimSuffix(strings.TrimSpace(helo), ".")
	sender := strings.TrimSpace(mailFrom)
	local, domain, ok := "", "", false
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		local, domain, ok = sender[:i], sender[i+1:], true
	}
	if local == "" {
		local = "postmaster" // RFC 7208 section 4.3
	}
	if !ok {
		// The null sender (or a sender without domain): the HELO identity.
		r.Identity, local, domain = "helo", "postmaster", helo
	}
	r.Domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	d, err := normDomain(domain)
	if err != nil || !strings.Contains(d, ".") {
		// RFC 7208 section 4.3: a malformed or single-label domain is none.
		r.Result, r.Reason = "none", "no valid domain to check"
		return r
	}
	r.Domain = d
	r.Sender = local + "@" + d
	if !ip.IsValid() {
		r.Result, r.Reason = "none", "no client address"
		return r
	}
	ip = ip.Unmap()
	res, serr := spf.CheckHostWithSender(net.IP(ip.AsSlice()), helo, r.Sender,
		spf.WithContext(ctx), spf.WithResolver(&spfResolver{c: c, v6: ip.Is6()}))
	r.Result = string(res)
	r.Reason = spfReason(res, serr)
	return r
}

// spfReason says why, without internals (no resolver addresses).
func spfReason(res spf.Result, err error) string {
	switch res {
	case spf.TempError:
		return "DNS lookup failed"
	case spf.PermError:
		switch err {
		case spf.ErrLookupLimitReached:
			return "more than 10 DNS lookups"
		case spf.ErrVoidLookupLimitReached:
			return "more than 2 void lookups"
		case spf.ErrMultipleRecords:
			return "several SPF records"
		case spf.ErrTooManyMXRecords:
			return "more than 10 MX records"
		}
		if err != nil {
			if _, dnsErr := err.(*net.DNSError); !dnsErr {
				return "invalid record: " + err.Error()
			}
		}
		return "invalid record or include without a record"
	case spf.None:
		return "no SPF record"
	}
	return ""
}
