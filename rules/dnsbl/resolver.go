package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Sentinel errors of a Resolver. DNS failures wrap ErrDNS and one of
// ErrTimeout, ErrServFail, ErrRefused when that is the cause.
var (
	ErrNotFound = errors.New("not found") // NXDOMAIN or NODATA: not listed
	ErrDNS      = errors.New("dns error")
	ErrTimeout  = errors.New("timeout")
	ErrServFail = errors.New("SERVFAIL")
	ErrRefused  = errors.New("REFUSED")
)

// Resolver looks up A and TXT records. Names are fully qualified, without
// trailing dot. Not-listed answers (NXDOMAIN, NODATA) return ErrNotFound,
// with the negative TTL when known; failures wrap ErrDNS.
type Resolver interface {
	LookupA(ctx context.Context, name string) (ips []netip.Addr, ttl time.Duration, err error)
	LookupTXT(ctx context.Context, name string) (txt []string, ttl time.Duration, err error)
}

const (
	maxTXT      = 4    // TXT records kept per name
	maxTXTBytes = 1024 // bytes kept per TXT record
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
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
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

func (r *dnsResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	m, err := r.exchange(ctx, name, dns.TypeA)
	if err != nil {
		return nil, negTTL(m), err
	}
	var ips []netip.Addr
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.A)
		if !ok {
			continue
		}
		ips = append(ips, ip.Unmap())
		if t := time.Duration(a.Hdr.Ttl) * time.Second; ttl < 0 || t < ttl {
			ttl = t
		}
	}
	if len(ips) == 0 {
		return nil, negTTL(m), ErrNotFound // NODATA
	}
	return ips, ttl, nil
}

func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	m, err := r.exchange(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, negTTL(m), err
	}
	var txt []string
	ttl := time.Duration(-1)
	for _, rr := range m.Answer {
		t, ok := rr.(*dns.TXT)
		if !ok || len(txt) >= maxTXT {
			continue
		}
		s := strings.Join(t.Txt, "")
		if len(s) > maxTXTBytes {
			s = s[:maxTXTBytes]
		}
		txt = append(txt, s)
		if d := time.Duration(t.Hdr.Ttl) * time.Second; ttl < 0 || d < ttl {
			ttl = d
		}
	}
	if len(txt) == 0 {
		return nil, negTTL(m), ErrNotFound
	}
	return txt, ttl, nil
}

// negTTL is the negative-caching TTL of RFC 2308 section 5: the minimum of
// the SOA record's TTL and its MINIMUM field; 0 when unknown.
func negTTL(m *dns.Msg) time.Duration {
	if m == nil {
		return 0
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

// exchange sends one question, trying each server in turn. It returns the
// message with ErrNotFound for NXDOMAIN/NODATA.
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
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
		case dns.RcodeSuccess:
			return m, nil
		case dns.RcodeNameError:
			return m, ErrNotFound
		case dns.RcodeServerFailure:
			lastErr = fmt.Errorf("%w: %w from %s", ErrDNS, ErrServFail, server)
		case dns.RcodeRefused:
			lastErr = fmt.Errorf("%w: %w from %s", ErrDNS, ErrRefused, server)
		default:
			lastErr = fmt.Errorf("%w: rcode %s from %s", ErrDNS, dns.RcodeToString[m.Rcode], server)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: %w: %v", ErrDNS, ErrTimeout, ctx.Err())
	}
	return nil, lastErr
}

func (r *dnsResolver) exchangeOne(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	q = q.Copy()
	q.Id = dns.Id()
	c := &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 1232}
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

// MapResolver is a map-based Resolver for tests (like mox's
// dns.MockResolver). Names are lower case without trailing dot. It is safe
// for concurrent use once set up; Queries records the names asked.
type MapResolver struct {
	A    map[string][]netip.Addr
	TXT  map[string][]string
	Fail map[string]error // name -> error returned for A and TXT
	TTL  time.Duration    // answer TTL (0: the cache's minimum)
	// Delay is applied to every answer (ctx respected).
	Delay time.Duration

	mu      sync.Mutex
	queries []string
}

// Queries returns the queries so far, as "A name" or "TXT name".
func (m *MapResolver) Queries() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.queries...)
}

// Count returns how often "A name"/"TXT name" (qtype and name) was asked.
func (m *MapResolver) Count(q string) int {
	n := 0
	for _, s := range m.Queries() {
		if s == q {
			n++
		}
	}
	return n
}

func (m *MapResolver) wait(ctx context.Context, q string) error {
	m.mu.Lock()
	m.queries = append(m.queries, q)
	m.mu.Unlock()
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrDNS, ErrTimeout)
		}
	}
	return nil
}

func (m *MapResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := m.wait(ctx, "A "+name); err != nil {
		return nil, 0, err
	}
	if err := m.Fail[name]; err != nil {
		return nil, 0, err
	}
	if ips := m.A[name]; len(ips) > 0 {
		return append([]netip.Addr(nil), ips...), m.TTL, nil
	}
	return nil, m.TTL, ErrNotFound
}

func (m *MapResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := m.wait(ctx, "TXT "+name); err != nil {
		return nil, 0, err
	}
	if err := m.Fail[name]; err != nil {
		return nil, 0, err
	}
	if t := m.TXT[name]; len(t) > 0 {
		return append([]string(nil), t...), m.TTL, nil
	}
	return nil, m.TTL, ErrNotFound
}
