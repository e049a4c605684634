package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/auth"
)

// listAuthRules prints the auth rules for `levee rules list`.
func listAuthRules(w io.Writer, cfg *Config) {
	for _, r := range auth.Rules() {
		s := r.Score
		if o, ok := cfg.Rules.Scores[r.Name]; ok {
			s = o
		}
		fmt.Fprintf(w, "%-28s %7.2f  %-9s %s\n", r.Name, s, rules.KindAuth, r.Desc)
	}
}

// prepareAuth starts the message's SPF/DKIM/DMARC checks for `levee check
// --dns` over the whole file (rules.ReadMessage keeps only scan_limit of
// the body; the DKIM body hash needs all of it).
func prepareAuth(e *rules.Engine, m *rules.Message, data []byte) {
	if e.Skip(&m.Env) != "" {
		return
	}
	s := e.StartAuth(&m.Env)
	if s == nil {
		return
	}
	e.AuthHeader(m, s)
	s.Body(crlf(bodyOf(data)))
	m.Auth = s
}

// bodyOf is what follows the first empty line.
func bodyOf(data []byte) []byte {
	for i := 0; i < len(data); i++ {
		if data[i] != '\n' {
			continue
		}
		rest := data[i+1:]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return rest[2:]
		}
		if bytes.HasPrefix(rest, []byte("\n")) {
			return rest[1:]
		}
	}
	return nil
}

// crlf turns bare LF line ends into CRLF, as the message travels in SMTP.
func crlf(b []byte) []byte {
	if bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// writeAuth prints a verdict's SPF/DKIM/DMARC results (check --explain).
func writeAuth(w io.Writer, v *rules.Verdict) {
	if v.Auth == nil {
		return
	}
	fmt.Fprintln(w, "Authentication-Results: "+strings.ReplaceAll(v.Auth.Header, "\n\t", "\n    "))
}

func authJSON(r *auth.Result) map[string]any {
	if r == nil {
		return nil
	}
	var sigs []map[string]any
	for _, d := range r.DKIM {
		sigs = append(sigs, map[string]any{"result": d.Result, "domain": d.Domain, "selector": d.Selector, "rule": d.Rule, "aligned": d.Aligned, "reason": d.Reason})
	}
	return map[string]any{
		"spf":   map[string]any{"result": r.SPF.Result, "domain": r.SPF.Domain, "identity": r.SPF.Identity, "reason": r.SPF.Reason},
		"dkim":  sigs,
		"dmarc": map[string]any{"result": r.DMARC.Result, "from": r.DMARC.From, "policy": r.DMARC.Policy, "requested": r.DMARC.Requested, "reason": r.DMARC.Reason},
	}
}

// lookupAuth prints the sender-authentication view of a domain for
// `levee lookup`: its SPF record (and check_host for --ip), its DMARC
// record (or its organizational domain's) and the DKIM key records of
// --selector.
func lookupAuth(ctx context.Context, w io.Writer, e *rules.Engine, target string, ip netip.Addr, selectors []string) {
	c := e.Auth()
	if c == nil || !c.Verifying() {
		return
	}
	rep := c.Lookup(ctx, target, ip, selectors)
	auth.FormatReport(w, rep)
}
