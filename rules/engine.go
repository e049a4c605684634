package rules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/dnsbl"
)

// RuleGTUBE fires on the Generic Test for Unsolicited Bulk Email string.
const RuleGTUBE = "GTUBE"

// GTUBE is the standard test string; a message containing it is spam by
// definition (score 1000), as in SpamAssassin and rspamd.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// Options are the engine's runtime dependencies.
type Options struct {
	Logger *slog.Logger
	// Resolver overrides the DNS resolver (tests); nil builds one from Config.DNS.
	Resolver dnsbl.Resolver
	// NoDNS turns the blocklists off (offline evaluation).
	NoDNS bool
	// Registerer receives the DNSBL metrics; nil registers none.
	Registerer prometheus.Registerer
	// ExtraRules are run after the built-in ones (tests, local rules).
	ExtraRules []Rule
}

// Engine judges messages. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	rules []Rule // enabled, with configured scores
	dnsbl *dnsbl.Checker
	auth  *auth.Checker // nil: no verification and no signing
	sa    *saRules      // SpamAssassin rule files; nil: none
	log   *slog.Logger

	life lifetime // messages using the engine; closed once retired and unused (lifetime.go)
}

// NewEngine validates cfg and builds an engine.
func NewEngine(cfg Config, opt Options) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: opt.Logger}
	for _, r := range Builtin() {
		if s, ok := cfg.Scores[r.Name]; ok {
			r.Score = s
		}
		if r.Score == 0 {
			continue // a check at 0 is not run
		}
		e.rules = append(e.rules, r)
	}
	for _, r := range opt.ExtraRules {
		if r.Score != 0 && r.Test != nil {
			e.rules = append(e.rules, r)
		}
	}
	s, err := loadSA(&e.cfg, opt.Logger)
	if err == nil {
		err = e.checkScoreNames(s)
	}
	if err != nil {
		return nil, err
	}
	e.sa = s
	if !opt.NoDNS && len(cfg.DNSBL.Lists) > 0 {
		c, err := dnsbl.New(cfg.DNSBL, cfg.DNS, dnsbl.Options{Resolver: opt.Resolver, Logger: opt.Logger, Registerer: opt.Registerer})
		if err != nil {
			return nil, err
		}
		e.dnsbl = c
	}
	a, err := newAuth(cfg, opt)
	if err != nil {
		if e.dnsbl != nil {
			e.dnsbl.Close()
		}
		return nil, err
	}
	e.auth = a
	return e, nil
}

// checkScoreNames is the check of `scores:` names that Validate leaves
// for when SpamAssassin rules are loaded: a name must be a check of
// levee's or a loaded SpamAssassin rule.
func (e *Engine) checkScoreNames(s *saRules) error {
	if s == nil {
		return nil
	}
	for name := range e.cfg.Scores {
		if !knownRule(name) && s.set.Rule(name) == nil {
			return fmt.Errorf("scores: %s: no such check or SpamAssassin rule (levee rules list shows them)", name)
		}
	}
	return nil
}

// Close stops background work (DNSBL health checks).
// It is idempotent; see also Retire.
func (e *Engine) Close() {
	e.life.once.Do(func() {
		if e.dnsbl != nil {
			e.dnsbl.Close()
		}
	})
}

// Config returns the engine's (validated) configuration.
func (e *Engine) Config() *Config { return &e.cfg }

// DNSBL returns the blocklist checker, or nil when DNS is off.
func (e *Engine) DNSBL() *dnsbl.Checker { return e.dnsbl }

// Rules returns the enabled rules with their effective scores.
func (e *Engine) Rules() []Rule { return e.rules }

// ScanLimit is the number of body bytes to keep for judgement.
func (e *Engine) ScanLimit() int64 {
	if e.cfg.ScanLimit > 0 {
		return int64(e.cfg.ScanLimit)
	}
	return DefaultScanLimit
}

