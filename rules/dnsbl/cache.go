package dnsbl

import (
	"container/list"
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache sits in front of a Resolver: answers are kept for their TTL
// clamped to [min, max], negative answers (ErrNotFound) too; failures are
// not cached. Identical queries in flight are merged. Size-bounded LRU.
type cache struct {
	res      Resolver
	size     int
	min, max time.Duration
	limit    time.Duration // bound of one merged lookup
	now      func() time.Time
	onHit    func()
	onMiss   func()

	mu    sync.Mutex
	ll    *list.List
	items map[string]*list.Element
	group singleflight.Group
}

type cacheEntry struct {
	key     string
	ips     []netip.Addr
	txt     []string
	err     error // nil or ErrNotFound
	expires time.Time
}

func newCache(res Resolver, cfg ResolverConfig, now func() time.Time) *cache {
	return &cache{
		res: res, size: cfg.CacheSize, min: cfg.MinTTL, max: cfg.MaxTTL,
		limit: cfg.Deadline, now: now,
		ll: list.New(), items: map[string]*list.Element{},
		onHit: func() {}, onMiss: func() {},
	}
}

func (c *cache) get(key string) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e, true
}

func (c *cache) put(e *cacheEntry, ttl time.Duration) {
	if c.size <= 0 {
		return
	}
	ttl = max(c.min, min(ttl, c.max))
	e.expires = c.now().Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[e.key] = c.ll.PushFront(e)
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

// cached reports whether a lookup of qname can be answered from the cache
// alone: the A answer is cached, and so is the TXT one when A is positive.
func (c *cache) cached(qname string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	fresh := func(key string) *cacheEntry {
		if el, ok := c.items[key]; ok && now.Before(el.Value.(*cacheEntry).expires) {
			return el.Value.(*cacheEntry)
		}
		return nil
	}
	a := fresh("A " + qname)
	return a != nil && (a.err != nil || fresh("TXT "+qname) != nil)
}

// Len returns the number of cached entries (tests).
func (c *cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *cache) lookup(ctx context.Context, key string, fn func(ctx context.Context) (*cacheEntry, time.Duration, error)) (*cacheEntry, error) {
	if e, ok := c.get(key); ok {
		c.onHit()
		return e, e.err
	}
	c.onMiss()
	ch := c.group.DoChan(key, func() (any, error) {
		// The lookup outlives a cancelled first caller: others may wait on it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.limit)
		defer cancel()
		e, ttl, err := fn(lctx)
		if err == nil || errors.Is(err, ErrNotFound) {
			e.key, e.err = key, nil
			if err != nil {
				e.err = ErrNotFound
			}
			c.put(e, ttl)
			return e, nil
		}
		return nil, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		e := r.Val.(*cacheEntry)
		return e, e.err
	case <-ctx.Done():
		return nil, errTimeoutCtx(ctx)
	}
}

func errTimeoutCtx(ctx context.Context) error {
	return errors.Join(ErrDNS, ErrTimeout, ctx.Err())
}

func (c *cache) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	e, err := c.lookup(ctx, "A "+name, func(ctx context.Context) (*cacheEntry, time.Duration, error) {
		ips, ttl, err := c.res.LookupA(ctx, name)
		return &cacheEntry{ips: ips}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.ips, err
}

func (c *cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e, err := c.lookup(ctx, "TXT "+name, func(ctx context.Context) (*cacheEntry, time.Duration, error) {
		txt, ttl, err := c.res.LookupTXT(ctx, name)
		return &cacheEntry{txt: txt}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.txt, err
}
