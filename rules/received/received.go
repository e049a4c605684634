// Package received parses the values of RFC 5321/5322 "Received:" header
// fields as real mail transfer agents write them (Postfix, Sendmail, Exim,
// qmail, Exchange/Microsoft 365, Gmail, ZMailer, Courier, MDaemon, ...) and
// finds the last untrusted relay of a message the way SpamAssassin does.
//
// The package is pure: no DNS, no I/O, standard library only. Parsing is
// best effort, never panics, runs in time linear in the input and allocates
// little (nothing beyond the returned strings' backing value in the common
// case of an already unfolded value).
package received

import (
	"net/netip"
	"strings"
	"time"
)

// maxParse bounds the part of a value that is examined. Real Received
// fields are well under 2 KiB; anything past this is garbage or an attack.
// Raw always holds the whole unfolded value.
const maxParse = 16 << 10

// Hop is one parsed Received field.
type Hop struct {
	Raw  string     // the unfolded field value, trimmed
	Helo string     // the name the client gave in HELO/EHLO, as recorded ("" if not recorded)
	RDNS string     // reverse-DNS name recorded by the receiver; "" if none or unknown
	IP   netip.Addr // client IP (IPv4-mapped addresses unmapped, zone dropped); invalid when none
	By   string     // receiving host
	With string     // protocol as written, upper-cased (ESMTPS, LMTP, MICROSOFT SMTP SERVER, ...)
	ID   string     // the id clause as written
	For  string     // address of the for clause, without <>

	Date    time.Time // date after the last top-level ';'
	HasDate bool      // Date was found and parsed

	// Authenticated is set for ESMTPA/ESMTPSA/LMTPA/UTF8SMTPSA... (RFC 3848,
	// RFC 6531) and for "authenticated" markers such as "(authenticated
	// bits=0)", "(Authenticated sender: x)" or "authenticated by".
	Authenticated bool
}

// ParseAll parses values given in header order (topmost first) and returns
// the hops in the same order.
func ParseAll(values []string) []Hop {
	hops := make([]Hop, len(values))
	for i, v := range values {
		hops[i] = Parse(v)
	}
	return hops
}

// Parse parses one Received field value (folded or not). It never panics and
// returns whatever it could recognise.
func Parse(value string) Hop {
	var h Hop
	h.Raw = unfold(value)
	s := h.Raw
	if len(s) > maxParse {
		s = s[:maxParse]
	}
	sc := newScanner(s)
	clauses, tail := sc.s, ""
	if sc.semi >= 0 {
		clauses, tail = s[:sc.semi], s[sc.semi+1:]
	}
	sc.s = clauses
	if tail != "" {
		h.Date, h.HasDate = parseDate(tail)
	}

	var (
		cur       = kwNone
		expect    bool // the next word is the value of cur
		seen      uint8
		from      fromPart
		byIP      bool // a bare IP in a by-part comment: Microsoft style
		exim      bool
		withStart = -1
		withEnd   int
		withTitle bool
	)
	for {
		kind, text, start, ok := sc.next()
		if !ok {
			break
		}
		if kind == tokComment {
			if hasAuthMarker(text) {
				h.Authenticated = true
			}
			if cur == kwFrom && !from.done {
				from.addComment(text)
			} else {
				if strings.Contains(text, "Exim") {
					exim = true
				}
				if cur == kwBy && !byIP && bareIPIn(text) {
					byIP = true
				}
			}
			expect = false
			withTitle = false
			continue
		}
		// word
		if sc.semi < 0 && !h.HasDate && len(text) == 4 && text[3] == ',' && isWeekday(text[:3]) {
			// No ';' before the date (SendGrid, some spamware): take a
			// weekday-led date at the top level.
			if d, ok := parseDate(clauses[start:]); ok {
				h.Date, h.HasDate = d, true
				break
			}
		}
		if expect {
			expect = false
			switch cur {
			case kwFrom:
				from.val = text
			case kwBy:
				h.By = trimDot(text)
			case kwWith:
				withStart, withEnd = start, start+len(text)
				withTitle = isTitle(text)
			case kwID:
				h.ID = strings.TrimRight(text, ";,")
			case kwFor:
				h.For = forAddr(text)
			}
			continue
		}
		if k := keyword(text); k != kwNone {
			if k == kwFrom && cur == kwFrom && !expect {
				// Smail: "from host from [ip] by ..."; stay in the from part.
				continue
			}
			if seen&(1<<k) != 0 {
				// A repeated clause: keep the first one's values but
				// stop attaching words and comments to it.
				if cur == kwFrom {
					from.done = true
				}
				cur = kwOther
				withTitle = false
				continue
			}
			if cur == kwFrom {
				from.done = true
			}
			seen |= 1 << k
			cur, expect = k, true
			if k == kwBy && strings.Contains(clauses[start:], "ExIM") {
				exim = true // "authenticated by host running ExIM with ..."
			}
			withTitle = false
			continue
		}
		if strings.EqualFold(text, "authenticated") {
			h.Authenticated = true
		}
		switch cur {
		case kwFrom:
			if !from.done {
				from.addExtra(text)
			}
		case kwWith:
			if withTitle && isLetters(text) {
				withEnd = start + len(text)
			} else {
				withTitle = false
			}
		}
	}
	if withStart >= 0 {
		h.With = asciiUpper(clauses[withStart:withEnd])
		if isAuthProto(h.With) {
			h.Authenticated = true
		}
	}
	microsoft := byIP || strings.HasPrefix(h.With, "MICROSOFT") || h.With == "MAPI"
	from.resolve(&h, exim, microsoft)
	return h
}

