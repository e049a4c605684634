package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/levee-mail/levee/rules/received"
)

// Checks on the SMTP envelope (HELO, the client's reverse DNS) and on the
// Received chain. Names follow SpamAssassin (20_fake_helo_tests.cf,
// 20_dynrdns.cf, 20_head_tests.cf) and rspamd (hfilter.lua) where they exist.
func init() {
	register(
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
		Rule{Name: "RCVD_ILLEGAL_IP", Score: 1.3, Kind: KindReceived, Desc: "Received header names an IP that cannot send mail (0/8, multicast, reserved, TEST-NET)",
			Test: rcvdIllegalIP},
		Rule{Name: "RCVD_DOUBLE_IP", Score: 1.5, Kind: KindReceived, Desc: "Received header says 'from IP by IP' (ratware)",
			Test: rcvdDoubleIP},
		Rule{Name: "RCVD_DATE_FORGED", Score: 1.0, Kind: KindReceived, Desc: "A lower Received hop is dated after the hop above it",
			Test: rcvdDateForged},
		Rule{Name: "ONCE_RECEIVED_DYNAMIC", Score: 2.0, Kind: KindReceived, Desc: "Sent straight to the MX (one Received) by a home-looking client",
			Test: onceReceivedDynamic},
	)
	for i := range bigProviders {
		p := &bigProviders[i]
		register(Rule{
			Name:  "FORGED_" + p.name + "_RCVD",
			Score: 2.0,
			Kind:  KindReceived,
			Desc:  fmt.Sprintf("From is a %s address but no Received hop passed %s servers", strings.ToLower(p.name), strings.ToLower(p.name)),
			Test:  func(m *Message) bool { return forgedProviderRcvd(m, p) },
		})
	}
}

// heloName returns the HELO name lower-cased, without a trailing dot; ""
// for an address literal.
func heloName(m *Message) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(m.Env.Helo)), ".")
	if _, ok := heloIP(h); ok {
		return ""
	}
	return h
}

