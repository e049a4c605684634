package auth

import (
	"strings"
	"unicode"

	"github.com/emersion/go-msgauth/authres"
)

// HeaderAuthResults is the field levee adds (RFC 8601).
const HeaderAuthResults = "Authentication-Results"

// AuthservID returns the authserv-id of an Authentication-Results value
// (RFC 8601 section 2.2: [CFWS] authserv-id [CFWS authres-version] ";"
// ...), lower-cased, or "" when there is none. Comments are skipped and a
// quoted-string id is unquoted. It is what decides whether an incoming
// field claims to be levee's.
func AuthservID(v string) string {
	s := skipCFWS(v)
	var id string
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		id = b.String()
	} else {
		end := strings.IndexAny(s, " \t\r\n;()")
		if end < 0 {
			end = len(s)
		}
		id = s[:end]
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(id), "."))
}

// skipCFWS drops leading whitespace and (nested) comments.
func skipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		depth := 0
		i := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(s) {
			return ""
		}
		s = s[i+1:]
	}
}

// stripComments removes RFC 5322 comments outside quoted strings (go-msgauth's
// parser does not know them).
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
			continue
		case quoted:
			if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			continue
		case c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// forwarderResults reads the SPF and DKIM results of the topmost
// Authentication-Results field whose authserv-id is id (a trusted
// forwarder's). ok is false when there is no such field.
func forwarderResults(fields []Field, id string) (spfR SPFResult, sigs []DKIMResult, ok bool) {
	id = strings.ToLower(id)
	for _, f := range fields {
		if !strings.EqualFold(f.Name, HeaderAuthResults) || AuthservID(f.Value) != id {
			continue
		}
		v := unfold(stripComments(f.Value))
		// the version after the id ("mx.example 1; ...") is dropped so that
		// go-msgauth reads the id alone
		if i := strings.IndexByte(v, ';'); i >= 0 {
			v = id + v[i:]
		} else {
			v = id
		}
		_, results, _ := authres.Parse(v)
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				if spfR.Result != "" {
					continue
				}
				spfR = SPFResult{Result: string(r.Value), Identity: "mailfrom", Sender: r.From, FromForwarder: id}
				dom := r.From
				if dom == "" {
					dom, spfR.Identity = r.Helo, "helo"
				}
				if at := strings.LastIndexByte(dom, '@'); at >= 0 {
					dom = dom[at+1:]
				}
				spfR.Domain = strings.ToLower(dom)
				if !validSPFResult(spfR.Result) {
					spfR = SPFResult{}
				}
			case *authres.DKIMResult:
				d := strings.ToLower(r.Domain)
				if d == "" && r.Identifier != "" {
					if at := strings.LastIndexByte(r.Identifier, '@'); at >= 0 {
						d = strings.ToLower(r.Identifier[at+1:])
					}
				}
				if d == "" || len(sigs) >= 10 {
					continue
				}
				sigs = append(sigs, DKIMResult{Result: string(r.Value), Domain: d, Identifier: r.Identifier, FromForwarder: id})
			}
		}
		return spfR, sigs, true
	}
	return SPFResult{}, nil, false
}

func validSPFResult(s string) bool {
	switch s {
	case "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror":
		return true
	}
	return false
}

// formatAuthResults builds the value of levee's Authentication-Results
// field (RFC 8601 section 2.2), one method per folded line ("\n\t", as
// milter header changes take it). It writes what go-msgauth's
// authres.Format writes (reason first, then the properties in name order;
// the same quoting), without its per-call maps and string concatenation;
// FuzzAuthResults parses the output back with authres.Parse.
func formatAuthResults(id string, r *Result) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString(id)
	n := 0
	method := func(m, value, reason string, props ...string) {
		n++
		b.WriteString(";\n\t")
		b.WriteString(m)
		b.WriteByte('=')
		b.WriteString(value)
		if reason = safeReason(reason); reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quoteValue(reason))
		}
		for i := 0; i+1 < len(props); i += 2 { // props: name, value pairs in name order
			if props[i+1] == "" {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(props[i])
			b.WriteByte('=')
			b.WriteString(quotePvalue(props[i+1]))
		}
	}
	if r.SPF.Result != "" {
		reason := r.SPF.Reason
		if r.SPF.FromForwarder != "" {
			reason = "from trusted forwarder " + r.SPF.FromForwarder
		}
		from, helo := r.SPF.Sender, ""
		if r.SPF.Identity == "helo" {
			from, helo = "", r.SPF.Domain
		}
		method("spf", r.SPF.Result, reason, "smtp.helo", helo, "smtp.mailfrom", from)
	}
	if r.DKIMChecked && len(r.DKIM) == 0 {
		method("dkim", "none", "")
	}
	for _, d := range r.DKIM {
		reason := d.Reason
		if d.FromForwarder != "" {
			reason = "from trusted forwarder " + d.FromForwarder
		}
		ident := d.Identifier
		if ident == "@"+d.Domain {
			ident = ""
		}
		method("dkim", d.Result, reason, "header.a", d.Algorithm, "header.b", d.B, "header.d", d.Domain, "header.i", ident, "header.s", d.Selector)
	}
	if r.DMARC.Result != "" {
		method("dmarc", r.DMARC.Result, r.DMARC.Reason, "header.from", r.DMARC.From, "policy.dmarc", r.DMARC.Requested)
	}
	if n == 0 {
		b.WriteString("; none")
	}
	return b.String()
}

// quoteValue is RFC 2045's value: a token, else a quoted-string.
func quoteValue(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
		}
	}
	return s
}

// quotePvalue is RFC 8601's pvalue: an address or domain as it is (letters,
// digits and most punctuation), anything else as a value.
func quotePvalue(s string) string {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r < 0x80 && strings.IndexByte("#$%&'*+,./-@[]\\^_`{|}~", byte(r)) >= 0 {
			continue
		}
		return quoteValue(s)
	}
	return s
}

// safeReason makes a reason fit a header field value and the line
// folding above: printable ASCII, no ';', at most 100 bytes.
func safeReason(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c > '~' || c == ';' || c == '"' || c == '\\' {
			b[i] = ' '
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return strings.TrimSpace(string(b))
}