// Clause keywords.
const (
	kwNone = iota
	kwFrom
	kwBy
	kwVia
	kwWith
	kwID
	kwFor
	kwOther
)

func keyword(w string) int {
	switch len(w) {
	case 2:
		if strings.EqualFold(w, "by") {
			return kwBy
		}
		if strings.EqualFold(w, "id") {
			return kwID
		}
	case 3:
		if strings.EqualFold(w, "via") {
			return kwVia
		}
		if strings.EqualFold(w, "for") {
			return kwFor
		}
	case 4:
		if strings.EqualFold(w, "from") {
			return kwFrom
		}
		if strings.EqualFold(w, "with") {
			return kwWith
		}
	}
	return kwNone
}

// unfold removes line breaks (RFC 5322 unfolding) and trims the value. A
// line break not followed by white space becomes a space.
func unfold(v string) string {
	if strings.IndexAny(v, "\r\n") < 0 {
		return strings.TrimSpace(v)
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
			continue
		}
		for i+1 < len(v) && (v[i+1] == '\r' || v[i+1] == '\n') {
			i++
		}
		if i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
			continue
		}
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}

// asciiUpper upper-cases ASCII letters only, leaving other bytes (and
// invalid UTF-8) alone; it allocates only when there is a lower-case letter.
func asciiUpper(s string) string {
	i := 0
	for i < len(s) && !(s[i] >= 'a' && s[i] <= 'z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

func isTitle(w string) bool {
	return len(w) > 1 && w[0] >= 'A' && w[0] <= 'Z' && w[1] >= 'a' && w[1] <= 'z'
}

func isLetters(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return w != ""
}

// isAuthProto reports RFC 3848/6531 protocol names of authenticated
// submissions: ESMTPA, ESMTPSA, LMTPA, LMTPSA, UTF8SMTPA, UTF8SMTPSA, ...
func isAuthProto(w string) bool {
	return strings.HasSuffix(w, "SMTPA") || strings.HasSuffix(w, "SMTPSA") ||
		strings.HasSuffix(w, "LMTPA") || strings.HasSuffix(w, "LMTPSA")
}

// hasAuthMarker reports a comment that says the client authenticated:
// "(authenticated)", "(authenticated bits=0)", "(Authenticated sender: x)",
// "(User authenticated as x)". "unauthenticated" and "not authenticated"
// do not count.
func hasAuthMarker(c string) bool {
	for off := 0; ; {
		i := indexFold(c[off:], "authenticated")
		if i < 0 {
			return false
		}
		i += off
		off = i + len("authenticated")
		if i > 0 && isWordByte(c[i-1]) {
			continue
		}
		if off < len(c) && isWordByte(c[off]) {
			continue
		}
		before := strings.TrimRight(c[:i], " ")
		if len(before) >= 3 && strings.EqualFold(before[len(before)-3:], "not") {
			continue
		}
		return true
	}
}

func isWordByte(c byte) bool {
	c |= 0x20
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// indexFold is an ASCII case-insensitive strings.Index for a lower-case needle.
func indexFold(s, lowerNeedle string) int {
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == lowerNeedle[0] && strings.EqualFold(s[i:i+n], lowerNeedle) {
			return i
		}
	}
	return -1
}

// forAddr returns the address of a for clause: "<a@b>" -> "a@b". Words that
// are not addresses ("multiple recipients") give "".
func forAddr(w string) string {
	w = strings.TrimRight(w, ";,")
	if len(w) >= 2 && w[0] == '<' {
		if j := strings.IndexByte(w, '>'); j > 0 {
			return w[1:j]
		}
		return w[1:]
	}
	if strings.IndexByte(w, '@') > 0 {
		return w
	}
	return ""
}
