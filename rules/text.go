package rules

// Helpers the check families share: addresses and domains, host names (the
// HELO name, names that look dynamic), ASCII and case-insensitive scanning,
// words, white space and invisible characters, HTML to text. (Phrase
// matching is in fold.go, the provider and domain lists in providers.go.) Hand-written scanners here stand for regexps that cost
// too much on every message; each is checked against its regexp by a
// differential test or fuzz target.

import (
	"fmt"
	"html"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// ---- addresses and domains

// addrOf extracts the first mailbox address of an address-list header value;
// it falls back to the text between < and > for values net/mail rejects.
func addrOf(v string) string {
	if v == "" {
		return ""
	}
	if a, err := mail.ParseAddress(v); err == nil {
		return a.Address
	}
	if l, err := mail.ParseAddressList(v); err == nil && len(l) > 0 {
		return l[0].Address
	}
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if strings.Count(v, "@") == 1 && !strings.ContainsAny(v, " \t") {
		return v
	}
	return ""
}

// domainOf returns the lower-cased domain of an address, or "".
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(addr[i+1:], "<> \t")), ".")
}

func localPart(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i]
	}
	return a
}

// parseAddressList parses an address-list field leniently; ok is false when
// net/mail rejects it.
func parseAddressList(v string) ([]*mail.Address, bool) {
	l, err := (&mail.AddressParser{WordDecoder: &wordDecoder}).ParseList(v)
	return l, err == nil
}

// orgDomain returns the registrable domain (eTLD+1) of a host name or
// address domain, lower-cased; the name itself when it has none.
func orgDomain(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if host == "" {
		return ""
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return d
}

func setOf(s string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Fields(s) {
		out[f] = true
	}
	return out
}

// hostIn reports whether host is one of the domains or under one.
func hostIn(host string, set map[string]bool) bool {
	for h := host; h != ""; {
		if set[h] {
			return true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return false
		}
		h = h[i+1:]
	}
	return false
}

// mustPrefixes parses CIDR prefixes written in the source (inPrefixes,
// config.go, tests an address against them).
func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// ---- host names: the HELO name, dynamic-looking names (HELO and reverse DNS)

// heloName returns the HELO name lower-cased, without a trailing dot; ""
// for an address literal.
func heloName(m *Message) string {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(m.Env.Helo)), ".")
	if _, ok := heloIP(h); ok {
		return ""
	}
	return h
}

// heloIP parses a HELO that is an address, bracketed ("[1.2.3.4]",
// "[IPv6:...]") or bare.
func heloIP(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	h = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "IPv6:")
	h = strings.TrimPrefix(h, "ipv6:")
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// dynWordRE matches the words ISPs put into host names of home and
// dial-up lines (SpamAssassin 20_dynrdns.cf, rspamd hfilter checks_hellohost).
var dynWordRE = regexp.MustCompile(`(?:^|[^a-z])(?:[avxs]?dsl|adsl\d*|dial(?:up|in)?|dhcp|ppp(?:oe)?|pool|dyn(?:amic|ip)?|cable|cpe|broadband|bband|customer|cust|resnet|residential|ftth|fttx|fttc|catv|modem|dslam|nat|wifi|wlan|mobile|cellular|dip|hsd\d*|user|home|client)(?:$|[^a-z])`)

