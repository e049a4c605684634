package rules

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Checks on the body structure, the mail program's headers and the text.
func init() {
	register(
		Rule{Name: "MIME_HTML_ONLY", Score: 0.7, Kind: KindMIME, Desc: "Message has HTML text only, no plain-text part",
			Test: mimeHTMLOnly},
		Rule{Name: "FREEMAIL_HTML_ONLY", Score: 1.0, Kind: KindMIME, Desc: "HTML-only message from a freemail address (webmail sends a text part too)",
			Test: func(m *Message) bool { return mimeHTMLOnly(m) && isFreemail(domainOf(addrOf(m.Header("From")))) }},
		Rule{Name: "MPART_ALT_DIFF", Score: 1.0, Kind: KindMIME, Desc: "Plain-text and HTML alternatives say different things",
			Test: mpartAltDiff},
		Rule{Name: "MIME_CHARSET_UNKNOWN", Score: 1.0, Kind: KindMIME, Desc: "A text part has an unknown charset",
			Test: mimeCharsetUnknown},
		Rule{Name: "MIME_CHARSET_MISLABELLED", Score: 0.8, Kind: KindMIME, Desc: "A text part's bytes do not fit its charset label",
			Test: mimeCharsetMislabelled},
		Rule{Name: "MIME_BASE64_TEXT", Score: 1.0, Kind: KindMIME, Desc: "A plain ASCII text part is base64-encoded for no reason",
			Test: mimeBase64Text},
		Rule{Name: "MIME_MALFORMED", Score: 1.0, Kind: KindMIME, Desc: "Malformed MIME structure (bad multipart, undecodable part)",
			Test: mimeMalformed},
		Rule{Name: "MIME_HTML_ATTACHMENT", Score: 1.5, Kind: KindMIME, Desc: "An HTML or SVG file is attached (phishing form)",
			Test: mimeHTMLAttachment},
		Rule{Name: "HTML_HIDDEN_TEXT", Score: 0.8, Kind: KindMIME, Desc: "HTML hides many words (display:none, visibility:hidden, zero font size)",
			Test: htmlHiddenText},
		Rule{Name: "BODY_EMPTY", Score: 1.0, Kind: KindMIME, Desc: "Message has no text and no attachment",
			Test: bodyEmpty},
		Rule{Name: "MIME_NO_VERSION", Score: 0.5, Kind: KindMIME, Desc: "MIME content headers without MIME-Version",
			Test: func(m *Message) bool {
				return !m.Has("MIME-Version") && strings.HasPrefix(strings.ToLower(m.Header("Content-Type")), "multipart/")
			}},

		Rule{Name: "FORGED_MUA_OUTLOOK", Score: 3.0, Kind: KindHeader, Desc: "Claims Microsoft Outlook but lacks Thread-Index, which Outlook always adds",
			Test: forgedOutlook},
		Rule{Name: "MISSING_MIMEOLE", Score: 2.0, Kind: KindHeader, Desc: "Claims Outlook Express/Outlook 2002-2003 but lacks X-MimeOLE",
			Test: missingMimeOLE},
		Rule{Name: "XM_NO_VERSION", Score: 0.1, Kind: KindHeader, Desc: "X-Mailer without a version number",
			Test: xmNoVersion},
		Rule{Name: "XM_GIBBERISH", Score: 1.0, Kind: KindHeader, Desc: "X-Mailer is random-looking text",
			Test: xmGibberish},

		Rule{Name: "PUMPDUMP", Score: 1.0, Kind: KindMIME, Desc: "Stock pump-and-dump wording",
			Test: func(m *Message) bool { return pumpDumpCount(m) >= 1 }},
		Rule{Name: "PUMPDUMP_MULTI", Score: 2.5, Kind: KindMIME, Desc: "Several stock pump-and-dump phrases",
			Test: func(m *Message) bool { return pumpDumpCount(m) >= 3 }},
	)
}

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

