package auth

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/emersion/go-msgauth/dmarc"
)

// Field is one header field as it arrived (name as sent, raw value without
// the space after the colon, folding kept).
type Field struct {
	Name, Value string
}

// Envelope is what the MTA said about the transaction.
type Envelope struct {
	ClientIP netip.Addr
	Helo     string
	MailFrom string // "" is the null sender
	// Trusted: the client is in trusted_networks. SPF then waits for the
	// header and checks the last untrusted relay of the Received chain
	// (the hop that handed the message to your network); a message with
	// none originated inside and is not verified.
	Trusted bool
}

// Hop is the last untrusted relay of the Received chain.
type Hop struct {
	IP   netip.Addr
	Helo string
}

// Hit is one auth rule that fired, with its effective score.
type Hit struct {
	Rule  string
	Score float64
	Desc  string
}

// Action is what a failing DMARC policy asks of the filter, when the
// configuration lets it (dmarc_reject, dmarc_quarantine).
type Action int

const (
	ActionNone Action = iota
	ActionQuarantine
	ActionReject
)

// TempFailReply is the reply when on_error is tempfail and a method met a
// DNS failure (RFC 7208 section 8.6 suggests 451 4.4.3).
const TempFailReply = "451 4.4.3 Sender authentication lookup failed, please try again later"

// Result is a message's authentication verdict.
type Result struct {
	// Skipped says why nothing was verified ("" when verified): a trusted
	// client whose message came from no untrusted relay.
	Skipped string
	SPF     SPFResult
	// DKIMChecked is set when DKIM was on; DKIM is then one result per
	// signature (none: unsigned).
	DKIMChecked bool
	DKIM        []DKIMResult
	DMARC       DMARCResult
	Hits        []Hit
	// Header is the Authentication-Results value (without the name).
	Header   string
	Action   Action
	Reply    string // for ActionReject: a 550 5.7.1 reply
	TempFail bool   // on_error: tempfail and a temperror
	// Errors are problems for the log.
	Errors []string
}

// Session is the authentication of one message. Its methods are called in
// order, from one goroutine: Start, Header, Body (any number), Result.
type Session struct {
	c       *Checker
	env     Envelope
	fwd     *Forwarder
	skipped string

	spfDone chan struct{}
	spf     SPFResult

	fields []Field
	from   string
	// fromErr: the From field cannot be used for DMARC
	fromErr string
	dkim    *dkimVerifier
	dmarc   struct {
		done chan struct{}
		rec  *dmarc.Record
		at   string
		sub  bool
		err  error
	}
	headerDone bool
	cancel     []context.CancelFunc
	// forwarded: a trusted forwarder's DKIM results
	forwarded []DKIMResult
}

// Start begins the authentication of a message at MAIL FROM: SPF of the
// sender (the HELO name for the null sender) starts at once. It returns nil
// when verification is off.
func (c *Checker) Start(env Envelope) *Session {
	if c.cache == nil {
		return nil
	}
	s := &Session{c: c, env: env}
	s.fwd = c.forwarder(env.ClientIP)
	if c.cfg.SPF && s.fwd == nil && !env.Trusted {
		s.startSPF(env.ClientIP, env.Helo)
	}
	return s
}

func (s *Session) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.c.dnsCfg.Deadline)
	s.cancel = append(s.cancel, cancel)
	return ctx
}

func (s *Session) startSPF(ip netip.Addr, helo string) {
	s.spfDone = make(chan struct{})
	ctx := s.ctx()
	from := s.env.MailFrom
	go func() {
		defer close(s.spfDone)
		defer func() {
			if p := recover(); p != nil { // a library bug must not take the daemon down
				s.spf = SPFResult{Result: "permerror", Identity: "mailfrom", Reason: "checker failure"}
				s.c.log.Error("panic in SPF check", "panic", fmt.Sprint(p))
			}
		}()
		s.spf = checkSPF(ctx, s.c.cache, ip, helo, from)
	}()
}

