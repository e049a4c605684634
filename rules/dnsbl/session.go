package dnsbl

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Hit is one rule matched by a list answer.
type Hit struct {
	Rule        string
	Score       float64
	List        string // public name
	Source      Source
	Query       string     // the IP or domain checked (never the DQS zone)
	Code        netip.Addr // the answer that matched
	TXT         string     // the list's TXT reason, sanitized
	Description string
	RejectText  string // Answer.RejectText expanded with ExpandReply ('%' doubled), or ""
}

// Result is the outcome of a Session.
type Result struct {
	Hits        []Hit
	Score       float64 // sum of Hits (after the allowlist short-circuit)
	Allowlisted bool    // allowlist hits reached AllowlistThreshold: positive hits dropped
	// TempFail is set when a list with on_error: tempfail could not be
	// queried; TempFailReply is then a 451 4.4.3 reply without internals.
	TempFail      bool
	TempFailReply string
	// Errors are per-list problems for the logs (public names only).
	Errors []string
}

// Session holds the lookups for one message. Check* start queries at
// once; Result collects them. Safe for concurrent use.
type Session struct {
	c    *Checker
	auth bool

	mu       sync.Mutex
	jobs     []*job
	seen     map[string]bool
	urls     map[string]bool
	skipped  map[string]string // list name -> why not queried
	early    bool              // EarlyReject decided
	earlyRej bool
	earlyMsg string
	// waited is the time spent waiting so far (EarlyReject at RCPT, then
	// Result at end of message): together they stay within Deadline, so
	// a message never waits twice the deadline.
	waited time.Duration
}

// NewSession starts a message. authenticated (authenticated or trusted
// sender) skips lists and answers marked skip_authenticated.
func (c *Checker) NewSession(authenticated bool) *Session {
	return &Session{c: c, auth: authenticated, seen: map[string]bool{}}
}

// CheckIP starts the queries for ip on every ip list whose checks include
// src. Private, link-local and similar addresses are not queried; IPv6 only
// on lists with ipv6: true; an IPv4-mapped address is queried as IPv4.
func (s *Session) CheckIP(src Source, ip netip.Addr) {
	ip = ip.Unmap()
	if !Queryable(ip) {
		return
	}
	var rev string
	for _, l := range s.c.lists {
		if l.Kind != KindIP || !l.checks[src] || s.auth && l.SkipAuthenticated || ip.Is6() && !l.IPv6 {
			continue
		}
		if rev == "" {
			rev = ReverseIP(ip)
		}
		s.start(l, src, ip.String(), rev)
	}
}

// CheckDomain starts the queries for a host name on every domain list
// whose checks include src. Names are normalized (NormalizeDomain);
// invalid names and IP literals are not queried; each name is looked up
// once per list and message; at most MaxURLHosts URL hosts per message.
func (s *Session) CheckDomain(src Source, name string) {
	d := NormalizeDomain(name)
	if d == "" {
		return
	}
	if src == SourceURLs {
		s.mu.Lock()
		if s.urls == nil {
			s.urls = map[string]bool{}
		}
		if !s.urls[d] && len(s.urls) >= MaxURLHosts {
			s.mu.Unlock()
			return
		}
		s.urls[d] = true
		s.mu.Unlock()
	}
	for _, l := range s.c.lists {
		if l.Kind != KindDomain || !l.checks[src] || s.auth && l.SkipAuthenticated {
			continue
		}
		item := d
		if src == SourceURLs && l.RegisteredDomain {
			if item = RegisteredDomain(d); item == "" {
				continue
			}
		}
		s.start(l, src, item, item)
	}
}

func (s *Session) start(l *zlist, src Source, query, item string) {
	qname := queryName(item, l.zone)
	if qname == "" {
		return
	}
	ok, why := l.available(s.c.now(), strings.Contains(query, ":"))
	s.mu.Lock()
	if !ok {
		if s.skipped == nil {
			s.skipped = map[string]string{}
		}
		s.skipped[l.Name] = why
		s.mu.Unlock()
		return
	}
	key := l.Name + "\x00" + qname
	if s.seen[key] {
		s.mu.Unlock()
		return
	}
	s.seen[key] = true
	j := &job{l: l, src: src, query: query, qname: qname, done: make(chan struct{})}
	s.jobs = append(s.jobs, j)
	s.mu.Unlock()
	if s.c.cache.cached(qname) {
		s.c.run(s.c.ctx, j, s.auth) // answered from the cache: no goroutine
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.c.ctx, s.c.dns.Deadline)
		defer cancel()
		s.c.run(ctx, j, s.auth)
	}()
}