// Skip says whether a sender is trusted or authenticated and so accepted
// without scoring; it returns the reason or "".
func (e *Engine) Skip(env *Envelope) string {
	if e.cfg.SkipAuthenticated && env.AuthUser != "" {
		return "authenticated"
	}
	if e.cfg.SkipTrusted && inPrefixes(e.cfg.trusted, env.ClientIP) {
		return "trusted"
	}
	return ""
}

// StartDNS begins the blocklist queries that the envelope allows now; the
// filter calls it per message as soon as MAIL FROM is known. It returns nil
// when DNS is off. Queries for header names are added by Judge.
func (e *Engine) StartDNS(env *Envelope) *dnsbl.Session {
	if e.dnsbl == nil {
		return nil
	}
	s := e.dnsbl.NewSession(env.AuthUser != "" || inPrefixes(e.cfg.trusted, env.ClientIP))
	if env.ClientIP.IsValid() {
		s.CheckIP(dnsbl.Source("client"), env.ClientIP)
	}
	if env.Helo != "" {
		s.CheckDomain(dnsbl.Source("helo"), strings.Trim(env.Helo, "[]"))
	}
	if name, known := env.RDNS(); known && name != "" {
		s.CheckDomain(dnsbl.Source("client_name"), name)
	}
	if d := domainOf(env.MailFrom); d != "" {
		s.CheckDomain(dnsbl.Source("mail_from"), d)
	}
	return s
}

// Judge scores a message and picks the action. dns may be nil: the engine
// then starts the lookups itself (offline use). Judge never returns without
// a verdict; ctx bounds the DNS wait.
func (e *Engine) Judge(ctx context.Context, m *Message, dns *dnsbl.Session) Verdict {
	start := time.Now()
	v := Verdict{Required: e.required()}
	v.Remove = e.forgedAuthResults(m)
	if why := e.Skip(&m.Env); why != "" {
		v.Skipped = why
		v.Action, v.WouldBe = Accept, Accept
		v.Elapsed = time.Since(start)
		return v
	}
	if dns == nil {
		dns = e.StartDNS(&m.Env)
	}
	checked := e.startChecks(m, dns) // bounded CPU work (judging.go)
	defer checked()                  // a check that panics gives its turn back
	for _, r := range e.rules {
		if r.Test(m) {
			v.Hits = append(v.Hits, Hit{Name: r.Name, Score: r.Score, Desc: r.Desc})
		}
	}
	if e.sa != nil {
		v.Hits = append(v.Hits, e.sa.hits(e, m)...)
	}
	if hasGTUBE(m) {
		s := 1000.0
		if o, ok := e.cfg.Scores[RuleGTUBE]; ok {
			s = o
		}
		if s != 0 {
			v.Hits = append(v.Hits, Hit{Name: RuleGTUBE, Score: s, Desc: "Generic Test for Unsolicited Bulk Email"})
		}
	}
	checked()
	var tempfailReply string
	if dns != nil {
		res := dns.Result(ctx)
		for _, h := range res.Hits {
			v.Hits = append(v.Hits, Hit{Name: h.Rule, Score: h.Score, Desc: dnsDesc(h)})
		}
		v.Errors = append(v.Errors, res.Errors...)
		if res.TempFail {
			tempfailReply = res.TempFailReply
		}
	}
	ar := e.authResult(ctx, m)
	applyAuth(&v, ar)
	if ar != nil && ar.TempFail && tempfailReply == "" {
		tempfailReply = auth.TempFailReply
	}
	sortHits(v.Hits)
	for _, h := range v.Hits {
		v.Score += h.Score
	}
	v.Spam = e.tagThreshold().Reached(v.Score)
	v.WouldBe = e.action(v.Score)
	if tempfailReply != "" && v.WouldBe < Tempfail {
		v.WouldBe = Tempfail
	}
	authReply, authQuarantine := "", false
	if ar != nil {
		switch {
		case ar.Action == auth.ActionReject && v.WouldBe < Reject:
			v.WouldBe, authReply = Reject, ar.Reply
		case ar.Action == auth.ActionQuarantine && v.WouldBe < Quarantine:
			v.WouldBe, authQuarantine = Quarantine, true
		}
	}
	v.Action = v.WouldBe
	v.Greylist = e.greylistAtEnd(v.Score, v.WouldBe)
	if e.cfg.Mode == "monitor" && v.Action > AddHeader {
		v.Action = AddHeader
	}
	switch v.Action {
	case Reject:
		v.Reply = "550 5.7.1 " + sanitizeReply(e.cfg.RejectText)
		if authReply != "" {
			v.Reply = authReply
		}
	case Tempfail:
		if tempfailReply != "" {
			v.Reply = tempfailReply
		} else {
			v.Reply = "451 4.7.1 " + sanitizeReply(e.cfg.TempfailText)
		}
	case Quarantine:
		v.QuarantineReason = sanitizeReply(e.cfg.QuarantineReason)
		if authQuarantine {
			v.QuarantineReason = sanitizeReply("levee: DMARC policy of " + ar.DMARC.From)
		}
	case RewriteSubject:
		v.SubjectPrefix = e.cfg.SubjectPrefix
	}
	if v.Action != Reject && v.Action != Tempfail && v.Action != Discard {
		v.Headers = spamHeaders(&v, e.cfg.Report)
		if ar != nil && ar.Header != "" {
			v.Insert = append(v.Insert, Field{Name: auth.HeaderAuthResults, Value: ar.Header})
		}
	}
	v.Elapsed = time.Since(start)
	return v
}

