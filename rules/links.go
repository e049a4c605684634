package rules

// Checks on the links of a message: what a link shows against where it
// goes, where it goes (raw addresses, shorteners, free hosting, abused
// top-level domains, random host names), images from free image hosts,
// and bodies that are little more than a link. Phishing relayed through
// abused Microsoft 365 and Google tenants passes every envelope and
// Received check; its links give it away. The links are taken once per
// message (phish) by hand scanners checked against their regexps by
// differential fuzz targets.
//
//   - HTML_LINK_TEXT_MISMATCH, URI_IP_HOST, URI_USERINFO, URI_SHORTENER,
//     URI_FREE_HOSTING, URI_ABUSED_TLD, URI_RANDOM_HOST
//   - IMG_HOSTING, HTML_IMAGE_ONLY, BODY_SHORT_LINK

import (
	"html"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

func init() {
	register(
		// where a link goes
		Rule{Name: "HTML_LINK_TEXT_MISMATCH", Score: 2.0, Kind: KindMIME, Desc: "HTML link text shows one domain, the link goes to another",
			Test: htmlLinkTextMismatch},
		Rule{Name: "URI_IP_HOST", Score: 1.5, Kind: KindMIME, Desc: "Link to a raw IP address",
			Test: uriIPHost},
		Rule{Name: "URI_USERINFO", Score: 2.0, Kind: KindMIME, Desc: "Link with user@ before the host (http://bank.example@evil.example/)",
			Test: uriUserinfo},
		Rule{Name: "URI_SHORTENER", Score: 1.0, Kind: KindMIME, Desc: "Link through a URL shortener",
			Test: func(m *Message) bool { return anyLinkHost(m, shortenerHost) }},
		Rule{Name: "URI_FREE_HOSTING", Score: 1.5, Kind: KindMIME, Desc: "Link to free web or file hosting phishing pages live on (web.app, r2.dev, blob storage, IPFS)",
			Test: func(m *Message) bool { return anyLinkHost(m, freeHostingHost) }},
		Rule{Name: "URI_ABUSED_TLD", Score: 1.0, Kind: KindMIME, Desc: "Link to a domain under a top-level domain mostly used for abuse",
			Test: func(m *Message) bool { return anyLinkHost(m, abusedTLDHost) }},
		Rule{Name: "URI_RANDOM_HOST", Score: 1.0, Kind: KindMIME, Desc: "Link host has a long random-looking label (mixed case or no vowels)",
			Test: func(m *Message) bool { return anyLinkHost(m, randomHost) }},

		// images and links instead of text
		Rule{Name: "IMG_HOSTING", Score: 1.0, Kind: KindMIME, Desc: "Image loaded from a free image host (imgur, postimg, ibb.co)",
			Test: imgHosting},
		Rule{Name: "HTML_IMAGE_ONLY", Score: 1.0, Kind: KindMIME, Desc: "HTML mail is images and links with hardly any text",
			Test: htmlImageOnly},
		Rule{Name: "BODY_SHORT_LINK", Score: 1.0, Kind: KindMIME, Desc: "Body is a few words and a link",
			Test: bodyShortLink},
	)
}

// ---- the links of a message

// maxHTMLScan caps the HTML scanned per part for links.
const maxHTMLScan = 256 << 10

// maxLinks caps the links taken from one message.
const maxLinks = 300

// htmlLink is one <a href> of an HTML part (Text is the visible text
// inside the element) or one bare URL of the text (Text is "").
type htmlLink struct {
	Href string // entity-decoded, trimmed
	Host string // lower-case host, "" when the href has none
	Text string // visible text of the anchor, trimmed
	Tag  string // "a", "img", "form", "text"
}

type phishCache struct {
	links []htmlLink
}

func phish(m *Message) *phishCache {
	m.chk.phishOnce.Do(func() { m.chk.phish = computePhish(m) })
	return &m.chk.phish
}

var (
	hrefAttrRE = regexp.MustCompile(`(?is)\b(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
	bareURLRE  = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"')\]]+`)
)

func computePhish(m *Message) phishCache {
	var c phishCache
	for _, p := range m.Parts() {
		if p.Text == "" {
			continue
		}
		s := p.Text
		if len(s) > maxHTMLScan {
			s = s[:maxHTMLScan]
		}
		if p.ContentType == "text/html" && p.Filename == "" {
			scanHTMLLinks(s, &c)
			continue
		}
		if p.ContentType == "text/plain" && p.Filename == "" {
			for _, u := range bareURLs(s, 100) {
				if len(c.links) >= maxLinks {
					break
				}
				c.links = append(c.links, htmlLink{Href: u, Host: urlHost(u), Tag: "text"})
			}
		}
	}
	return c
}

// scanHTMLLinks walks the tags of an HTML text once: anchors (with the
// text up to </a>) and images.
func scanHTMLLinks(s string, c *phishCache) {
	for i := 0; i < len(s) && len(c.links) < maxLinks; {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			return
		}
		i += j + 1
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return
		}
		tag := s[i : i+end]
		i += end + 1
		name := tag
		if k := strings.IndexAny(name, " \t\r\n/"); k >= 0 {
			name = name[:k]
		}
		switch strings.ToLower(name) {
		case "a":
			l := htmlLink{Tag: "a", Href: attrURL(tag)}
			if l.Href == "" {
				continue
			}
			l.Host = urlHost(l.Href)
			close := indexFold(s[i:min(len(s), i+4096)], "</a")
			if close >= 0 {
				l.Text = strings.TrimSpace(htmlToText(s[i : i+close]))
			}
			c.links = append(c.links, l)
		case "img":
			if u := attrURL(tag); u != "" {
				c.links = append(c.links, htmlLink{Tag: "img", Href: u, Host: urlHost(u)})
			}
		}
	}
}

