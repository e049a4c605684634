package view

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// URIs returns SpamAssassin's URI list, the strings uri rules run on
// (PerMsgStatus.pm get_uri_list): the URIs of the HTML parts and those
// found in the rendered text, each with its canonicalised variants
// (Util.pm uri_list_canonicalize), sorted.
func (m *Message) URIs() []string {
	m.uriOnce.Do(m.computeURIs)
	return m.uris
}

var usStates = setOf("ak al ar az ca co ct dc de fl ga gu hi ia id il in ks ky la ma md me mi mn mo ms mt nc nd ne nh nj nm nv ny oh ok or pa pr ri sc sd tn tx ut va vi vt wa wi wv wy")

func (m *Message) computeURIs() {
	body := m.Body()
	// Perl keeps a URI found as octets (in the rendered text) apart from
	// the same non-ASCII URI found as characters (in HTML): both are listed
	octets, chars := map[string]bool{}, map[string]bool{}
	// text URIs (PerMsgStatus.pm _process_text_uri_list)
	seen := map[string]bool{}
	for _, line := range body {
		for _, u := range textURIs(line, seen) {
			addURI(octets, u, true, false)
		}
	}
	// HTML URIs (_process_html_uri_list)
	done := map[string]bool{} // a newsletter repeats its links: canonicalize each once
	for _, u := range m.htmlURIs {
		if !done[u.uri] {
			done[u.uri] = true
			addURI(chars, u.uri, false, true)
		}
	}
	for u := range octets {
		m.uris = append(m.uris, u)
	}
	for u := range chars {
		if !octets[u] || has8bit(u) {
			m.uris = append(m.uris, u)
		}
	}
	sort.Strings(m.uris)
}

// addURI is PerMsgStatus.pm add_uri_detail_list, keeping the cleaned list.
func addURI(set map[string]bool, uri string, validDomain, chars bool) {
	cleaned := uriListCanonicalize(uri, chars)
	if len(cleaned) == 0 {
		return
	}
	if validDomain {
		ok := false
		for _, c := range cleaned {
			if c2 := truncURI(c); uriToDomain(c2) != "" {
				ok = true
				break
			}
		}
		if !ok {
			return
		}
	}
	for _, c := range cleaned {
		set[truncURI(c)] = true
	}
}

func truncURI(s string) string {
	if len(s) > maxURILength {
		return s[:maxURILength]
	}
	return s
}

// splitDomain is RegistryBoundaries.pm split_domain (ASCII).
func splitDomain(d string) string {
	d = strings.ToLower(d)
	for strings.Contains(d, "..") {
		d = strings.ReplaceAll(d, "..", ".")
	}
	d = strings.Trim(d, ".")
	if d == "" {
		return d
	}
	parts := strings.Split(d, ".")
	n := 0
	for len(parts)-n > 1 {
		p := parts[n:]
		if len(p) == 2 && twoLevelDomains[strings.Join(p, ".")] {
			break
		}
		if len(p) == 3 {
			if p[2] == "us" {
				if usStates[p[1]] {
					break
				}
			} else if threeLevelDomains[strings.Join(p, ".")] {
				break
			}
		}
		if len(p) == 4 && p[3] == "us" && ((p[0] == "pvt" && p[1] == "k12") || p[0] == "ci" || p[0] == "co") && usStates[p[2]] {
			break
		}
		n++
	}
	if n > 0 {
		n--
	}
	return strings.Join(parts[n:], ".")
}

// isDomainValid is RegistryBoundaries.pm is_domain_valid.
func isDomainValid(d string) bool {
	d = strings.ToLower(d)
	if strings.ContainsAny(d, " \t\n\r\f\v") {
		return false
	}
	i := strings.LastIndexByte(d, '.')
	if i < 0 || i == len(d)-1 {
		return false
	}
	return validTLDs[d[i+1:]]
}

var (
	reIsIP        = regexp.MustCompile(`^` + ipAddressRE + `$`)
	reURIPctBad   = regexp.MustCompile(`%(?:2[1-9a-f]|[3-6][0-9a-f]|7[0-9a-e])`)
	reURIProto    = regexp.MustCompile(`^[a-z]+:/{0,2}`)
	reURIPathPart = regexp.MustCompile(`(?s)[/?#].*`)
	reURIUserPart = regexp.MustCompile(`^[^/]*@`)
	reURIPort     = regexp.MustCompile(`:\d*$`)
)

