package rules

import (
	"context"

	"github.com/levee-mail/levee/rules/dnsbl"
	"github.com/levee-mail/levee/rules/greylist"
)

// Connect is what levee knows about a client at RCPT TO, before the
// message: greylisting's test of a doubtful client.
type Connect struct {
	// Score sums the envelope checks (HELO, reverse DNS, envelope sender:
	// the KindEnvelope rules), greylist.rdns_score for a client without
	// reverse DNS or with a dynamic-looking name, and the client-IP DNSBL
	// hits.
	Score float64
	Hits  []Hit
	// Allowlisted: a DNS allowlist vouches for the client (any hit with a
	// negative score, e.g. DNSWL).
	Allowlisted   bool
	Trusted       bool
	Authenticated bool
}

// ConnectScore judges the client on what is known at RCPT: the envelope
// checks and the client-IP DNSBL answers of dns (nil: none), waiting for
// those at most dns.deadline and ctx.
func (e *Engine) ConnectScore(ctx context.Context, env *Envelope, dns *dnsbl.Session) Connect {
	c := Connect{Trusted: inPrefixes(e.cfg.trusted, env.ClientIP), Authenticated: env.AuthUser != ""}
	if c.Trusted || c.Authenticated {
		return c
	}
	m := NewMessage(*env, nil, nil, 0)
	for _, r := range e.rules {
		if r.Kind == KindEnvelope && r.Test(m) {
			c.Hits = append(c.Hits, Hit{Name: r.Name, Score: r.Score, Desc: r.Desc})
		}
	}
	if rs := e.cfg.Greylist.RDNSScore; rs > 0 {
		if name, known := env.RDNS(); known && env.ClientIP.IsValid() && (name == "" || looksDynamic(name, env.ClientIP)) {
			c.Hits = append(c.Hits, Hit{Name: "GREYLIST_RDNS", Score: rs, Desc: "No or dynamic-looking reverse DNS (greylist.rdns_score)"})
		}
	}
	if dns != nil {
		res := dns.ClientResult(ctx)
		for _, h := range res.Hits {
			c.Hits = append(c.Hits, Hit{Name: h.Rule, Score: h.Score, Desc: dnsDesc(h)})
			if h.Score < 0 {
				c.Allowlisted = true
			}
		}
		c.Allowlisted = c.Allowlisted || res.Allowlisted
	}
	sortHits(c.Hits)
	for _, h := range c.Hits {
		c.Score += h.Score
	}
	return c
}

// GreylistSignals are the inputs of greylist.Config.Wanted for a client.
func (c *Connect) GreylistSignals(env *Envelope) greylist.Signals {
	return greylist.Signals{ClientIP: env.ClientIP, Trusted: c.Trusted, Authenticated: c.Authenticated,
		Allowlisted: c.Allowlisted, NullSender: env.MailFrom == "", Score: c.Score}
}

// greylistAtEnd: the end-of-message greylist action applies.
func (e *Engine) greylistAtEnd(score float64, wouldBe Action) bool {
	return e.cfg.Greylist.Enabled && e.cfg.Thresholds.Greylist.Reached(score) && wouldBe < Tempfail
}