// attrURL returns the first href/src/action value of a tag, entity-decoded.
func attrURL(tag string) string {
	v, ok := attrValue(tag)
	if !ok {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(v))
}

// attrValue is hrefAttrRE.FindStringSubmatch(tag) (the value groups
// joined) without the regexp, which cost a tenth of the time of judging
// link-heavy HTML. (?i) also folds U+017F (long s) to s: tags holding it go
// to the regexp.
func attrValue(tag string) (string, bool) {
	if strings.Contains(tag, "\u017f") {
		sm := hrefAttrRE.FindStringSubmatch(tag)
		if sm == nil {
			return "", false
		}
		return sm[1] + sm[2] + sm[3], true
	}
	for i := 0; i < len(tag); i++ {
		if i > 0 && isASCIIWord(tag[i-1]) {
			continue // \b: the name must start a word
		}
		j := -1
		for _, name := range [...]string{"href", "src", "action"} {
			if len(tag)-i >= len(name) && strings.EqualFold(tag[i:i+len(name)], name) {
				j = i + len(name)
				break
			}
		}
		if j < 0 {
			continue
		}
		for j < len(tag) && isRESpace(tag[j]) {
			j++
		}
		if j >= len(tag) || tag[j] != '=' {
			continue
		}
		j++
		for j < len(tag) && isRESpace(tag[j]) {
			j++
		}
		if j >= len(tag) {
			continue
		}
		if q := tag[j]; q == '"' || q == '\'' {
			if k := strings.IndexByte(tag[j+1:], q); k >= 0 {
				return tag[j+1 : j+1+k], true
			}
		}
		k := j
		for k < len(tag) && !isRESpace(tag[k]) && tag[k] != '>' {
			k++
		}
		if k > j {
			return tag[j:k], true
		}
	}
	return "", false
}

// bareURLs is bareURLRE.FindAllString(s, n) without the regexp.
func bareURLs(s string, n int) []string {
	if strings.Contains(s, "\u017f") { // (?i): long s is s
		return bareURLRE.FindAllString(s, n)
	}
	var out []string
	for i := 0; i+8 <= len(s) && len(out) < n; {
		for i+8 <= len(s) && !(s[i]|0x20 == 'h' && s[i+1]|0x20 == 't' && s[i+2]|0x20 == 't' && s[i+3]|0x20 == 'p') {
			i++
		}
		if i+8 > len(s) {
			break
		}
		if i > 0 && isASCIIWord(s[i-1]) {
			i++
			continue
		}
		j := i + 4
		if j < len(s) && (s[j] == 's' || s[j] == 'S') {
			j++
		}
		if !strings.HasPrefix(s[j:], "://") {
			i++
			continue
		}
		j += 3
		e := j
		for e < len(s) && !isRESpace(s[e]) && !strings.ContainsRune(`<>"')]`, rune(s[e])) {
			e++
		}
		if e == j {
			i++
			continue
		}
		out = append(out, s[i:e])
		i = e
	}
	return out
}

