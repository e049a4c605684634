package rules

// Checks on the SMTP envelope as the MTA reports it: the HELO name, the
// client's reverse DNS and the MAIL FROM address. Names follow SpamAssassin
// (20_fake_helo_tests.cf, 20_dynrdns.cf) and rspamd (hfilter.lua) where
// they exist.
//
//   - HELO: HELO_BARE_IP, HELO_BAD_IP, HELO_NOT_FQDN, HELO_LOCALHOST,
//     HELO_DYNAMIC, HELO_FAKE_PROVIDER, HELO_NE_RDNS
//   - reverse DNS: RDNS_NONE, RDNS_DYNAMIC
//   - MAIL FROM: NULL_SENDER_NOT_BOUNCE, ENVFROM_FORGED_PROVIDER

import (
	"net/netip"
	"regexp"
	"strings"
)

func init() {
	register(
		// HELO (RFC 5321 4.1.1.1)
		Rule{Name: "HELO_BARE_IP", Score: 1.5, Kind: KindEnvelope, Desc: "HELO is a bare IP address",
			Test: heloBareIP},
		Rule{Name: "HELO_BAD_IP", Score: 2.5, Kind: KindEnvelope, Desc: "HELO is a private, reserved or foreign IP address",
			Test: heloBadIP},
		Rule{Name: "HELO_NOT_FQDN", Score: 1.0, Kind: KindEnvelope, Desc: "HELO is not a fully qualified domain name",
			Test: heloNotFQDN},
		Rule{Name: "HELO_LOCALHOST", Score: 2.0, Kind: KindEnvelope, Desc: "HELO is localhost or a LAN-only name",
			Test: heloLocalhost},
		Rule{Name: "HELO_DYNAMIC", Score: 1.5, Kind: KindEnvelope, Desc: "HELO looks like a dynamic/home address",
			Test: func(m *Message) bool {
				h := heloName(m)
				return h != "" && looksDynamic(h, m.Env.ClientIP)
			}},
		Rule{Name: "HELO_FAKE_PROVIDER", Score: 3.0, Kind: KindEnvelope, Desc: "HELO claims a big mail provider the client is not part of",
			Test: heloFakeProvider},
		Rule{Name: "HELO_NE_RDNS", Score: 0.3, Kind: KindEnvelope, Desc: "HELO domain differs from the client's reverse DNS domain",
			Test: heloNERDNS},

		// the client's reverse DNS (Postfix's client name)
		Rule{Name: "RDNS_NONE", Score: 1.0, Kind: KindEnvelope, Desc: "Client IP has no reverse DNS",
			Test: func(m *Message) bool {
				name, known := m.Env.RDNS()
				return known && name == "" && m.Env.ClientIP.IsValid()
			}},
		Rule{Name: "RDNS_DYNAMIC", Score: 1.5, Kind: KindEnvelope, Desc: "Client reverse DNS looks dynamic or generic (IP digits, dsl, pool, dyn)",
			Test: func(m *Message) bool {
				name, known := m.Env.RDNS()
				return known && name != "" && looksDynamic(name, m.Env.ClientIP)
			}},

		// MAIL FROM
		Rule{Name: "NULL_SENDER_NOT_BOUNCE", Score: 1.5, Kind: KindEnvelope, Desc: "Null envelope sender on a message that is not a bounce or auto-reply",
			Test: nullSenderNotBounce},
		Rule{Name: "ENVFROM_FORGED_PROVIDER", Score: 1.5, Kind: KindEnvelope, Desc: "Envelope sender at a big mail provider, sent from outside it",
			Test: envFromForgedProvider},
	)
}

// ---- HELO

func heloBareIP(m *Message) bool {
	_, ok := heloIP(m.Env.Helo)
	return ok
}

