package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// ListReport is the answer of one list to Lookup.
type ListReport struct {
	List     string
	Query    string // the IP or domain, public form
	Listed   bool   // at least one hit
	Hits     []Hit
	TXT      string
	Err      error // lookup failure, error answer, or why not queried
	Took     time.Duration
	Disabled bool // disabled by its health check (queried anyway)
}

// Lookup asks every list of the matching kind about target (an IP address
// or a host name), listed or not, uncached and ignoring back-off; as for
// an unauthenticated client ("client" for IPs, "mail_from" for names).
// It is the engine of `levee lookup`.
func (c *Checker) Lookup(ctx context.Context, target string) []ListReport {
	ctx, cancel := context.WithTimeout(ctx, c.dns.Deadline)
	defer cancel()
	target = strings.TrimSpace(target)
	kind, query, item, src := KindDomain, NormalizeDomain(target), "", SourceMailFrom
	if ip, err := netip.ParseAddr(strings.Trim(target, "[]")); err == nil {
		ip = ip.Unmap().WithZone("")
		kind, query, item, src = KindIP, ip.String(), ReverseIP(ip), SourceClient
		if !Queryable(ip) {
			return []ListReport{{Query: query, Err: errors.New("private, link-local or special address: not sent to blocklists")}}
		}
	} else {
		item = query
		if query == "" {
			return []ListReport{{Query: sanitize(target, 100), Err: errors.New("neither an IP address nor a valid host name")}}
		}
	}
	var reports []ListReport
	var idx []*zlist
	for _, l := range c.lists {
		if l.Kind == kind {
			reports = append(reports, ListReport{List: l.Name, Query: query, Disabled: l.disabled.Load()})
			idx = append(idx, l)
		}
	}
	var wg sync.WaitGroup
	for i, l := range idx {
		rep := &reports[i]
		if kind == KindIP && strings.Contains(query, ":") && !l.IPv6 {
			rep.Err = errors.New("not queried: the list has no IPv6 data (ipv6: false)")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.lookupOne(ctx, l, rep, src, item)
		}()
	}
	wg.Wait()
	return reports
}

func (c *Checker) lookupOne(ctx context.Context, l *zlist, rep *ListReport, src Source, item string) {
	start := time.Now()
	defer func() { rep.Took = time.Since(start) }()
	qname := queryName(item, l.zone)
	if qname == "" {
		rep.Err = errors.New("name too long for this zone")
		return
	}
	ips, _, err := c.raw.LookupA(ctx, qname)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			rep.Err = fmt.Errorf("lookup failed: %s", outcome(err))
		}
		return
	}
	if t, _, err := c.raw.LookupTXT(ctx, qname); err == nil {
		rep.TXT = c.cleanTXT(trimTXT(t))
	}
	r := l.classify(ips)
	if r.isError {
		rep.Err = fmt.Errorf("error answer %s: %s (not a listing)", r.errAddr, r.errWhy)
		return
	}
	for _, i := range r.answers {
		a := &l.Answers[i]
		h := Hit{Rule: a.Rule, Score: a.Score, List: l.Name, Source: src, Query: rep.Query,
			Code: codeOf(ips, l, i), TXT: rep.TXT, Description: a.Description}
		if a.RejectText != "" {
			h.RejectText = c.scrub(ExpandReply(a.RejectText, rep.TXT, rep.Query, l.Name))
		}
		rep.Hits = append(rep.Hits, h)
	}
	rep.Listed = len(rep.Hits) > 0
	if len(r.unknown) > 0 {
		rep.Err = fmt.Errorf("answers not in the list's table, ignored: %v", r.unknown)
	}
}

// FormatReports writes reports as a table for `levee lookup`.
func FormatReports(w io.Writer, reports []ListReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIST\tQUERY\tRESULT\tTOOK")
	for _, r := range reports {
		res := "not listed"
		switch {
		case r.Listed:
			var parts []string
			for _, h := range r.Hits {
				parts = append(parts, fmt.Sprintf("%s %s (%+g)", h.Code, h.Rule, h.Score))
			}
			res = "LISTED " + strings.Join(parts, ", ")
		case r.Err != nil:
			res = "ERROR"
		}
		if r.Disabled {
			res += " [list disabled by health check]"
		}
		list := r.List
		if list == "" {
			list = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", list, r.Query, res, r.Took.Round(time.Millisecond))
		if r.Err != nil {
			fmt.Fprintf(tw, "\t\t  %s\n", r.Err)
		}
		if r.TXT != "" {
			fmt.Fprintf(tw, "\t\t  TXT: %s\n", r.TXT)
		}
		for _, h := range r.Hits {
			if h.Description != "" {
				fmt.Fprintf(tw, "\t\t  %s: %s\n", h.Rule, h.Description)
			}
		}
	}
	tw.Flush()
}

// FormatReports is the package function FormatReports, as a method.
func (c *Checker) FormatReports(w io.Writer, reports []ListReport) { FormatReports(w, reports) }
