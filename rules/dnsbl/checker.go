package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are the runtime dependencies of a Checker.
type Options struct {
	// Resolver answers the queries; nil builds one with NewResolver from
	// the ResolverConfig. With nil, the RFC 5782 health check also runs in
	// the background (at start and every HealthInterval); with an injected
	// Resolver (tests, fakes) it runs only when Health is called.
	Resolver Resolver
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the levee_dnsbl_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for back-off and cache expiry; nil is time.Now.
	Now func() time.Time
}

// Checker queries the configured lists. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	dns    ResolverConfig
	lists  []*zlist
	raw    Resolver // uncached: health checks and Lookup
	cache  *cache
	log    *slog.Logger
	now    func() time.Time
	m      *metrics
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// zlist is a validated list with its run-time state.
type zlist struct {
	List
	zone     string // the zone actually queried (DQS or Zone)
	checks   map[Source]bool
	tempfail bool

	disabled   atomic.Bool // failed the health check
	v6Disabled atomic.Bool // failed the IPv6 health check

	mu           sync.Mutex
	backoffUntil time.Time
	backoffWhy   string
	unknownLog   time.Time
}

// New validates the configuration (on copies) and builds a Checker.
func New(cfg Config, dnsCfg ResolverConfig, opt Options) (*Checker, error) {
	cfg.Lists = slices.Clone(cfg.Lists)
	for i := range cfg.Lists {
		cfg.Lists[i].matchers, cfg.Lists[i].errCodes = nil, nil
		cfg.Lists[i].Checks = slices.Clone(cfg.Lists[i].Checks)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := dnsCfg.Validate(); err != nil {
		return nil, err
	}
	c := &Checker{cfg: cfg, dns: dnsCfg, log: opt.Logger, now: opt.Now, raw: opt.Resolver}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	own := c.raw == nil
	if own {
		r, err := NewResolver(dnsCfg)
		if err != nil {
			return nil, err
		}
		c.raw = r
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dnsbl metrics: %v", err)
	}
	c.m = m
	c.cache = newCache(c.raw, dnsCfg, c.now)
	c.cache.OnHit, c.cache.OnMiss = m.cacheHit, m.cacheMiss
	for _, l := range cfg.Lists {
		z := &zlist{List: l, zone: l.Zone, checks: map[Source]bool{}, tempfail: l.OnError == OnErrorTempfail}
		if l.DQS != "" && cfg.DQSKey != "" {
			z.zone = DQSZone(cfg.DQSKey, l.DQS)
		}
		for _, s := range l.Checks {
			z.checks[Source(s)] = true
		}
		c.lists = append(c.lists, z)
		m.setDisabled(l.Name, false)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if own && len(c.lists) > 0 && cfg.HealthInterval > 0 {
		c.wg.Add(1)
		go c.healthLoop()
	}
	return c, nil
}

// DQSZone returns the Spamhaus Data Query Service zone for a key and a
// dataset name: <key>.<dqs>.dq.spamhaus.net.
func DQSZone(key, dqs string) string {
	return strings.ToLower(key) + "." + dqs + ".dq.spamhaus.net"
}

// Close stops the background health checks. Sessions still running end
// at their deadline.
func (c *Checker) Close() {
	c.cancel()
	c.wg.Wait()
}

// healthLoop runs the health check at start and every HealthInterval; a
// check that got no answer from some list is retried after Backoff (when
// that is sooner).
func (c *Checker) healthLoop() {
	defer c.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		next := c.cfg.HealthInterval
		for _, r := range c.Health(c.ctx) {
			if r.Inconclusive && c.cfg.Backoff > 0 && c.cfg.Backoff < next {
				next = c.cfg.Backoff
			}
		}
		t.Reset(next)
	}
}

// scrub removes the DQS key from text meant for logs or replies.
func (c *Checker) scrub(s string) string {
	if c.cfg.DQSKey == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.cfg.DQSKey, "<dqs-key>")
	return strings.ReplaceAll(s, strings.ToLower(c.cfg.DQSKey), "<dqs-key>")
}

