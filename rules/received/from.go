package received

import (
	"net/netip"
	"strings"
)

// fromPart collects what the from clause says while the value is scanned;
// resolve turns it into Helo, RDNS and IP once the whole value (and so the
// dialect hints of the by and with clauses) has been seen.
type fromPart struct {
	val  string // the word after "from"
	done bool   // another clause started: stop collecting

	helo    string // from "helo=x" (Exim), "(HELO x)" (qmail), "EHLO x" (ZMailer, Yahoo)
	heloSet bool

	bIP    netip.Addr // first bracketed IP in a comment (Postfix, sendmail, Exim, ...)
	bName  string     // the word before it in that comment (rDNS, maybe user@)
	bHas   bool       // bName was present
	forged bool       // sendmail "(may be forged)"

	cIP netip.Addr // first bare IP in a comment (Microsoft, qmail)
	xIP netip.Addr // first bracketed IP among the clause's other words (MDaemon, Proxy+)
}

func (f *fromPart) addComment(c string) {
	w := words{c: c}
	var (
		prev, prev2 string
		first       = true
		heloOnly    bool // "(HELO x)": a qmail/Yahoo HELO comment, never the client IP
		expectHelo  bool
		brIP        netip.Addr
		brName      string
		brHas       bool
		bare        netip.Addr
	)
	for {
		word, nested, ok := w.next()
		if !ok {
			break
		}
		if nested {
			if strings.Contains(word, "may be forged") {
				f.forged = true
			}
			prev = ""
			first = false
			continue
		}
		if expectHelo {
			expectHelo = false
			if !f.heloSet {
				f.helo, f.heloSet = strings.Trim(word, `"`), true
			}
			prev = word
			continue
		}
		if first {
			first = false
			if strings.EqualFold(word, "HELO") || strings.EqualFold(word, "EHLO") {
				heloOnly, expectHelo = true, true
				continue
			}
			if word == "may" && strings.TrimSpace(c) == "may be forged" {
				f.forged = true
				return
			}
		}
		if len(word) == 5 && word[0] == '"' && (strings.EqualFold(word[1:], "HELO") || strings.EqualFold(word[1:], "EHLO")) {
			expectHelo = true // ZMailer: ([ip]:port "EHLO name" rhost-flags-...)
			continue
		}
		if len(word) > 5 && strings.EqualFold(word[:5], "helo=") {
			if !f.heloSet {
				f.helo, f.heloSet = word[5:], true
			}
			continue
		}
		if heloOnly {
			continue
		}
		if i := strings.IndexByte(word, '['); i >= 0 {
			if !brIP.IsValid() {
				if ip := bracketIP(word[i:]); ip.IsValid() {
					brIP = ip
					// CommuniGate "(account user@dom [ip] verified)" names
					// the account, not the host.
					if i == 0 && prev != "" && !strings.EqualFold(prev2, "account") {
						brName, brHas = prev, true
					}
				}
			}
		} else if !bare.IsValid() {
			bare = bareIP(word)
		}
		prev2, prev = prev, word
	}
	if brIP.IsValid() && !f.bIP.IsValid() {
		f.bIP, f.bName, f.bHas = brIP, brName, brHas
	}
	if bare.IsValid() && !f.cIP.IsValid() {
		f.cIP = bare
	}
}

func (f *fromPart) addExtra(w string) {
	if f.xIP.IsValid() {
		return
	}
	if i := strings.IndexByte(w, '['); i >= 0 {
		f.xIP = bracketIP(w[i:])
	} else {
		f.xIP = parseIP(w) // "from hotmail.com - 63.209.92.128 by ..."
	}
}

