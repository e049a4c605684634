package rules

// Checks on the body: its MIME structure, charsets and transfer
// encodings, attachments, and the text and HTML a reader sees. The text
// views several families read (textParts, htmlTexts, visibleText) are here.
//
//   - structure: MIME_HTML_ONLY, FREEMAIL_HTML_ONLY, MPART_ALT_DIFF,
//     MIME_MALFORMED, MIME_NO_VERSION, BODY_EMPTY
//   - charsets and encodings: MIME_CHARSET_UNKNOWN,
//     MIME_CHARSET_MISLABELLED, MIME_BASE64_TEXT
//   - attachments: MIME_HTML_ATTACHMENT, ATTACH_RISKY
//   - text and HTML: HTML_HIDDEN_TEXT, BODY_INVISIBLE_CHARS

import (
	"regexp"
	"strings"
	"unicode"
)

func init() {
	register(
		// structure
		Rule{Name: "MIME_HTML_ONLY", Score: 0.7, Kind: KindMIME, Desc: "Message has HTML text only, no plain-text part",
			Test: mimeHTMLOnly},
		Rule{Name: "FREEMAIL_HTML_ONLY", Score: 1.0, Kind: KindMIME, Desc: "HTML-only message from a freemail address (webmail sends a text part too)",
			Test: func(m *Message) bool { return mimeHTMLOnly(m) && isFreemail(domainOf(addrOf(m.Header("From")))) }},
		Rule{Name: "MPART_ALT_DIFF", Score: 1.0, Kind: KindMIME, Desc: "Plain-text and HTML alternatives say different things",
			Test: mpartAltDiff},
		Rule{Name: "MIME_MALFORMED", Score: 1.0, Kind: KindMIME, Desc: "Malformed MIME structure (bad multipart, undecodable part)",
			Test: mimeMalformed},
		Rule{Name: "MIME_NO_VERSION", Score: 0.5, Kind: KindMIME, Desc: "MIME content headers without MIME-Version",
			Test: func(m *Message) bool {
				return !m.Has("MIME-Version") && strings.HasPrefix(strings.ToLower(m.Header("Content-Type")), "multipart/")
			}},
		Rule{Name: "BODY_EMPTY", Score: 1.0, Kind: KindMIME, Desc: "Message has no text and no attachment",
			Test: bodyEmpty},

		// charsets and encodings
		Rule{Name: "MIME_CHARSET_UNKNOWN", Score: 1.0, Kind: KindMIME, Desc: "A text part has an unknown charset",
			Test: mimeCharsetUnknown},
		Rule{Name: "MIME_CHARSET_MISLABELLED", Score: 0.8, Kind: KindMIME, Desc: "A text part's bytes do not fit its charset label",
			Test: mimeCharsetMislabelled},
		Rule{Name: "MIME_BASE64_TEXT", Score: 1.0, Kind: KindMIME, Desc: "A plain ASCII text part is base64-encoded for no reason",
			Test: mimeBase64Text},

		// attachments
		Rule{Name: "MIME_HTML_ATTACHMENT", Score: 1.5, Kind: KindMIME, Desc: "An HTML or SVG file is attached (phishing form)",
			Test: mimeHTMLAttachment},
		Rule{Name: "ATTACH_RISKY", Score: 2.0, Kind: KindMIME, Desc: "Disk image, archive or script attached (.iso, .img, .zip, .js, .exe)",
			Test: attachRisky},

		// text and HTML
		Rule{Name: "HTML_HIDDEN_TEXT", Score: 0.8, Kind: KindMIME, Desc: "HTML hides many words (display:none, visibility:hidden, zero font size)",
			Test: htmlHiddenText},
		Rule{Name: "BODY_INVISIBLE_CHARS", Score: 1.0, Kind: KindMIME, Desc: "Text broken up with zero-width or soft-hyphen characters",
			Test: bodyInvisibleChars},
	)
}

// ---- text views

func textParts(m *Message) (plain, htm []Part) {
	m.chk.partsOnce.Do(func() {
		for _, p := range m.Parts() {
			if p.Filename != "" {
				continue
			}
			switch p.ContentType {
			case "text/plain":
				m.chk.plain = append(m.chk.plain, p)
			case "text/html":
				m.chk.htm = append(m.chk.htm, p)
			}
		}
	})
	return m.chk.plain, m.chk.htm
}

// htmlTexts returns htmlToText of each HTML part of textParts, computed
// once per message (several checks read it).
func htmlTexts(m *Message) []string {
	m.chk.htmTextOnce.Do(func() {
		_, htm := textParts(m)
		for _, p := range htm {
			m.chk.htmText = append(m.chk.htmText, htmlToText(p.Text))
		}
	})
	return m.chk.htmText
}

