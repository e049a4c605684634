package dns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// MapResolver is a map-based Resolver for tests (like mox's
// dns.MockResolver). Names are lower case without trailing dot; PTR is
// keyed by the address's ReverseName. It is safe for concurrent use once
// set up; Queries records the questions asked.
type MapResolver struct {
	A    map[string][]netip.Addr
	AAAA map[string][]netip.Addr
	TXT  map[string][]string
	MX   map[string][]MX
	PTR  map[string][]string
	Fail map[string]error // name -> error returned for every type
	TTL  time.Duration    // answer TTL (0: the cache's minimum)
	// Delay is applied to every answer (ctx respected).
	Delay time.Duration

	mu      sync.Mutex
	queries []string
}

// Queries returns the queries so far, as "A name", "TXT name", ...
func (m *MapResolver) Queries() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.queries...)
}

// Count returns how often "TYPE name" was asked.
func (m *MapResolver) Count(q string) int {
	n := 0
	for _, s := range m.Queries() {
		if s == q {
			n++
		}
	}
	return n
}

func (m *MapResolver) wait(ctx context.Context, qtype, name string) (string, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	m.mu.Lock()
	m.queries = append(m.queries, qtype+" "+name)
	m.mu.Unlock()
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return name, fmt.Errorf("%w: %w", ErrDNS, ErrTimeout)
		}
	}
	if err := m.Fail[name]; err != nil {
		return name, err
	}
	return name, nil
}

func mapLookup[T any](m *MapResolver, ctx context.Context, qtype, name string, table map[string][]T) ([]T, time.Duration, error) {
	name, err := m.wait(ctx, qtype, name)
	if err != nil {
		return nil, 0, err
	}
	if v := table[name]; len(v) > 0 {
		return append([]T(nil), v...), m.TTL, nil
	}
	return nil, m.TTL, ErrNotFound
}

func (m *MapResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	return mapLookup(m, ctx, "A", name, m.A)
}

func (m *MapResolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	return mapLookup(m, ctx, "AAAA", name, m.AAAA)
}

func (m *MapResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	return mapLookup(m, ctx, "TXT", name, m.TXT)
}

func (m *MapResolver) LookupMX(ctx context.Context, name string) ([]MX, time.Duration, error) {
	return mapLookup(m, ctx, "MX", name, m.MX)
}

func (m *MapResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, time.Duration, error) {
	return mapLookup(m, ctx, "PTR", ReverseName(ip), m.PTR)
}
