package view

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// render is Message/Node.pm rendered(): the part's type and text, with
// normalize_charset on. utf8 tells whether Perl holds the text as
// characters (else it is all below U+0100 and meant as octets).
func (n *node) render() (typ, text string, utf8Flag, ok bool) {
	if n.rendered {
		return n.rendType, n.rendText, n.rendUTF8, n.rendDefined
	}
	n.rendered = true
	t := n.effectiveType()
	if t != "text/plain" && t != "text/html" {
		return "", "", false, false
	}
	raw := n.decode()
	charset := n.charset
	if !n.hasCharset {
		charset = "us-ascii"
	}
	n.rendDefined = true
	if raw != "" && t == "text/html" {
		n.rendType = "text/html"
		dec, flagged := normalize(raw, charset, false)
		text, uris := renderHTML(dec)
		n.htmlURIs = uris
		n.rendText = text
		n.rendUTF8 = flagged || hasRuneAbove(text, 0xff)
		return n.rendType, n.rendText, n.rendUTF8, true
	}
	n.rendType = t
	n.rendText, n.rendUTF8 = normalize(raw, charset, false)
	return n.rendType, n.rendText, n.rendUTF8, true
}

func hasRuneAbove(s string, max rune) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			for _, r := range s[i:] {
				if r > max {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Body returns SpamAssassin's rendered body array, the text body rules
// run on: the Subject, then every text part decoded to UTF-8 with HTML
// rendered, paragraphs as elements (Message.pm get_rendered_body_text_array).
func (m *Message) Body() []string {
	m.bodyOnce.Do(m.computeBody)
	return m.body
}

func (m *Message) computeBody() {
	root := m.tree()
	m.nodeMu.Lock()
	defer m.nodeMu.Unlock()
	parts := root.findParts(true)
	if len(parts) == 0 {
		return
	}
	subject := root.header("subject")
	subj := "\n"
	if len(subject) > 0 {
		subj = subject[len(subject)-1] + "\n"
	}
	scan := m.bodyScanSize()
	var b strings.Builder
	flagged := false
	for _, p := range parts {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		typ, rnd, f, ok := p.render()
		if !ok {
			continue
		}
		if f {
			flagged = true
		}
		rnd = truncateRendered(rnd, scan, true)
		b.WriteString(rnd)
		if typ == "text/html" {
			m.htmlURIs = append(m.htmlURIs, p.htmlURIs...)
		}
	}
	text := collapseBodySpace(b.String(), flagged)
	if !flagged {
		text = latin1Octets(text)
	}
	m.body = splitShortLines(subj + text)
}

// truncateRendered cuts a rendered part to body_part_scan_size, at a
// newline or a space within 1 KiB after the limit (lengths in Perl
// characters when the text is characters).
func truncateRendered(s string, scan int, chars bool) string {
	if scan <= 0 {
		return s
	}
	n := len(s)
	if chars {
		n = utf8.RuneCountInString(s)
	}
	if n <= scan {
		return s
	}
	off := charOffset(s, scan, chars)
	if i := strings.IndexByte(s[off:], '\n'); i >= 0 && charLen(s[off:off+i], chars) <= 1024 {
		return s[:off+i+1]
	}
	if i := strings.IndexByte(s[off:], ' '); i >= 0 && charLen(s[off:off+i], chars) <= 1024 {
		return s[:off+i+1]
	}
	return s[:off]
}

func charLen(s string, chars bool) int {
	if chars {
		return utf8.RuneCountInString(s)
	}
	return len(s)
}

// charOffset is the byte offset of the n-th character.
func charOffset(s string, n int, chars bool) int {
	if !chars {
		return n
	}
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// latin1Octets turns a string of characters below U+0100 (held as UTF-8)
// back into the octets Perl holds.
func latin1Octets(s string) string {
	if !has8bit(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

// isBodySpace is Perl's \s: Unicode white space on characters, ASCII white
// space on octets.
func isBodySpace(r rune, chars bool) bool {
	if r < 0x80 {
		return isPerlSpaceByte(byte(r))
	}
	return chars && unicode.IsSpace(r)
}

// collapseBodySpace is get_body_text_array_common's white space handling:
// s/\n+\s*\n+/\x00/gs; s/\s+/ /gs; tr/\x00/\n/.
func collapseBodySpace(t string, chars bool) string {
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); {
		// a run of ASCII that is neither white space nor NUL is copied as is
		j := i
		for j < len(t) && t[j] < 0x80 && t[j] != 0 && !isPerlSpaceByte(t[j]) {
			j++
		}
		if j > i {
			b.WriteString(t[i:j])
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		if !chars {
			r, size = rune(t[i]), 1
			if t[i] >= 0x80 {
				// octets mode holds Latin-1 characters as UTF-8 here
				r, size = utf8.DecodeRuneInString(t[i:])
			}
		}
		if !isBodySpace(r, chars) {
			if r == 0 {
				// tr/\x00/\n/ turns the text's own NULs into newlines too
				b.WriteByte('\n')
			} else {
				b.WriteString(t[i : i+size])
			}
			i += size
			continue
		}
		// a run of white space: it holds a paragraph break when it has
		// \n+ \s* \n+ in it; the regexps then leave white space before
		// the first such "\n" and after the last one
		j = i
		nl := 0
		firstNL, lastNL := -1, -1
		for j < len(t) {
			r2, s2 := utf8.DecodeRuneInString(t[j:])
			if !chars && t[j] < 0x80 {
				r2, s2 = rune(t[j]), 1
			}
			if !isBodySpace(r2, chars) {
				break
			}
			if r2 == '\n' {
				nl++
				if firstNL < 0 {
					firstNL = j
				}
				lastNL = j
			}
			j += s2
		}
		if nl >= 2 {
			// s/\n+\s*\n+/\x00/ on this run: greedy from the first "\n";
			// \s* takes everything up to the last "\n" (which \n+ needs),
			// so the match is firstNL..lastNL.
			if firstNL > i {
				b.WriteByte(' ')
			}
			b.WriteByte('\n')
			if lastNL+1 < j {
				b.WriteByte(' ')
			}
		} else {
			b.WriteByte(' ')
		}
		i = j
	}
	return b.String()
}

// splitShortLines is Message.pm split_into_array_of_short_lines.
func splitShortLines(s string) []string {
	var out []string
	for _, line := range splitLines(s) {
		for len(line) > maxBodyLineLength {
			n := strings.LastIndexByte(line[:maxBodyLineLength+1], ' ') + 1
			if n == 0 {
				n = maxBodyLineLength
			}
			out = append(out, line[:n])
			line = line[n:]
		}
		out = append(out, line)
	}
	return out
}

// Rawbody returns SpamAssassin's decoded body array, the text rawbody
// rules run on: every text or message part transfer-decoded, not charset
// decoded, HTML kept, cut into paragraphs of 1-2 KiB
// (Message.pm get_decoded_body_text_array).
func (m *Message) Rawbody() []string {
	m.rawOnce.Do(m.computeRawbody)
	return m.rawbody
}

func (m *Message) computeRawbody() {
	root := m.tree()
	m.nodeMu.Lock()
	defer m.nodeMu.Unlock()
	scan := m.rawbodyScanSize()
	out := []string{}
	for _, p := range root.findParts(true) {
		et := strings.ToLower(p.effectiveType())
		if !(strings.HasPrefix(et, "text") || strings.HasPrefix(et, "message")) {
			continue
		}
		if len(et) > 4 && strings.HasPrefix(et, "text") && isWordByte(et[4]) {
			continue
		}
		if strings.HasPrefix(et, "message") && len(et) > 7 && isWordByte(et[7]) {
			continue
		}
		if p.typ == "text/calendar" {
			continue
		}
		raw := p.decode()
		if scan > 0 && len(raw) > scan {
			raw = truncateRaw(raw, scan)
		}
		out = append(out, splitShortParagraphs(raw)...)
	}
	m.rawbody = out
}

func truncateRaw(s string, scan int) string {
	for _, c := range []byte{'\n', '>', ' '} {
		if i := strings.IndexByte(s[scan:], c); i >= 0 && i <= 1024 {
			return s[:scan+i+1]
		}
	}
	return s[:scan]
}

// splitShortParagraphs is Message.pm split_into_array_of_short_paragraphs.
func splitShortParagraphs(s string) []string {
	const L = maxBodyLineLength
	if len(s) <= L {
		return []string{s}
	}
	var out []string
	ofs := 0
	for len(s)-ofs > 2*L {
		j := -1
		for _, c := range []byte{'\n', '>', ' '} {
			k := strings.IndexByte(s[ofs+L:], c)
			if k >= 0 {
				k += ofs + L
			}
			if k >= 0 && k-ofs+1 <= 2*L {
				j = k
				break
			}
		}
		if j < 0 {
			j = ofs + L
		}
		out = append(out, s[ofs:j+1])
		ofs = j + 1
	}
	if ofs < len(s) {
		out = append(out, s[ofs:])
	}
	return out
}
