// Package auth tells who really sent a message: SPF (RFC 7208) for the
// envelope sender or HELO name, DKIM (RFC 6376, RSA and Ed25519 of RFC
// 8463, RFC 8301's limits) for every signature, DMARC (RFC 7489) for the
// From domain, with the results in an Authentication-Results field (RFC
// 8601); and it signs the operator's own outgoing mail with DKIM.
//
// The libraries do the protocols: blitiri.com.ar/go/spf (check_host with
// its lookup limits) and github.com/emersion/go-msgauth (DKIM verify and
// sign, the DMARC record parser, Authentication-Results). Every DNS
// question goes through levee's own resolver and cache (rules/dns), within
// the message's DNS deadline; a DNS failure is temperror, never a fail.
//
// A Session follows one message as the milter sees it: Start at MAIL FROM
// (SPF starts), Header at end of header (the DMARC record and the DKIM keys
// are fetched while the body arrives), Body for each chunk (the DKIM body
// hashes cover the whole body, streamed, never kept), Result at end of
// message. The package imports neither rules nor go-milter.
package auth

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/rules/dns"
)

// Options are a Checker's runtime dependencies.
type Options struct {
	// Resolver answers the queries; nil builds one from the dns config.
	Resolver dns.Resolver
	Logger   *slog.Logger
	// Registerer receives levee_auth_results_total; nil registers none.
	Registerer prometheus.Registerer
	// Scores override the default scores of the auth rules by name.
	Scores map[string]float64
	// Now is the clock (DKIM x=); nil is time.Now.
	Now func() time.Time
	// Sample decides DMARC pct= sampling (true: the policy applies); nil
	// draws at random.
	Sample func(pct int) bool
}

// Checker verifies and signs. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	dnsCfg dns.ResolverConfig
	cache  *dns.Cache // nil when not verifying
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	sample func(int) bool
	scores map[string]float64
	keys   map[string][]*SignKey // domain -> keys
}

// New validates cfg (a copy) and builds a Checker.
func New(cfg Config, dnsCfg dns.ResolverConfig, opt Options) (*Checker, error) {
	cfg.TrustedForwarders = append([]Forwarder(nil), cfg.TrustedForwarders...)
	cfg.Sign = append([]SignKey(nil), cfg.Sign...)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := dnsCfg.Validate(); err != nil {
		return nil, err
	}
	c := &Checker{cfg: cfg, dnsCfg: dnsCfg, log: opt.Logger, now: opt.Now, sample: opt.Sample, scores: map[string]float64{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sample == nil {
		c.sample = func(pct int) bool { return rand.IntN(100) < pct }
	}
	for _, r := range ruleTable {
		c.scores[r.Name] = r.Score
	}
	for k, v := range opt.Scores {
		if KnownRule(k) {
			c.scores[k] = v
		}
	}
	if cfg.Verifying() {
		res := opt.Resolver
		if res == nil {
			r, err := dns.NewResolver(dnsCfg)
			if err != nil {
				return nil, err
			}
			res = r
		}
		c.cache = dns.NewCache(res, dnsCfg, c.now)
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	c.m = m
	c.keys = map[string][]*SignKey{}
	for i := range c.cfg.Sign {
		k := &c.cfg.Sign[i]
		c.keys[k.Domain] = append(c.keys[k.Domain], k)
	}
	return c, nil
}

// Config returns the validated configuration.
func (c *Checker) Config() *Config { return &c.cfg }

// Verifying reports whether messages are verified (SPF, DKIM or DMARC on).
func (c *Checker) Verifying() bool { return c.cache != nil }

// Signing reports whether any signing key is configured.
func (c *Checker) Signing() bool { return len(c.keys) > 0 }

// Score returns the effective score of an auth rule.
func (c *Checker) Score(rule string) float64 { return c.scores[rule] }

// forwarder returns the trusted forwarder ip belongs to, or nil.
func (c *Checker) forwarder(ip netip.Addr) *Forwarder {
	if !ip.IsValid() {
		return nil
	}
	ip = ip.Unmap()
	for i := range c.cfg.TrustedForwarders {
		f := &c.cfg.TrustedForwarders[i]
		for _, p := range f.nets {
			if p.Contains(ip) {
				return f
			}
		}
	}
	return nil
}

// ForgedAuthResults returns the 1-based positions, among the
// Authentication-Results fields of the header, of those that claim
// levee's authserv-id: they must be removed before levee adds its own
// (RFC 8601 section 5).
func (c *Checker) ForgedAuthResults(fields []Field) []int {
	id := strings.ToLower(strings.TrimSuffix(c.cfg.AuthservID, "."))
	var out []int
	n := 0
	for _, f := range fields {
		if !strings.EqualFold(f.Name, HeaderAuthResults) {
			continue
		}
		n++
		if AuthservID(f.Value) == id {
			out = append(out, n)
		}
	}
	return out
}
