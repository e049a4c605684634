package view

import (
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/levee-mail/levee/rules/sa/dfa"
)

// ipAddressRE is Constants.pm IP_ADDRESS without its look-arounds (Go's
// regexp has none); it is used where literal delimiters surround it.
const ipv4RE = `(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)`

const h4 = `[a-f0-9]{1,4}`

const ipAddressRE = `(?i:\b` + ipv4RE + `\b|(?:IPv6:)?(?:(?:(?:` + h4 + `:){6}|::(?:` + h4 + `:){0,5}|(?:` + h4 + `:){1,5}:|` + h4 + `::(?:` + h4 + `:){1,4}|(?:` + h4 + `:){2}:(?:` + h4 + `:){1,3}|(?:` + h4 + `:){3}:(?:` + h4 + `:){1,2}|(?:` + h4 + `:){4}:` + h4 + `:)` + ipv4RE +
	`|(?:` + h4 + `:){7}` + h4 + `|:(?::` + h4 + `){1,7}|(?:` + h4 + `:){1,7}:|` + h4 + `:(?::` + h4 + `){1,6}|(?:` + h4 + `:){2}(?::` + h4 + `){1,5}|(?:` + h4 + `:){3}(?::` + h4 + `){1,4}|(?:` + h4 + `:){4}(?::` + h4 + `){1,3}|(?:` + h4 + `:){5}(?::` + h4 + `){1,2}|(?:` + h4 + `:){6}:` + h4 + `|::))`

const localhostRE = `(?i:localhost(?:\.localdomain)?|\b127\.0\.0\.1\b|(?:IPv6:)?(?:(?:(?:0{1,4}:){5}ffff:|::(?:0{1,4}:){0,4}ffff:|(?:0{1,4}:){1,4}:ffff:|0{1,4}::(?:0{1,4}:){1,3}ffff:|(?:0{1,4}:){2}:0{1,2}:ffff:|(?:0{1,4}:){3}:0:ffff:|(?:0{1,4}:){4}:ffff:)127\.0\.0\.1|(?:0{1,4}:){7}0{0,3}1|:(?::0{1,4}){0,6}:0{0,3}1|0{1,4}:(?::0{1,4}){0,5}:0{0,3}1|(?:0{1,4}:){2}(?::0{1,4}){0,4}:0{0,3}1|(?:0{1,4}:){3}(?::0{1,4}){0,3}:0{0,3}1|(?:0{1,4}:){4}(?::0{1,4}){0,2}:0{0,3}1|(?:0{1,4}:){5}(?::0{1,4}){0,1}:0{0,3}1|(?:0{1,4}:){6}:0{0,3}1))`

var rxCache sync.Map

// prx is a compiled pattern with the literals any match must contain.
type prx struct {
	re   *regexp.Regexp
	lits []string // required substrings
	fold bool     // the literals are lower-cased: compare case-insensitively
	// d answers "does it match" for ASCII texts, where matching octets
	// (the DFA) and matching UTF-8 runes (regexp) are the same; most
	// Received fields are ASCII, and most of SpamAssassin's patterns
	// for them do not match a given field
	d *dfa.DFA
}

// MatchString reports whether the pattern matches, trying the cheap literal
// test first.
func (p *prx) MatchString(s string) bool { return p.possible(s) && p.re.MatchString(s) }

// FindStringSubmatch is regexp's, after the literal test.
func (p *prx) FindStringSubmatch(s string) []string {
	if !p.possible(s) {
		return nil
	}
	return p.re.FindStringSubmatch(s)
}

func (p *prx) FindString(s string) string {
	if !p.possible(s) {
		return ""
	}
	return p.re.FindString(s)
}

func (p *prx) ReplaceAllString(s, repl string) string {
	if !p.possible(s) {
		return s
	}
	return p.re.ReplaceAllString(s, repl)
}

func (p *prx) ReplaceAllLiteralString(s, repl string) string {
	if !p.possible(s) {
		return s
	}
	return p.re.ReplaceAllLiteralString(s, repl)
}

func (p *prx) possible(s string) bool {
	for _, l := range p.lits {
		if p.fold {
			if !containsFold(s, l) {
				return false
			}
		} else if !strings.Contains(s, l) {
			return false
		}
	}
	if p.d != nil && !noDFA && asciiOnly(s) {
		return p.d.Match(s)
	}
	return true
}