// available says whether the list may be queried now; if not, why.
func (l *zlist) available(now time.Time, v6 bool) (bool, string) {
	if l.disabled.Load() {
		return false, "disabled: failed its health check"
	}
	if v6 && l.v6Disabled.Load() {
		return false, "IPv6 disabled: failed its IPv6 health check"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.backoffUntil) {
		return false, "paused after an error answer (" + l.backoffWhy + ")"
	}
	return true, ""
}

// backoff pauses the list; it reports whether the list was not already
// paused (so the caller logs once per back-off period).
func (c *Checker) backoff(l *zlist, why string) bool {
	now := c.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	first := !now.Before(l.backoffUntil)
	if first {
		l.backoffUntil = now.Add(c.cfg.Backoff)
		l.backoffWhy = why
	}
	return first
}

// classified is the reading of one A answer.
type classified struct {
	answers  []int // indices into List.Answers, in order, no repeats
	errAddr  netip.Addr
	errWhy   string
	unknown  []netip.Addr
	isError  bool
	anyFound bool
}

// classify reads the addresses of one answer (RFC 5782 section 2.1: any
// A record means listed; we only believe configured codes). Error codes
// and addresses outside 127.0.0.0/8 make the whole answer an error.
func (l *zlist) classify(ips []netip.Addr) classified {
	var r classified
	for _, ip := range ips {
		ip = ip.Unmap()
		r.anyFound = true
		if !ip.Is4() || !loopback8.Contains(ip) {
			r.isError, r.errAddr, r.errWhy = true, ip, "answer outside 127.0.0.0/8: zone wildcard, NXDOMAIN rewriting or typo in zone"
			continue
		}
		isErr := false
		for i := range l.errCodes {
			if l.errCodes[i].match(ip) {
				isErr = true
				break
			}
		}
		if isErr {
			if !r.isError {
				r.isError, r.errAddr, r.errWhy = true, ip, errorMeaning(&l.List, ip)
			}
			continue
		}
		found := false
		for _, m := range l.matchers {
			if m.match(ip) {
				found = true
				if !slices.Contains(r.answers, m.answer) {
					r.answers = append(r.answers, m.answer)
				}
			}
		}
		if !found {
			r.unknown = append(r.unknown, ip)
		}
	}
	if r.isError {
		r.answers = nil
	}
	slices.Sort(r.answers)
	return r
}

// errorMeaning explains an error answer (Spamhaus article 788, DNSWL and
// URIBL documentation).
func errorMeaning(l *List, ip netip.Addr) string {
	b := ip.As4()
	switch {
	case b[0] == 127 && b[1] == 255 && b[2] == 255:
		switch b[3] {
		case 252:
			return "typo in zone name (Spamhaus 127.255.255.252)"
		case 254:
			return "open/public resolver blocked by Spamhaus: use your own recursive resolver or a DQS key"
		case 255:
			return "over quota: excessive queries (Spamhaus)"
		case 250, 251:
			return "bad or disabled DQS key"
		}
		return "Spamhaus error code"
	case ip == netip.AddrFrom4([4]byte{127, 0, 1, 255}):
		return "IP address or invalid name queried against a domain list"
	case b[0] == 127 && b[1] == 0 && b[3] == 255 && hasSuffixZone(l.Zone, "dnswl.org"):
		return "resolver blocked by DNSWL for excessive queries"
	case ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}):
		return "query blocked: public resolver or over quota"
	}
	return "error code (error_codes)"
}

// outcome names a lookup error for the metrics.
func outcome(err error) string {
	switch {
	case err == nil:
		return "clean"
	case errors.Is(err, ErrNotFound):
		return "clean"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrServFail):
		return "servfail"
	case errors.Is(err, ErrRefused):
		return "refused"
	}
	return "dns_error"
}

// job is one query of one list for one IP or name.
type job struct {
	l     *zlist
	src   Source
	query string // public form: the IP or name
	qname string // includes the DQS key: never shown
	done  chan struct{}

	// set before done is closed
	hits   []Hit
	err    string // for Result.Errors
	failed bool   // DNS failure (on_error applies)
}

