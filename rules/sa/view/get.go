package view

import (
	"net/netip"
	"regexp"
	"strings"
)

// Get returns the value a header rule with this left side tests
// (PerMsgStatus.pm get() in list context, joined as Plugin/Check.pm's
// do_head_tests joins it): spec is a field name ("Subject"), a pseudo-header
// (ALL, ALL-TRUSTED, ALL-UNTRUSTED, ALL-INTERNAL, ALL-EXTERNAL, ToCc,
// EnvelopeFrom, MESSAGEID, X-Spam-Relays-Trusted, -Untrusted, -Internal,
// -External), with modifiers :raw :addr :name :host :domain :ip :revip
// :first :last. ok is false when SpamAssassin finds nothing (the rule then
// tests its [if-unset: ...] value, or undef).
func (m *Message) Get(spec string) (value string, ok bool) {
	m.getMu.Lock()
	if r, hit := m.getCache[spec]; hit {
		m.getMu.Unlock()
		return r.val, r.ok
	}
	m.getMu.Unlock()
	vals := m.get(spec)
	var r getResult
	if len(vals) > 0 {
		sep := "\n"
		if strings.HasSuffix(vals[0], "\n") {
			sep = ""
		}
		r = getResult{strings.Join(vals, sep), true}
	}
	m.getMu.Lock()
	if m.getCache == nil {
		m.getCache = map[string]getResult{}
	}
	m.getCache[spec] = r
	m.getMu.Unlock()
	return r.val, r.ok
}

// get is PerMsgStatus.pm _get, with get()'s filtering of undefined values.
func (m *Message) get(request string) []string {
	var getaddr, getname, getraw, needraw, gethost, getdomain, getip, getrevip, getfirst, getlast bool
	if strings.IndexByte(request, ':') >= 0 {
		parts := strings.Split(request, ":")
		request = parts[0]
		for _, mod := range parts[1:] {
			switch mod {
			case "raw":
				getraw = true
			case "addr":
				getaddr, needraw = true, true
			case "name":
				getname, needraw = true, true
			case "host":
				gethost = true
			case "domain":
				gethost, getdomain = true, true
			case "ip":
				getip = true
			case "revip":
				getip, getrevip = true, true
			case "first":
				getfirst = true
			case "last":
				getlast = true
			}
		}
	}
	root := m.tree()
	lc := strings.ToLower(request)
	var results []string
	switch {
	case request == "ALL":
		if getraw {
			return pristineHeaderLines(root.pristineHeaders)
		}
		return root.getAllHeaders(false)
	case request == "ALL-TRUSTED":
		ri := m.relayData()
		return m.hdrsInRcvdRange(-1, ri.lastTrustedIdx+1, getraw)
	case request == "ALL-INTERNAL":
		ri := m.relayData()
		return m.hdrsInRcvdRange(-1, ri.lastInternalIdx+1, getraw)
	case request == "ALL-UNTRUSTED":
		ri := m.relayData()
		return m.hdrsInRcvdRange(ri.lastTrustedIdx+1, -2, getraw)
	case request == "ALL-EXTERNAL":
		ri := m.relayData()
		return m.hdrsInRcvdRange(ri.lastInternalIdx+1, -2, getraw)
	case lc == "envelopefrom":
		if v, ok := m.envelopeFrom(); ok {
			results = append(results, v)
		}
	case lc == "x-spam-relays-untrusted":
		results = append(results, m.relayData().untrustedStr)
	case lc == "x-spam-relays-trusted":
		results = append(results, m.relayData().trustedStr)
	case lc == "x-spam-relays-external":
		results = append(results, m.relayData().externalStr)
	case lc == "x-spam-relays-internal":
		results = append(results, m.relayData().internalStr)
	case lc == "tocc":
		results = append(results, root.getHeader("To", getraw)...)
		results = append(results, root.getHeader("Cc", getraw)...)
	case request == "MESSAGEID":
		for _, h := range []string{"X-Message-Id", "Resent-Message-Id", "X-Original-Message-ID", "Message-Id"} {
			for _, v := range root.getHeader(h, getraw) {
				if v != "" {
					results = append(results, v)
				}
			}
		}
	default:
		if getraw || needraw {
			results = root.rawHeader(request)
		} else {
			results = root.getHeader(request, false)
		}
	}
	if len(results) == 0 {
		return nil
	}
	if getfirst {
		results = results[:1]
	} else if getlast {
		results = results[len(results)-1:]
	}
	if getaddr || getname {
		var res []string
		for _, line := range results {
			for _, a := range parseHeaderAddresses(line) {
				if getaddr {
					if a.hasAddress {
						res = append(res, a.address)
					}
				} else if a.hasPhrase {
					if getraw {
						res = append(res, a.phrase)
					} else {
						d := decodeHeader(a.phrase, "PMS:get:"+request)
						if !isBlank(d) {
							d = collapsePerlSpace(d)
							d = strings.TrimFunc(d, isPerlSpace)
							if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
								d = d[1 : len(d)-1]
							}
						}
						res = append(res, d)
					}
				}
			}
		}
		results = res
	}
	if len(results) > 0 && (gethost || getdomain || getip) {
		var res []string
		if gethost {
			for _, line := range results {
				if h := findHost(line, getaddr); h != "" {
					if getdomain {
						h = trimDomain(h)
					}
					res = append(res, h)
				}
			}
		} else {
			for _, line := range results {
				if ip := findIP(line); ip != "" {
					if getrevip {
						ip = reverseIP(ip)
					}
					res = append(res, ip)
				}
			}
		}
		results = res
	}
	return results
}

