package dnsbl

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxReply caps the text of an SMTP reply we build (RFC 5321 section
// 4.5.3.1.5 allows 512 octets per reply line, code included).
const maxReply = 400

// DefaultRejectText is used by EarlyReject when the hit has no RejectText.
const DefaultRejectText = "Service unavailable; client [%{ip}] blocked using %{zone}"

// TempFailReply is the reply of a verdict whose on_error: tempfail list
// failed. It says nothing about resolvers or lists.
const TempFailReply = "451 4.4.3 Blocklist lookup failed, please try again later"

// ExpandReply expands a reject text template: %{txt} (the list's TXT
// reason), %{ip} (the IP or domain looked up) and %{zone} (the public list
// name, never a DQS zone). The result is one line: control characters and
// CR/LF are removed, non-ASCII is replaced by '?', the length is capped,
// and '%' is doubled, since go-milter passes reply text to the MTA as is.
// A template without %{txt} gets "; <txt>" appended when txt is not empty.
func ExpandReply(tmpl, txt, ip, zone string) string {
	txt = sanitize(txt, maxReply)
	if !strings.Contains(tmpl, "%{txt}") && txt != "" {
		tmpl += "; %{txt}"
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "%{")
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		rest := tmpl[i:]
		switch {
		case strings.HasPrefix(rest, "%{txt}"):
			b.WriteString(txt)
			tmpl = rest[len("%{txt}"):]
		case strings.HasPrefix(rest, "%{ip}"):
			b.WriteString(sanitize(ip, 255))
			tmpl = rest[len("%{ip}"):]
		case strings.HasPrefix(rest, "%{zone}"):
			b.WriteString(sanitize(zone, 255))
			tmpl = rest[len("%{zone}"):]
		default:
			b.WriteString("%{")
			tmpl = rest[2:]
		}
	}
	return escapePercent(strings.TrimRight(sanitize(b.String(), maxReply), " ;"), maxReply)
}

// escapePercent doubles '%' and keeps the result within n bytes.
func escapePercent(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		w := 1
		if s[i] == '%' {
			w = 2
		}
		if b.Len()+w > n {
			break
		}
		b.WriteByte(s[i])
		if w == 2 {
			b.WriteByte('%')
		}
	}
	return b.String()
}

// sanitize makes s a single printable ASCII line of at most n bytes.
func sanitize(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		switch {
		case r == utf8.RuneError || r > unicode.MaxASCII:
			r = '?'
		case r < ' ' || r == 0x7f:
			r = ' '
		}
		if r == ' ' {
			if space || b.Len() == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}