// reservedIP reports addresses that are never a public mail client: RFC
// 1918/6598 private space, loopback, link-local, multicast, 0/8, 240/4,
// TEST-NET (RFC 5737), benchmarking (RFC 2544), ULA and documentation v6.
func reservedIP(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() ||
		a.IsUnspecified() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return true
	}
	return inPrefixes(reservedPrefixes, a)
}

var reservedPrefixes = mustPrefixes("0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32", "fc00::/7")

// heloBadIP: the HELO is an address literal that is reserved, or that is
// not the client's own (public) address.
func heloBadIP(m *Message) bool {
	a, ok := heloIP(m.Env.Helo)
	if !ok {
		return false
	}
	if reservedIP(a) {
		return true
	}
	c := m.Env.ClientIP.Unmap()
	return c.IsValid() && !reservedIP(c) && a != c
}

func heloNotFQDN(m *Message) bool {
	h := heloName(m)
	if h == "" {
		return false
	}
	return !strings.Contains(h, ".") || strings.HasSuffix(h, ".") || !tldRE.MatchString(h)
}

// tldRE: the name ends in an alphabetic top-level label.
var tldRE = regexp.MustCompile(`\.[a-z][a-z0-9-]*[a-z0-9]$|\.xn--[a-z0-9-]+$`)

var localHeloRE = regexp.MustCompile(`^(localhost|localhost\.localdomain|localdomain|local|user|computer|pc|desktop|home)$|` +
	`^localhost\.|\.(local|lan|home|localdomain|internal|intranet|corp|invalid|test|example|localhost|domain|workgroup|router|home\.arpa)$`)

func heloLocalhost(m *Message) bool {
	h := heloName(m)
	return h != "" && localHeloRE.MatchString(h)
}

// heloFakeProvider: the HELO names a big provider (gmail.com, yahoo.com,
// outlook.com...) but the client's reverse DNS is not one of its servers.
// A bare provider domain as HELO fires whatever the rDNS: the providers'
// servers greet with their own host names.
func heloFakeProvider(m *Message) bool {
	h := heloName(m)
	p := providerOfHost(h)
	if p == nil {
		return false
	}
	for _, d := range p.domains {
		if h == d {
			return true
		}
	}
	name, known := m.Env.RDNS()
	if !known {
		return false
	}
	return !p.ownsHost(name)
}

func heloNERDNS(m *Message) bool {
	name, known := m.Env.RDNS()
	h := heloName(m)
	if !known || name == "" || h == "" {
		return false
	}
	return orgDomain(name) != orgDomain(h)
}

// ---- MAIL FROM

var bounceFromRE = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mdaemon|bounces?|noreply|no-reply|do-not-reply|donotreply)@`)

// nullSenderNotBounce: MAIL FROM:<> is for delivery reports and automatic
// replies (RFC 5321 4.5.5, RFC 3834); spammers use it to dodge sender
// checks.
func nullSenderNotBounce(m *Message) bool {
	if m.Env.MailFrom != "" || !m.Env.ClientIP.IsValid() {
		return false
	}
	ct := strings.ToLower(m.Header("Content-Type"))
	if strings.HasPrefix(ct, "multipart/report") || strings.HasPrefix(ct, "message/") {
		return false
	}
	if m.Has("Auto-Submitted") || m.Has("X-Autoreply") || m.Has("X-Autorespond") || m.Has("Disposition-Notification-To") && m.Has("Original-Message-ID") {
		return false
	}
	if bounceFromRE.MatchString(addrOf(m.Header("From"))) {
		return false
	}
	return true
}

// envFromForgedProvider: MAIL FROM is at gmail.com, yahoo.com, ... but the
// client is not one of that provider's servers (their users can only
// send through them; forwarders rewrite the sender with SRS).
func envFromForgedProvider(m *Message) bool {
	p := providerOf(domainOf(m.Env.MailFrom))
	if p == nil {
		return false
	}
	name, known := m.Env.RDNS()
	if !known {
		return false
	}
	return !p.ownsHost(name) && !p.ownsHost(heloName(m))
}