// wait waits for the jobs selected by keep, at most what is left of
// Deadline for the session, and until ctx ends.
func (s *Session) wait(ctx context.Context, keep func(*job) bool) []*job {
	s.mu.Lock()
	var jobs []*job
	for _, j := range s.jobs {
		if keep(j) {
			jobs = append(jobs, j)
		}
	}
	left := max(s.c.dns.Deadline-s.waited, 0)
	s.mu.Unlock()
	start := time.Now()
	defer func() {
		s.mu.Lock()
		s.waited += time.Since(start)
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return jobs
		}
	}
	return jobs
}

// Result waits for all queries started so far, at most what is left of
// ResolverConfig.Deadline after EarlyReject's wait, and until ctx ends,
// and sums the hits. Each rule
// counts once per message.
func (s *Session) Result(ctx context.Context) Result {
	jobs := s.wait(ctx, func(*job) bool { return true })
	r := s.c.collect(jobs)
	s.mu.Lock()
	names := make([]string, 0, len(s.skipped))
	for n := range s.skipped {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r.Errors = append(r.Errors, n+": not queried: "+s.skipped[n])
	}
	s.mu.Unlock()
	return r
}

func (c *Checker) collect(jobs []*job) Result {
	var r Result
	rules := map[string]bool{}
	for _, j := range jobs {
		select {
		case <-j.done:
		default:
			r.Errors = append(r.Errors, j.l.Name+": "+j.query+": no answer within the deadline")
			r.TempFail = r.TempFail || j.l.tempfail
			continue
		}
		if j.err != "" {
			r.Errors = append(r.Errors, c.scrub(j.err))
		}
		if j.failed && j.l.tempfail {
			r.TempFail = true
		}
		for _, h := range j.hits {
			if rules[h.Rule] {
				continue
			}
			rules[h.Rule] = true
			r.Hits = append(r.Hits, h)
		}
	}
	allow := 0.0
	for _, h := range r.Hits {
		if h.Score < 0 {
			allow += h.Score
		}
	}
	if t := c.cfg.AllowlistThreshold; t < 0 && allow <= t {
		r.Allowlisted = true
		r.Hits = slices.DeleteFunc(r.Hits, func(h Hit) bool { return h.Score > 0 })
		r.TempFail = false // the sender is vouched for; no need to wait for a failed list
	}
	for _, h := range r.Hits {
		r.Score += h.Score
	}
	if r.TempFail {
		r.TempFailReply = TempFailReply
	}
	return r
}

// EarlyReject waits for the client-IP answers only (at most Deadline; the
// time it waits is taken from Result's) and,
// when early_reject is enabled and their score reaches its threshold,
// returns a 550 5.7.1 reply naming the client and the public list name,
// with the list's TXT reason. The decision is made once per session.
func (s *Session) EarlyReject(ctx context.Context) (reject bool, reply string) {
	if !s.c.cfg.EarlyReject.Enabled {
		return false, ""
	}
	s.mu.Lock()
	if s.early {
		defer s.mu.Unlock()
		return s.earlyRej, s.earlyMsg
	}
	s.mu.Unlock()
	jobs := s.wait(ctx, func(j *job) bool { return j.src == SourceClient })
	r := s.c.collect(jobs)
	if r.Score >= s.c.cfg.EarlyReject.Score {
		var top *Hit
		for i := range r.Hits {
			if top == nil || r.Hits[i].Score > top.Score {
				top = &r.Hits[i]
			}
		}
		text := top.RejectText
		if text == "" {
			text = ExpandReply(DefaultRejectText, top.TXT, top.Query, top.List)
		}
		reject, reply = true, "550 5.7.1 "+s.c.scrub(text)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.early, s.earlyRej, s.earlyMsg = true, reject, reply
	return reject, reply
}

// ClientResult waits for the client-IP answers only (at most Deadline),
// whether or not early reject is on, and sums them: what is known about
// the client at RCPT (greylisting's doubtful test).
func (s *Session) ClientResult(ctx context.Context) Result {
	return s.c.collect(s.wait(ctx, func(j *job) bool { return j.src == SourceClient }))
}