// uriToDomain is RegistryBoundaries.pm uri_to_domain ("" for none).
func uriToDomain(uri string) string {
	uri = strings.ToLower(uri)
	for _, p := range []string{"javascript:", "cid:", "file:"} {
		if strings.HasPrefix(uri, p) {
			return ""
		}
	}
	if strings.HasPrefix(uri, "mailto:") {
		uri = uri[7:]
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if strings.Count(uri, "@") > 1 {
			return ""
		}
		i := strings.LastIndexByte(uri, '@')
		if i < 0 {
			return ""
		}
		uri = uri[i+1:]
	} else {
		uri = reURIProto.ReplaceAllString(uri, "")
		uri = reURIPathPart.ReplaceAllString(uri, "")
		uri = reURIUserPart.ReplaceAllString(uri, "")
		uri = reURIPort.ReplaceAllString(uri, "")
	}
	if reURIPctBad.MatchString(uri) {
		return ""
	}
	host := idnToASCII(uri)
	if reIsIP.MatchString(host) {
		return host
	}
	if !isFQDNValid(host) || !isDomainValid(host) {
		return ""
	}
	return splitDomain(host)
}

// urlEncode is Util.pm url_encode (which decodes harmless escapes); on
// characters (chars) a character from U+0080 to U+00FF is escaped as one
// byte, and one above is kept.
func urlEncode(u string, chars bool) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if chars && c >= 0x80 {
			r, size := utf8.DecodeRuneInString(u[i:])
			if r != utf8.RuneError || size > 1 {
				if r <= 0xff {
					fmt.Fprintf(&b, "%%%02x", r)
				} else {
					b.WriteString(u[i : i+size])
				}
				i += size - 1
				continue
			}
		}
		if c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]) {
			esc := u[i : i+3]
			if !rx(`(?i)(20|7f|[0189a-f][0-9a-f])`).MatchString(esc) && u[i+1] >= '2' && u[i+1] <= '7' {
				b.WriteByte(unhex(u[i+1])<<4 | unhex(u[i+2]))
			} else {
				b.WriteString(esc)
			}
			i += 2
			continue
		}
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '%' || c == '<' || c == '>' {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// redirectorPatterns are the redirector_pattern lines of the stock rules,
// translated to RE2 (their look-behinds become plain alternatives).
var redirectorPatterns = []*prx{
	rx(`(?i)^http://chkpt\.zdnet\.com/chkpt/\w+/(.*)$`),
	rx(`(?i)^http://www(?:\d+)?\.nate\.com/r/\w+/(.*)$`),
	rx(`(?i)^http://.+\.gov/(?:.*/)?externalLink\.jhtml\?.*url=(.*?)(?:&.*)?$`),
	rx(`(?i)^http://redir\.internet\.com/.+?/.+?/(.*)$`),
	rx(`(?i)^http://(?:.*?\.)?adtech\.de/.*(?:;|\|)link=(.*?)(?:;|$)`),
	rx(`(?i)^http.*?/redirect\.php\?(?:.*[?&])?goto=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?:/*(?:[^/]+\.)?emf\d\.com/r\.cfm.*?&r=(.*)`),
	rx(`(?i)/(?:index.php)?\?(?:.*[?&])?URL=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?:/*(?:\w+\.)?google(?:\.\w{2,3}){1,2}/url\?(?:.*?[?&])?q=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?:/*(?:\w+\.)?google(?:\.\w{2,3}){1,2}/translate\?(?:.*?[?&])?u=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?:/*(?:\w+\.)?google(?:\.\w{2,3}){1,2}/pagead/iclk\?(?:.*?[?&])?adurl=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?:/*(?:\w+\.)?aol\.com/redir\.adp\?(?:.*[?&])?_url=(.*?)(?:$|[&#])`),
	rx(`(?i)^https?/*(?:\w+\.)?facebook\.com/l/;(.*)`),
}

var (
	reCanonHTTP   = regexp.MustCompile(`(?i)^(https?:)/{0,2}`)
	reHasPct      = regexp.MustCompile(`%[0-9a-fA-F]{2}`)
	reHasScheme   = regexp.MustCompile(`(?i)^[-_a-z0-9]+:`)
	reHostQuery   = regexp.MustCompile(`(?i)^(https?://[^/?#]+)([?#])`)
	reEntDec      = regexp.MustCompile(`&#0*(3[3-9]|[4-9]\d|1[01]\d|12[0-6]);`)
	reEntHex      = regexp.MustCompile(`&#x0*(2[1-9]|[3-6][a-fA-F0-9]|7[0-9a-eA-E]);`)
	reEntDot      = regexp.MustCompile(`(?i)&#(?:x2e|12290|x3002|65294|xff0e|65377|xff61);`)
	reHTTPParts   = regexp.MustCompile(`(?is)^(https?://)([^@/?#]*@)?([^/?#:]+)((?::(\d*))?.*)$`)
	reHardRedir   = regexp.MustCompile(`(?i)(https?:/{0,2}[^&#]+)`)
	reDottedQuad  = regexp.MustCompile(`(?i)^((?:0x[0-9a-f]+|\d+)\.)((?:0x[0-9a-f]+|\d+)\.)((?:0x[0-9a-f]+|\d+)\.)(0x[0-9a-f]+|\d+)$`)
	reHexHost     = regexp.MustCompile(`(?i)^0x[0-9a-f]+$`)
	reDigitsHost  = regexp.MustCompile(`^[0-9]+$`)
	reWWWOnly     = regexp.MustCompile(`^(?:www\.)?([^.]+)$`)
	reMailQ       = regexp.MustCompile(`^([^@]+@[^?]+)\?`)
	reMailAmp     = regexp.MustCompile(`^([^@]+@[^?&]+)&`)
	reMail20      = regexp.MustCompile(`(?i)^(?:mailto:)?(?:%20)*([^@]+@[^?&%]+)`)
	reMailAngle   = regexp.MustCompile(`^[^?&]*<([^@>]+@[^>]+)>`)
	reMailOrAt    = regexp.MustCompile(`(?i)^mailto:|^[^:]*@`)
	reTrailNonAln = regexp.MustCompile(`[^0-9A-Za-z]+$`)
)

// uriListCanonicalize is Util.pm uri_list_canonicalize for one URI, with
// the stock redirector patterns. chars tells that Perl holds the URI as
// characters (an HTML attribute): a host idn_to_ascii cannot convert comes
// back as octets, which Perl then joins to characters as Latin-1.
func uriListCanonicalize(uri string, chars bool) []string {
	uris := []string{uri}
	var nuris []string
	for k := 0; k < len(uris) && k < 50; k++ {
		u := uris[k]
		u = strings.ReplaceAll(u, "\n", "")
		u = strings.TrimLeftFunc(u, isPerlSpace)
		u = strings.TrimRightFunc(u, isPerlSpace)
		u = strings.ReplaceAll(u, "\r", "")
		uris[k] = u
		if len(u) <= 1 || u[0] == '#' || u[0] == '?' || u[0] == '&' || (u[0] == '/' && !(len(u) > 1 && u[1] == '/')) {
			continue
		}
		n := u
		if (strings.IndexByte(n, '@') >= 0 || hasPrefixFold(n, "mailto:")) && reMailOrAt.MatchString(n) {
			if g := reMailQ.FindStringSubmatch(n); g != nil {
				nuris = append(nuris, g[1])
			}
			if g := reMailAmp.FindStringSubmatch(n); g != nil {
				nuris = append(nuris, g[1])
			}
			if strings.Contains(n, "%20") {
				if g := reMail20.FindStringSubmatch(n); g != nil {
					nuris = append(nuris, "mailto:"+g[1])
				}
			}
			if g := reMailAngle.FindStringSubmatch(n); g != nil {
				nuris = append(nuris, "mailto:"+g[1])
			}
			continue
		}
		n = strings.ReplaceAll(n, `\`, "/")
		n = reCanonHTTP.ReplaceAllString(n, "${1}//")
		if reHasPct.MatchString(n) {
			n = urlEncode(n, chars)
		}
		if !reHasScheme.MatchString(n) {
			if strings.HasPrefix(n, "ftp.") {
				n = "ftp://" + n
			} else {
				n = "http://" + n
			}
		}
		n = reHostQuery.ReplaceAllString(n, "$1/$2")
		if strings.Contains(n, "&#") {
			n = reEntDec.ReplaceAllStringFunc(n, func(s string) string {
				v, _ := strconv.Atoi(reEntDec.FindStringSubmatch(s)[1])
				return string(rune(v))
			})
			n = reEntHex.ReplaceAllStringFunc(n, func(s string) string {
				v, _ := strconv.ParseInt(reEntHex.FindStringSubmatch(s)[1], 16, 32)
				return string(rune(v))
			})
			n = reEntDot.ReplaceAllString(n, ".")
		}
		if n != u {
			nuris = append(nuris, n)
		}
		g := reHTTPParts.FindStringSubmatch(n)
		if g == nil {
			continue
		}
		proto, auth, host, rest, port := g[1], g[2], g[3], g[4], g[5]
		restNoPort := ""
		if port == "" {
			if strings.EqualFold(proto, "http://") {
				port = "80"
			} else {
				port = "443"
			}
		} else {
			restNoPort = rest
			if proto == "http://" {
				if strings.HasPrefix(restNoPort, ":80") && (len(restNoPort) == 3 || !isWordByte(restNoPort[3])) {
					restNoPort = restNoPort[3:]
					nuris = append(nuris, proto+host+restNoPort)
				}
			} else if strings.HasPrefix(restNoPort, ":443") && (len(restNoPort) == 4 || !isWordByte(restNoPort[4])) {
				restNoPort = restNoPort[4:]
				nuris = append(nuris, proto+host+restNoPort)
			}
		}
		nhost := idnToASCII(host)
		if chars && nhost == host && has8bit(host) {
			nhost = doubleEncode(host)
		}
		if nhost != asciiLower(host) {
			nuris = append(nuris, proto+nhost+rest)
			if restNoPort != "" && restNoPort != "0" {
				nuris = append(nuris, proto+nhost+restNoPort)
			}
			host = nhost
		}
		stripped := stripLowBytes(host)
		if stripped != host {
			host = stripped
			nuris = append(nuris, proto+host+rest)
		}
		found := false
		for _, re := range redirectorPatterns {
			if mm := re.FindStringSubmatch(proto + host + rest); mm != nil {
				if len(mm) < 2 || !strings.Contains(mm[1], ".") {
					continue
				}
				uris = append(uris, mm[1])
				found = true
				break
			}
		}
		if !found {
			if mm := findIf(containsFold(rest, "http"), reHardRedir, rest); mm != nil && strings.Contains(mm[1], ".") {
				uris = append(uris, mm[1])
			}
		}
		if i := strings.LastIndexByte(host, '@'); i >= 0 && i > 0 {
			host = host[i+1:]
			nuris = append(nuris, proto+host+rest)
		}
		if loc := reTrailNonAln.FindStringIndex(host); loc != nil {
			host = host[:loc[0]]
			nuris = append(nuris, proto+host+rest)
		}
		if q := reDottedQuad.FindStringSubmatch(host); q != nil {
			var b strings.Builder
			b.WriteString(proto)
			for _, oc := range q[1:5] {
				b.WriteString(octetCanon(oc))
			}
			b.WriteString(rest)
			nuris = append(nuris, b.String())
		} else if reHexHost.MatchString(host) {
			h := host[2:]
			if len(h) > 8 {
				h = h[len(h)-8:]
			}
			v, _ := strconv.ParseUint(h, 16, 64)
			nuris = append(nuris, proto+ulongToIP(v)+rest)
		} else if reDigitsHost.MatchString(host) {
			v, err := strconv.ParseUint(host, 10, 64)
			if err != nil {
				v = ^uint64(0) // Perl's %lx of a number past 64 bits
			}
			nuris = append(nuris, proto+ulongToIP(v)+rest)
		} else if proto == "http://" && auth == "" && nhost != "localhost" && port == "80" {
			if w := reWWWOnly.FindStringSubmatch(nhost); w != nil && !isDomainValid(nhost) {
				nuris = append(nuris, proto+"www."+w[1]+".com"+rest)
			}
		}
	}
	set := map[string]bool{}
	var out []string
	for _, u := range append(uris, nuris...) {
		if !set[u] {
			set[u] = true
			out = append(out, u)
		}
	}
	return out
}

// octetCanon canonicalises one "N." chunk of a dotted host.
func octetCanon(oc string) string {
	dot := strings.HasSuffix(oc, ".")
	s := strings.TrimSuffix(oc, ".")
	if strings.HasPrefix(strings.ToLower(s), "0x") {
		v, _ := strconv.ParseUint(s[2:min(len(s), 18)], 16, 64)
		s = strconv.FormatUint(v, 10)
	} else if g := rx(`^0+([1-3][0-7]{0,2}|[4-7][0-7]?)\b`).FindStringSubmatch(s); g != nil {
		v, _ := strconv.ParseUint(g[1], 8, 64)
		s = strconv.FormatUint(v, 10) + s[len(g[0]):]
	}
	s = strings.TrimLeft(s, "0")
	if dot {
		s += "."
	}
	return s
}

// ulongToIP is Util.pm decode_ulong_to_ip: the first four bytes of the
// number's hex digits (a number above 32 bits keeps its high bytes).
func ulongToIP(v uint64) string {
	h := fmt.Sprintf("%08x", v)[:8]
	n, _ := strconv.ParseUint(h, 16, 32)
	return fmt.Sprintf("%d.%d.%d.%d", n>>24&255, n>>16&255, n>>8&255, n&255)
}

// The delimiters of PerMsgStatus.pm _tbirdurire, as tables: textURIs
// asks them at every byte of the body.
func isTbirdStartDelim(c byte) bool      { return delims[c]&tbirdStart != 0 }
func isTbirdEndDelim(c byte) bool        { return delims[c]&tbirdEnd != 0 }
func isTbirdEndDelimEmail(c byte) bool   { return delims[c]&tbirdEndEmail != 0 }
func isSchemelessStartDelim(c byte) bool { return delims[c]&schemelessStart != 0 }

const (
	tbirdStart = 1 << iota
	tbirdEnd
	tbirdEndEmail
	schemelessStart
)

var delims = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		other := isPerlSpaceByte(c) || c == 0x1b || c == 0xa0
		if strings.IndexByte("><\"'`,{[(|", c) >= 0 || other {
			t[i] |= tbirdStart
		}
		if strings.IndexByte("><\"`}]{[|", c) >= 0 || other {
			t[i] |= tbirdEnd | tbirdEndEmail
		}
		if c == ',' || c == '(' || c == '\'' || c >= 0x80 {
			t[i] |= tbirdEndEmail
		}
		if strings.IndexByte("!\"#$&'()*+,/:;<=>?@[\\]^`{|}~", c) >= 0 || other {
			t[i] |= schemelessStart
		}
	}
	return t
}()

// canStartTbird reports whether a _tbirdurire match may start at pos: at a
// word boundary, after a start delimiter or after ESC (.
func canStartTbird(s string, pos int) bool {
	return isWordStart(s, pos) || (pos > 0 && isTbirdStartDelim(s[pos-1])) || (pos >= 3 && s[pos-3] == 0x1b && s[pos-2] == '(')
}

// atStops is, for each position of s, the first position from there on
// that holds '@' or ends an address (len(s) when none): where the scan
// for the local part of an address stops, for every start at once.
func atStops(s string) []int32 {
	out := make([]int32, len(s)+1)
	out[len(s)] = int32(len(s))
	for i := len(s) - 1; i >= 0; i-- {
		out[i] = out[i+1]
		if s[i] == '@' || isTbirdEndDelimEmail(s[i]) {
			out[i] = int32(i)
		}
	}
	return out
}

// textURIs finds the URIs of one rendered line (_process_text_uri_list),
// returning them ready for add_uri_detail_list.
func textURIs(line string, seen map[string]bool) []string {
	var out []string
	var stops []int32 // atStops(line), when the line has an '@'
	if strings.IndexByte(line, '@') >= 0 {
		stops = atStops(line)
	}
	for pos := 0; pos < len(line); {
		if !canStartTbird(line, pos) {
			pos++ // inside a word: no URI starts here
			continue
		}
		raw, kind, end, schost := matchTbird(line, pos, stops)
		if end < 0 {
			pos++
			continue
		}
		pos = end
		raw = trimTbird(raw)
		if seen[raw] {
			continue
		}
		seen[raw] = true
		if kind == 'm' && !strings.Contains(raw, "@") {
			continue
		}
		if schost != "" && !isFQDNValid(schost) {
			continue
		}
		if rx(`(?i)^[cm]id:`).MatchString(raw) || rx(`^\w+:/{0,2}$`).MatchString(raw) {
			continue
		}
		u := raw
		if !rx(`(?i)^(?:https?|ftp|mailto):`).MatchString(u) {
			switch {
			case rx(`(?i)^ftp\.`).MatchString(u):
				u = "ftp://" + u
			case rx(`(?i)^www\d{0,2}\.`).MatchString(u):
				u = "http://" + u
			case rx(`/.+@`).MatchString(u):
				u = "http://" + u
			case strings.Contains(u, "@"):
				if !rx(`@.+?\.`).MatchString(u) || strings.Contains(u, "&nbsp;") {
					continue
				}
				u = rx(`(?i)^(?:skype|e?-?mail)?:+`).ReplaceAllString(u, "")
				u = "mailto:" + u
			default:
				if !strings.Contains(u, ".") {
					continue
				}
				u = "http://" + u
			}
		}
		if rx(`(?i)^mailto:`).MatchString(u) {
			if rx(`(?i)%[0-9a-f]{2}`).MatchString(u) {
				u = urlEncode(u, false)
			}
			g := rx(`@([^?&>]*)`).FindStringSubmatch(u)
			if g == nil {
				continue
			}
			h := g[1]
			for strings.HasSuffix(h, "%20") {
				h = strings.TrimSuffix(h, "%20")
			}
			if !isDomainValid(idnToASCII(h)) {
				continue
			}
		}
		out = append(out, u)
	}
	return out
}

// trimTbird drops what Thunderbird does not take at the end of a URI.
func trimTbird(raw string) string {
	// s/(^[^(]*)\).*$/$1/
	pre := raw
	if i := strings.IndexByte(raw, '('); i >= 0 {
		pre = raw[:i]
	}
	if i := strings.LastIndexByte(pre, ')'); i >= 0 {
		raw = raw[:i]
	}
	// s/[-~!@#^&*()_+=:;\'?,.]*$//
	return strings.TrimRight(raw, "-~!@#^&*()_+=:;'?,.")
}

func isWordStart(s string, i int) bool {
	// \b at i
	a := i > 0 && isWordByte(s[i-1])
	b := i < len(s) && isWordByte(s[i])
	return a != b
}

// matchTbird tries the _tbirdurire alternatives at pos: the match, its
// kind ('s'cheme, 'm'ail, 'h' schemeless), the end, the schemeless host.
// stops is atStops(s), nil when s has no '@'.
func matchTbird(s string, pos int, stops []int32) (string, byte, int, string) {
	if !canStartTbird(s, pos) {
		return "", 0, -1, ""
	}
	// known scheme
	pl := 0
	switch {
	case hasPrefixFold(s[pos:], "http://"):
		pl = 7
	case hasPrefixFold(s[pos:], "https://"):
		pl = 8
	case hasPrefixFold(s[pos:], "ftp://"):
		pl = 6
	case hasPrefixFold(s[pos:], "ftp."):
		pl = 4
	case hasPrefixFold(s[pos:], "www"):
		j := pos + 3
		k := j
		for k < len(s) && k-j < 2 && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k < len(s) && s[k] == '.' {
			pl = k + 1 - pos
		}
	}
	if pl > 0 {
		e := pos + pl
		for e < len(s) && !isTbirdEndDelim(s[e]) && e-(pos+pl) < 2048 {
			e++
		}
		if e > pos+pl && (e == len(s) || isTbirdEndDelim(s[e])) {
			return s[pos:e], 's', e, ""
		}
	}
	// mail
	if hasPrefixFold(s[pos:], "mailto:") {
		e := pos + 7
		for e < len(s) && !isTbirdEndDelimEmail(s[e]) && e-(pos+7) < 2048 {
			e++
		}
		if e > pos+7 && (e == len(s) || isTbirdEndDelimEmail(s[e])) {
			return s[pos:e], 'm', e, ""
		}
	}
	if stops != nil {
		// the first '@' or end delimiter, at most 251 bytes on
		e := min(int(stops[pos]), pos+251)
		if e > pos && e < len(s) && s[e] == '@' {
			f := e + 1
			for f < len(s) && !isTbirdEndDelimEmail(s[f]) && f-(e+1) < 251 {
				f++
			}
			if f > e+1 && (f == len(s) || isTbirdEndDelimEmail(s[f])) {
				return s[pos:f], 'm', f, ""
			}
		}
	}
	// schemeless
	if pos == 0 || isSchemelessStartDelim(s[pos-1]) {
		if h, e := matchSchemeless(s, pos); e >= 0 {
			return s[pos:e], 'h', e, h
		}
	}
	return "", 0, -1, ""
}

// matchSchemeless is ([a-z\d][a-z\d._-]{0,251}\.TLD)\.?(?::\d{1,5})?(?:/[^enddelim]{1,2048})?
// followed by an end delimiter or the end.
func matchSchemeless(s string, pos int) (string, int) {
	if pos >= len(s) || !isAlnumLower(s[pos]) {
		return "", -1
	}
	j := pos + 1
	for j < len(s) && j-pos <= 252 && (isAlnumLower(s[j]) || s[j] == '.' || s[j] == '_' || s[j] == '-') {
		j++
	}
	// try the longest host first, as the greedy regexp does; a TLD ends
	// where no letter, digit or '-' follows
	dot := strings.LastIndexByte(s[pos:j], '.')
	if dot >= 0 {
		dot += pos
	}
	for hostEnd := j; hostEnd > pos+2; hostEnd-- {
		if hostEnd < j && s[hostEnd] != '.' && s[hostEnd] != '_' {
			continue
		}
		for dot >= hostEnd {
			// the last '.' before hostEnd
			dot = strings.LastIndexByte(s[pos:dot], '.')
			if dot >= 0 {
				dot += pos
			}
		}
		if dot <= pos {
			break
		}
		tld := strings.ToLower(s[dot+1 : hostEnd])
		if !validTLDs[tld] {
			continue
		}
		// the TLD must end here: not followed by [a-zA-Z0-9-] or .[a-zA-Z0-9]
		if hostEnd < len(s) && (isAlnumLower(s[hostEnd]) || s[hostEnd] == '-') {
			continue
		}
		if hostEnd+1 < len(s) && s[hostEnd] == '.' && isAlnumLower(s[hostEnd+1]) {
			continue
		}
		e := hostEnd
		if e < len(s) && s[e] == '.' {
			e++
		}
		if e < len(s) && s[e] == ':' {
			k := e + 1
			for k < len(s) && k-(e+1) < 5 && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			if k > e+1 {
				e = k
			}
		}
		if e < len(s) && s[e] == '/' {
			k := e + 1
			for k < len(s) && !isTbirdEndDelim(s[k]) && k-(e+1) < 2048 {
				k++
			}
			if k > e+1 {
				e = k
			}
		}
		if e == len(s) || isTbirdEndDelim(s[e]) {
			return s[pos:hostEnd], e
		}
		// backtracking into the optional parts cannot reach a delimiter
		// either; a shorter host is tried next
	}
	return "", -1
}

func isAlnumLower(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix with a
// lower-case prefix.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if toLowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// doubleEncode reads UTF-8 octets as Latin-1 characters, in UTF-8.
func doubleEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] < 0x80 {
			b.WriteByte(s[i])
		} else {
			b.WriteRune(rune(s[i]))
		}
	}
	return b.String()
}

// stripLowBytes is tr/\x00-\x20//d.
func stripLowBytes(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 {
			b := make([]byte, 0, len(s))
			for j := 0; j < len(s); j++ {
				if s[j] > 0x20 {
					b = append(b, s[j])
				}
			}
			return string(b)
		}
	}
	return s
}