func (f *fromPart) resolve(h *Hop, exim, microsoft bool) {
	v := f.val
	var vIP netip.Addr
	literal := false // v is an address literal, not a name
	if strings.HasPrefix(v, "[") {
		vIP, literal = bracketIP(v), true
	} else if vIP = parseIP(v); vIP.IsValid() {
		literal = true
	}
	switch {
	case f.bIP.IsValid():
		h.IP = f.bIP
	case f.cIP.IsValid():
		h.IP = f.cIP
	case f.xIP.IsValid():
		h.IP = f.xIP
	default:
		h.IP = vIP
	}
	switch {
	case f.heloSet:
		// Exim "from rdns ([ip] helo=x)", qmail "from rdns (HELO x) (ip)",
		// ZMailer "from rdns ([ip]:port "EHLO x" ...)", Yahoo "from ip (EHLO x)".
		h.Helo = f.helo
		if !literal {
			h.RDNS = cleanName(v)
		}
	case f.bIP.IsValid():
		// Postfix, sendmail, Gmail: "from helo (rdns [ip])".
		h.Helo = v
		if f.bHas {
			h.RDNS = cleanName(f.bName)
		} else if exim && !literal {
			// Exim "from rdns ([ip])": the HELO equalled the rDNS name.
			h.RDNS = cleanName(v)
		}
	case f.cIP.IsValid():
		// Microsoft "from helo (ip)" records no rDNS; qmail "from rdns (ip)"
		// omits the HELO when it equals the rDNS name.
		h.Helo = v
		if !microsoft && !literal {
			h.RDNS = cleanName(v)
		}
	default:
		h.Helo = v
	}
	if f.forged {
		h.RDNS = ""
	}
	h.Helo = trimDot(h.Helo)
}

// cleanName turns a recorded host name into an rDNS name: "user@host" and
// "IDENT:user@host" lose the ident part, a trailing dot is dropped, and the
// placeholders for "no name" ("unknown", "unverified", an address) give "".
func cleanName(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	} else if len(s) > 6 && strings.EqualFold(s[:6], "IDENT:") {
		s = s[6:]
	}
	s = trimDot(s)
	switch {
	case s == "", s == ".",
		strings.EqualFold(s, "unknown"), strings.EqualFold(s, "<unknown>"),
		strings.EqualFold(s, "unverified"):
		return ""
	case strings.IndexByte(s, '[') >= 0:
		return ""
	}
	if parseIP(s).IsValid() {
		return ""
	}
	return s
}

// bracketIP parses "[1.2.3.4]", "[1.2.3.4]:25", "[1.2.3.4:25]",
// "[IPv6:2001:db8::1]", "[::1]". w must start with '['.
func bracketIP(w string) netip.Addr {
	if len(w) < 2 || w[0] != '[' {
		return netip.Addr{}
	}
	w = w[1:]
	if j := strings.IndexByte(w, ']'); j >= 0 {
		w = w[:j]
	}
	return parseIP(w)
}

// bareIP parses "1.2.3.4", "user@1.2.3.4", "1.2.3.4:25", "2603:10b6::1".
func bareIP(w string) netip.Addr {
	if i := strings.LastIndexByte(w, '@'); i >= 0 {
		w = w[i+1:]
	}
	if strings.HasPrefix(w, "[") {
		return bracketIP(w)
	}
	return parseIP(w)
}

// parseIP parses an IPv4 or IPv6 address, optionally "IPv6:"-prefixed or
// with an IPv4 ":port". IPv4-mapped IPv6 addresses are unmapped.
func parseIP(s string) netip.Addr {
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s = s[5:]
	}
	if len(s) < 2 || len(s) > 45 {
		return netip.Addr{}
	}
	colons, dots := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			colons++
		case c == '.':
			dots++
		case c >= '0' && c <= '9', c|0x20 >= 'a' && c|0x20 <= 'f':
		default:
			return netip.Addr{}
		}
	}
	if colons == 0 && dots != 3 {
		return netip.Addr{}
	}
	if colons == 1 && dots == 3 { // 1.2.3.4:25
		s = s[:strings.IndexByte(s, ':')]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// bareIPIn reports whether a comment is a bare address: Microsoft's
// "by host (10.1.2.3)".
func bareIPIn(c string) bool {
	return parseIP(strings.TrimSpace(c)).IsValid()
}
