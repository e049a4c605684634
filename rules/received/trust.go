package received

import "net/netip"

// LastUntrusted finds the last untrusted relay in SpamAssassin's sense.
//
// hops are in header order (topmost, i.e. most recent, first), as returned by
// ParseAll. trusted and internal are CIDR sets, following SpamAssassin:
//
//   - internal_networks are the hosts of your own mail system: your MXes
//     and the relays behind them. internal ⊆ trusted: every internal network
//     is also trusted, so an address listed in internal counts as trusted
//     here even if trusted does not list it.
//   - trusted_networks additionally include relays you trust not to forge
//     Received fields although they are not yours (a backup MX at your ISP,
//     a forwarding service). DNSBL checks of "the last external relay" are
//     made against the first hop from outside internal; trust decisions
//     (which Received fields may be believed) are made against trusted.
//
// The walk starts at the top. A hop records the client IP its receiver saw;
// while that IP is trusted (or internal) the hop was handed over inside the
// trusted boundary and the next hop down can be believed. The first hop whose
// client IP is not trusted is returned, with its index in hops: that client
// is the last untrusted relay, the one that handed the message to the
// trusted boundary. Hops without a client IP (local pick-ups, "by 10.x with
// SMTP id" lines, qmail "invoked from network" notes) carry no hand-over and
// are skipped.
//
// ok is false, with index -1, when no hop has a client IP, and also when
// every hop with an IP is trusted (the message did not come from outside).
//
// The first external relay (SpamAssassin's "last external" for internal
// networks) is LastUntrusted(hops, internal, nil).
func LastUntrusted(hops []Hop, trusted, internal []netip.Prefix) (hop Hop, index int, ok bool) {
	for i := range hops {
		ip := hops[i].IP
		if !ip.IsValid() {
			continue
		}
		if contains(trusted, ip) || contains(internal, ip) {
			continue
		}
		return hops[i], i, true
	}
	return Hop{}, -1, false
}

func contains(set []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range set {
		if p.Contains(ip) {
			return true
		}
		// An IPv4 prefix written IPv4-mapped ("::ffff:10.0.0.0/104").
		if p.Addr().Is4In6() && ip.Is4() && p.Bits() >= 96 {
			if q, err := p.Addr().Unmap().Prefix(p.Bits() - 96); err == nil && q.Contains(ip) {
				return true
			}
		}
	}
	return false
}
