package auth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/levee-mail/levee/rules/dns"
)

// netErr turns a rules/dns outcome into the *net.DNSError that
// blitiri.com.ar/go/spf and go-msgauth read (both use net.Resolver's
// conventions): ErrNotFound is IsNotFound (SPF "none", a void lookup; DKIM
// "no key"), a failure is IsTemporary or IsTimeout (temperror). A failure
// is never reported as "not found".
func netErr(name string, err error) error {
	if err == nil {
		return nil
	}
	e := &net.DNSError{Err: err.Error(), Name: name}
	switch {
	case errors.Is(err, dns.ErrNotFound):
		e.Err, e.IsNotFound = "no such host", true
	case errors.Is(err, dns.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.IsTimeout, e.IsTemporary = true, true
	default:
		e.IsTemporary = true
	}
	return e
}

// spfResolver adapts levee's cached resolver to spf.DNSResolver.
type spfResolver struct {
	c *dns.Cache
	// v6 is the client's family: RFC 7208 section 5.3 and 5.4 look up A
	// for an IPv4 client and AAAA for an IPv6 one. For an IPv6 client both
	// are asked (exists: always uses A, section 5.7).
	v6 bool
}

func (r *spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := r.c.LookupTXT(ctx, name)
	return txt, netErr(name, err)
}

func (r *spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := r.c.LookupMX(ctx, name)
	if err != nil {
		return nil, netErr(name, err)
	}
	out := make([]*net.MX, len(mx))
	for i, m := range mx {
		out[i] = &net.MX{Host: m.Host + ".", Pref: m.Pref}
	}
	return out, nil
}

func (r *spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if !r.v6 {
		ips, err := r.c.LookupA(ctx, host)
		if err != nil {
			return nil, netErr(host, err)
		}
		return ipAddrs(ips), nil
	}
	var wg sync.WaitGroup
	var a, aaaa []netip.Addr
	var errA, errAAAA error
	wg.Add(1)
	go func() { defer wg.Done(); a, errA = r.c.LookupA(ctx, host) }()
	aaaa, errAAAA = r.c.LookupAAAA(ctx, host)
	wg.Wait()
	all := append(a, aaaa...)
	if len(all) > 0 {
		return ipAddrs(all), nil
	}
	// Both empty: not found only when both said so.
	for _, err := range []error{errA, errAAAA} {
		if err != nil && !errors.Is(err, dns.ErrNotFound) {
			return nil, netErr(host, err)
		}
	}
	return nil, netErr(host, dns.ErrNotFound)
}

func (r *spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "bad address", Name: addr}
	}
	names, err := r.c.LookupPTR(ctx, ip)
	if err != nil {
		return nil, netErr(addr, err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "."
	}
	return out, nil
}

func ipAddrs(ips []netip.Addr) []net.IPAddr {
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: net.IP(ip.AsSlice())}
	}
	return out
}