// looksDynamic reports host names that embed the client's address or
// carry dynamic-pool words next to long digit runs.
func looksDynamic(name string, ip netip.Addr) bool {
	name = strings.ToLower(name)
	if embedsIP(name, ip) {
		return true
	}
	first := name
	if i := strings.IndexByte(name, '.'); i > 0 {
		first = name[:i]
	}
	digits := 0
	for _, c := range name {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if digits >= 4 && dynWordRE.MatchString(name) {
		return true
	}
	// ISP style first labels made of letters and many digit groups:
	// "d54c2f9a1.static", "c-67-180-1-2", "ip68-1-2-3", "host-1-2-3-4".
	return genericLabelRE.MatchString(first)
}

var genericLabelRE = regexp.MustCompile(`^(?:[a-z]{1,4}[-_.]?)?\d{1,3}[-_x]\d{1,3}[-_x]\d{1,3}[-_x]\d{1,3}(?:[-_.][a-z0-9]*)?$|^(?:[a-z]{0,4}[-_]?)[0-9a-f]{8}$`)

// embedsIP reports whether the name carries at least three of the IPv4
// client address's octets as separate numbers, or the address in hex.
func embedsIP(name string, ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.Is4() {
		return false
	}
	o := ip.As4()
	hex := fmt.Sprintf("%02x%02x%02x%02x", o[0], o[1], o[2], o[3])
	if strings.Contains(name, hex) {
		return true
	}
	var nums []string
	cur := ""
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] >= '0' && name[i] <= '9' {
			cur += name[i : i+1]
			continue
		}
		if cur != "" {
			nums = append(nums, strings.TrimLeft(cur, "0"))
			cur = ""
		}
	}
	if len(nums) < 3 {
		// also "1921681010"-style: the decimal octets run together
		full := fmt.Sprintf("%d%d%d%d", o[0], o[1], o[2], o[3])
		pad := fmt.Sprintf("%03d%03d%03d%03d", o[0], o[1], o[2], o[3])
		return len(full) >= 8 && (strings.Contains(name, full) || strings.Contains(name, pad))
	}
	found := 0
	used := make([]bool, len(nums))
	for _, b := range o {
		s := strings.TrimLeft(fmt.Sprint(b), "0")
		for j, n := range nums {
			if !used[j] && n == s {
				used[j] = true
				found++
				break
			}
		}
	}
	return found >= 3
}

// ---- ASCII scanning

// isASCIIWord: the characters \b takes for word characters.
func isASCIIWord(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// asciiEqualFold: s equals the lower-case ASCII word w but for ASCII case.
func asciiEqualFold(s, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// isRESpace: the bytes of the regexp class \s.
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func skipRESpace(s string, i int) int {
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], needle) {
			return i
		}
	}
	return -1
}

// containsFoldAny: s holds one of the lower-case ASCII words, ignoring
// ASCII case.
func containsFoldAny(s string, words ...string) bool {
	for _, w := range words {
		for range foldIndexes(s, w, 0) {
			return true
		}
	}
	return false
}

// foldIndexes yields, in order, every index of the lower-case ASCII word w
// in s, ignoring ASCII case; k is the byte of w to look for first (the
// rarest).
func foldIndexes(s, w string, k int) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		lo, up := w[k], w[k]
		if 'a' <= lo && lo <= 'z' {
			up = lo - 'a' + 'A'
		}
		nextLo, nextUp := -2, -2 // -2: not searched yet, -1: none left
		for i := k; i < len(s); {
			if nextLo != -1 && nextLo < i {
				if nextLo = strings.IndexByte(s[i:], lo); nextLo >= 0 {
					nextLo += i
				}
			}
			if nextUp != -1 && nextUp < i {
				if nextUp = strings.IndexByte(s[i:], up); nextUp >= 0 {
					nextUp += i
				}
			}
			j := nextLo
			if j < 0 || (nextUp >= 0 && nextUp < j) {
				j = nextUp
			}
			if j < 0 {
				return
			}
			if start := j - k; start >= 0 && start+len(w) <= len(s) && asciiEqualFold(s[start:start+len(w)], w) {
				if !yield(start) {
					return
				}
			}
			i = j + 1
		}
	}
}

// ---- words and letters

var wordRE = regexp.MustCompile(`[\p{L}\p{N}]{3,}`)

// forWords calls fn with every match of wordRE ([\p{L}\p{N}]{3,}: a
// run of three or more letters or digits) in s, at most max; fn returns
// false to stop.
func forWords(s string, max int, fn func(w string) bool) {
	n := 0
	for i := 0; i < len(s) && n < max; {
		start, runes := i, 0
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				if '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
					i++
					runes++
					continue
				}
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || !(unicode.IsLetter(r) || unicode.IsNumber(r)) {
				break
			}
			i += size
			runes++
		}
		if runes >= 3 {
			n++
			if !fn(s[start:i]) {
				return
			}
		}
		if runes == 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
	}
}

