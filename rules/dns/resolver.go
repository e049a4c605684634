// Package dns is levee's own DNS resolver, shared by the DNS blocklists
// (rules/dnsbl) and sender authentication (rules/auth): a miekg/dns stub
// resolver that asks the configured servers (never the system resolver
// library), a TTL-bounded cache with merged in-flight queries, and a
// map-based fake for unit tests.
//
// Every lookup tells three outcomes apart:
//
//   - an answer (with its TTL);
//   - ErrNotFound: NXDOMAIN or NODATA, a definite "no such record" (RFC 2308),
//     with the negative TTL when the server gave one;
//   - an error wrapping ErrDNS (and ErrTimeout, ErrServFail or ErrRefused when
//     that is the cause): the question could not be answered now. Callers
//     turn it into "temperror", never into "none" or "fail".
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Sentinel errors of a Resolver. DNS failures wrap ErrDNS and one of
// ErrTimeout, ErrServFail, ErrRefused when that is the cause.
var (
	ErrNotFound = errors.New("not found") // NXDOMAIN or NODATA
	ErrDNS      = errors.New("dns error")
	ErrTimeout  = errors.New("timeout")
	ErrServFail = errors.New("SERVFAIL")
	ErrRefused  = errors.New("REFUSED")
)

// MX is one mail exchanger record.
type MX struct {
	Host string // without trailing dot
	Pref uint16
}

// Resolver looks up the record types levee needs. Names are fully
// qualified, with or without trailing dot. Definite negative answers
// (NXDOMAIN, NODATA) return ErrNotFound with the negative TTL when known;
// failures wrap ErrDNS.
type Resolver interface {
	LookupA(ctx context.Context, name string) (ips []netip.Addr, ttl time.Duration, err error)
	LookupAAAA(ctx context.Context, name string) (ips []netip.Addr, ttl time.Duration, err error)
	// LookupTXT returns one string per TXT record, the strings of a record
	// joined without separator (RFC 7208 section 3.3, RFC 6376 section
	// 3.6.2.2).
	LookupTXT(ctx context.Context, name string) (txt []string, ttl time.Duration, err error)
	LookupMX(ctx context.Context, name string) (mx []MX, ttl time.Duration, err error)
	// LookupPTR returns the names (without trailing dot) of the PTR
	// records of an address's reverse name.
	LookupPTR(ctx context.Context, ip netip.Addr) (names []string, ttl time.Duration, err error)
}

// Limits on what one answer may hold (they bound the cache's memory).
const (
	MaxTXT      = 32   // TXT records kept per name
	MaxTXTBytes = 8192 // bytes kept per TXT record
	maxRecords  = 64   // A, AAAA, MX, PTR records kept per name
)

type dnsResolver struct {
	servers []string
	timeout time.Duration
	next    atomic.Uint32
}

// NewResolver returns a stub resolver using miekg/dns: UDP with an EDNS0
// buffer of 1232 bytes, TCP when the answer is truncated, servers taken
// in turn (round robin) with fallback to the next one on timeout,
// SERVFAIL or REFUSED, cfg.Timeout per query. It validates a copy of cfg.
func NewResolver(cfg ResolverConfig) (Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &dnsResolver{timeout: cfg.Timeout}
	if len(cfg.Servers) == 0 {
		cc, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: no servers configured and /etc/resolv.conf unusable: %v", err)
		}
		for _, s := range cc.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
		}
		if len(r.servers) == 0 {
			return nil, errors.New("dns: no servers configured nor in /etc/resolv.conf")
		}
	}
	for _, s := range cfg.Servers {
		a, err := serverAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, a)
	}
	return r, nil
}

// serverAddr accepts host:port, [v6]:port, a bare IPv4/IPv6 address or a
// host name, and returns host:port (port 53 by default).
func serverAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty server")
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return net.JoinHostPort(s, "53"), nil
		}
		return "", fmt.Errorf("server %q: %v", s, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("server %q: want host:port", s)
	}
	return s, nil
}

// minTTL keeps the smaller of a running minimum (negative: none yet) and t.
func minTTL(cur time.Duration, t uint32) time.Duration {
	d := time.Duration(t) * time.Second
	if cur < 0 || d < cur {
		return d
	}
	return cur
}

func (r *dnsResolver) lookupIP(ctx context.Context, name string, qtype uint16) ([]netip.Addr, time.Duration, error) {
	m, err := r.exchange(ctx, name, qtype)
	if err != nil {
		return nil, negTTL(m), err
	}
	var ips []netip.Addr
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		var raw net.IP
		var hdr *mdns.RR_Header
		switch a := rr.(type) {
		case *mdns.A:
			if qtype != mdns.TypeA {
				continue
			}
			raw, hdr = a.A, &a.Hdr
		case *mdns.AAAA:
			if qtype != mdns.TypeAAAA {
				continue
			}
			raw, hdr = a.AAAA, &a.Hdr
		default:
			continue
		}
		ip, ok := netip.AddrFromSlice(raw)
		if !ok || len(ips) >= maxRecords {
			continue
		}
		if qtype == mdns.TypeA {
			ip = ip.Unmap()
		}
		ips = append(ips, ip)
		ttl = minTTL(ttl, hdr.Ttl)
	}
	if len(ips) == 0 {
		return nil, negTTL(m), ErrNotFound // NODATA
	}
	return ips, ttl, nil
}

