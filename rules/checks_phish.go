package rules

import (
	"regexp"
	"strings"
	"unicode"
)

// Phishing checks on the links of a message: what a link shows against
// where it goes, where it goes (raw addresses, shorteners, free hosting),
// and forms. Phishing relayed through abused Microsoft 365 and Google
// tenants passes every envelope and Received check; its links give it
// away. Scores are defaults, never negative.
func init() {
	register(
		Rule{Name: "FROM_ABUSED_TLD", Score: 1.0, Kind: KindHeader, Desc: "From address domain is under a top-level domain mostly used for abuse",
			Test: func(m *Message) bool { return abusedTLDHost(domainOf(addrOf(m.Header("From")))) }},
		Rule{Name: "BODY_INVISIBLE_CHARS", Score: 1.0, Kind: KindMIME, Desc: "Text broken up with zero-width or soft-hyphen characters",
			Test: bodyInvisibleChars},
		Rule{Name: "ATTACH_RISKY", Score: 2.0, Kind: KindMIME, Desc: "Disk image, archive or script attached (.iso, .img, .zip, .js, .exe)",
			Test: attachRisky},
	)
}

func setOf(s string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Fields(s) {
		out[f] = true
	}
	return out
}

var riskyAttachRE = regexp.MustCompile(`(?i)\.(iso|img|vhdx?|zip|rar|7z|gz|tgz|cab|ace|arj|exe|scr|com|pif|bat|cmd|js|jse|vbs|vbe|wsf|hta|lnk|msi|jar|ps1|one|mobileconfig)$`)

func attachRisky(m *Message) bool {
	for _, p := range m.Parts() {
		f := strings.TrimSpace(p.Filename)
		if f != "" && riskyAttachRE.MatchString(f) {
			return true
		}
	}
	return false
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

// bodyInvisibleChars: at least five invisible characters inside words of
// the readable text (zero-width space/joiners, word joiner, soft hyphen,
// combining grapheme joiner): word filters see other words than the reader.
func bodyInvisibleChars(m *Message) bool {
	t := visibleText(m)
	if len(t) > 64<<10 {
		t = t[:64<<10]
	}
	n := 0
	prevLetter := false
	for _, r := range t {
		switch r {
		case 0x200b, 0x200c, 0x200d, 0x2060, 0xad, 0x34f, 0xfeff:
			if prevLetter {
				n++
				if n >= 5 {
					return true
				}
			}
			continue
		}
		prevLetter = unicode.IsLetter(r)
	}
	return false
}
