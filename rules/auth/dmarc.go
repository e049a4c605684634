package auth

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/levee-mail/levee/rules/dns"
)

// DMARCResult is the DMARC verdict (RFC 7489) for the From domain.
type DMARCResult struct {
	// Result is pass, fail, none (no record), temperror or permerror;
	// "" when DMARC was not checked.
	Result string
	From   string // the From domain (RFC5322.From)
	// Policy is the policy that applies to this message when it fails:
	// none, quarantine or reject (sp= for a subdomain of the record's
	// domain, pct= sampling applied); "" without a record.
	Policy string
	// Requested is the policy the record names (before pct= sampling).
	Requested  string
	RecordAt   string // the domain whose _dmarc record was used
	SPFAligned bool   // an SPF pass aligned with From
	DKIMDomain string // the d= of an aligned DKIM pass, if any
	Reason     string
}

var (
	errNoDMARC   = errors.New("no DMARC record")
	errDMARCTemp = errors.New("DNS lookup failed")
)

// dmarcRecord picks the DMARC record among the TXT records of a _dmarc
// name (RFC 7489 section 6.6.3): records that do not start with v=DMARC1
// are discarded; none or several left means no policy. A record whose p=
// (or sp=) is invalid counts as p=none when it names a report address
// (rua=), and is a permerror otherwise.
func dmarcRecord(txts []string) (*dmarc.Record, error) {
	var recs []string
	for _, t := range txts {
		t = strings.TrimSpace(t)
		if rest, ok := strings.CutPrefix(t, "v=DMARC1"); ok {
			if rest = strings.TrimLeft(rest, " \t"); rest == "" || rest[0] == ';' {
				recs = append(recs, t)
			}
		}
	}
	if len(recs) != 1 {
		return nil, errNoDMARC
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		if strings.Contains(recs[0], "rua=mailto:") {
			return &dmarc.Record{Policy: dmarc.PolicyNone, DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed}, nil
		}
		return nil, err
	}
	return rec, nil
}

// lookupDMARC finds the record for a From domain: _dmarc.<domain>, then
// _dmarc.<organizational domain> (RFC 7489 section 6.6.3). sub is true
// when the record is the organizational domain's and applies to a
// subdomain (its sp= then counts).
func lookupDMARC(ctx context.Context, c *dns.Cache, from string) (rec *dmarc.Record, at string, sub bool, err error) {
	try := func(d string) (*dmarc.Record, error) {
		txt, err := c.LookupTXT(ctx, "_dmarc."+d)
		if err != nil {
			if errors.Is(err, dns.ErrNotFound) {
				return nil, errNoDMARC
			}
			return nil, errDMARCTemp
		}
		return dmarcRecord(txt)
	}
	rec, err = try(from)
	if err != errNoDMARC {
		return rec, from, false, err
	}
	org := orgDomain(from)
	if org == from {
		return nil, "", false, errNoDMARC
	}
	rec, err = try(org)
	return rec, org, true, err
}

// orgDomain is the organizational domain (RFC 7489 section 3.2): the
// public suffix plus one label (golang.org/x/net/publicsuffix); a public
// suffix itself is its own.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned compares two domains in relaxed (same organizational domain) or
// strict (same name) mode (RFC 7489 section 3.1).
func aligned(a, b string, mode dmarc.AlignmentMode) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return a == b
	}
	return a == b || orgDomain(a) == orgDomain(b)
}

// fromDomain returns the domain of the single From address (RFC 7489
// section 6.6.1); an error when there is none, or several fields or
// addresses.
func fromDomain(fields []Field) (string, error) {
	var val string
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, "From") {
			val = f.Value
			n++
		}
	}
	if n != 1 {
		return "", errors.New("not exactly one From field")
	}
	val = unfold(val)
	addr := ""
	if l, err := mail.ParseAddressList(val); err == nil {
		if len(l) != 1 {
			return "", errors.New("several From addresses")
		}
		addr = l[0].Address
	} else if i := strings.LastIndexByte(val, '<'); i >= 0 {
		if j := strings.IndexByte(val[i:], '>'); j > 0 {
			addr = strings.TrimSpace(val[i+1 : i+j])
		}
	} else if strings.Count(val, "@") == 1 && !strings.ContainsAny(val, " \t") {
		addr = val
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", errors.New("no domain in From")
	}
	d, err := normDomain(addr[at+1:])
	if err != nil || !strings.Contains(d, ".") {
		return "", errors.New("invalid From domain")
	}
	return d, nil
}

func unfold(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(s)
	}
	return strings.TrimSpace(s)
}

// evalDMARC decides DMARC (RFC 7489 section 4.2) from the record and the
// SPF and DKIM results. A failure in which an aligned identifier could not
// be checked for a DNS reason is temperror, never fail.
func evalDMARC(rec *dmarc.Record, at string, sub bool, from string, spfR SPFResult, sigs []DKIMResult, sample func(pct int) bool) DMARCResult {
	r := DMARCResult{From: from, RecordAt: at}
	r.Requested = string(rec.Policy)
	if sub && rec.SubdomainPolicy != "" {
		r.Requested = string(rec.SubdomainPolicy)
	}
	tempAligned := false
	if aligned(spfR.Domain, from, rec.SPFAlignment) {
		switch spfR.Result {
		case "pass":
			r.SPFAligned = true
		case "temperror":
			tempAligned = true
		}
	}
	for _, s := range sigs {
		if !aligned(s.Domain, from, rec.DKIMAlignment) {
			continue
		}
		switch s.Result {
		case "pass":
			if r.DKIMDomain == "" {
				r.DKIMDomain = s.Domain
			}
		case "temperror":
			tempAligned = true
		}
	}
	switch {
	case r.SPFAligned || r.DKIMDomain != "":
		r.Result = "pass"
		return r
	case tempAligned:
		r.Result, r.Reason = "temperror", "an aligned identifier could not be checked (DNS)"
		return r
	}
	r.Result = "fail"
	r.Policy = r.Requested
	// pct= (RFC 7489 section 6.6.4): a message not sampled gets the next
	// weaker policy.
	if rec.Percent != nil && *rec.Percent < 100 && !sample(*rec.Percent) {
		switch r.Policy {
		case "reject":
			r.Policy = "quarantine"
		case "quarantine":
			r.Policy = "none"
		}
		r.Reason = "pct sampling"
	}
	return r
}

// dmarcCached says whether lookupDMARC for a From domain can be answered
// from the cache alone.
func (c *Checker) dmarcCached(from string) bool {
	e, ok := c.cache.Get("TXT _dmarc." + from)
	if !ok {
		return false
	}
	if e.Err == nil {
		if _, err := dmarcRecord(e.TXT); err != errNoDMARC {
			return true // the domain's own record decides: no second lookup
		}
	}
	org := orgDomain(from)
	if org == from {
		return true
	}
	ok, _ = c.cache.Fresh("TXT _dmarc." + org)
	return ok
}
