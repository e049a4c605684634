package rules

import (
	"net/mail"
	"strings"
)

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

// isASCIIWord: the characters \b takes for word characters.
func isASCIIWord(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}