// urlHost returns the lower-case host of an absolute (or scheme-relative)
// http(s) URL, without user info and port; "" for other URLs.
func urlHost(u string) string {
	lu := strings.ToLower(strings.TrimSpace(u))
	switch {
	case strings.HasPrefix(lu, "http://"):
		lu = lu[7:]
	case strings.HasPrefix(lu, "https://"):
		lu = lu[8:]
	case strings.HasPrefix(lu, "//"):
		lu = lu[2:]
	default:
		return ""
	}
	if k := strings.IndexAny(lu, "/?#\\ "); k >= 0 {
		lu = lu[:k]
	}
	if k := strings.LastIndexByte(lu, '@'); k >= 0 {
		lu = lu[k+1:]
	}
	if strings.HasPrefix(lu, "[") { // IPv6 literal
		if k := strings.IndexByte(lu, ']'); k > 0 {
			return lu[1:k]
		}
		return ""
	}
	if k := strings.LastIndexByte(lu, ':'); k >= 0 {
		lu = lu[:k]
	}
	return strings.Trim(lu, ".")
}

// userinfo reports a URL with "user@" (or "user:pass@") before the host.
func hasUserinfo(u string) bool {
	lu := strings.ToLower(strings.TrimSpace(u))
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(lu, p) {
			lu = lu[len(p):]
			if k := strings.IndexAny(lu, "/?#"); k >= 0 {
				lu = lu[:k]
			}
			return strings.Contains(lu, "@")
		}
	}
	return false
}

func anyLinkHost(m *Message, f func(host string) bool) bool {
	seen := map[string]bool{}
	for _, l := range phish(m).links {
		if l.Host == "" || l.Tag == "img" || seen[l.Host] {
			continue
		}
		seen[l.Host] = true
		if f(l.Host) {
			return true
		}
	}
	return false
}

// ---- URL hosts of the text parts (Message.URLHosts, the DNSBL domain lookups)

// urlRE is what scanURLs finds, kept as the reference of its tests.
var urlRE = regexp.MustCompile(`(?i)\b(?:https?|ftp)://([a-z0-9\p{L}\-._~%]+(?::[0-9]+)?)`)

// scanURLs calls fn with every match of urlRE in s, in order, as
// urlRE.FindAllStringSubmatchIndex would give it: the match is s[start:end],
// the host (and port) s[host:end]. It is a hand-written scan for "://"
// (the regexp, with (?i) and \p{L}, costs a third of a millisecond on an
// average message). fn returns false to stop.
func scanURLs(s string, fn func(start, host, end int) bool) {
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			return
		}
		j += i
		i = j + 3
		start := urlSchemeStart(s, j)
		if start < last || (start > 0 && isASCIIWord(s[start-1])) {
			continue
		}
		end := j + 3
		for end < len(s) {
			c := s[end]
			if c < utf8.RuneSelf {
				if isASCIIWord(c) || c == '-' || c == '.' || c == '~' || c == '%' {
					end++
					continue
				}
				break
			}
			r, n := utf8.DecodeRuneInString(s[end:])
			if (r == utf8.RuneError && n == 1) || !unicode.IsLetter(r) {
				break
			}
			end += n
		}
		if end == j+3 {
			continue
		}
		if end+1 < len(s) && s[end] == ':' && '0' <= s[end+1] && s[end+1] <= '9' {
			end += 2
			for end < len(s) && '0' <= s[end] && s[end] <= '9' {
				end++
			}
		}
		if !fn(start, j+3, end) {
			return
		}
		last, i = end, end
	}
}