func (r *dnsResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	return r.lookupIP(ctx, name, mdns.TypeA)
}

func (r *dnsResolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	return r.lookupIP(ctx, name, mdns.TypeAAAA)
}

func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	m, err := r.exchange(ctx, name, mdns.TypeTXT)
	if err != nil {
		return nil, negTTL(m), err
	}
	var txt []string
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		t, ok := rr.(*mdns.TXT)
		if !ok || len(txt) >= MaxTXT {
			continue
		}
		s := strings.Join(t.Txt, "")
		if len(s) > MaxTXTBytes {
			s = s[:MaxTXTBytes]
		}
		txt = append(txt, s)
		ttl = minTTL(ttl, t.Hdr.Ttl)
	}
	if len(txt) == 0 {
		return nil, negTTL(m), ErrNotFound
	}
	return txt, ttl, nil
}

func (r *dnsResolver) LookupMX(ctx context.Context, name string) ([]MX, time.Duration, error) {
	m, err := r.exchange(ctx, name, mdns.TypeMX)
	if err != nil {
		return nil, negTTL(m), err
	}
	var mx []MX
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		x, ok := rr.(*mdns.MX)
		if !ok || len(mx) >= maxRecords {
			continue
		}
		mx = append(mx, MX{Host: strings.TrimSuffix(x.Mx, "."), Pref: x.Preference})
		ttl = minTTL(ttl, x.Hdr.Ttl)
	}
	if len(mx) == 0 {
		return nil, negTTL(m), ErrNotFound
	}
	return mx, ttl, nil
}

func (r *dnsResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, time.Duration, error) {
	m, err := r.exchange(ctx, ReverseName(ip), mdns.TypePTR)
	if err != nil {
		return nil, negTTL(m), err
	}
	var names []string
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		p, ok := rr.(*mdns.PTR)
		if !ok || len(names) >= maxRecords {
			continue
		}
		names = append(names, strings.TrimSuffix(p.Ptr, "."))
		ttl = minTTL(ttl, p.Hdr.Ttl)
	}
	if len(names) == 0 {
		return nil, negTTL(m), ErrNotFound
	}
	return names, ttl, nil
}

// ReverseName is the in-addr.arpa or ip6.arpa name of ip (RFC 1035
// section 3.5, RFC 3596 section 2.5), without trailing dot.
func ReverseName(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// negTTL is the negative-caching TTL of RFC 2308 section 5: the minimum of
// the SOA record's TTL and its MINIMUM field; 0 when unknown.
func negTTL(m *mdns.Msg) time.Duration {
	if m == nil {
		return 0
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

// exchange sends one question, trying each server in turn. It returns the
// message with ErrNotFound for NXDOMAIN/NODATA.
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*mdns.Msg, error) {
	q := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), qtype)
	q.SetEdns0(1232, false)
	start := int(r.next.Add(1)-1) % len(r.servers)
	var lastErr error
	for i := range r.servers {
		if ctx.Err() != nil {
			break
		}
		server := r.servers[(start+i)%len(r.servers)]
		m, err := r.exchangeOne(ctx, q, server)
		if err != nil {
			lastErr = err
			continue
		}
		switch m.Rcode {
		case mdns.RcodeSuccess:
			return m, nil
		case mdns.RcodeNameError:
			return m, ErrNotFound
		case mdns.RcodeServerFailure:
			lastErr = fmt.Errorf("%w: %w from %s", ErrDNS, ErrServFail, server)
		case mdns.RcodeRefused:
			lastErr = fmt.Errorf("%w: %w from %s", ErrDNS, ErrRefused, server)
		default:
			lastErr = fmt.Errorf("%w: rcode %s from %s", ErrDNS, mdns.RcodeToString[m.Rcode], server)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: %w: %v", ErrDNS, ErrTimeout, ctx.Err())
	}
	return nil, lastErr
}

func (r *dnsResolver) exchangeOne(ctx context.Context, q *mdns.Msg, server string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	q = q.Copy()
	q.Id = mdns.Id()
	c := &mdns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 1232}
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("%w: %w from %s", ErrDNS, ErrTimeout, server)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrDNS, server, err)
	}
	if m.Id != q.Id {
		return nil, fmt.Errorf("%w: %s: reply id mismatch", ErrDNS, server)
	}
	return m, nil
}
