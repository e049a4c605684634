package soak

import (
	"fmt"
	"sort"
	"strings"

	"github.com/levee-mail/levee/filter/mta/rbldnsd"
	"github.com/levee-mail/levee/rules/eval"
)

// zones are the DNSBL zones of the run, made from the corpus's envelopes as
// configs/bench/zones.py makes the benchmark's: under the names of levee's
// default lists (zen.spamhaus.org, dbl.spamhaus.org, list.dnswl.org; served
// on loopback only), a third of the spam client IPs listed in ZEN (as SBL,
// XBL or PBL in turn), a quarter of the spam senders' domains in the DBL,
// every 50th ham client IP in DNSWL, and the RFC 5782 test entries that
// levee's health checks ask for. ttl is both the answers' TTL and, through
// the SOA, the negative one (RFC 2308), so levee keeps asking during the
// run and the DNS faults reach it.
func zones(srcs []*source, ttl int) []rbldnsd.Zone {
	var spam, ham []*source
	for _, s := range srcs {
		if s.class == eval.Spam {
			spam = append(spam, s)
		} else {
			ham = append(ham, s)
		}
	}
	soa := fmt.Sprintf("$SOA %d soak.invalid. hostmaster.soak.invalid. 1 3600 600 86400 %d\n", ttl, ttl)
	ips := func(l []*source, step int) []string {
		set := map[string]bool{}
		for i := 0; i < len(l); i += step {
			if a := l[i].ip; a.IsValid() && a.Is4() {
				set[a.String()] = true
			}
		}
		return sortedKeys(set)
	}
	var zen strings.Builder
	zen.WriteString(soa + ":127.0.0.2:Listed by the levee soak\n127.0.0.2\n")
	for i, ip := range ips(spam, 3) {
		fmt.Fprintf(&zen, "%s :127.0.0.%d:\n", ip, []int{2, 4, 11}[i%3])
	}
	var wl strings.Builder
	wl.WriteString(soa + ":127.0.10.2:dnswl\n127.0.0.2\n")
	for _, ip := range ips(ham, 50) {
		wl.WriteString(ip + "\n")
	}
	var dbl strings.Builder
	dbl.WriteString(soa + ":127.0.1.2:Listed by the levee soak\ntest\ndbltest.com\n")
	doms := map[string]bool{}
	for i := 0; i < len(spam); i += 4 {
		if _, d, ok := strings.Cut(spam[i].from, "@"); ok && d != "" && !strings.ContainsAny(d, " \t:") {
			doms[strings.ToLower(d)] = true
		}
	}
	for _, d := range sortedKeys(doms) {
		dbl.WriteString(d + "\n")
	}
	return []rbldnsd.Zone{
		{Name: "zen.spamhaus.org", Type: "ip4set", Data: zen.String()},
		{Name: "dbl.spamhaus.org", Type: "dnset", Data: dbl.String()},
		{Name: "list.dnswl.org", Type: "ip4set", Data: wl.String()},
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
