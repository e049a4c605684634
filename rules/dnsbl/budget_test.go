package dnsbl

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// stallResolver never answers the names of stall (until ctx ends) and
// answers 127.0.1.2 to the others after delay.
type stallResolver struct {
	*MapResolver // the record types the lists never ask: not found
	stall        func(name string) bool
	delay        time.Duration
}

func (r stallResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	if r.stall(name) {
		<-ctx.Done()
		return nil, 0, ErrTimeout
	}
	select {
	case <-time.After(r.delay):
		return []netip.Addr{netip.MustParseAddr("127.0.1.2")}, time.Minute, nil
	case <-ctx.Done():
		return nil, 0, ErrTimeout
	}
}

func (r stallResolver) LookupTXT(ctx context.Context, name string) ([]string, time.Duration, error) {
	return nil, 0, ErrNotFound
}

// A message waits on DNS at RCPT (early reject) and at end of message:
// together at most one deadline. After a full-deadline wait at RCPT, the
// end of message does not wait again for an answer due later.
func TestWaitsShareOneDeadline(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EarlyReject.Enabled = true
	res := stallResolver{MapResolver: &MapResolver{}, stall: func(n string) bool {
		return strings.HasSuffix(n, ".zen.spamhaus.org") || strings.HasSuffix(n, ".list.dnswl.org")
	},
		delay: 600 * time.Millisecond}
	c, err := New(cfg, ResolverConfig{Deadline: time.Second}, Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.7"))
	if rej, _ := s.EarlyReject(context.Background()); rej {
		t.Fatal("rejected on no answer")
	}
	s.mu.Lock()
	waited := s.waited
	s.mu.Unlock()
	if waited < time.Second {
		t.Fatalf("RCPT waited %v, want the whole deadline (1s) on a silent server", waited)
	}
	// Header lookups start at end of header; their answer comes 600ms
	// later, but the message has no deadline left.
	s.CheckDomain(SourceFrom, "spammy.example")
	r := s.Result(context.Background())
	if len(r.Hits) != 0 {
		t.Errorf("end of message waited again: hits %+v", r.Hits)
	}
	if !slices.Contains(r.Errors, "dbl.spamhaus.org: spammy.example: no answer within the deadline") {
		t.Errorf("errors %q", r.Errors)
	}

	// Without the wait at RCPT, end of message has the whole deadline.
	s = c.NewSession(false)
	s.CheckDomain(SourceFrom, "spammy.example2")
	if r := s.Result(context.Background()); len(r.Hits) != 1 || r.Hits[0].Rule != "URIBL_DBL_SPAM" {
		t.Errorf("hits %+v, errors %q", r.Hits, r.Errors)
	}
}