// urlSchemeStart returns where "https", "http" or "ftp" (any case; long s
// for s, as (?i) has it) ends at j, or -1.
func urlSchemeStart(s string, j int) int {
	switch {
	case j >= 5 && asciiEqualFold(s[j-5:j], "https"):
		return j - 5
	case j >= 6 && s[j-2:j] == "\u017f" && asciiEqualFold(s[j-6:j-2], "http"):
		return j - 6
	case j >= 4 && asciiEqualFold(s[j-4:j], "http"):
		return j - 4
	case j >= 3 && asciiEqualFold(s[j-3:j], "ftp"):
		return j - 3
	}
	return -1
}

// maxURLHosts bounds the distinct URL hosts taken from one message.
const maxURLHosts = 50

// URLHosts returns the distinct lower-cased host names (not IP literals) of
// URLs in the text parts, in order of appearance, at most maxURLHosts.
func (m *Message) URLHosts() []string {
	m.once.urls.Do(func() {
		var seen map[string]bool
		for _, p := range m.Parts() {
			if p.Text == "" {
				continue
			}
			scanURLs(p.Text, func(_, host, end int) bool {
				h := strings.ToLower(p.Text[host:end])
				if i := strings.LastIndexByte(h, ':'); i >= 0 {
					h = h[:i]
				}
				h = strings.Trim(h, ".")
				if h == "" || !strings.Contains(h, ".") || seen[h] {
					return true
				}
				if _, err := netip.ParseAddr(h); err == nil {
					return true
				}
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[h] = true
				m.urls = append(m.urls, h)
				return len(m.urls) < maxURLHosts
			})
			if len(m.urls) >= maxURLHosts {
				return
			}
		}
	})
	return m.urls
}

// ---- where a link goes

// textHostRE: link text that is a URL or a bare domain name.
var textHostRE = regexp.MustCompile(`(?i)^(?:https?://)?(?:www\.)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?:[:/?#]\S*)?$`)

// htmlLinkTextMismatch: an anchor whose text is a URL or domain in one
// organisation and whose href goes to another ("<a
// href=http://evil.example/>www.paypal.com</a>"). Tracking redirects of
// real newsletters show the same mismatch; the fitted score says how much
// that costs.
func htmlLinkTextMismatch(m *Message) bool {
	for _, l := range phish(m).links {
		if l.Tag != "a" || l.Host == "" || l.Text == "" || len(l.Text) > 200 {
			continue
		}
		sm := textHostRE.FindStringSubmatch(l.Text)
		if sm == nil {
			continue
		}
		th := strings.ToLower(sm[1])
		if !knownTLD(th) {
			continue // "file.txt", "readme.md"
		}
		if orgDomain(th) == orgDomain(l.Host) {
			continue
		}
		// safe-link rewriters (Proofpoint, Mimecast, Safe Links) and
		// redirectors carry the shown host in the href
		if strings.Contains(strings.ToLower(l.Href), orgDomain(th)) {
			continue
		}
		return true
	}
	return false
}

// knownTLD: the name ends in a public suffix ICANN manages (so "setup.py"
// is not taken for a host).
func knownTLD(host string) bool {
	i := strings.LastIndexByte(host, '.')
	if i < 0 {
		return false
	}
	switch host[i+1:] {
	case "py", "sh", "md", "pl", "rs", "go", "c", "h", "js", "so", "ts":
		// file extensions that are also country codes: only count a
		// full URL, not a bare name ("setup.py")
		return false
	}
	return orgDomain(host) != host[i+1:]
}

func uriIPHost(m *Message) bool {
	for _, l := range phish(m).links {
		if l.Host == "" || l.Tag == "img" {
			continue
		}
		if a, err := netip.ParseAddr(l.Host); err == nil && !a.IsLoopback() && !a.IsPrivate() {
			return true
		}
	}
	return false
}

func uriUserinfo(m *Message) bool {
	for _, l := range phish(m).links {
		if l.Tag == "a" && hasUserinfo(l.Href) {
			return true
		}
	}
	return false
}

var shorteners = setOf(`bit.ly bitly.com tinyurl.com t.co goo.gl ow.ly is.gd buff.ly rebrand.ly cutt.ly shorturl.at
	rb.gy t.ly s.id tiny.cc bit.do v.gd qrco.de shorturl.gg urlz.fr x.gd tny.sh shorte.st adf.ly lnkd.in
	2u.pm u.to clck.ru surl.li linktr.ee tinu.be short.gy s.net.vn zpr.io 1url.com hyperurl.co
	soo.gd bl.ink trib.al y2u.be l.ead.me qr.io`)