// noDFA turns the DFA test of prx off (tests).
var noDFA bool

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFold is a case-insensitive (ASCII) strings.Contains with a
// lower-case needle.
func containsFold(s, lower string) bool {
	if len(lower) == 0 {
		return true
	}
	c0 := lower[0]
	u0 := c0
	if c0 >= 'a' && c0 <= 'z' {
		u0 = c0 - 32
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		if s[i] != c0 && s[i] != u0 {
			continue
		}
		ok := true
		for j := 1; j < len(lower); j++ {
			if toLowerByte(s[i+j]) != lower[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// rx compiles a pattern once; ${IP} and ${LOCALHOST} stand for the
// constants.
func rx(p string) *prx {
	if v, ok := rxCache.Load(p); ok {
		return v.(*prx)
	}
	q := strings.ReplaceAll(p, "${IP}", ipAddressRE)
	q = strings.ReplaceAll(q, "${LOCALHOST}", localhostRE)
	re := regexp.MustCompile(q)
	r := &prx{re: re}
	if t, err := syntax.Parse(q, syntax.Perl); err == nil {
		if d, err := dfa.Compile(t); err == nil {
			r.d = d
		}
		r.lits, r.fold = requiredLiterals(t.Simplify())
	}
	rxCache.Store(p, r)
	return r
}

// requiredLiterals lists literal strings every match contains: the
// literal runs of the top-level concatenation (through captures). When any
// of them folds case, all are compared case-insensitively.
func requiredLiterals(t *syntax.Regexp) ([]string, bool) {
	var lits []string
	fold := false
	var walk func(t *syntax.Regexp)
	walk = func(t *syntax.Regexp) {
		switch t.Op {
		case syntax.OpConcat:
			for _, c := range t.Sub {
				walk(c)
			}
		case syntax.OpCapture:
			walk(t.Sub[0])
		case syntax.OpPlus:
			walk(t.Sub[0])
		case syntax.OpLiteral:
			if len(t.Rune) >= 2 {
				var b strings.Builder
				ok := true
				for _, r := range t.Rune {
					if r >= 0x80 {
						ok = false
						break
					}
					b.WriteRune(r)
				}
				if ok {
					lits = append(lits, b.String())
					if t.Flags&syntax.FoldCase != 0 {
						fold = true
					}
				}
			}
		}
	}
	walk(t)
	if fold {
		for i := range lits {
			lits[i] = strings.ToLower(lits[i])
		}
	}
	return lits, fold
}

// relay is one parsed Received field (Received.pm parse_received_line).
type relay struct {
	ip, by, helo, id, ident, rdns, auth string
	envfrom                             string
	hasEnvfrom                          bool
	ipPrivate                           bool
	internal, msa                       bool
}

func (r *relay) asString() string {
	intl, msa := "0", "0"
	if r.internal {
		intl = "1"
	}
	if r.msa {
		msa = "1"
	}
	return "[ ip=" + r.ip + " rdns=" + r.rdns + " helo=" + r.helo + " by=" + r.by + " ident=" + r.ident +
		" envfrom=" + r.envfrom + " intl=" + intl + " id=" + r.id + " auth=" + r.auth + " msa=" + msa + " ]"
}

type relayInfo struct {
	trusted, untrusted, internal, external             []*relay
	trustedStr, untrustedStr, internalStr, externalStr string
	lastTrustedIdx, lastInternalIdx                    int
}

func (m *Message) relayData() *relayInfo {
	m.relayOnce.Do(m.parseRelays)
	return &m.relays
}

func containsIP(set []netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range set {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isLoopback: SpamAssassin's trusted and internal networks always hold
// 127.0.0.0/8 and ::1 (Conf.pm).
func isLoopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().IsLoopback()
}

// parseRelays is Received.pm parse_received_headers.
func (m *Message) parseRelays() {
	ri := &m.relays
	ri.lastTrustedIdx, ri.lastInternalIdx = -1, -1
	root := m.tree()
	trusted, internal := m.opt.TrustedNetworks, m.opt.InternalNetworks
	userTrust, userInternal := len(trusted) > 0, len(internal) > 0
	if userTrust != userInternal {
		if !userInternal {
			internal = trusted
		} else {
			trusted = internal
		}
	}
	hdrs := root.getHeader("Received", false)
	ohs := m.opt.OriginatingIPHeaders
	if ohs == nil {
		ohs = DefaultOriginatingIPHeaders
	}
	for _, h := range ohs {
		v := root.getHeader(h, false)
		if len(v) == 0 {
			continue
		}
		s := v[len(v)-1]
		if ip := findPerlIP(s); ip != "" && s != "" && s != "0" {
			hdrs = append(hdrs, "from X-Originating-IP: "+ip+"\n")
		}
	}
	inTrusted, inInternal, foundMSA := true, true, false
	var pendingQMS *string
	allowFetch := true
	for _, line := range hdrs {
		var qms *string
		if pendingQMS != nil {
			qms, pendingQMS = pendingQMS, nil
		}
		line = collapseFolds(line)
		r, res := parseReceivedLine(line)
		if res == rcvFetch {
			if allowFetch {
				ri.trusted, ri.internal, ri.external = nil, nil, nil
			}
			res = rcvSkip
		}
		if res == rcvQMS {
			if r.hasEnvfrom && r.envfrom != "" && r.envfrom != "0" {
				e := r.envfrom
				pendingQMS = &e
			}
			res = rcvSkip
		}
		if res != rcvOK {
			if inTrusted {
				ri.lastTrustedIdx++
			}
			if inInternal {
				ri.lastInternalIdx++
			}
			continue
		}
		if qms != nil {
			r.envfrom, r.hasEnvfrom = *qms, true
		}
		if inTrusted && !foundMSA {
			if !userTrust && !userInternal {
				if !r.ipPrivate && r.auth == "" {
					inTrusted, inInternal = false, false
				}
			} else {
				if r.auth == "" && !containsIP(trusted, r.ip) && !isLoopback(r.ip) {
					inTrusted = false
					inInternal = false
				} else {
					if inInternal && r.auth == "" && !containsIP(internal, r.ip) && !isLoopback(r.ip) {
						inInternal = false
					}
					if containsIP(m.opt.MSANetworks, r.ip) {
						foundMSA = true
						r.msa = true
					}
				}
			}
		}
		r.internal = inInternal
		if inTrusted {
			ri.trusted = append(ri.trusted, r)
			allowFetch = true
			ri.lastTrustedIdx++
		} else {
			ri.untrusted = append(ri.untrusted, r)
			allowFetch = false
		}
		if inInternal {
			ri.internal = append(ri.internal, r)
			ri.lastInternalIdx++
		} else {
			ri.external = append(ri.external, r)
		}
	}
	join := func(rs []*relay) string {
		s := make([]string, len(rs))
		for i, r := range rs {
			s[i] = r.asString()
		}
		return strings.Join(s, " ")
	}
	ri.trustedStr, ri.untrustedStr = join(ri.trusted), join(ri.untrusted)
	ri.internalStr, ri.externalStr = join(ri.internal), join(ri.external)
}

const (
	rcvOK   = iota
	rcvSkip // returned 0: not a relay
	rcvUnparseable
	rcvFetch // a POP/IMAP fetcher marker: restart
	rcvQMS   // qmail-scanner: its envfrom goes to the next relay
)

var reDateTail = regexp.MustCompile(`[\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\d+ (?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \d+ \d+:\d+(?::\d+)? \S+$`)

// parseReceivedLine is Received.pm parse_received_line.
func parseReceivedLine(line string) (*relay, int) {
	l := strings.Join(strings.Fields(line), " ")
	for strings.HasSuffix(l, ";") {
		l = strings.TrimSuffix(l, ";")
		l = strings.TrimSuffix(l, " ")
	}
	var ip, helo, rdns, by, id, ident, auth string
	var envfrom string
	hasEnv := false
	lookedUp := false
	m := func(p string) []string { return rx(p).FindStringSubmatch(l) }
	has := func(p string) bool { return rx(p).MatchString(l) }

	if !has(`(?i)^\(?from `) {
		return nil, rcvSkip
	}
	if strings.Contains(l, "with local for") && has(`\bwith local for\b`) {
		return nil, rcvSkip
	}
	if g := m(`(?i)^from (\S+) by [^\s;]+ ?;`); g != nil && !rx(`^\[[\d.]+\]$`).MatchString(g[1]) {
		return nil, rcvSkip
	}
	l = reDateTail.ReplaceAllString(l, "")
	l = strings.Replace(l, ")by ", ") by ", 1)
	if g := m(` id <?([^\s<>;]{3,})`); g != nil {
		id = g[1]
	}
	if g := m(`\bhelo=([-A-Za-z0-9\.\^+_&:=?!@%*\$\\/]+)(?:[^-A-Za-z0-9\.\^+_&:=?!@%*\$\\/]|$)`); g != nil {
		helo = g[1]
	} else if g := m(`\b(?:HELO|EHLO) ([-A-Za-z0-9\.\^+_&:=?!@%*\$\\/]+)(?:[^-A-Za-z0-9\.\^+_&:=?!@%*\$\\/]|$)`); g != nil {
		helo = g[1]
	}
	if g := m(` by (\S+)(?:[^-A-Za-z0-9;.]|$)`); g != nil {
		by = g[1]
	}
	if g := m(`(?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)`); g != nil && strings.Contains(l, " by ") {
		auth = g[1]
	} else if has(` by mx\.google\.com with ESMTPS id [a-z0-9]{1,4}sm[0-9]{2,9}[a-z]{3}\.[0-9]{1,3}\.[0-9]{4}\.(?:[0-6][0-9]\.){4}[0-6][0-9]`) && has(`\(version=([^ ]+) cipher=([^\)]+)\)`) {
		g := m(`\(version=([^ ]+) cipher=([^\)]+)\)`)
		auth = "GMail - transport=" + g[1] + " cipher=" + g[2]
	} else if g := m(`^from .*?(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \S+(?:, .*?)?\) by `); g != nil {
		auth = g[1]
	} else if strings.Contains(l, "authenticated") && has(`^from .*?(?:\](?: \([^)]*\))?\)|\)\]) .*?\(.*?authenticated.*?\).*? by`) {
		auth = "Sendmail"
	} else if g := m(`from \S* \((?:HELO|EHLO) (\S*)\) \[(${IP})\] by (mail\.gmx\.(?:net|com)) \([^\)]+\) with ((?:ESMTP|SMTP))`); g != nil {
		auth = "GMX (" + g[4] + " / " + g[3] + ")"
	} else if strings.Contains(l, " (authenticated as ") && has(`\) by .+ \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as .+\) id `) {
		auth = "CriticalPath"
	} else if g := m(`\) \(Authenticated sender: \S+\) by \S+ \(([^\)]+)\) with `); g != nil {
		if g[1] == "Postfix" {
			auth = g[1]
		} else {
			auth = "Postfix (" + g[1] + ")"
		}
	} else if has(`CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP)`) && strings.Contains(l, " (account ") {
		auth = "Communigate"
	} else if has(` with Microsoft Exchange Server HTTP-DAV\b`) {
		auth = "HTTP-DAV"
	} else if g := m(`(?i) \(via (HTTP.?)\)(?: |;|$)`); g != nil && strings.Contains(l, " by ") {
		auth = g[1]
	}

	res := func() (*relay, int) {
		return finishRelay(ip, by, helo, id, ident, rdns, auth, envfrom, hasEnv, lookedUp)
	}

	if strings.HasPrefix(l, "from ") {
		l = l[5:]
		if g := m(`(?i)(?:return-path:? |envelope-(?:sender|from)[ =])(\S+)\b`); g != nil {
			envfrom, hasEnv = g[1], true
		}
		if has(` \((?:SquirrelMail|NaSMail) authenticated user `) {
			if g := m(`(${IP})\b(?:[^.-]|$).{9,79}by (\S+) with HTTP`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if strings.Contains(l, "aol.com") && strings.Contains(l, "with HTTP (WebMailUI)") {
			if g := m(`(${IP}) by (\S+) \(${IP}\) with HTTP \(WebMailUI\)`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if strings.Contains(l, " SMTPSVC") {
			if g := m(`^(\S*) \(\[(${IP})\][^\)]{0,40}\) by (\S+) with Microsoft SMTPSVC`); g != nil {
				helo, ip, by = g[1], g[2], g[3]
				return res()
			}
			if has(`^mail pickup service by (\S+) with Microsoft SMTPSVC$`) {
				return nil, rcvSkip
			}
		} else if has(` with (?:Microsoft SMTP Server|mapi id) (?:\([^\)]+\) )?\d+\.\d+\.\d+\.\d+(?:$| )`) {
			if g := m(`^(\S+) \(\[?(${IP})(?:%[A-Z0-9._~-]*)?\]?\) by (\S+) `); g != nil {
				helo, ip, by, id = g[1], g[2], g[3], ""
				return res()
			}
		} else if strings.Contains(l, "[XMail ") {
			if g := m(`^(\S+) \((\[?${IP}\]?)(?::\d+)\) by (\S+)(?: \(\S+\))? with \[XMail`); g != nil {
				helo, ip, by = g[1], g[2], g[3]
				if g2 := m(` id <(\S+)>`); g2 != nil {
					id = g2[1]
				}
				if g2 := m(` from <(\S+)>`); g2 != nil {
					envfrom, hasEnv = g2[1], true
				}
				return res()
			}
		} else if has(`\(ecelerity\b`) {
			if g := m(`^\(\[(${IP}):\d+\] helo=(\S+)\) by (\S+) `); g != nil {
				ip, helo, by = g[1], g[2], g[3]
				return res()
			}
			if g := m(`^\S+ \(\[(${IP}):\d+\]\) by (\S+) `); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		} else if strings.Contains(l, "Exim") {
			if has(`\bwith local(?:-\S+)? `) {
				return nil, rcvSkip
			}
			if g := m(`^\[(${IP})\] \((.*?)\) by (\S+) `); g != nil {
				ip, by = g[1], g[3]
				sub := g[2]
				if g2 := rx(`helo=(\S+)`).FindStringSubmatch(sub); g2 != nil {
					helo = g2[1]
					sub = rx(`helo=(\S+)`).ReplaceAllLiteralString(sub, "")
				}
				if g2 := rx(`ident=(\S*)`).FindStringSubmatch(sub); g2 != nil {
					ident = g2[1]
				}
				return res()
			}
			if g := m(`^(\S+) \(\[(${IP})\](.*?)\) by (\S+) `); g != nil {
				rdns, ip, by = g[1], g[2], g[4]
				sub := g[3]
				helo = rdns
				if g2 := rx(`helo=(\S+)`).FindStringSubmatch(sub); g2 != nil {
					helo = g2[1]
					sub = strings.Replace(sub, g2[0], "", 1)
				}
				if g2 := rx(`ident=(\S*)`).FindStringSubmatch(sub); g2 != nil {
					ident = g2[1]
				}
				return res()
			}
			if g := m(`^(\S+) \[(${IP})\](:\d+)? by (\S+) `); g != nil {
				rdns, ip, helo, by = g[1], g[2], g[1], g[4]
				return res()
			}
			if g := m(`^(\S+) `); g != nil {
				rdns = g[1]
			}
			if g := m(` \((\S+)\) `); g != nil {
				helo = g[1]
			}
			if g := m(` \[(${IP})(?:\.\d+)?\] `); g != nil {
				ip = g[1]
			}
			if g := m(`by (\S+) `); g != nil {
				by = g[1]
				if ip != "" {
					return res()
				}
			}
		} else if strings.Contains(l, " (Postfix) with") {
			if g := m(`^(\S+) \((\S+) \[(${IP})\]\) by (\S+) `); g != nil {
				lookedUp = true
				helo, rdns, ip, by = g[1], g[2], g[3], g[4]
				if rdns == "unknown" {
					rdns = ""
				}
				return res()
			}
			if g := m(`^(\S+) \((\S+)\[(${IP})\]\) by (\S+) `); g != nil {
				lookedUp = true
				helo, rdns, ip, by = g[1], g[2], g[3], g[4]
				if rdns == "unknown" {
					rdns = ""
				}
				return res()
			}
		} else if strings.Contains(l, "(Scalix SMTP Relay") {
			if g := m(`^(\S+) \( ?(${IP})\) by (\S+)`); g != nil {
				helo, ip, by = g[1], g[2], g[3]
				return res()
			}
		} else if strings.Contains(l, " (Lotus Domino ") {
			if g := m(`^(\S+) \(\[(${IP})\]\) by (\S+) \(Lotus`); g != nil {
				helo, ip, by = g[1], g[2], g[3]
				return res()
			}
		}
		if has(`\bwith HTTP\b`) {
			if g := m(`^(${IP}) \(\[${IP}\]\) by (\S+)`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if !has(` by \S+ \(qmail-\S+\) with `) {
			if g := m(`^(\S+) \((\S+) \[(${IP})\].*\) by (\S+) \(`); g != nil {
				lookedUp = true
				helo, rdns, ip, by = g[1], g[2], g[3], g[4]
				if g2 := rx(`^IDENT:([^@]*)@`).FindStringSubmatch(rdns); g2 != nil {
					ident = g2[1]
					rdns = rdns[len(g2[0]):]
				}
				if g2 := rx(`^([^@]*)@`).FindStringSubmatch(rdns); g2 != nil {
					ident = g2[1]
					rdns = rdns[len(g2[0]):]
				}
				return res()
			}
		}
		if g := m(`^(\S+) \((\S+) \[(${IP})\]\) by (\S+) with \S+ \(`); g != nil {
			lookedUp = true
			rdns, ip, helo, by = g[2], g[3], g[1], g[4]
			return res()
		}
		if g := m(`^(\S+) \(\[(${IP})\] helo=(\S+)\) by (\S+) with `); g != nil {
			rdns, ip, helo, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \(<unknown\S*>\[(${IP})\]\) by (\S+) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \((\S+\.\S+)\[(${IP})\]\) by (\S+) `); g != nil {
			lookedUp = true
			helo, rdns, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \((\S*)@\[(${IP})\].*\) by (\S+) \(`); g != nil {
			lookedUp = true
			helo, ip, by, ident = g[1], g[3], g[4], g[2]
			return res()
		}
		if g := m(`by (\S+\.hotmail\.msn\.com) `); g != nil {
			by = g[1]
			if g2 := m(`^(${IP}) `); g2 != nil {
				ip = g2[1]
			}
			return res()
		}
		if g := m(`^(\S+) \((?:HELO|EHLO) (\S*)\) \((${IP})\) by (\S+) \(qpsmtpd/\S+\) with (?:ESMTP|SMTP)`); g != nil {
			rdns, helo, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \(LHLO (\S*)\) \((${IP})\) by (\S+) with LMTP`); g != nil {
			rdns, helo, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \((?:HELO|EHLO) (\S*)\) \[(${IP})\] by (\S+) \([^\)]+\) with (?:ESMTP|SMTP)`); g != nil {
			rdns, helo, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \(\[(${IP})\]\) by (\S+) via smtpd \(for \S+\) with SMTP\(`); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if has(`^\S+( \((?:HELO|EHLO) \S*\))? \((\S+@)?\[?${IP}\]?\)( \(envelope-sender <\S+>\))? by \S+( \(.+\))* with (.* )?(SMTP|QMQP)(?:$|[^ ]| $| [^i]| i$| i[^d]| id$| id[^ ])`) {
			if g := m(`^(\S+) \((?:HELO|EHLO) ([^ \(\)]*)\) \((\S*)@\[?(${IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+)`); g != nil {
				rdns, helo, ident, ip, by = g[1], g[2], g[3], g[4], g[6]
			} else if g := m(`^(\S+) \((?:HELO|EHLO) ([^ \(\)]*)\) \(\[?(${IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+)`); g != nil {
				rdns, helo, ip, by = g[1], g[2], g[3], g[5]
			} else if g := m(`^(\S+) \((\S*)@\[?(${IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+)`); g != nil {
				helo, rdns, ident, ip, by = g[1], g[1], g[2], g[3], g[5]
			} else if g := m(`^(\S+) \(\[?(${IP})\]?\)( \(envelope-sender <\S+>\))? by (\S+)`); g != nil {
				helo, rdns, ip, by = g[1], g[1], g[2], g[4]
			}
			if rdns != "unknown" {
				lookedUp = true
			} else {
				rdns = ""
			}
			return res()
		}
		if strings.HasSuffix(l, " via HTTP") {
			if g := m(`^\[(${IP})\] by (\S+) via HTTP$`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if g := m(`^(\S+) \( \[(${IP})\]\).*? by (\S+) `); g != nil {
			ip, by = g[2], g[3]
			return res()
		}
		if g := m(`^\((\S+) \[(${IP})\]\) by (\S+) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^\[(${IP})\] by (\S+) `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^\(\[?(${IP})\]?\) by (\S+) `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^(\S+) \[(${IP})\] by (\S+) \[${IP}\] with `); g != nil {
			lookedUp = true
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \[\((${IP})\)\] by (\S+) \(${IP}\) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \(\[(${IP})\]\) by (\S+) \(`); g != nil {
			lookedUp = true
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \((\S+) \[(${IP})\]\).*? by (\S+)\b`); g != nil {
			if g[2] == "softdnserr" {
				lookedUp = false
			} else {
				lookedUp = true
				rdns = g[2]
			}
			helo, ip, by = g[1], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \(\[(${IP})(?:[.:]\d+)?\]\).*? by (\S+) `); g != nil {
			lookedUp = true
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \((\S+) \[(${IP})\]\)(?: \(authenticated bits=\d+\))? by (\S+) \(`); g != nil {
			lookedUp = true
			helo, rdns, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if has(`with (?:POP3|IMAP)`) {
			return nil, rcvFetch
		}
		if g := m(`^(\S+) \((?:HELO|EHLO) ([^\)]*)\) \((\S*@)?\[?(${IP})\]?\).* by (\S+) `); g != nil {
			lookedUp = true
			rdns, helo, ident, ip, by = g[1], g[2], strings.TrimSuffix(g[3], "@"), g[4], g[5]
			return res()
		}
		if g := m(`^(\S+) \((\S*@)?\[?(${IP})\]?\).* by (\S+) `); g != nil {
			lookedUp = true
			rdns, helo, ident, ip, by = g[1], g[1], strings.TrimSuffix(g[2], "@"), g[3], g[4]
			return res()
		}
		if strings.Contains(l, " with http for ") {
			if g := m(`^\[(${IP})\] by (\S+) with http for `); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if strings.Contains(l, " via smap ") {
			if g := m(`^(\S+)\((${IP})\) by (\S+) via smap `); g != nil {
				lookedUp = true
				rdns, ip, by = g[1], g[2], g[3]
				return res()
			}
		}
		if g := m(`^(\S+)\((${IP}), (?:HELO|EHLO) (\S*)\) by (\S+) via smap `); g != nil {
			lookedUp = true
			rdns, ip, helo, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if strings.Contains(l, " (Post") {
			if g := m(`^\[(${IP})\] by (\S+) \(Post`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if strings.Contains(l, " (ArGoSoft") {
			if g := m(`^\[(${IP})\] by (\S+) \(ArGoSoft`); g != nil {
				ip, by = g[1], g[2]
				return res()
			}
		}
		if g := m(`^(${IP}) by (\S+) \((?:SMTPL|InterScan)\b`); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if strings.Contains(l, " with BSMTP") && has(`^\S+ by \S+ with BSMTP`) {
			return nil, rcvSkip
		}
		if g := m(`^(\S+) \((\S+) \[(${IP})\]\) by (\S+) with `); g != nil {
			lookedUp = true
			helo, rdns, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^(\S+) \((?:HELO|EHLO) (\S*)\) \((?:(\S+)@)?(${IP}).*?\) by (\S+) with `); g != nil {
			lookedUp = true
			rdns, helo, ip, by = g[1], g[2], g[4], g[5]
			if g[3] != "" {
				ident = g[3]
			}
			return res()
		}
		if g := m(`^\[(${IP})\] \((?:account \S+ )?(?:HELO|EHLO) (\S*)\) by (\S+) \(`); g != nil {
			ip, helo, by = g[1], g[2], g[3]
			return res()
		}
		if strings.Contains(l, " (CommuniGate Pro") {
			if g := m(`^(\S+) \(\[(${IP})\] verified\) by (\S+) \(`); g != nil {
				lookedUp = true
				rdns, helo, ip, by = g[1], g[1], g[2], g[3]
				return res()
			}
		}
		if g := m(`^\(\[(${IP})\]\) by (\S+) with `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^([^\d]\S+) \((${IP})\) by (\S+) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if has(`^\S+ \(\S+\) by \S+ \(Content Technologies `) {
			return nil, rcvSkip
		}
		if g := m(`^(\S+) \(\[(${IP})\] \[(\S+)\]\) by (\S+) with `); g != nil {
			helo, ip, by = g[1], g[2], g[4]
			return res()
		}
		if g := m(`^(${IP}) by (\S+) with `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^(\S+) \((\S+)\[(${IP})\]\) by (\S+) `); g != nil {
			lookedUp = true
			helo, rdns, ip, by = g[1], g[2], g[3], g[4]
			return res()
		}
		if g := m(`^\[(${IP})\]\S+ \((?:HELO|EHLO) (\S*)\) by (\S+) `); g != nil {
			ip, helo, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(${IP}) \((?:HELO|EHLO) (\S*)\) by (\S+) `); g != nil {
			ip, helo, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+) \[(${IP})\] by (\S+) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+)\((${IP})\) by (\S+) `); g != nil {
			rdns, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^\[(${IP})\] by (\S+) \(MailGate `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^(\S+) \(unverified \[(${IP})\]\) by (\S+) `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(${IP}) \([A-Za-z][^\)]+\) by (\S+) with `); g != nil {
			ip, by = g[1], g[2]
			return res()
		}
		if g := m(`^\[(${IP})\] \(([^\)]+)\) by (\S+) `); g != nil {
			ip, by = g[1], g[3]
			sub := g[2]
			if g2 := rx(`helo=(\S+)`).FindStringSubmatch(sub); g2 != nil {
				helo = g2[1]
				sub = strings.Replace(sub, g2[0], "", 1)
			}
			if g2 := rx(`ident=(\S*)`).FindStringSubmatch(sub); g2 != nil {
				ident = g2[1]
			}
			return res()
		}
		if g := m(`^(\S+) \((?:\S+@)?(${IP})\) by (\S+) with `); g != nil {
			rdns, ip, by = g[1], g[2], g[3]
			return res()
		}
		if g := m(`^(\S+)\((${IP})\)(?:, claiming to be "(\S+)")? via \S+ by (\S+),`); g != nil {
			rdns, ip, helo, by = g[1], g[2], g[3], g[4]
			if g[1] != "UNKNOWN" {
				lookedUp = true
			}
			return res()
		}
		if g := m(`^(\S+) \((\S+)@(${IP}) with login\) by (\S+\.yahoo\.com) with SMTP`); g != nil {
			helo, ip, by = g[1], g[3], g[4]
			return res()
		}
		if g := m(`^X-Originating-IP: (${IP})$`); g != nil {
			ip, by = g[1], ""
			return res()
		}
		for _, p := range []string{
			`^\S+ \([^\s@]+@${LOCALHOST}\) by \S+ \(`,
			`^\S+ \S+ by \S+ with local-e?smtp `,
			`^127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\)`,
			`^\S+@\S+ by \S+ by uid \S+ `,
			`^\S+@\S+ by \S+ `,
			`^Unknown/Local \(`,
			`^${LOCALHOST} \((?:\S+@)?${LOCALHOST}[\)\[]`,
			`^\S+ \((?:\S+@)?${LOCALHOST}\) `,
			`^\S+ \(\S+@\S+ \[${LOCALHOST}\]\) `,
			`^\(AUTH: \S+\) by \S+ with `,
			`^localhost \(localhost \[\[UNIX: localhost\]\]\) by `,
			`^\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: `,
			`^[^.]+ by \S+ with Novell_GroupWise`,
			`^no\.name\.available by \S+ via smtpd \(for `,
		} {
			if has(p) {
				return nil, rcvSkip
			}
		}
		if has(`^\S+ by \S+ \(.{0,100}\) with qmail-scanner`) {
			r := &relay{}
			if hasEnv {
				e := strings.TrimLeft(strings.TrimLeftFunc(envfrom, isPerlSpace), "<")
				e = strings.TrimRightFunc(strings.TrimRight(e, ">"), isPerlSpace)
				r.envfrom = stripChars(e)
				r.hasEnvfrom = true
			}
			return r, rcvQMS
		}
		for _, p := range []string{
			`^\S+ by \S+ with local`,
			`^\S+ \(\[unix socket\]\) by \S+ \(Cyrus v[0-9]*?\.[0-9]*?\.[0-9]*?\) with LMTPA`,
			`^\S+ by \S+ (?:with|via|for|\()`,
			`^\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b`,
			`^\S+ \(unknown\) by \S+ \(SG\) with \b`,
			`^\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b`,
			`\(LSMTP for`,
			`^\(\[${LOCALHOST}\]\) with MailEnable `,
			`^facebook\.com \([^\)]+\) by facebook\.com with Thrift id \S+$`,
			`^\S+ named \S+ by gmailapi\.google\.com with HTTPREST$`,
			`^\S+ id \S+$`,
			`^\[<.*? \(Jetsend`,
		} {
			if has(p) {
				return nil, rcvSkip
			}
		}
		if helo == "" {
			if g := m(`^(\S+)[^-A-Za-z0-9.]`); g != nil {
				helo = g[1]
			}
		}
	} else if strings.HasPrefix(l, "FROM ") {
		l = l[5:]
		if g := m(`^(\S+) \((\S+) \[(${IP})\]\) BY (\S+) (?:\([^\)]+\) WITH SMTP )?ID <?(\S+?)>?(?: FOR <[^>]+>)?$`); g != nil {
			lookedUp = true
			helo, rdns, ip, by, id = g[1], g[2], g[3], g[4], g[5]
			if rdns == "unverified" {
				rdns = ""
			}
			return res()
		}
	} else if strings.HasPrefix(l, "(from ") {
		l = l[6:]
		if g := m(`^(\S*) \[(${IP})\]\) by (\S+) \(NAVGW .*?\) with `); g != nil {
			helo, ip, by = g[1], g[2], g[3]
			return res()
		}
		if has(`^\S+@localhost\) by \S+ `) {
			return nil, rcvSkip
		}
		if has(`^[^\s@]+@[^)]+\) by \S+\(jqueuemail\) id [^\s;]+`) {
			return nil, rcvSkip
		}
	}
	if ip == "" {
		if g := m(`\[(${IP})\]`); g != nil {
			ip = g[1]
		}
	}
	if ip != "" && by != "" {
		return res()
	}
	return nil, rcvUnparseable
}

// stripChars is s/[\s\000\#\[\]\(\)\<\>\|]/!/gs.
func stripChars(s string) string {
	if strings.IndexAny(s, " \t\n\r\f\v\x00#[]()<>|") < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '\f', '\v', 0, '#', '[', ']', '(', ')', '<', '>', '|':
			b[i] = '!'
		}
	}
	return string(b)
}

var (
	reIPPrivate  = regexp.MustCompile(`(?i)^(?:(?:10|127|169\.254|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\..*|(?:IPv6:)?(?:(?:(?:0{1,4}:){5}ffff:|::(?:0{1,4}:){0,4}ffff:|(?:0{1,4}:){1,4}:ffff:|0{1,4}::(?:0{1,4}:){1,3}ffff:|(?:0{1,4}:){2}:0{1,2}:ffff:|(?:0{1,4}:){3}:0:ffff:|(?:0{1,4}:){4}:ffff:)(?:10|127|169\.254|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\..*|fe[89ab][0-9a-f]:.*|(?:0{1,4}:){7}0{0,3}1|:(?::0{1,4}){0,6}:0{0,3}1|0{1,4}:(?::0{1,4}){0,5}:0{0,3}1|(?:0{1,4}:){2}(?::0{1,4}){0,4}:0{0,3}1|(?:0{1,4}:){3}(?::0{1,4}){0,3}:0{0,3}1|(?:0{1,4}:){4}(?::0{1,4}){0,2}:0{0,3}1|(?:0{1,4}:){5}(?::0{1,4}){0,1}:0{0,3}1|(?:0{1,4}:){6}:0{0,3}1)(?:[^a-f0-9:]|$))`)
	reIPv6Prefix = regexp.MustCompile(`(?i)^ipv6:`)
	reIPZone     = regexp.MustCompile(`(?is)%[A-Z0-9._~-]*$`)
	reIPMapped   = regexp.MustCompile(`(?i)^0*:0*:(?:0*:)*ffff:(\d+\.\d+\.\d+\.\d+)$`)
)

// finishRelay is the "enough:" part of parse_received_line.
func finishRelay(ip, by, helo, id, ident, rdns, auth, envfrom string, hasEnv, lookedUp bool) (*relay, int) {
	rdns = strings.TrimRight(rdns, ".")
	if strings.EqualFold(rdns, "unknown") || strings.HasPrefix(rdns, "[") {
		rdns = ""
	}
	ip = reIPv6Prefix.ReplaceAllString(ip, "")
	ip = strings.TrimPrefix(ip, "[")
	ip = strings.TrimSuffix(ip, "]")
	ip = reIPZone.ReplaceAllString(ip, "")
	ip = reIPMapped.ReplaceAllString(ip, "$1")
	by = strings.TrimSuffix(by, ";")
	ip, rdns, helo, by, ident = stripChars(ip), stripChars(rdns), stripChars(helo), stripChars(by), stripChars(ident)
	r := &relay{ip: ip, by: by, helo: helo, id: id, ident: ident, rdns: rdns, auth: auth}
	if hasEnv {
		e := strings.TrimLeftFunc(envfrom, isPerlSpace)
		e = strings.TrimLeft(e, "<")
		e = strings.TrimRightFunc(e, isPerlSpace)
		e = strings.TrimRight(e, ">")
		e = strings.TrimRightFunc(e, isPerlSpace)
		r.envfrom, r.hasEnvfrom = stripChars(e), true
	}
	_ = lookedUp
	r.ipPrivate = reIPPrivate.MatchString(ip)
	return r, rcvOK
}

// envelopeFrom is PerMsgStatus.pm get_envelope_from.
func (m *Message) envelopeFrom() (string, bool) {
	first := func(spec string) (string, bool) {
		v := m.get(spec)
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if h := m.opt.EnvelopeSenderHeader; h != "" {
		if e, ok := first(h + ":first:addr"); ok && (strings.IndexByte(e, '@') > 0 || e == "") {
			return e, true
		}
		return "", false
	}
	ri := m.relayData()
	var last *relay
	if len(ri.untrusted) > 0 {
		last = ri.untrusted[0]
	} else if len(ri.trusted) > 0 {
		last = ri.trusted[len(ri.trusted)-1]
	}
	if last != nil && last.hasEnvfrom && (strings.IndexByte(last.envfrom, '@') > 0 || last.envfrom == "") {
		return last.envfrom, true
	}
	if xs, ok := first("X-Sender:first:addr"); ok && strings.IndexByte(xs, '@') >= 0 {
		for _, r := range m.get("Received") {
			if strings.Contains(r, "(fetchmail") {
				return "", false
			}
		}
	}
	all, _ := m.Get("ALL")
	after := func(name string) bool {
		return rx(`(?ism)^Received:.*?^` + name + `:`).MatchString(all)
	}
	if e, ok := first("X-Envelope-From:first:addr"); ok {
		if after("X-Envelope-From") {
			return "", false
		}
		return e, true
	}
	if e, ok := first("Envelope-Sender:first:addr"); ok {
		if !after("Envelope-Sender") {
			return e, true
		}
	}
	if e, ok := first("Return-Path:first:addr"); ok {
		if !after("Return-Path") {
			return e, true
		}
	}
	return "", false
}
