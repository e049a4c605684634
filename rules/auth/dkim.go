package auth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/dns"
)

// DKIMResult is the verdict on one DKIM-Signature (RFC 6376 section 6,
// reported as in RFC 8601 section 2.7.1).
type DKIMResult struct {
	// Result is pass, fail, policy (l=: levee does not accept partial
	// body signatures), temperror or permerror.
	Result string
	// Rule is the hit it gives: DKIM_VALID, DKIM_INVALID, DKIM_LENGTH,
	// DKIM_EXPIRED, DKIM_KEY_REVOKED, DKIM_KEY_SHORT, DKIM_TEMPERROR or
	// DKIM_PERMERROR.
	Rule       string
	Domain     string // d=
	Selector   string // s=
	Identifier string // i=
	Algorithm  string // a=
	B          string // the first 12 characters of b= (RFC 6008 header.b)
	Aligned    bool   // d= and the From domain share the organizational domain
	Reason     string
	// FromForwarder is set when taken from a trusted forwarder's results.
	FromForwarder string
}

// dkimSig is levee's own reading of a DKIM-Signature field.
type dkimSig struct {
	domain, selector, ident, algo, b string
	hasL                             bool
	expires                          int64 // x=, 0 when none or unreadable
	err                              error // the tag list is malformed
}

func parseSig(v string) dkimSig {
	t, err := parseTags(v)
	s := dkimSig{err: err}
	s.domain = strings.ToLower(strings.TrimSuffix(stripFWS(t["d"]), "."))
	s.selector = strings.ToLower(stripFWS(t["s"]))
	s.ident = stripFWS(t["i"])
	s.algo = stripFWS(t["a"])
	s.b = stripFWS(t["b"])
	if len(s.b) > 12 {
		s.b = s.b[:12]
	}
	_, s.hasL = t["l"]
	if x, ok := t["x"]; ok {
		s.expires, _ = strconv.ParseInt(stripFWS(x), 10, 64)
	}
	return s
}

// keyName is the key record's name, "" when d= or s= is unusable.
func (s *dkimSig) keyName() string {
	if s.domain == "" || s.selector == "" || !validDomain(s.selector+"._domainkey."+s.domain) {
		return ""
	}
	return s.selector + "._domainkey." + s.domain
}

// dkimVerifier verifies the signatures of one message while its body
// streams in. The header is known at end of header: the key records are
// prefetched at once, through the shared cache, then go-msgauth's verifier
// runs in a goroutine over a bodyQueue (see there). Its key lookups are
// answered by the cache (or the prefetch in flight) within the message's
// deadline.
type dkimVerifier struct {
	cache *dns.Cache
	sigs  []dkimSig
	q     *bodyQueue
	done  chan struct{}
	now   func() time.Time

	// set before done is closed
	verifs  []*dkim.Verification
	err     error
	crashed any
}

// bodyQueueLimit is what a message may have queued for the verifier while
// it waits for a key: most messages fit (their body events never wait);
// with 200 sessions stuck on a dead DNS server it is 50 MiB at most.
const bodyQueueLimit = 256 << 10

func startDKIM(ctx context.Context, cache *dns.Cache, fields []Field, max int, now func() time.Time) *dkimVerifier {
	var sigs []dkimSig
	for _, f := range fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			if len(sigs) < max {
				sigs = append(sigs, parseSig(f.Value))
			}
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	v := &dkimVerifier{cache: cache, sigs: sigs, q: newBodyQueue(bodyQueueLimit), done: make(chan struct{}), now: now}
	seen := map[string]bool{}
	for i := range sigs {
		if n := sigs[i].keyName(); n != "" && !seen[n] {
			seen[n] = true
			if ok, _ := cache.Fresh("TXT " + n); !ok {
				go cache.LookupTXT(ctx, n) // prefetch: the verifier's lookup joins it
			}
		}
	}
	v.q.Write(headerBytes(fields))
	lookup := func(name string) ([]string, error) {
		txt, err := cache.LookupTXT(ctx, name)
		return txt, netErr(name, err)
	}
	go func() {
		defer close(v.done)
		defer func() {
			if p := recover(); p != nil {
				v.crashed = p
			}
			v.q.Abandon() // the writer never waits on a reader that left
		}()
		v.verifs, v.err = dkim.VerifyWithOptions(v.q, &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: max})
		io.Copy(io.Discard, v.q)
	}()
	return v
}