func shortenerHost(h string) bool { return hostIn(h, shorteners) }

// randomHost: a label of 20 or more letters and digits with hardly any
// vowels, or one of 12 or more that mixes digits into letters at random
// ("xkqzrtplmnbvcxzqwrtpsdfgh.example.space").
func randomHost(h string) bool {
	for _, l := range strings.Split(h, ".") {
		if len(l) < 12 || strings.HasPrefix(l, "xn--") {
			continue
		}
		digits, letters, vowels := 0, 0, 0
		for _, c := range l {
			switch {
			case c >= '0' && c <= '9':
				digits++
			case c >= 'a' && c <= 'z':
				letters++
				if strings.ContainsRune("aeiouy", c) {
					vowels++
				}
			}
		}
		if len(l) >= 20 && letters >= 12 && vowels*6 < letters {
			return true
		}
		if letters >= 8 && digits >= 4 && vowels*4 < letters && !strings.Contains(l, "-") {
			return true
		}
	}
	return false
}

// ---- images and links instead of text

var imgHosts = setOf(`imgur.com zupimages.net postimg.cc postimages.org ibb.co imgbb.com i.imgbox.com imgbox.com
	imageshack.com tinypic.com photobucket.com gyazo.com prnt.sc prntscr.com lensdump.com imgur.io
	freeimage.host iili.io pixhost.to imagevenue.com servimg.com casimages.com hostingpics.net
	imgsafe.org pasteboard.co snipboard.io`)

func imgHosting(m *Message) bool {
	for _, l := range phish(m).links {
		if l.Tag == "img" && l.Host != "" && hostIn(l.Host, imgHosts) {
			return true
		}
	}
	return false
}

// htmlImageOnly: an HTML-only message with an image and a link and under
// 20 words of readable text: the message is a picture.
func htmlImageOnly(m *Message) bool {
	plain, htm := textParts(m)
	if len(htm) == 0 {
		return false
	}
	for _, p := range plain {
		if countWords(p.Text, 20) >= 20 {
			return false
		}
	}
	imgs, links := 0, 0
	for _, l := range phish(m).links {
		switch l.Tag {
		case "img":
			imgs++
		case "a":
			links++
		}
	}
	if imgs == 0 || links == 0 {
		return false
	}
	words := 0
	for _, t := range htmlTexts(m) {
		words += countWords(t, 20)
	}
	return words < 20
}

// bodyShortLink: the readable text is under a dozen words besides a link.
func bodyShortLink(m *Message) bool {
	if len(m.URLHosts()) == 0 {
		return false
	}
	t := visibleText(m)
	if len(t) > 4096 {
		return false
	}
	return countWords(dropURLTails(dropURLs(t)), 20) < 12
}

// dropURLs replaces every match of urlRE by a space
// (urlRE.ReplaceAllString(t, " ")).
func dropURLs(t string) string {
	var b []byte
	last := 0
	scanURLs(t, func(start, _, end int) bool {
		b = append(append(b, t[last:start]...), ' ')
		last = end
		return true
	})
	if b == nil {
		return t
	}
	return string(append(b, t[last:]...))
}

// dropURLTails replaces every run of non-space characters holding one of
// / ? = & by a space: urlTailRE (\S*[/?=&]\S*).ReplaceAllString(t, " ").
func dropURLTails(t string) string {
	if !strings.ContainsAny(t, "/?=&") {
		return t
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); {
		if isRESpace(t[i]) {
			b = append(b, t[i])
			i++
			continue
		}
		j := i
		for j < len(t) && !isRESpace(t[j]) {
			j++
		}
		if strings.ContainsAny(t[i:j], "/?=&") {
			b = append(b, ' ')
		} else {
			b = append(b, t[i:j]...)
		}
		i = j
	}
	return string(b)
}

var urlTailRE = regexp.MustCompile(`\S*[/?=&]\S*`) // what dropURLTails does, for its tests
