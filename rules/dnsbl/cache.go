package dnsbl

import (
	"context"
	"net/netip"
	"time"

	"github.com/levee-mail/levee/rules/dns"
)

// cache is the shared rules/dns cache as the lists use it: answers kept
// for their TTL clamped to [min_ttl, max_ttl], NXDOMAIN too, failures not
// cached, identical queries in flight merged.
type cache struct {
	*dns.Cache
}

func newCache(res Resolver, cfg ResolverConfig, now func() time.Time) *cache {
	return &cache{dns.NewCache(res, cfg, now)}
}

// cached reports whether a lookup of qname can be answered from the cache
// alone: the A answer is cached, and so is the TXT one when A is positive.
func (c *cache) cached(qname string) bool {
	a, pos := c.Fresh("A " + qname)
	if !a {
		return false
	}
	if !pos {
		return true
	}
	t, _ := c.Fresh("TXT " + qname)
	return t
}

func (c *cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	t, err := c.Cache.LookupTXT(ctx, name)
	return trimTXT(t), err
}

func (c *cache) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return c.Cache.LookupA(ctx, name)
}