// heloIP parses a HELO that is an address, bracketed ("[1.2.3.4]",
// "[IPv6:...]") or bare.
func heloIP(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	h = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "IPv6:")
	h = strings.TrimPrefix(h, "ipv6:")
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

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
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var reservedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32", "fc00::/7"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// illegalIP: addresses that cannot appear as a client at all, even inside
// a private network (private space is normal in inner Received hops).
func illegalIP(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range illegalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var illegalPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

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

// dynWordRE matches the words ISPs put into host names of home and
// dial-up lines (SpamAssassin 20_dynrdns.cf, rspamd hfilter checks_hellohost).
var dynWordRE = regexp.MustCompile(`(?:^|[^a-z])(?:[avxs]?dsl|adsl\d*|dial(?:up|in)?|dhcp|ppp(?:oe)?|pool|dyn(?:amic|ip)?|cable|cpe|broadband|bband|customer|cust|resnet|residential|ftth|fttx|fttc|catv|modem|dslam|nat|wifi|wlan|mobile|cellular|dip|hsd\d*|user|home|client)(?:$|[^a-z])`)

// looksDynamic reports host names that embed the client's address or
// carry dynamic-pool words next to long digit runs.
func looksDynamic(name string, ip netip.Addr) bool {
	name = strings.ToLower(name)
	if embedsIP(name, ip) {
		return true
	}
	first := name
	if i := strings.IndexByte(name, '.'); i > 0 {
		first = name[:i]
	}
	digits := 0
	for _, c := range name {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if digits >= 4 && dynWordRE.MatchString(name) {
		return true
	}
	// ISP style first labels made of letters and many digit groups:
	// "d54c2f9a1.static", "c-67-180-1-2", "ip68-1-2-3", "host-1-2-3-4".
	return genericLabelRE.MatchString(first)
}

var genericLabelRE = regexp.MustCompile(`^(?:[a-z]{1,4}[-_.]?)?\d{1,3}[-_x]\d{1,3}[-_x]\d{1,3}[-_x]\d{1,3}(?:[-_.][a-z0-9]*)?$|^(?:[a-z]{0,4}[-_]?)[0-9a-f]{8}$`)

// embedsIP reports whether the name carries at least three of the IPv4
// client address's octets as separate numbers, or the address in hex.
func embedsIP(name string, ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.Is4() {
		return false
	}
	o := ip.As4()
	hex := fmt.Sprintf("%02x%02x%02x%02x", o[0], o[1], o[2], o[3])
	if strings.Contains(name, hex) {
		return true
	}
	var nums []string
	cur := ""
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] >= '0' && name[i] <= '9' {
			cur += name[i : i+1]
			continue
		}
		if cur != "" {
			nums = append(nums, strings.TrimLeft(cur, "0"))
			cur = ""
		}
	}
	if len(nums) < 3 {
		// also "1921681010"-style: the decimal octets run together
		full := fmt.Sprintf("%d%d%d%d", o[0], o[1], o[2], o[3])
		pad := fmt.Sprintf("%03d%03d%03d%03d", o[0], o[1], o[2], o[3])
		return len(full) >= 8 && (strings.Contains(name, full) || strings.Contains(name, pad))
	}
	found := 0
	used := make([]bool, len(nums))
	for _, b := range o {
		s := strings.TrimLeft(fmt.Sprint(b), "0")
		for j, n := range nums {
			if !used[j] && n == s {
				used[j] = true
				found++
				break
			}
		}
	}
	return found >= 3
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

func rcvdIllegalIP(m *Message) bool {
	for _, h := range m.Received() {
		if h.IP.IsValid() && illegalIP(h.IP) {
			return true
		}
		if a, ok := heloIP(h.Helo); ok && illegalIP(a) {
			return true
		}
	}
	return false
}

// rcvdDoubleIPRE: "from 1.2.3.4 by 5.6.7.8" with bare addresses on both
// sides, the signature of several bulk mailers (SpamAssassin RCVD_DOUBLE_IP_SPAM).
var rcvdDoubleIPRE = regexp.MustCompile(`(?i)^from\s+\[?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\]?\s+by\s+\[?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\]?[\s;]`)

func rcvdDoubleIP(m *Message) bool {
	for _, h := range m.Received() {
		if rcvdDoubleIPRE.MatchString(h.Raw) {
			return true
		}
	}
	return false
}

// rcvdDateForged: a hop below claims a date more than a day after the
// hop above it received the message (time runs downwards in the chain).
func rcvdDateForged(m *Message) bool {
	hops := m.Received()
	for i := 0; i+1 < len(hops); i++ {
		if !hops[i].HasDate {
			continue
		}
		for j := i + 1; j < len(hops); j++ {
			if hops[j].HasDate && hops[j].Date.Sub(hops[i].Date).Hours() > 24 {
				return true
			}
		}
	}
	return false
}

// onceReceivedDynamic: the message has just the MX's own Received field
// and the client looks like a home machine (dynamic or no rDNS, HELO an
// IP or not a domain): a bot speaking SMTP straight to the MX.
func onceReceivedDynamic(m *Message) bool {
	if m.Count("Received") != 1 || m.Env.AuthUser != "" {
		return false
	}
	name, known := m.Env.RDNS()
	home := known && (name == "" || looksDynamic(name, m.Env.ClientIP))
	if _, ok := heloIP(m.Env.Helo); ok {
		home = true
	}
	if h := heloName(m); h != "" && (!strings.Contains(h, ".") || looksDynamic(h, m.Env.ClientIP)) {
		home = true
	}
	return home
}

// localOrigin: the hop is a local pick-up (from localhost / 127.0.0.1, or
// no client at all).
func localOrigin(h received.Hop) bool {
	if h.IP.IsValid() {
		return h.IP.IsLoopback()
	}
	return strings.HasPrefix(strings.ToLower(h.Helo), "localhost") || strings.HasPrefix(strings.ToLower(h.RDNS), "localhost")
}

// forgedProviderRcvd: the From address is at a big provider, yet neither
// the client nor any Received hop is one of its servers: mail from a
// Gmail user always leaves through Google.
func forgedProviderRcvd(m *Message, p *bigProvider) bool {
	from := addrOf(m.Header("From"))
	if from == "" || providerOf(domainOf(from)) != p {
		return false
	}
	if name, _ := m.Env.RDNS(); p.ownsHost(name) || p.ownsHost(heloName(m)) {
		return false
	}
	hops := m.Received()
	if n := len(hops); n > 1 && localOrigin(hops[n-1]) {
		// written on a server (a web form, a list archive's "reply"
		// button): no provider hop to expect
		return false
	}
	for _, h := range hops {
		if p.ownsHost(h.By) || p.ownsHost(h.RDNS) || p.ownsHost(h.Helo) {
			return false
		}
		if strings.Contains(strings.ToLower(h.Raw), p.hosts[0]) {
			return false
		}
	}
	return true
}
