package rules

import (
	"net/mail"
	"net/netip"
	"regexp"
	"strings"

	"github.com/levee-mail/levee/rules/received"
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

var urlRE = regexp.MustCompile(`(?i)\b(?:https?|ftp)://([a-z0-9\p{L}\-._~%]+(?::[0-9]+)?)`)

// maxURLHosts bounds the distinct URL hosts taken from one message.
const maxURLHosts = 50

// URLHosts returns the distinct lower-cased host names (not IP literals) of
// URLs in the text parts, in order of appearance, at most maxURLHosts.
func (m *Message) URLHosts() []string {
	m.once.urls.Do(func() {
		seen := map[string]bool{}
		for _, p := range m.Parts() {
			if p.Text == "" {
				continue
			}
			for _, sm := range urlRE.FindAllStringSubmatch(p.Text, -1) {
				h := strings.ToLower(sm[1])
				if i := strings.LastIndexByte(h, ':'); i >= 0 {
					h = h[:i]
				}
				h = strings.Trim(h, ".")
				if h == "" || !strings.Contains(h, ".") || seen[h] {
					continue
				}
				if _, err := netip.ParseAddr(h); err == nil {
					continue
				}
				seen[h] = true
				m.urls = append(m.urls, h)
				if len(m.urls) >= maxURLHosts {
					return
				}
			}
		}
	})
	return m.urls
}

// lastUntrusted returns the IP of the last untrusted relay in the Received chain.
func (e *Engine) lastUntrusted(m *Message) (netip.Addr, bool) {
	hop, _, ok := received.LastUntrusted(m.Received(), e.cfg.trusted, e.cfg.internal)
	if !ok {
		return netip.Addr{}, false
	}
	return hop.IP, hop.IP.IsValid()
}
