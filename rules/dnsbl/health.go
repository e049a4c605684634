package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// HealthReport is the RFC 5782 self-test of one list.
type HealthReport struct {
	List     string
	OK       bool
	Err      error // why the test failed (nil if OK)
	IPv6Err  error // IPv6 part failed (ip lists with ipv6: true); IPv4 still used
	Disabled bool  // the list is now disabled
	// Inconclusive: a test query got no answer (timeout, SERVFAIL,
	// REFUSED): nothing was learnt about the list, so its state was left
	// as it was and the test is retried after the backoff.
	Inconclusive bool
	Took         time.Duration
}

// errInconclusive marks a test query that got no answer at all.
var errInconclusive = errors.New("no answer")

// RFC 5782 section 5: test entries. 127.0.0.2 must be listed, 127.0.0.1
// must not; IPv6 lists ::FFFF:7F00:2 and ::FFFF:7F00:1 (in nibble form);
// domain lists "test" and "invalid".
var (
	testListed4    = netip.MustParseAddr("127.0.0.2")
	testNotListed4 = netip.MustParseAddr("127.0.0.1")
	testListed6    = netip.MustParseAddr("::ffff:7f00:2")
	testNotListed6 = netip.MustParseAddr("::ffff:7f00:1")
)

// Health runs the RFC 5782 test queries on every list (uncached, in
// parallel, within Deadline). A list that fails is disabled (not queried,
// logged at Error level) until it passes again; a list failing only the
// IPv6 test keeps serving IPv4. A test that gets no answer (the resolver
// or the list is down: timeout, SERVFAIL) says nothing about the list: its
// state is kept, so that a DNS outage at a start or a reload does not turn
// every list off until the next interval.
func (c *Checker) Health(ctx context.Context) []HealthReport {
	ctx, cancel := context.WithTimeout(ctx, c.dns.Deadline)
	defer cancel()
	reports := make([]HealthReport, len(c.lists))
	var wg sync.WaitGroup
	for i, l := range c.lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = c.health(ctx, l)
		}()
	}
	wg.Wait()
	return reports
}

func (c *Checker) health(ctx context.Context, l *zlist) HealthReport {
	start := time.Now()
	rep := HealthReport{List: l.Name}
	if l.Kind == KindIP {
		rep.Err = c.probe(ctx, l, testListed4.String(), reverseNoUnmap(testListed4), true)
		if rep.Err == nil {
			rep.Err = c.probe(ctx, l, testNotListed4.String(), reverseNoUnmap(testNotListed4), false)
		}
		if l.IPv6 && rep.Err == nil {
			rep.IPv6Err = c.probe(ctx, l, "::FFFF:7F00:2", reverseNoUnmap(testListed6), true)
			if rep.IPv6Err == nil {
				rep.IPv6Err = c.probe(ctx, l, "::FFFF:7F00:1", reverseNoUnmap(testNotListed6), false)
			}
		}
	} else {
		rep.Err = c.probe(ctx, l, "test", "test", true)
		if rep.Err == nil {
			rep.Err = c.probe(ctx, l, "invalid", "invalid", false)
		}
	}
	rep.Took = time.Since(start)
	rep.OK = rep.Err == nil && rep.IPv6Err == nil
	if ctx.Err() != nil && c.ctx.Err() != nil {
		return rep // shutting down: leave the state alone
	}
	if errors.Is(rep.Err, errInconclusive) || rep.Err == nil && errors.Is(rep.IPv6Err, errInconclusive) {
		rep.Inconclusive = true
		rep.Disabled = l.disabled.Load()
		c.log.Warn("dnsbl health check got no answer: the list keeps its state, the test is retried",
			"list", l.Name, "error", errors.Join(rep.Err, rep.IPv6Err).Error(), "disabled", rep.Disabled)
		return rep
	}
	was := l.disabled.Swap(rep.Err != nil)
	switch {
	case rep.Err != nil && !was:
		c.log.Error("dnsbl list disabled: RFC 5782 health check failed", "list", l.Name, "error", rep.Err.Error())
	case rep.Err == nil && was:
		c.log.Info("dnsbl list re-enabled: health check passed", "list", l.Name)
	}
	c.m.setDisabled(l.Name, rep.Err != nil)
	was6 := l.v6Disabled.Swap(rep.IPv6Err != nil)
	switch {
	case rep.IPv6Err != nil && !was6:
		c.log.Error("dnsbl list: IPv6 lookups disabled: RFC 5782 IPv6 health check failed", "list", l.Name, "error", rep.IPv6Err.Error())
	case rep.IPv6Err == nil && was6 && rep.Err == nil:
		c.log.Info("dnsbl list: IPv6 lookups re-enabled", "list", l.Name)
	}
	rep.Disabled = rep.Err != nil
	return rep
}

// probe checks that name (shown as public) is listed (or not) in l.
func (c *Checker) probe(ctx context.Context, l *zlist, public, item string, wantListed bool) error {
	ips, _, err := c.raw.LookupA(ctx, queryName(item, l.zone))
	switch {
	case err != nil && errors.Is(err, ErrNotFound):
		if wantListed {
			return fmt.Errorf("test entry %s is not listed (zone empty or wrong?)", public)
		}
		return nil
	case err != nil:
		return fmt.Errorf("test entry %s: lookup failed: %s: %w", public, outcome(err), errInconclusive)
	}
	r := l.classify(ips)
	if r.isError {
		return fmt.Errorf("test entry %s: error answer %s: %s", public, r.errAddr, r.errWhy)
	}
	if !wantListed {
		return fmt.Errorf("test entry %s is listed (%s): the zone answers everything", public, fmt.Sprint(ips))
	}
	return nil
}

// Disabled returns the public names of the lists disabled by health
// checks; a list whose IPv6 part alone is disabled shows as "name (IPv6)".
func (c *Checker) Disabled() []string {
	var out []string
	for _, l := range c.lists {
		switch {
		case l.disabled.Load():
			out = append(out, l.Name)
		case l.v6Disabled.Load():
			out = append(out, l.Name+" (IPv6)")
		}
	}
	return out
}

// String is one line for `levee lookup --health`.
func (h HealthReport) String() string {
	s := h.List + ": ok"
	if h.Inconclusive {
		state := "enabled"
		if h.Disabled {
			state = "disabled"
		}
		s = h.List + ": NO ANSWER (list stays " + state + "): " + errors.Join(h.Err, h.IPv6Err).Error()
	} else if h.Err != nil {
		s = h.List + ": FAILED (list disabled): " + h.Err.Error()
	} else if h.IPv6Err != nil {
		s = h.List + ": IPv4 ok, IPv6 FAILED (IPv6 lookups disabled): " + h.IPv6Err.Error()
	}
	return s + " (" + h.Took.Round(time.Millisecond).String() + ")"
}
