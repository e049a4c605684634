package rules

import (
	"context"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/received"
)

// KindAuth: SPF, DKIM and DMARC results (rules/auth; `levee rules list`).
const KindAuth = "auth"

// FieldRef names one header field to remove: the Index-th (1-based) field
// called Name.
type FieldRef struct {
	Name  string
	Index int
}

// newAuth builds the sender-authentication checker: verification needs
// DNS (off with NoDNS), signing does not.
func newAuth(cfg Config, opt Options) (*auth.Checker, error) {
	ac := cfg.Auth
	if opt.NoDNS {
		ac.Enabled = false
	}
	if !ac.Verifying() && len(ac.Sign) == 0 {
		return nil, nil
	}
	return auth.New(ac, cfg.DNS, auth.Options{Resolver: opt.Resolver, Logger: opt.Logger, Registerer: opt.Registerer, Scores: cfg.Scores})
}

// Auth returns the sender-authentication checker, or nil when neither
// verification nor signing is configured.
func (e *Engine) Auth() *auth.Checker { return e.auth }

// trustedClient says whether the client is in trusted_networks; an
// unknown address (a local submission, a unix socket) counts as inside.
func (e *Engine) trustedClient(env *Envelope) bool {
	return !env.ClientIP.IsValid() || inPrefixes(e.cfg.trusted, env.ClientIP)
}

// StartAuth begins the SPF, DKIM and DMARC checks of a message at MAIL
// FROM; nil when verification is off. The filter gives it the header
// (AuthHeader) and the body chunks (Session.Body), and stores it in
// Message.Auth for Judge.
func (e *Engine) StartAuth(env *Envelope) *auth.Session {
	if e.auth == nil || !e.auth.Verifying() {
		return nil
	}
	return e.auth.Start(auth.Envelope{ClientIP: env.ClientIP, Helo: env.Helo, MailFrom: env.MailFrom, Trusted: e.trustedClient(env)})
}

// AuthHeader hands the header to an auth session at end of header, with
// the last untrusted relay of the Received chain (checked by SPF when the
// client itself is trusted). s may be nil.
func (e *Engine) AuthHeader(m *Message, s *auth.Session) {
	if s == nil {
		return
	}
	var hop *auth.Hop
	if e.trustedClient(&m.Env) {
		if h, _, ok := received.LastUntrusted(m.Received(), e.cfg.trusted, e.cfg.internal); ok && h.IP.IsValid() {
			hop = &auth.Hop{IP: h.IP, Helo: h.Helo}
		}
	}
	s.Header(authFields(m.Fields), hop)
}

func authFields(fs []Field) []auth.Field {
	out := make([]auth.Field, len(fs))
	for i, f := range fs {
		out[i] = auth.Field{Name: f.Name, Value: f.Value}
	}
	return out
}

// ShouldSign says whether a message is the operator's own outgoing mail,
// to be signed with DKIM: from an SMTP-authenticated user, or from a
// trusted client (Postfix's pickup service for sendmail(1) and
// non_smtpd_milters connects as 127.0.0.1) when no untrusted relay shows in
// its Received chain. Mail that entered from outside through one of your
// relays is never signed, whatever its From says.
func (e *Engine) ShouldSign(m *Message) bool {
	if e.auth == nil || !e.auth.Signing() {
		return false
	}
	if m.Env.AuthUser != "" {
		return true
	}
	if !e.trustedClient(&m.Env) {
		return false
	}
	_, _, outside := received.LastUntrusted(m.Received(), e.cfg.trusted, e.cfg.internal)
	return !outside
}

// StartSigning begins the DKIM signatures of a message (ShouldSign
// decided); nil when its From domain has no key.
func (e *Engine) StartSigning(m *Message) *auth.Signing {
	if e.auth == nil {
		return nil
	}
	return e.auth.StartSigning(authFields(m.Fields))
}

// forgedAuthResults lists the incoming Authentication-Results fields that
// claim levee's authserv-id (RFC 8601 section 5): removed from every
// message levee passes.
func (e *Engine) forgedAuthResults(m *Message) []FieldRef {
	if e.auth == nil || !e.auth.Verifying() {
		return nil
	}
	var out []FieldRef
	for _, i := range e.auth.ForgedAuthResults(authFields(m.Fields)) {
		out = append(out, FieldRef{Name: auth.HeaderAuthResults, Index: i})
	}
	return out
}

// authResult collects the message's auth verdict (starting the checks
// now when the filter did not: offline use, where the body is what the
// message kept).
func (e *Engine) authResult(ctx context.Context, m *Message) *auth.Result {
	if e.auth == nil || !e.auth.Verifying() {
		return nil
	}
	s := m.Auth
	if s == nil {
		s = e.StartAuth(&m.Env)
		e.AuthHeader(m, s)
		s.Body(m.Body)
	}
	return s.Result(ctx)
}

// applyAuth adds the auth hits to v and says what the DMARC policy and
// on_error ask for.
func applyAuth(v *Verdict, r *auth.Result) {
	if r == nil || r.Skipped != "" {
		return
	}
	v.Auth = r
	for _, h := range r.Hits {
		v.Hits = append(v.Hits, Hit{Name: h.Rule, Score: h.Score, Desc: h.Desc})
	}
	v.Errors = append(v.Errors, r.Errors...)
}
