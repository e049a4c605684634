package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/levee-mail/levee/rules/dns"
)

// Report is what `levee lookup DOMAIN` shows about a domain's sender
// authentication records.
type Report struct {
	Domain string
	SPF    []string // v=spf1 records at the domain
	SPFErr string
	// Check is check_host for Report.IP (when given), as for a MAIL FROM
	// of postmaster@Domain.
	IP    netip.Addr
	Check *SPFResult
	// DMARC is the record that applies to mail From the domain.
	DMARC      string
	DMARCAt    string
	DMARCErr   string
	DMARCApply string // the policy for this domain (p=, or sp= for a subdomain)
	DKIM       []KeyReport
}

// KeyReport is one selector's key record.
type KeyReport struct {
	Selector, Name, Record, Problem, Err string
}

// Lookup fetches a domain's SPF, DMARC and DKIM key records (selectors)
// and, with a valid ip, runs check_host.
func (c *Checker) Lookup(ctx context.Context, domain string, ip netip.Addr, selectors []string) *Report {
	ctx, cancel := context.WithTimeout(ctx, c.dnsCfg.Deadline)
	defer cancel()
	r := &Report{Domain: strings.ToLower(strings.TrimSuffix(domain, ".")), IP: ip}
	d, err := normDomain(domain)
	if err != nil {
		r.SPFErr = "not a domain name"
		return r
	}
	r.Domain = d
	txt, err := c.cache.LookupTXT(ctx, d)
	switch {
	case err == nil:
		for _, t := range txt {
			if l := strings.ToLower(t); l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
				r.SPF = append(r.SPF, t)
			}
		}
		if len(r.SPF) == 0 {
			r.SPFErr = "no SPF record"
		}
	case errors.Is(err, dns.ErrNotFound):
		r.SPFErr = "no SPF record (no TXT records)"
	default:
		r.SPFErr = "DNS lookup failed (temperror)"
	}
	if ip.IsValid() {
		s := checkSPF(ctx, c.cache, ip, "", "postmaster@"+d)
		r.Check = &s
	}
	rec, at, sub, err := lookupDMARC(ctx, c.cache, d)
	switch {
	case err == nil:
		r.DMARCAt = at
		if t, err := c.cache.LookupTXT(ctx, "_dmarc."+at); err == nil {
			for _, x := range t {
				if strings.HasPrefix(strings.TrimSpace(x), "v=DMARC1") {
					r.DMARC = x
				}
			}
		}
		r.DMARCApply = string(rec.Policy)
		if sub && rec.SubdomainPolicy != "" {
			r.DMARCApply = string(rec.SubdomainPolicy)
		}
	case err == errNoDMARC:
		r.DMARCErr = "no DMARC record"
	case err == errDMARCTemp:
		r.DMARCErr = "DNS lookup failed (temperror)"
	default:
		r.DMARCAt, r.DMARCErr = at, "invalid DMARC record: "+err.Error()
	}
	for _, s := range selectors {
		k := KeyReport{Selector: s, Name: s + "._domainkey." + d}
		t, err := c.cache.LookupTXT(ctx, k.Name)
		switch {
		case err == nil && len(t) == 1:
			k.Record = t[0]
			k.Problem = keyProblem(t[0])
			if _, perr := parseTags(t[0]); perr != nil {
				k.Problem = "malformed record"
			}
		case err == nil:
			k.Err = fmt.Sprintf("%d TXT records: a key name must have exactly one", len(t))
		case errors.Is(err, dns.ErrNotFound):
			k.Err = "no key record"
		default:
			k.Err = "DNS lookup failed (temperror)"
		}
		r.DKIM = append(r.DKIM, k)
	}
	return r
}

// FormatReport writes a Report for `levee lookup`.
func FormatReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "sender authentication of %s:\n", r.Domain)
	for _, s := range r.SPF {
		fmt.Fprintf(w, "  SPF    %s\n", s)
	}
	if r.SPFErr != "" {
		fmt.Fprintf(w, "  SPF    %s\n", r.SPFErr)
	}
	if r.Check != nil {
		fmt.Fprintf(w, "  SPF    check_host(%s, %s) = %s", r.IP, r.Domain, r.Check.Result)
		if r.Check.Reason != "" {
			fmt.Fprintf(w, " (%s)", r.Check.Reason)
		}
		fmt.Fprintln(w)
	}
	switch {
	case r.DMARCErr != "":
		fmt.Fprintf(w, "  DMARC  %s\n", r.DMARCErr)
	default:
		fmt.Fprintf(w, "  DMARC  _dmarc.%s: %s\n", r.DMARCAt, r.DMARC)
		fmt.Fprintf(w, "  DMARC  policy for %s: %s\n", r.Domain, r.DMARCApply)
	}
	for _, k := range r.DKIM {
		switch {
		case k.Err != "":
			fmt.Fprintf(w, "  DKIM   %s: %s\n", k.Name, k.Err)
		case k.Problem != "":
			fmt.Fprintf(w, "  DKIM   %s: %s (%s)\n", k.Name, k.Problem, shorten(k.Record, 60))
		default:
			fmt.Fprintf(w, "  DKIM   %s: ok (%s)\n", k.Name, shorten(k.Record, 60))
		}
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