func mimeHTMLOnly(m *Message) bool {
	plain, htm := textParts(m)
	return len(htm) > 0 && len(plain) == 0
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}]{3,}`)

// htmlToText strips tags, comments, scripts, styles and the head, and
// decodes entities. It is a linear scan, not a parser: good enough to
// read what a message shows.
func htmlToText(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			j := strings.Index(s[i+4:], "-->")
			if j < 0 {
				break
			}
			i += 4 + j + 3
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		tag := strings.ToLower(s[i+1 : i+end])
		i += end + 1
		b.WriteByte(' ')
		for _, skip := range [...]string{"script", "style", "head", "title"} {
			if strings.HasPrefix(tag, skip) && (len(tag) == len(skip) || tag[len(skip)] == ' ' || tag[len(skip)] == '\t' || tag[len(skip)] == '\n') {
				if j := indexFold(s[i:], "</"+skip); j >= 0 {
					i += j
				} else {
					i = len(s)
				}
				break
			}
		}
	}
	return html.UnescapeString(b.String())
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], needle) {
			return i
		}
	}
	return -1
}

func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	forWords(strings.ToLower(s), 5000, func(w string) bool {
		out[w] = true
		return true
	})
	return out
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

var htmlAttachRE = regexp.MustCompile(`(?i)\.(s?html?|xhtml|svgz?|hta)$`)

func mimeHTMLAttachment(m *Message) bool {
	for _, p := range m.Parts() {
		if p.Filename != "" && (htmlAttachRE.MatchString(strings.TrimSpace(p.Filename)) || p.ContentType == "image/svg+xml") {
			return true
		}
	}
	return false
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

// isRESpace: the bytes of the regexp class \s.
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// forWords calls fn with every match of wordRE ([\p{L}\p{N}]{3,}: a
// run of three or more letters or digits) in s, at most max; fn returns
// false to stop.
func forWords(s string, max int, fn func(w string) bool) {
	n := 0
	for i := 0; i < len(s) && n < max; {
		start, runes := i, 0
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				if '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
					i++
					runes++
					continue
				}
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || !(unicode.IsLetter(r) || unicode.IsNumber(r)) {
				break
			}
			i += size
			runes++
		}
		if runes >= 3 {
			n++
			if !fn(s[start:i]) {
				return
			}
		}
		if runes == 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
	}
}

// countWords is len(wordRE.FindAllString(s, max)).
func countWords(s string, max int) int {
	n := 0
	forWords(s, max, func(string) bool { n++; return true })
	return n
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

// ---- mail programs

var (
	outlookOERE   = regexp.MustCompile(`^Microsoft Outlook Express [4-6]\.|^Microsoft (?:Office )?Outlook(?:, Build| CWS|, Build 1[01]\.| 1[01]\.)|^Microsoft Outlook IMO`)
	outlookModRE  = regexp.MustCompile(`^Microsoft (?:Office )?Outlook 1[2-6]\.`)
	xmVersionRE   = regexp.MustCompile(`\d`)
	xmGibberishRE = regexp.MustCompile(`^[A-Za-z]{5,}$|^[a-z0-9]{12,}$`)
)

// forgedOutlook: Outlook 2007 and later write Thread-Index on every
// message (and X-Mailer "Microsoft Outlook 16.0" or "Microsoft Office
// Outlook 12.0"); bulk mailers copy the X-Mailer alone.
func forgedOutlook(m *Message) bool {
	x := m.Header("X-Mailer")
	return outlookModRE.MatchString(x) && !m.Has("Thread-Index")
}

// missingMimeOLE: Outlook Express 4-6 and Outlook 2000-2003 (builds 9-11)
// always write X-MimeOLE.
func missingMimeOLE(m *Message) bool {
	x := m.Header("X-Mailer")
	return outlookOERE.MatchString(x) && !outlookModRE.MatchString(x) && !m.Has("X-MimeOLE")
}

func xmNoVersion(m *Message) bool {
	x := strings.TrimSpace(m.Header("X-Mailer"))
	return x != "" && !xmVersionRE.MatchString(x)
}

// xmGibberish: an X-Mailer that is one random word: no vowels in a long
// run, or a lower-case alphanumeric blob.
func xmGibberish(m *Message) bool {
	x := strings.TrimSpace(m.Header("X-Mailer"))
	if !xmGibberishRE.MatchString(x) {
		return false
	}
	if utf8.RuneCountInString(x) >= 12 && strings.IndexFunc(x, unicode.IsDigit) >= 0 {
		return true
	}
	return lowVowelRatio(x) || mixedCaseJunk(x)
}

// mixedCaseJunk: upper-case letters inside a word at random: "xKfPqLmz".
func mixedCaseJunk(s string) bool {
	changes := 0
	for i := 1; i < len(s); i++ {
		if unicode.IsUpper(rune(s[i])) != unicode.IsUpper(rune(s[i-1])) {
			changes++
		}
	}
	return changes >= 3 || (changes == 0 && strings.ToUpper(s) == s && noVowel(s))
}

func noVowel(s string) bool {
	return !strings.ContainsAny(strings.ToLower(s), "aeiouy")
}

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

func skipRESpace(s string, i int) int {
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
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

// containsFoldAny: s holds one of the lower-case ASCII words, ignoring
// ASCII case.
func containsFoldAny(s string, words ...string) bool {
	for _, w := range words {
		for range foldIndexes(s, w, 0) {
			return true
		}
	}
	return false
}

// foldIndexes yields, in order, every index of the lower-case ASCII word w
// in s, ignoring ASCII case; k is the byte of w to look for first (the
// rarest).
func foldIndexes(s, w string, k int) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		lo, up := w[k], w[k]
		if 'a' <= lo && lo <= 'z' {
			up = lo - 'a' + 'A'
		}
		nextLo, nextUp := -2, -2 // -2: not searched yet, -1: none left
		for i := k; i < len(s); {
			if nextLo != -1 && nextLo < i {
				if nextLo = strings.IndexByte(s[i:], lo); nextLo >= 0 {
					nextLo += i
				}
			}
			if nextUp != -1 && nextUp < i {
				if nextUp = strings.IndexByte(s[i:], up); nextUp >= 0 {
					nextUp += i
				}
			}
			j := nextLo
			if j < 0 || (nextUp >= 0 && nextUp < j) {
				j = nextUp
			}
			if j < 0 {
				return
			}
			if start := j - k; start >= 0 && start+len(w) <= len(s) && asciiEqualFold(s[start:start+len(w)], w) {
				if !yield(start) {
					return
				}
			}
			i = j + 1
		}
	}
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

// ---- pump and dump (SpamAssassin sandbox jhardin __PUMPDUMP_01..10)

var pumpDumpREs = mustPhrases(false,
	`\bstock (?:is )?(?:set|going|about|poised|expected|ready) to (?:soar|explode|skyrocket|triple|double|take off)`,
	`\b(?:will|could|to) (?:soar|explode|skyrocket|triple|double)\b.{0,40}\b(?:stock|shares|price)`,
	`\bbuy (?:it |shares )?(?:before|by) (?:the )?(?:monday|tuesday|wednesday|thursday|friday|market) ?(?:open|morning|close)?`,
	`\btrading at (?:a )?(?:bargain|discount|steal)`,
	`\bgrab (?:as many|all the) shares`,
	`\b(?:stock|pick) of the (?:year|month|decade)\b`,
	`\b(?:symbol|ticker)\s{0,4}:?\s{0,4}[A-Z]{3,5}\b.{0,80}\b(?:cents|\$0\.\d\d)`,
	`\b(?:otc|pink ?sheets?|otcbb)\b.{0,60}\b(?:alert|pick|breakout|soar)`,
	`\bnext (?:hot )?(?:big|hot) (?:stock|winner)\b`,
	`\b(?:strong|massive|huge) (?:buy|upside)\b.{0,40}\b(?:stock|shares|target)`,
)

func pumpDumpCount(m *Message) int { return lureCount(m).pumpDump }
