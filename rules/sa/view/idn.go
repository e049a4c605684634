package view

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnProfile is libidn2's idn2_to_ascii_8 with IDN2_NFC_INPUT and
// IDN2_NONTRANSITIONAL, as Util.pm idn_to_ascii calls it (Debian's
// spamassassin gets Net::LibIDN2 through libnet-dns-perl).
var idnProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false), idna.BidiRule())

// idnToASCII is Util.pm idn_to_ascii.
func idnToASCII(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isWordByte(c) || c == '.' || c == ':' || c == '[' || c == ']' || c == '-') {
			simple = false
			break
		}
	}
	if simple {
		return asciiLower(s)
	}
	var u string
	switch {
	case utf8.ValidString(s):
		u = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(s)
	case latin1Letters(s):
		b := make([]rune, 0, len(s))
		for i := 0; i < len(s); i++ {
			b = append(b, rune(s[i]))
		}
		u = string(b)
	default:
		return asciiLower(s)
	}
	a, err := idnProfile.ToASCII(u)
	if err != nil {
		return s
	}
	return a
}

// latin1Letters is: only [a-zA-Z0-9\xc0-\xd6\xd8-\xde\xe0-\xf6\xf8-\xfe_.-].
func latin1Letters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-',
			c >= 0xc0 && c <= 0xd6, c >= 0xd8 && c <= 0xde, c >= 0xe0 && c <= 0xf6, c >= 0xf8 && c <= 0xfe:
		default:
			return false
		}
	}
	return true
}

// asciiLower is Perl's lc on octets.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 32
				}
			}
			return string(b)
		}
	}
	return s
}
