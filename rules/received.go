package rules

// Checks on the Received chain (parsed by rules/received): what the relays
// before levee's MTA wrote. Names follow SpamAssassin (20_head_tests.cf)
// where they exist.
//
//   - RCVD_ILLEGAL_IP, RCVD_DOUBLE_IP, RCVD_DATE_FORGED, ONCE_RECEIVED_DYNAMIC
//   - one per big provider (providers.go): FORGED_GMAIL_RCVD,
//     FORGED_YAHOO_RCVD, FORGED_HOTMAIL_RCVD, FORGED_AOL_RCVD,
//     FORGED_ICLOUD_RCVD

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/levee-mail/levee/rules/received"
)

func init() {
	register(
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

// illegalIP: addresses that cannot appear as a client at all, even inside
// a private network (private space is normal in inner Received hops).
func illegalIP(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	return inPrefixes(illegalPrefixes, a)
}

var illegalPrefixes = mustPrefixes("0.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32")

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

// lastUntrusted returns the IP of the last untrusted relay in the Received chain.
func (e *Engine) lastUntrusted(m *Message) (netip.Addr, bool) {
	hop, _, ok := received.LastUntrusted(m.Received(), e.cfg.trusted, e.cfg.internal)
	if !ok {
		return netip.Addr{}, false
	}
	return hop.IP, hop.IP.IsValid()
}
