package dnsbl

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Source says where a looked-up IP or name came from.
type Source string

// Sources, as used in List.Checks.
const (
	SourceClient     Source = "client"      // connecting IP
	SourceReceived   Source = "received"    // last untrusted Received hop
	SourceHelo       Source = "helo"        // HELO/EHLO name
	SourceClientName Source = "client_name" // verified reverse DNS name
	SourceMailFrom   Source = "mail_from"   // envelope sender domain
	SourceFrom       Source = "from"        // From: domain
	SourceReplyTo    Source = "reply_to"    // Reply-To: domain
	SourceURLs       Source = "urls"        // host names of URLs in the body
)

// Non-queryable client addresses: private, shared (CGNAT), link-local,
// unspecified, multicast and IPv6 loopback. IPv4 loopback (127/8) stays
// queryable: RFC 5782 test entries are 127.0.0.2 etc.; so do the
// documentation ranges (TEST-NET, 2001:db8::/32), used by test zones.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Queryable reports whether ip may be sent to a blocklist. IPv4-mapped
// IPv6 addresses are judged as IPv4.
func Queryable(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || cgnat.Contains(ip) {
		return false
	}
	if ip.Is6() && ip.IsLoopback() {
		return false
	}
	return true
}

// ReverseIP returns the query label sequence of ip without the zone
// (RFC 5782 section 2.1 and 2.4): IPv4 as reversed octets, IPv6 as 32
// reversed nibbles. An IPv4-mapped IPv6 address is written as IPv4.
func ReverseIP(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	return reverseNoUnmap(ip)
}

func reverseNoUnmap(ip netip.Addr) string {
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		b.Grow(16)
		for i := 3; i >= 0; i-- {
			writeUint(&b, a[i])
			if i > 0 {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	b.Grow(63)
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		if i > 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

func writeUint(b *strings.Builder, v byte) {
	if v >= 100 {
		b.WriteByte('0' + v/100)
	}
	if v >= 10 {
		b.WriteByte('0' + v/10%10)
	}
	b.WriteByte('0' + v%10)
}

// NormalizeDomain returns the lookup form of a host name: trimmed,
// trailing dot removed, lower case, IDNs as A-labels (IDNA2008 lookup
// profile). It returns "" for what is not a host name worth a query: IP
// literals, single labels, names that are too long or have invalid
// characters.
func NormalizeDomain(name string) string {
	name = strings.TrimSpace(name)
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 1024 {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return "" // an address literal: DBL answers 127.0.1.255 for these
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return ""
	}
	a = strings.ToLower(a)
	if !validName(a) || !strings.Contains(a, ".") {
		return ""
	}
	// All-numeric last label: not a host name (e.g. 1.2.3.4 in another form).
	last := a[strings.LastIndexByte(a, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return ""
	}
	return a
}

// RegisteredDomain reduces a normalized host name to its registered
// domain (public suffix plus one label); "" when name is a public suffix.
func RegisteredDomain(name string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return ""
	}
	return d
}

// validName checks the LDH-ish syntax of a lower-case ASCII name without
// trailing dot: labels of 1-63 characters, at most 253 in all. Underscores
// are allowed (zones and DQS keys may have them).
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for s != "" {
		label, rest, _ := strings.Cut(s, ".")
		if !validLabel(label) {
			return false
		}
		if rest == "" && strings.HasSuffix(s, ".") {
			return false
		}
		s = rest
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// queryName joins a reversed IP or normalized name with a zone; "" when
// the result would be too long for DNS.
func queryName(item, zone string) string {
	if len(item)+1+len(zone) > 253 {
		return ""
	}
	return item + "." + zone
}