// run performs j; authenticated drops the answers marked skip_authenticated.
func (c *Checker) run(ctx context.Context, j *job, authenticated bool) {
	defer close(j.done)
	start := time.Now()
	ips, err := c.cache.LookupA(ctx, j.qname)
	took := time.Since(start).Seconds()
	l := j.l
	if err != nil {
		out := outcome(err)
		c.m.query(l.Name, out, took)
		if out == "clean" {
			return
		}
		j.failed = true
		j.err = fmt.Sprintf("%s: %s: lookup failed: %s", l.Name, j.query, out)
		c.log.Debug("dnsbl lookup failed", "list", l.Name, "query", j.query, "error", c.scrub(err.Error()))
		return
	}
	r := l.classify(ips)
	if r.isError {
		c.m.query(l.Name, "error_answer", took)
		j.err = fmt.Sprintf("%s: error answer %s (%s): not a listing; list paused for %s", l.Name, r.errAddr, r.errWhy, c.cfg.Backoff)
		if c.backoff(l, r.errWhy) {
			c.log.Error("dnsbl error answer: list paused", "list", l.Name, "query", j.query,
				"answer", r.errAddr.String(), "meaning", r.errWhy, "backoff", c.cfg.Backoff.String())
		}
		return
	}
	if len(r.unknown) > 0 {
		now := c.now()
		l.mu.Lock()
		logIt := !now.Before(l.unknownLog)
		if logIt {
			l.unknownLog = now.Add(c.cfg.Backoff)
		}
		l.mu.Unlock()
		if logIt {
			c.log.Warn("dnsbl answer not in the list's answers: ignored", "list", l.Name, "query", j.query, "answer", fmt.Sprint(r.unknown))
		}
	}
	var texts []string // reject templates, parallel to j.hits
	for _, i := range r.answers {
		a := &l.Answers[i]
		if j.src == SourceReceived && !a.countsOnReceived() || authenticated && a.SkipAuthenticated {
			continue
		}
		j.hits = append(j.hits, Hit{Rule: a.Rule, Score: a.Score, List: l.Name, Source: j.src, Query: j.query,
			Code: codeOf(ips, l, i), Description: a.Description})
		texts = append(texts, a.RejectText)
	}
	switch {
	case len(j.hits) > 0:
		c.m.query(l.Name, "listed", took)
	case len(r.unknown) > 0 && len(r.answers) == 0:
		c.m.query(l.Name, "unknown_answer", took)
	default:
		c.m.query(l.Name, "clean", took) // listed only with codes that do not count here
	}
	if len(j.hits) == 0 {
		return
	}
	txt := ""
	if t, err := c.cache.LookupTXT(ctx, j.qname); err == nil {
		txt = c.cleanTXT(t)
	}
	for i := range j.hits {
		j.hits[i].TXT = txt
		if texts[i] != "" {
			j.hits[i].RejectText = c.scrub(ExpandReply(texts[i], txt, j.query, l.Name))
		}
	}
	c.log.Debug("dnsbl listed", "list", l.Name, "query", j.query, "source", string(j.src), "hits", len(j.hits))
}

// codeOf returns the first answer address matching answer i.
func codeOf(ips []netip.Addr, l *zlist, i int) netip.Addr {
	for _, ip := range ips {
		for _, m := range l.matchers {
			if m.answer == i && m.match(ip.Unmap()) {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// cleanTXT joins TXT records with "; " (as maddy does), sanitized and
// without the DQS key.
func (c *Checker) cleanTXT(t []string) string {
	var parts []string
	for _, s := range t {
		if s = sanitize(s, maxTXTBytes); s != "" {
			parts = append(parts, s)
		}
	}
	return c.scrub(sanitize(strings.Join(parts, "; "), maxReply))
}

// Prefetch starts the client-IP queries of every list checking "client"
// (fire and forget): called at SMTP connect, the answers land in the cache
// or the in-flight group before the session asks.
func (c *Checker) Prefetch(ip netip.Addr) {
	ip = ip.Unmap()
	if !Queryable(ip) {
		return
	}
	now := c.now()
	rev := ReverseIP(ip)
	for _, l := range c.lists {
		if l.Kind != KindIP || !l.checks[SourceClient] || ip.Is6() && !l.IPv6 {
			continue
		}
		if ok, _ := l.available(now, ip.Is6()); !ok {
			continue
		}
		qname := queryName(rev, l.zone)
		go func() {
			ctx, cancel := context.WithTimeout(c.ctx, c.dns.Deadline)
			defer cancel()
			c.cache.LookupA(ctx, qname)
		}()
	}
}