// countWords is len(wordRE.FindAllString(s, max)).
func countWords(s string, max int) int {
	n := 0
	forWords(s, max, func(string) bool { n++; return true })
	return n
}

func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	forWords(strings.ToLower(s), 5000, func(w string) bool {
		out[w] = true
		return true
	})
	return out
}

func onlyLetters(s string) bool {
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// lowVowelRatio reports letter strings with fewer than 1 vowel in 5
// letters: "cganltwpqgsxnpz" (real words have about 2 in 5).
func lowVowelRatio(s string) bool {
	letters, vowels := 0, 0
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' {
			letters++
			if strings.ContainsRune("aeiouy", c) {
				vowels++
			}
		}
	}
	return letters >= 6 && vowels*5 < letters
}

func noVowel(s string) bool {
	return !strings.ContainsAny(strings.ToLower(s), "aeiouy")
}

// mixedCaseJunk: upper-case letters inside a word at random: "xKfPqLmz".
func mixedCaseJunk(s string) bool {
	changes := 0
	for i := 1; i < len(s); i++ {
		if unicode.IsUpper(rune(s[i])) != unicode.IsUpper(rune(s[i-1])) {
			changes++
		}
	}
	return changes >= 3 || (changes == 0 && strings.ToUpper(s) == s && noVowel(s))
}

// ---- white space and invisible characters

// joinFields is strings.Join(strings.Fields(s), " ") in one pass and one
// allocation.
func joinFields(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // at the start, or after a space: drop further spaces
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace(c) {
				space = true
				i++
				continue
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = true
			i += n
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// asciiSpace is unicode.IsSpace for an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// hasInvisible reports whether s holds one of the invisible characters of
// stripInvisible, by their UTF-8 bytes: U+00AD C2 AD, U+034F CD 8F,
// U+200B-U+200D E2 80 8B-8D, U+2060 E2 81 A0, U+FEFF EF BB BF. It is
// strings.ContainsAny(s, those) at a fraction of the cost (typographic
// quotes also start with E2).
func hasInvisible(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		switch s[i] {
		case 0xc2:
			if s[i+1] == 0xad {
				return true
			}
		case 0xcd:
			if s[i+1] == 0x8f {
				return true
			}
		case 0xe2:
			if i+2 < len(s) && ((s[i+1] == 0x80 && s[i+2] >= 0x8b && s[i+2] <= 0x8d) || (s[i+1] == 0x81 && s[i+2] == 0xa0)) {
				return true
			}
		case 0xef:
			if i+2 < len(s) && s[i+1] == 0xbb && s[i+2] == 0xbf {
				return true
			}
		}
	}
	return false
}

func stripInvisible(s string) string {
	if !hasInvisible(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 0x200b, 0x200c, 0x200d, 0x2060, 0xad, 0x34f, 0xfeff:
			return -1
		}
		return r
	}, s)
}

// ---- HTML

// htmlToText strips tags, comments, scripts, styles and the head, and
// decodes entities. It is a linear scan, not a parser: good enough to
// read what a message shows.
func htmlToText(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			j := strings.Index(s[i+4:], "-->")
			if j < 0 {
				break
			}
			i += 4 + j + 3
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		tag := strings.ToLower(s[i+1 : i+end])
		i += end + 1
		b.WriteByte(' ')
		for _, skip := range [...]string{"script", "style", "head", "title"} {
			if strings.HasPrefix(tag, skip) && (len(tag) == len(skip) || tag[len(skip)] == ' ' || tag[len(skip)] == '\t' || tag[len(skip)] == '\n') {
				if j := indexFold(s[i:], "</"+skip); j >= 0 {
					i += j
				} else {
					i = len(s)
				}
				break
			}
		}
	}
	return html.UnescapeString(b.String())
}