// headerBytes rebuilds the header as go-msgauth reads it: "Name: value"
// with CRLF line ends, then the empty line. The milter protocol gives each
// value without the one space that follows the colon (Postfix and
// Sendmail remove it), so "Name: value" is the original field for all but
// the rare "Name:value": a c=simple header signature over such a field
// fails; c=relaxed (what nearly every signer uses) does not care.
func headerBytes(fields []Field) []byte {
	n := 2
	for _, f := range fields {
		n += len(f.Name) + len(f.Value) + 4
	}
	b := make([]byte, 0, n+64)
	for _, f := range fields {
		b = append(b, f.Name...)
		b = append(b, ':', ' ')
		b = appendCRLF(b, f.Value)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n')
}

// appendCRLF appends s with every line end (LF, CRLF or a lone CR) as CRLF.
func appendCRLF(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b = append(b, '\r', '\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			b = append(b, '\r', '\n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func (v *dkimVerifier) body(chunk []byte) { v.q.Write(chunk) }

// finish ends the body and returns one result per signature; ctx bounds
// the wait (a verifier still waiting for a key at the deadline gives
// temperror).
func (v *dkimVerifier) finish(ctx context.Context, from string) []DKIMResult {
	v.q.Close()
	select {
	case <-v.done:
	case <-ctx.Done():
		v.q.Abandon()
		out := make([]DKIMResult, len(v.sigs))
		for i, s := range v.sigs {
			out[i] = s.result("temperror", DKIMTempError, "verification not finished within the DNS deadline", from)
		}
		return out
	}
	out := make([]DKIMResult, len(v.sigs))
	for i := range v.sigs {
		s := &v.sigs[i]
		switch {
		case v.crashed != nil:
			out[i] = s.result("permerror", DKIMPermError, "verifier failure", from)
		case v.err != nil && len(v.verifs) == 0 || i >= len(v.verifs):
			out[i] = s.result("permerror", DKIMPermError, "unreadable message", from)
		default:
			out[i] = v.classify(s, v.verifs[i].Err, from)
		}
	}
	return out
}

func (s *dkimSig) result(res, rule, reason, from string) DKIMResult {
	return DKIMResult{Result: res, Rule: rule, Domain: s.domain, Selector: s.selector, Identifier: s.ident,
		Algorithm: s.algo, B: s.b, Reason: reason, Aligned: aligned(s.domain, from, "r")}
}

// classify turns go-msgauth's outcome into a result. go-msgauth reports
// l=, x=, a revoked key and a short key as errors of one kind; levee tells
// them apart from its own reading of the same signature and key record,
// in the order go-msgauth checks them, so that wording changes in the
// library cannot move a message from one result to another.
func (v *dkimVerifier) classify(s *dkimSig, err error, from string) DKIMResult {
	if err == nil {
		return s.result("pass", DKIMValid, "", from)
	}
	// RFC 6376 section 6.1.1: x= in the past.
	if s.expires > 0 && v.now().Unix() > s.expires {
		return s.result("permerror", DKIMExpired, "signature expired", from)
	}
	if dkim.IsTempFail(err) {
		return s.result("temperror", DKIMTempError, "key lookup failed (DNS)", from)
	}
	if n := s.keyName(); n != "" && dkim.IsPermFail(err) { // a revoked or short key is a permanent failure
		if e, ok := v.cache.Get("TXT " + n); ok && e.Err == nil && len(e.TXT) == 1 {
			switch keyProblem(e.TXT[0]) {
			case "revoked":
				// RFC 6376 section 6.1.2 step 6: an empty p= is a revoked key.
				return s.result("permerror", DKIMKeyRevoked, "key revoked", from)
			case "short":
				// RFC 8301 section 3.2: RSA keys under 1024 bits are not valid.
				return s.result("permerror", DKIMKeyShort, "key shorter than 1024 bits", from)
			}
		}
	}
	if s.hasL {
		// RFC 6376 section 8.2: with l= content may be appended unsigned.
		return s.result("policy", DKIMLength, "l= body length limit not accepted", from)
	}
	if dkim.IsPermFail(err) {
		return s.result("permerror", DKIMPermError, cleanReason(err), from)
	}
	return s.result("fail", DKIMInvalid, cleanReason(err), from)
}

// keyProblem reads a key record (RFC 6376 section 3.6.1): "revoked" for an
// empty p=, "short" for an RSA key under 1024 bits, "" otherwise.
func keyProblem(rec string) string {
	t, err := parseTags(rec)
	if err != nil {
		return ""
	}
	p, ok := t["p"]
	if !ok {
		return ""
	}
	p = stripFWS(p)
	if p == "" {
		return "revoked"
	}
	if k := t["k"]; k != "" && k != "rsa" {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return ""
	}
	var bits int
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		if rk, ok := pub.(*rsa.PublicKey); ok {
			bits = rk.N.BitLen()
		}
	} else if rk, err := x509.ParsePKCS1PublicKey(der); err == nil {
		bits = rk.N.BitLen()
	}
	if bits > 0 && bits < 1024 {
		return "short"
	}
	return ""
}

// cleanReason is go-msgauth's error text without its "dkim: " prefix, cut
// short, and with no ';' (it goes into a header field).
func cleanReason(err error) string {
	s := strings.TrimPrefix(err.Error(), "dkim: ")
	if i := strings.Index(s, ": "); i > 0 && strings.HasPrefix(s, "key unavailable") {
		s = s[:i]
	}
	s = strings.NewReplacer(";", ",", "\r", " ", "\n", " ", "\"", "'").Replace(s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