func dnsDesc(h dnsbl.Hit) string {
	d := h.Description
	if d == "" {
		d = "listed in " + h.List
	}
	return d + " (" + h.Query + ")"
}

// StartHeaderDNS begins the lookups of names found in the header (From and
// Reply-To domains, the last untrusted relay): the filter calls it at end
// of header, so they run while the body arrives. s may be nil.
func (e *Engine) StartHeaderDNS(m *Message, s *dnsbl.Session) {
	if s == nil {
		return
	}
	e.headerLookups(m, s)
}

func (e *Engine) addHeaderLookups(m *Message, s *dnsbl.Session) {
	e.headerLookups(m, s)
	for _, h := range m.URLHosts() {
		s.CheckDomain(dnsbl.Source("urls"), h)
	}
}

func (e *Engine) headerLookups(m *Message, s *dnsbl.Session) {
	if d := domainOf(addrOf(m.Header("From"))); d != "" {
		s.CheckDomain(dnsbl.Source("from"), d)
	}
	if d := domainOf(addrOf(m.Header("Reply-To"))); d != "" {
		s.CheckDomain(dnsbl.Source("reply_to"), d)
	}
	if hop, ok := e.lastUntrusted(m); ok && hop.IsValid() && hop != m.Env.ClientIP {
		s.CheckIP(dnsbl.Source("received"), hop)
	}
}

func (e *Engine) tagThreshold() Threshold {
	t := e.cfg.Thresholds
	if t.AddHeader.On {
		return t.AddHeader
	}
	// no tag threshold: the weakest enabled action defines spam
	best := Off
	for _, x := range []Threshold{t.RewriteSubject, t.Tempfail, t.Quarantine, t.Reject, t.Discard} {
		if x.On && (!best.On || x.Value < best.Value) {
			best = x
		}
	}
	return best
}

func (e *Engine) required() float64 {
	if t := e.tagThreshold(); t.On {
		return t.Value
	}
	return 5
}

func (e *Engine) action(score float64) Action {
	t := e.cfg.Thresholds
	switch {
	case t.Discard.Reached(score):
		return Discard
	case t.Reject.Reached(score):
		return Reject
	case t.Quarantine.Reached(score):
		return Quarantine
	case t.Tempfail.Reached(score):
		return Tempfail
	case t.RewriteSubject.Reached(score):
		return RewriteSubject
	case t.AddHeader.Reached(score):
		return AddHeader
	}
	return Accept
}

func hasGTUBE(m *Message) bool {
	return bytes.Contains(m.Body, gtube) || strings.Contains(m.Text(), GTUBE)
}

var gtube = []byte(GTUBE)

// Required returns the tag threshold (X-Spam-Status required=).
func (e *Engine) Required() float64 { return e.required() }