// visibleText returns the readable text of the message: the plain parts,
// else the HTML parts with markup removed.
func visibleText(m *Message) string {
	m.chk.text.Do(func() { m.chk.textVal = computeVisibleText(m) })
	return m.chk.textVal
}

func computeVisibleText(m *Message) string {
	plain, _ := textParts(m)
	var b strings.Builder
	if len(plain) > 0 {
		for _, p := range plain {
			b.WriteString(p.Text)
			b.WriteByte('\n')
		}
		if strings.TrimSpace(b.String()) != "" {
			return b.String()
		}
	}
	for _, t := range htmlTexts(m) {
		b.WriteString(t)
		b.WriteByte('\n')
	}
	return b.String()
}

// ---- structure

func mimeHTMLOnly(m *Message) bool {
	plain, htm := textParts(m)
	return len(htm) > 0 && len(plain) == 0
}

func samePath(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i == len(a)-1 {
			continue // siblings: same parent
		}
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mpartAltDiff: a plain-text and an HTML sibling that share few words
// (SpamAssassin MPART_ALT_DIFF): the text part is filler for filters.
func mpartAltDiff(m *Message) bool {
	plain, htm := textParts(m)
	for i, h := range htm {
		for _, p := range plain {
			if !samePath(h.Path, p.Path) {
				continue
			}
			hw, pw := wordSet(htmlTexts(m)[i]), wordSet(p.Text)
			if len(hw) < 10 {
				continue
			}
			common := 0
			for w := range hw {
				if pw[w] {
					common++
				}
			}
			if common*4 < len(hw) {
				return true
			}
		}
	}
	return false
}

func mimeMalformed(m *Message) bool {
	if len(m.MIMEErrors()) > 0 && !m.Truncated {
		return true
	}
	for _, p := range m.Parts() {
		if p.Err != nil && !strings.Contains(strings.ToLower(p.Err.Error()), "charset") {
			return true
		}
	}
	return false
}

func bodyEmpty(m *Message) bool {
	if m.BodySize == 0 {
		return true
	}
	for _, p := range m.Parts() {
		if p.Filename != "" || !strings.HasPrefix(p.ContentType, "text/") {
			return false
		}
	}
	return strings.TrimFunc(visibleText(m), func(r rune) bool { return unicode.IsSpace(r) || r == 0xa0 }) == ""
}

// ---- charsets and encodings

func mimeCharsetUnknown(m *Message) bool {
	for _, p := range m.Parts() {
		if p.Err != nil && strings.Contains(strings.ToLower(p.Err.Error()), "charset") {
			return true
		}
		if strings.HasPrefix(p.ContentType, "text/") && p.Charset != "" && !knownCharset(p.Charset) {
			return true
		}
	}
	return false
}

// knownCharset reports whether the decoder knows a charset label.
func knownCharset(cs string) bool {
	_, err := charsetReader(cs, strings.NewReader(""))
	return err == nil
}

// mimeCharsetMislabelled: a part labelled us-ascii (or not labelled)
// carries 8-bit text, or a part labelled UTF-8 is not UTF-8.
func mimeCharsetMislabelled(m *Message) bool {
	for _, p := range m.Parts() {
		if !strings.HasPrefix(p.ContentType, "text/") || p.Err != nil {
			continue
		}
		switch p.Charset {
		case "us-ascii", "ascii":
			for i := 0; i < len(p.Text); i++ {
				if p.Text[i] >= 0x80 {
					return true
				}
			}
		case "utf-8", "utf8":
			if strings.Count(p.Text, "\uFFFD") > 2 {
				return true
			}
		}
	}
	return false
}

// mimeBase64Text: a text part in base64 whose content is 7-bit text
// with short lines: quoted-printable or 7bit would do; bulk mailers do it
// to hide words from filters.
func mimeBase64Text(m *Message) bool {
	for _, p := range m.Parts() {
		if p.Encoding != "base64" || !strings.HasPrefix(p.ContentType, "text/") || p.Filename != "" || len(p.Text) < 200 {
			continue
		}
		ascii := true
		for i := 0; i < len(p.Text); i++ {
			if p.Text[i] >= 0x80 {
				ascii = false
				break
			}
		}
		if ascii {
			return true
		}
	}
	return false
}

// ---- attachments

var htmlAttachRE = regexp.MustCompile(`(?i)\.(s?html?|xhtml|svgz?|hta)$`)

func mimeHTMLAttachment(m *Message) bool {
	for _, p := range m.Parts() {
		if p.Filename != "" && (htmlAttachRE.MatchString(strings.TrimSpace(p.Filename)) || p.ContentType == "image/svg+xml") {
			return true
		}
	}
	return false
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

// ---- text and HTML

// hiddenStyleRE: an inline style that hides its element.
var hiddenStyleRE = regexp.MustCompile(`(?i)style\s*=\s*["'][^"']*(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em)?\s*[;"'])`)

// hiddenStyleAnchRE is hiddenStyleRE anchored where it starts.
var hiddenStyleAnchRE = regexp.MustCompile(`\A(?:` + hiddenStyleRE.String() + `)`)

// hiddenStyles calls fn with the matches of hiddenStyleRE in s, at most
// max, as hiddenStyleRE.FindAllStringIndex(s, max) gives them. Every match
// starts with "style" (any case), so the regexp runs only there, anchored.
func hiddenStyles(s string, max int, fn func(start, end int)) {
	if strings.Contains(s, "\u017f") { // long s: (?i) takes it for s
		for _, loc := range hiddenStyleRE.FindAllStringIndex(s, max) {
			fn(loc[0], loc[1])
		}
		return
	}
	n, last := 0, 0
	for o := range foldIndexes(s, "style", 2) {
		if n >= max {
			return
		}
		if o < last {
			continue
		}
		// a match ends by the quote that closes the attribute value and
		// names one of the hiding properties before it
		v := styleValue(s, o)
		if v == "" || !containsFoldAny(v, "display", "visibility", "font-size") {
			continue
		}
		if end := hiddenStyleEnd(v); end >= 0 {
			fn(o, o+end)
			n++
			last = o + end
		}
	}
}

// hiddenStyleEnd is hiddenStyleAnchRE.FindStringIndex(v)[1] (-1: no
// match) for a v without U+017F, without the regexp: the value's
// [^"']* is greedy, so the match names the last hiding property that
// starts before the value's first quote.
func hiddenStyleEnd(v string) int {
	i := len("style")
	if len(v) < i || !strings.EqualFold(v[:i], "style") {
		return -1
	}
	i = skipRESpace(v, i)
	if i >= len(v) || v[i] != '=' {
		return -1
	}
	i = skipRESpace(v, i+1)
	if i >= len(v) || (v[i] != '"' && v[i] != '\'') {
		return -1
	}
	b := i + 1
	q := strings.IndexAny(v[b:], `"'`)
	if q < 0 {
		q = len(v)
	} else {
		q += b
	}
	for p := q - 1; p >= b; p-- {
		if e := hidingPropEnd(v, p); e >= 0 {
			return e
		}
	}
	return -1
}

// hidingPropEnd matches display\s*:\s*none | visibility\s*:\s*hidden |
// font-size\s*:\s*0(?:px|pt|em)?\s*[;"'] (any case) at v[p:].
func hidingPropEnd(v string, p int) int {
	prop := func(name, value string) int {
		if !hasPrefixFold(v[p:], name) {
			return -1
		}
		i := skipRESpace(v, p+len(name))
		if i >= len(v) || v[i] != ':' {
			return -1
		}
		i = skipRESpace(v, i+1)
		if value != "" {
			if !hasPrefixFold(v[i:], value) {
				return -1
			}
			return i + len(value)
		}
		return i
	}
	switch v[p] | 0x20 {
	case 'd':
		return prop("display", "none")
	case 'v':
		return prop("visibility", "hidden")
	case 'f':
		i := prop("font-size", "")
		if i < 0 || i >= len(v) || v[i] != '0' {
			return -1
		}
		i++
		end := func(j int) int {
			j = skipRESpace(v, j)
			if j < len(v) && (v[j] == ';' || v[j] == '"' || v[j] == '\'') {
				return j + 1
			}
			return -1
		}
		for _, u := range [...]string{"px", "pt", "em"} {
			if hasPrefixFold(v[i:], u) {
				if e := end(i + 2); e >= 0 {
					return e
				}
			}
		}
		return end(i)
	}
	return -1
}

// styleValue returns s from o (where "style" starts) to the quote that
// closes the attribute value (or to the end of s), "" when no quoted
// value follows (style\s*=\s*["']).
func styleValue(s string, o int) string {
	i := o + len("style")
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	if i >= len(s) || s[i] != '=' {
		return ""
	}
	i++
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	if i >= len(s) || (s[i] != '"' && s[i] != '\'') {
		return ""
	}
	if q := strings.IndexAny(s[i+1:], `"'`); q >= 0 {
		return s[o : i+1+q+1]
	}
	return s[o:]
}

// htmlHiddenText: at least 15 words sit right inside elements whose
// inline style hides them: text for filters, not for the reader. (A
// newsletter's hidden preheader is a line, not a paragraph.)
func htmlHiddenText(m *Message) bool {
	_, htm := textParts(m)
	for _, p := range htm {
		words := 0
		hiddenStyles(p.Text, 50, func(_, end int) {
			rest := p.Text[end:]
			gt := strings.IndexByte(rest, '>')
			if gt < 0 {
				return
			}
			rest = rest[gt+1:]
			if lt := strings.IndexByte(rest, '<'); lt >= 0 {
				rest = rest[:lt]
			}
			words += countWords(rest, 100)
		})
		if words >= 15 {
			return true
		}
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