// Header gives the session the header at end of header: the DMARC record
// of the From domain and the DKIM keys are looked up now, while the body
// arrives. hop is the last untrusted relay (used only for a trusted
// client; nil when there is none).
func (s *Session) Header(fields []Field, hop *Hop) {
	if s == nil || s.headerDone {
		return
	}
	s.headerDone = true
	s.fields = fields
	if s.env.Trusted && s.fwd == nil {
		if hop == nil || !hop.IP.IsValid() {
			s.skipped = "trusted"
			return
		}
		if s.c.cfg.SPF {
			s.startSPF(hop.IP, hop.Helo)
		}
	}
	var err error
	s.from, err = fromDomain(fields)
	if err != nil {
		s.fromErr = err.Error()
	}
	ctx := s.ctx()
	if s.c.cfg.DKIM {
		s.dkim = startDKIM(ctx, s.c.cache, fields, s.c.cfg.MaxSignatures, s.c.now)
	}
	if s.c.cfg.DMARC && s.from != "" {
		s.dmarc.done = make(chan struct{})
		if s.c.dmarcCached(s.from) {
			// every answer is in the cache: no goroutine
			s.dmarc.rec, s.dmarc.at, s.dmarc.sub, s.dmarc.err = lookupDMARC(ctx, s.c.cache, s.from)
			close(s.dmarc.done)
			return
		}
		go func() {
			defer close(s.dmarc.done)
			defer func() {
				if p := recover(); p != nil {
					s.dmarc.rec, s.dmarc.err = nil, fmt.Errorf("checker failure")
					s.c.log.Error("panic in DMARC lookup", "panic", fmt.Sprint(p))
				}
			}()
			s.dmarc.rec, s.dmarc.at, s.dmarc.sub, s.dmarc.err = lookupDMARC(ctx, s.c.cache, s.from)
		}()
	}
}

// Body feeds a body chunk (CRLF line ends, as the MTA sends it) to the
// DKIM verifier. The chunk is kept by reference until hashed: the caller
// must not change it.
func (s *Session) Body(chunk []byte) {
	if s != nil && s.dkim != nil {
		s.dkim.body(chunk)
	}
}

// Result waits for the lookups (each bounded by the DNS deadline from when
// it started, and by ctx) and returns the verdict.
func (s *Session) Result(ctx context.Context) *Result {
	if s == nil {
		return nil
	}
	defer func() {
		for _, c := range s.cancel {
			c()
		}
	}()
	r := &Result{}
	if !s.headerDone {
		s.Header(nil, nil)
	}
	if s.skipped != "" {
		if s.dkim != nil {
			s.dkim.q.Abandon()
		}
		r.Skipped = s.skipped
		return r
	}
	cfg := &s.c.cfg
	// SPF
	switch {
	case s.fwd != nil:
		fspf, fdkim, ok := forwarderResults(s.fields, s.fwd.AuthservID)
		if cfg.SPF && ok {
			r.SPF = fspf
		}
		s.forwarded = fdkim
	case s.spfDone != nil:
		select {
		case <-s.spfDone:
			r.SPF = s.spf
		case <-ctx.Done():
			r.SPF = SPFResult{Result: "temperror", Reason: "no answer within the DNS deadline", Identity: "mailfrom"}
		}
	}
	// DKIM
	if cfg.DKIM {
		r.DKIMChecked = true
		if s.dkim != nil {
			r.DKIM = s.dkim.finish(ctx, s.from)
		}
	}
	sigs := append(append([]DKIMResult(nil), r.DKIM...), s.forwarded...)
	// DMARC
	if cfg.DMARC {
		switch {
		case s.fromErr != "":
			r.DMARC = DMARCResult{Result: "permerror", Reason: s.fromErr}
		case s.dmarc.done != nil:
			select {
			case <-s.dmarc.done:
				switch err := s.dmarc.err; {
				case err == nil:
					r.DMARC = evalDMARC(s.dmarc.rec, s.dmarc.at, s.dmarc.sub, s.from, r.SPF, sigs, s.c.sample)
				case err == errNoDMARC:
					r.DMARC = DMARCResult{Result: "none", From: s.from, Reason: "no DMARC record"}
				case err == errDMARCTemp:
					r.DMARC = DMARCResult{Result: "temperror", From: s.from, Reason: "DNS lookup failed"}
				default:
					r.DMARC = DMARCResult{Result: "permerror", From: s.from, Reason: "invalid DMARC record"}
				}
			case <-ctx.Done():
				r.DMARC = DMARCResult{Result: "temperror", From: s.from, Reason: "no answer within the DNS deadline"}
			}
		}
	}
	r.DKIM = append(r.DKIM, s.forwarded...)
	s.c.finish(r)
	return r
}

// Abort ends a message that will not be judged (ABORT, a new MAIL FROM):
// the verifier and the lookups are let go.
func (s *Session) Abort() {
	if s == nil {
		return
	}
	if s.dkim != nil {
		s.dkim.q.Abandon()
	}
	for _, c := range s.cancel {
		c()
	}
}
