package dns

import (
	"container/list"
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache sits in front of a Resolver: answers are kept for their TTL
// clamped to [MinTTL, MaxTTL], negative answers (ErrNotFound) too;
// failures are not cached. Identical queries in flight are merged, and a
// merged lookup outlives a cancelled first caller (bounded by Deadline).
// Size-bounded LRU. Safe for concurrent use.
type Cache struct {
	res      Resolver
	size     int
	min, max time.Duration
	limit    time.Duration // bound of one merged lookup
	now      func() time.Time
	// OnHit and OnMiss, when set before use, count cache hits and misses.
	OnHit, OnMiss func()

	mu    sync.Mutex
	ll    *list.List
	items map[string]*list.Element
	group singleflight.Group
}

// Entry is one cached answer.
type Entry struct {
	Key     string
	IPs     []netip.Addr
	TXT     []string
	MX      []MX
	Names   []string
	Err     error // nil or ErrNotFound
	Expires time.Time
}

// NewCache makes a cache over res; cfg must be validated. now is the
// clock (nil: time.Now).
func NewCache(res Resolver, cfg ResolverConfig, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{
		res: res, size: cfg.CacheSize, min: cfg.MinTTL, max: cfg.MaxTTL,
		limit: cfg.Deadline, now: now,
		ll: list.New(), items: map[string]*list.Element{},
		OnHit: func() {}, OnMiss: func() {},
	}
}

// Resolver returns the resolver behind the cache.
func (c *Cache) Resolver() Resolver { return c.res }

// Get returns the fresh entry for key ("A name", "TXT name", ...).
func (c *Cache) Get(key string) (*Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*Entry)
	if !c.now().Before(e.Expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e, true
}

// Put stores e for ttl clamped to [MinTTL, MaxTTL].
func (c *Cache) Put(e *Entry, ttl time.Duration) {
	if c.size <= 0 {
		return
	}
	ttl = max(c.min, min(ttl, c.max))
	e.Expires = c.now().Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.Key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[e.Key] = c.ll.PushFront(e)
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*Entry).Key)
	}
}

// Fresh reports whether key is cached and fresh, and whether that
// answer was positive.
func (c *Cache) Fresh(key string) (cached, positive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*Entry)
		if c.now().Before(e.Expires) {
			return true, e.Err == nil
		}
	}
	return false, false
}

// Len returns the number of cached entries (tests).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *Cache) lookup(ctx context.Context, key string, fn func(ctx context.Context) (*Entry, time.Duration, error)) (*Entry, error) {
	if e, ok := c.Get(key); ok {
		c.OnHit()
		return e, e.Err
	}
	c.OnMiss()
	ch := c.group.DoChan(key, func() (any, error) {
		// The lookup outlives a cancelled first caller: others may wait on it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.limit)
		defer cancel()
		e, ttl, err := fn(lctx)
		if err == nil || errors.Is(err, ErrNotFound) {
			e.Key, e.Err = key, nil
			if err != nil {
				e.Err = ErrNotFound
			}
			c.Put(e, ttl)
			return e, nil
		}
		return nil, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		e := r.Val.(*Entry)
		return e, e.Err
	case <-ctx.Done():
		return nil, errTimeoutCtx(ctx)
	}
}

func errTimeoutCtx(ctx context.Context) error {
	return errors.Join(ErrDNS, ErrTimeout, ctx.Err())
}

// LookupA is Resolver.LookupA through the cache (no TTL returned).
func (c *Cache) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	e, err := c.lookup(ctx, "A "+name, func(ctx context.Context) (*Entry, time.Duration, error) {
		ips, ttl, err := c.res.LookupA(ctx, name)
		return &Entry{IPs: ips}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.IPs, err
}

// LookupAAAA is Resolver.LookupAAAA through the cache.
func (c *Cache) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	e, err := c.lookup(ctx, "AAAA "+name, func(ctx context.Context) (*Entry, time.Duration, error) {
		ips, ttl, err := c.res.LookupAAAA(ctx, name)
		return &Entry{IPs: ips}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.IPs, err
}

// LookupTXT is Resolver.LookupTXT through the cache.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e, err := c.lookup(ctx, "TXT "+name, func(ctx context.Context) (*Entry, time.Duration, error) {
		txt, ttl, err := c.res.LookupTXT(ctx, name)
		return &Entry{TXT: txt}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.TXT, err
}

// LookupMX is Resolver.LookupMX through the cache.
func (c *Cache) LookupMX(ctx context.Context, name string) ([]MX, error) {
	e, err := c.lookup(ctx, "MX "+name, func(ctx context.Context) (*Entry, time.Duration, error) {
		mx, ttl, err := c.res.LookupMX(ctx, name)
		return &Entry{MX: mx}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.MX, err
}

// LookupPTR is Resolver.LookupPTR through the cache.
func (c *Cache) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	e, err := c.lookup(ctx, "PTR "+ReverseName(ip), func(ctx context.Context) (*Entry, time.Duration, error) {
		names, ttl, err := c.res.LookupPTR(ctx, ip)
		return &Entry{Names: names}, ttl, err
	})
	if e == nil {
		return nil, err
	}
	return e.Names, err
}
