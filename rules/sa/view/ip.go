package view

import "regexp"

// Constants.pm IP_ADDRESS with its look-arounds, for an unanchored search:
// the IPv4 form needs \b and no ':' before it; the IPv6 forms, tried in
// Perl's order, need no hex digit or ':' on either side (or an "IPv6:"
// prefix before).
var (
	reIPv4At    = regexp.MustCompile(`^(?:` + ipv4RE + `)\b`)
	ipv6FormsAt []*regexp.Regexp
)

func init() {
	mapped := []string{
		`(?:` + h4 + `:){6}`, `::(?:` + h4 + `:){0,5}`, `(?:` + h4 + `:){1,5}:`, h4 + `::(?:` + h4 + `:){1,4}`,
		`(?:` + h4 + `:){2}:(?:` + h4 + `:){1,3}`, `(?:` + h4 + `:){3}:(?:` + h4 + `:){1,2}`, `(?:` + h4 + `:){4}:` + h4 + `:`,
	}
	for _, p := range mapped {
		ipv6FormsAt = append(ipv6FormsAt, regexp.MustCompile(`(?i)^`+p+ipv4RE))
	}
	for _, p := range []string{
		`(?:` + h4 + `:){7}` + h4, `:(?::` + h4 + `){1,7}`, `(?:` + h4 + `:){1,7}:`, h4 + `:(?::` + h4 + `){1,6}`,
		`(?:` + h4 + `:){2}(?::` + h4 + `){1,5}`, `(?:` + h4 + `:){3}(?::` + h4 + `){1,4}`, `(?:` + h4 + `:){4}(?::` + h4 + `){1,3}`,
		`(?:` + h4 + `:){5}(?::` + h4 + `){1,2}`, `(?:` + h4 + `:){6}:` + h4, `::`,
	} {
		ipv6FormsAt = append(ipv6FormsAt, regexp.MustCompile(`(?i)^`+p))
	}
}

func isHexColon(c byte) bool { return isHex(c) || c == ':' }

// matchIPAt matches IP_ADDRESS at pos, returning its end or -1.
func matchIPAt(s string, pos int) int {
	if isWordStart(s, pos) && (pos == 0 || s[pos-1] != ':') {
		if m := reIPv4At.FindStringIndex(s[pos:]); m != nil {
			return pos + m[1]
		}
	}
	var starts [2]int
	n := 0
	if hasPrefixFold(s[pos:], "ipv6:") {
		starts[n] = pos + 5
		n++
	}
	if pos == 0 || !isHexColon(s[pos-1]) {
		starts[n] = pos
		n++
	}
	for _, st := range starts[:n] {
		if st >= len(s) || !(isHexColon(s[st])) {
			continue
		}
		for _, re := range ipv6FormsAt {
			if m := re.FindStringIndex(s[st:]); m != nil {
				e := st + m[1]
				if e == len(s) || !isHexColon(s[e]) {
					return e
				}
			}
		}
	}
	return -1
}

// findPerlIP is the first IP_ADDRESS match in s (m/($IP_ADDRESS)/).
func findPerlIP(s string) string {
	for pos := 0; pos < len(s); pos++ {
		c := s[pos]
		if !isHexColon(c) && c != 'I' && c != 'i' {
			continue
		}
		if e := matchIPAt(s, pos); e >= 0 {
			return s[pos:e]
		}
	}
	return ""
}