func collapsePerlSpace(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isPerlSpaceByte(s[i]) {
			for i+1 < len(s) && isPerlSpaceByte(s[i+1]) {
				i++
			}
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pristineHeaderLines is get_pristine_header() =~ /^([^ \t].*?\n)(?![ \t])/smgi.
func pristineHeaderLines(ph string) []string {
	var out []string
	lines := splitLines(ph)
	for i := 0; i < len(lines); {
		l := lines[i]
		if l == "" || l == "\n" || l[0] == ' ' || l[0] == '\t' || !strings.HasSuffix(l, "\n") {
			i++
			continue
		}
		j := i + 1
		for j < len(lines) && len(lines[j]) > 0 && (lines[j][0] == ' ' || lines[j][0] == '\t') && strings.HasSuffix(lines[j], "\n") {
			j++
		}
		out = append(out, strings.Join(lines[i:j], "")) // in one copy: a field may fold over hundreds of lines
		i = j
	}
	return out
}

// hdrsInRcvdRange is PerMsgStatus.pm get_all_hdrs_in_rcvd_index_range;
// start -1 and end -2 mean undef.
func (m *Message) hdrsInRcvdRange(start, end int, raw bool) []string {
	if end != -2 && end < 0 {
		return nil
	}
	root := m.tree()
	var hdrs []string
	if raw {
		hdrs = pristineHeaderLines(root.pristineHeaders)
	} else {
		hdrs = splitLines(strings.Join(root.getAllHeaders(false), ""))
	}
	cur := -1
	var out []string
	for _, h := range hdrs {
		if len(h) >= 9 && strings.EqualFold(h[:9], "received:") {
			cur++
		}
		if (start == -1 || start <= cur) && (end == -2 || cur < end) {
			out = append(out, h)
		} else if end != -2 && cur == end {
			out = append(out, h)
			break
		}
	}
	return out
}

// findIP is /(?<!\.)\b(${IP_ADDRESS})\b(?!\.)/.
func findIP(line string) string {
	for s := 0; s < len(line); s++ {
		if s > 0 && line[s-1] == '.' || !isWordStart(line, s) {
			continue
		}
		e := matchIPAt(line, s)
		if e < 0 || !isWordStart(line, e) && e < len(line) || e < len(line) && line[e] == '.' {
			continue
		}
		return line[s:e]
	}
	return ""
}

func reverseIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	if a.Is4() {
		p := strings.Split(ip, ".")
		for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
			p[i], p[j] = p[j], p[i]
		}
		return strings.Join(p, ".")
	}
	h := a.StringExpanded()
	h = strings.ReplaceAll(h, ":", "")
	var b strings.Builder
	for i := len(h) - 1; i >= 0; i-- {
		b.WriteByte(h[i])
		if i > 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

var reHostInAddr = regexp.MustCompile(`.*@(\S+)`)

// findHost is the :host part of _get, with a simplified host test: the last
// "@domain" of an address, or the first word that is a valid FQDN.
func findHost(line string, fromAddr bool) string {
	if fromAddr {
		if m := reHostInAddr.FindStringSubmatch(line); m != nil {
			return m[1]
		}
		return ""
	}
	if i := strings.LastIndexByte(line, '@'); i >= 0 {
		h := line[i+1:]
		j := 0
		for j < len(h) && !isPerlSpaceByte(h[j]) && h[j] != '>' {
			j++
		}
		h = strings.TrimRight(h[:j], ".-_")
		if isFQDNValid(h) {
			return h
		}
	}
	for _, w := range strings.FieldsFunc(line, func(r rune) bool {
		return r < 0x80 && isPerlSpaceByte(byte(r)) || r == '<' || r == '>' || r == '(' || r == ')'
	}) {
		w = strings.Trim(w, ".-_")
		if isFQDNValid(w) {
			return w
		}
	}
	return ""
}

// trimDomain keeps the last two labels (RegistryBoundaries trim_domain
// without the registry list).
func trimDomain(h string) string {
	l := strings.Split(h, ".")
	if len(l) <= 2 {
		return h
	}
	return strings.Join(l[len(l)-2:], ".")
}

// isFQDNValid is Util.pm is_fqdn_valid for ASCII names.
func isFQDNValid(h string) bool {
	h = strings.ToLower(strings.TrimRight(h, "."))
	if len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	cnt := len(labels)
	if cnt <= 1 {
		return false
	}
	for _, l := range labels {
		if len(l) < 1 || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || (c == '-' && i > 0 && i < len(l)-1)
			if !ok {
				return false
			}
		}
		if cnt <= 2 && strings.IndexByte(l, '_') >= 0 {
			return false
		}
		cnt--
	}
	return true
}
