package view

import (
	"regexp"
	"strings"
)

// SpamAssassin's limits (Constants.pm).
const (
	maxBodyLineLength   = 2048
	maxHeaderKeyLength  = 256
	maxHeaderValLength  = 8192
	maxHeaderLength     = 65536
	maxURILength        = 8192
	maxMIMEParts        = 1000
	maxDecodedPartBytes = 64 << 20
)

// hdr is one header field of a node (Message/Node.pm header()).
type hdr struct {
	name string // as written
	key  string // lower-cased
	raw  string // raw value
	dec  string // decoded value (_decode_header)
}

// node is a Mail::SpamAssassin::Message::Node (or a Message: isMsg).
type node struct {
	hdrs []hdr

	typ        string
	charset    string
	hasCharset bool
	name       string

	raw     []string // the part's lines; nil for multiparts and sub-messages
	hasRaw  bool
	decoded *string

	parts  []*node
	isLeaf bool

	// root (Message) only
	isMsg           bool
	pristineHeaders string
	pristineBody    string
	mboxSep         string
	truncatedHeader bool

	// rendering cache (Node.pm rendered)
	rendered     bool
	rendType     string
	rendText     string
	rendUTF8     bool
	rendDefined  bool
	htmlURIs     []htmlURI
	effectiveTyp string
}

// splitLines is Perl's split(/^/m, $s, -1): lines with their "\n".
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	n := strings.Count(s, "\n")
	out := make([]string, 0, n+1)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// header returns the decoded values of a field (Node.pm header, list context).
func (n *node) header(key string) []string {
	key = strings.ToLower(key)
	var out []string
	for i := range n.hdrs {
		if n.hdrs[i].key == key {
			out = append(out, n.hdrs[i].dec)
		}
	}
	return out
}

// header1 is header() in scalar context: the last value, or "".
func (n *node) header1(key string) string {
	key = strings.ToLower(key)
	for i := len(n.hdrs) - 1; i >= 0; i-- {
		if n.hdrs[i].key == key {
			return n.hdrs[i].dec
		}
	}
	return ""
}

// rawHeader returns the raw values of a field (Node.pm raw_header).
func (n *node) rawHeader(key string) []string {
	key = strings.ToLower(strings.TrimFunc(key, isPerlSpace))
	var out []string
	for i := range n.hdrs {
		if n.hdrs[i].key == key {
			out = append(out, n.hdrs[i].raw)
		}
	}
	return out
}

// getHeader is Node.pm get_header in list context: decoded values with a
// "\n" each, or raw values unfolded.
func (n *node) getHeader(key string, raw bool) []string {
	if raw {
		vals := n.rawHeader(key)
		for i, v := range vals {
			vals[i] = unfoldRaw(v)
		}
		return vals
	}
	vals := n.header(key)
	for i, v := range vals {
		vals[i] = v + "\n"
	}
	return vals
}

// unfoldRaw is s/\015?\012\s+/ /gs.
func unfoldRaw(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' && i+1 < len(v) && v[i+1] == '\n' && i+2 < len(v) && isPerlSpaceByte(v[i+2]) {
			i++
			c = '\n'
		}
		if c == '\n' && i+1 < len(v) && isPerlSpaceByte(v[i+1]) {
			j := i + 1
			for j < len(v) && isPerlSpaceByte(v[j]) {
				j++
			}
			b.WriteByte(' ')
			i = j - 1
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// getAllHeaders is Node.pm get_all_headers in list context.
func (n *node) getAllHeaders(raw bool) []string {
	out := make([]string, 0, len(n.hdrs))
	size := 0
	// SpamAssassin fills positions per name in order of first appearance,
	// stopping at MAX_HEADER_LENGTH; the result is in header order.
	type pos struct{ first, idx int }
	order := map[string]int{}
	var names []string
	for _, h := range n.hdrs {
		if _, ok := order[h.key]; !ok {
			order[h.key] = len(names)
			names = append(names, h.key)
		}
	}
	lines := make([]string, len(n.hdrs))
	set := make([]bool, len(n.hdrs))
	truncated := false
outer:
	for _, name := range names {
		for i, h := range n.hdrs {
			if h.key != name {
				continue
			}
			var contents string
			if raw {
				contents = unfoldRaw(h.raw)
			} else {
				contents = h.dec + "\n"
			}
			size += len(name) + len(contents) + 2
			if size > maxHeaderLength {
				truncated = true
				break outer
			}
			lines[i] = h.name + ": " + contents
			set[i] = true
		}
	}
	_ = truncated
	for i := range lines {
		if set[i] {
			out = append(out, lines[i])
		}
	}
	return out
}

func isPerlSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isPerlSpace(r rune) bool { return r < 0x80 && isPerlSpaceByte(byte(r)) }

// addHeader is Node.pm header($key, $value).
func (n *node) addHeader(key, raw string) {
	dec := strings.ReplaceAll(raw, "\n ", " ")
	dec = collapseFolds(raw)
	dec = strings.TrimRightFunc(dec, isPerlSpace)
	dec = strings.TrimLeftFunc(dec, isPerlSpace)
	lk := strings.ToLower(key)
	n.hdrs = append(n.hdrs, hdr{name: key, key: lk, raw: raw, dec: decodeHeader(dec, lk)})
}

// collapseFolds is s/\n[ \t]+/ /gs.
func collapseFolds(v string) string {
	if strings.IndexByte(v, '\n') < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\n' && i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
			j := i + 1
			for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
				j++
			}
			b.WriteByte(' ')
			i = j - 1
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// isHeaderStart is /^[\041-\071\073-\176]+[ \t]*:/.
func isHeaderStart(s string) bool {
	i := 0
	for i < len(s) && s[i] >= 0x21 && s[i] <= 0x7e && s[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i < len(s) && s[i] == ':'
}

// isHeaderStartNoWS is /^[\041-\071\073-\176]+:/.
func isHeaderStartNoWS(s string) bool {
	i := 0
	for i < len(s) && s[i] >= 0x21 && s[i] <= 0x7e && s[i] != ':' {
		i++
	}
	return i > 0 && i < len(s) && s[i] == ':'
}

// isBlank is /^\s*$/.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isPerlSpaceByte(s[i]) {
			return false
		}
	}
	return true
}

// parseMessage is Message.pm new() followed by parse_body().
func parseMessage(text string, subparse int) *node {
	self := &node{isMsg: true, isLeaf: true}
	msg := splitLines(text)
	if len(msg) == 0 {
		msg = []string{"\n"}
	}
	// mbox separator
	if isMboxFrom(msg[0]) {
		self.mboxSep = msg[0]
		msg = msg[1:]
	}
	eol := "\n"
	if len(msg) > 0 && (strings.Contains(msg[0], "\r\n") || strings.Contains(msg[len(msg)-1], "\r\n")) {
		eol = "\r\n"
	}
	squash := eol == "\r\n"

	var ph strings.Builder
	hdrErrors := 0
	var header strings.Builder // the field being read, continuation lines and all
	haveHeader := false
	for {
		eof := len(msg) == 0
		var current string
		if eof {
			current = eol
		} else {
			current = msg[0]
			msg = msg[1:]
		}
		if squash {
			current = addMissingCR(current)
		}
		if len(current) > 0 && (current[0] == ' ' || current[0] == '\t') {
			header.WriteString(current)
			haveHeader = true
			ph.WriteString(current)
			continue
		}
		if haveHeader {
			header := header.String()
			if i := strings.IndexByte(header, ':'); i >= 0 {
				key, value := header[:i], header[i+1:]
				if squash {
					value = strings.ReplaceAll(value, "\r\n", "\n")
				}
				key = strings.TrimRight(key, " \t")
				if len(key) > maxHeaderKeyLength {
					key = key[:maxHeaderKeyLength]
					self.truncatedHeader = true
				}
				if len(value) > maxHeaderValLength {
					value = value[:maxHeaderValLength]
					self.truncatedHeader = true
				}
				self.addHeader(key, value)
			}
		}
		if current == eol {
			if !eof {
				ph.WriteString(current)
			}
			break
		} else if strings.HasPrefix(current, "--") {
			msg = append([]string{current}, msg...)
			break
		} else if !isHeaderStart(current) {
			hdrErrors++
			if hdrErrors > 3 {
				msg = append([]string{current}, msg...)
				break
			}
		}
		header.Reset()
		header.WriteString(current)
		haveHeader = true
		ph.WriteString(current)
	}
	self.pristineHeaders = ph.String()
	self.pristineBody = strings.Join(msg, "")

	// CRLF squashing and blank line merging, iterating in reverse order
	start := -1
	for cnt := len(msg) - 1; cnt >= 0; cnt-- {
		if squash && strings.HasSuffix(msg[cnt], "\r\n") {
			msg[cnt] = msg[cnt][:len(msg[cnt])-2] + "\n"
		}
		if isBlank(msg[cnt]) {
			if start < 0 {
				start = cnt
			}
			if cnt != 0 {
				continue
			}
		}
		if start >= 0 {
			num := start - cnt
			if num > 20 {
				from := cnt + 2
				to := from + num - 20
				if to > len(msg) {
					to = len(msg)
				}
				if from < to {
					msg = append(msg[:from], msg[to:]...)
				}
			}
			start = -1
		}
	}

	ct := parseContentType(self.header1("content-type"))
	self.typ = ct.typ
	if strings.HasPrefix(self.typ, "multipart/") && len(msg) > 1 && hasNonSpace(msg[0]) {
		if !ct.hasBoundary || !strings.HasPrefix(msg[0], "--"+ct.boundary) {
			msg = append([]string{"\n"}, msg...)
		}
	}
	parseBody(self, ct.boundary, ct.hasBoundary, msg, subparse)
	return self
}

func hasNonSpace(s string) bool { return !isBlank(s) }

// isMboxFrom is /^From\s+(?!:)/.
func isMboxFrom(s string) bool {
	if !strings.HasPrefix(s, "From") {
		return false
	}
	i := 4
	j := i
	for j < len(s) && isPerlSpaceByte(s[j]) {
		j++
	}
	if j == i {
		return false
	}
	// \s+ backtracks: the match fails only if every split point is followed
	// by ':', i.e. the run of spaces is followed by ':' and, giving back
	// spaces, the next char is a space (never ':'). So it fails only when
	// the run is followed by ':' and the run has length... any shorter run
	// is followed by a space, which is not ':', so it matches.
	if j < len(s) && s[j] == ':' && j-i == 1 {
		return false
	}
	return true
}

// addMissingCR is s/(?<!\015)\012/\015\012/gs.
func addMissingCR(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseBody is Message.pm parse_body for one queued part.
func parseBody(msg *node, boundary string, hasBoundary bool, body []string, subparse int) {
	if strings.HasPrefix(msg.typ, "multipart/") && hasBoundary && subparse > 0 {
		parseMultipart(msg, boundary, body, subparse)
		return
	}
	parseNormal(msg, boundary, hasBoundary, body)
	if strings.HasPrefix(msg.typ, "message/") && msg.typ != "message/partial" && subparse > 0 {
		d := msg.decode()
		if (msg.typ == "message/rfc822" || msg.typ == "message/global") && d != "" {
			sub := parseMessage(d, subparse-1)
			msg.parts = append(msg.parts, sub)
			msg.isLeaf = false
			msg.raw = nil
			msg.hasRaw = false
			msg.decoded = nil
		}
	}
}

// parseMultipart is Message.pm _parse_multipart.
func parseMultipart(msg *node, boundary string, body []string, subparse int) {
	nested := false
	msg.isLeaf = false
	msg.parts = []*node{}
	subparse--
	bnd := "--" + boundary

	// skip the preamble
	for line := 0; line < len(body); line++ {
		if strings.HasPrefix(body[line], bnd) && isBlank(body[line][len(bnd):]) {
			body = body[line+1:]
			break
		}
	}

	part := &node{isLeaf: true}
	inBody := false
	var header strings.Builder // the part header field being read, continuation lines and all
	haveHeader := false
	var partArray []string
	havePart := false
	partcnt := 0
	lineCount := len(body)
	for idx, line := range body {
		_ = idx
		foundEnd := false
		foundLast := false
		if strings.HasPrefix(line, "--") && strings.HasPrefix(line, bnd) {
			rest := line[len(bnd):]
			last := false
			if strings.HasPrefix(rest, "--") && isBlank(rest[2:]) {
				last = true
				foundEnd = true
			} else if isBlank(rest) {
				foundEnd = true
			}
			foundLast = foundEnd && last
		}
		if foundEnd && nested {
			foundEnd = false
			if foundLast {
				nested = false
			}
		}
		lineCount--
		if lineCount == 0 || foundEnd {
			if !foundEnd {
				for len(line) > maxBodyLineLength {
					partArray = append(partArray, line[:maxBodyLineLength]+"\n")
					line = line[maxBodyLineLength:]
				}
				partArray = append(partArray, line)
				havePart = true
			} else if havePart && len(partArray) > 0 {
				l := partArray[len(partArray)-1]
				l = strings.TrimSuffix(l, "\n")
				if l == "" {
					partArray = partArray[:len(partArray)-1]
				} else {
					partArray[len(partArray)-1] = l
				}
			} else if !havePart {
				partArray = []string{}
				havePart = true
			}
			ct := parseContentType(part.header1("content-type"))
			part.typ = ct.typ
			if ct.missing && msg.typ == "multipart/digest" {
				part.typ = "message/rfc822"
			}
			pb, hasPB := ct.boundary, ct.hasBoundary
			if !hasPB || pb == "" {
				// $p_boundary ||= $boundary
				pb, hasPB = boundary, true
			}
			msg.parts = append(msg.parts, part)
			parseBody(part, pb, hasPB, partArray, subparse)
			if foundLast {
				return
			}
			partcnt++
			if partcnt == maxMIMEParts {
				return
			}
			inBody = false
			part = &node{isLeaf: true}
			partArray = nil
			havePart = false
			header.Reset()
			haveHeader = false
			continue
		}
		if !inBody {
			if isHeaderStart(line) {
				if haveHeader && header.Len() > 0 {
					k, v := splitPartHeader(header.String())
					part.addHeader(k, v)
				}
				header.Reset()
				header.WriteString(line)
				haveHeader = true
				continue
			} else if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && haveHeader && header.Len() > 0 {
				header.WriteString(line)
				continue
			} else {
				if haveHeader && header.Len() > 0 {
					k, v := splitPartHeader(header.String())
					part.addHeader(k, v)
					if strings.ToLower(k) == "content-type" {
						nb := parseContentType(part.header1("content-type"))
						if nb.hasBoundary && nb.boundary == boundary {
							nested = true
						}
					}
				}
				inBody = true
				if line == "\n" || line == "\r\n" || line == "\r" || line == "" {
					continue
				}
			}
		}
		for len(line) > maxBodyLineLength {
			partArray = append(partArray, line[:maxBodyLineLength]+"\n")
			line = line[maxBodyLineLength:]
		}
		partArray = append(partArray, line)
		havePart = true
	}
}

// splitPartHeader is split(/:\s*/, $header, 2).
func splitPartHeader(h string) (string, string) {
	i := strings.IndexByte(h, ':')
	if i < 0 {
		return h, ""
	}
	j := i + 1
	for j < len(h) && isPerlSpaceByte(h[j]) {
		j++
	}
	return h[:i], h[j:]
}

// parseNormal is Message.pm _parse_normal.
func parseNormal(msg *node, boundary string, hasBoundary bool, body []string) {
	ct := parseContentType(msg.header1("content-type"))
	if !ct.missing {
		if !strings.HasPrefix(ct.typ, "multipart/") || hasBoundary {
			msg.typ = ct.typ
		} else {
			msg.typ = "text/plain"
		}
	}
	msg.charset, msg.hasCharset = ct.charset, ct.hasCharset
	disp := msg.header1("content-disposition")
	if nm, ok := dispositionName(disp); ok {
		msg.name = nm
	} else if ct.name != "" && ct.name != "0" {
		msg.name = ct.name
	}
	msg.raw = body
	msg.hasRaw = true
}

// dispositionName is /name=\s*"?([^";]+)"?/i.
func dispositionName(d string) (string, bool) {
	ld := strings.ToLower(d)
	for off := 0; ; {
		i := strings.Index(ld[off:], "name=")
		if i < 0 {
			return "", false
		}
		j := off + i + 5
		for j < len(d) && isPerlSpaceByte(d[j]) {
			j++
		}
		if j < len(d) && d[j] == '"' {
			j++
		}
		k := j
		for k < len(d) && d[k] != '"' && d[k] != ';' {
			k++
		}
		if k > j {
			return d[j:k], true
		}
		// backtracking: \s* and "? may give back; [^";]+ then may match
		// the spaces or nothing new. Try giving back the quote/spaces.
		if j > off+i+5 {
			// the chars given back are spaces or a quote: a space can be
			// matched by [^";]+ when the quote is not taken.
			jj := off + i + 5
			if jj < len(d) && d[jj] != '"' && d[jj] != ';' {
				kk := jj
				for kk < len(d) && d[kk] != '"' && d[kk] != ';' {
					kk++
				}
				return d[jj:kk], true
			}
		}
		off = off + i + 1
	}
}

// contentType is the result of Util.pm parse_content_type.
type contentType struct {
	typ         string
	boundary    string
	hasBoundary bool
	charset     string
	hasCharset  bool
	name        string
	missing     bool
}

// parseContentType is Util.pm parse_content_type.
func parseContentType(ct string) contentType {
	var r contentType
	if ct == "" || ct == "0" {
		r.missing = true
		ct = "text/plain; charset=us-ascii"
	}
	r.boundary, r.hasBoundary = ctBoundary(ct)
	if r.hasBoundary {
		r.boundary = strings.ReplaceAll(r.boundary, `"`, "")
	}
	r.charset, r.hasCharset = ctParam(ct, "charset", false)
	name, ok := ctParam(ct, "name", true)
	if ok {
		r.name = name
	}
	if (!ok || name == "" || name == "0") && hasNameStar0(ct) {
		r.name = ctNameStar(ct)
	}
	t := strings.TrimLeftFunc(ct, isPerlSpace)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	// s@^([^/]+(?:/[^/\s]*)?).*$@$1@s
	if i := strings.IndexByte(t, '/'); i > 0 {
		j := i + 1
		for j < len(t) && t[j] != '/' && !isPerlSpaceByte(t[j]) {
			j++
		}
		t = t[:j]
	} else if i == 0 {
		// [^/]+ needs one char: no match, unchanged
	}
	t = strings.ToLower(t)
	if t == "" || t == "0" {
		r.missing = true
	}
	if t == "" || t == "0" || (isTextType(t) && t != "text/x-vcard" && t != "text/calendar" && t != "text/html") {
		t = "text/plain"
	}
	// tr/\000-\040\177-\377\042\050\051\054\072-\077\100\133-\135//d
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || (c >= ':' && c <= '?') || c == '@' || (c >= '[' && c <= ']') {
			continue
		}
		b.WriteByte(c)
	}
	r.typ = b.String()
	return r
}

// isTextType is /^text\b/.
func isTextType(t string) bool {
	if !strings.HasPrefix(t, "text") {
		return false
	}
	return len(t) == 4 || !isWordByte(t[4])
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// wordBoundaryBefore reports \b before position i of s (the char at i is a
// word char).
func wordStart(s string, i int) bool {
	return i == 0 || !isWordByte(s[i-1])
}

// ctBoundary is m!\bboundary\s*=\s*("[^"]+|[^\s";]+(?=[\s;]|$))!i.
func ctBoundary(ct string) (string, bool) {
	l := strings.ToLower(ct)
	for off := 0; off < len(l); {
		i := strings.Index(l[off:], "boundary")
		if i < 0 {
			return "", false
		}
		i += off
		off = i + 1
		if !wordStart(l, i) {
			continue
		}
		j := i + 8
		for j < len(ct) && isPerlSpaceByte(ct[j]) {
			j++
		}
		if j >= len(ct) || ct[j] != '=' {
			continue
		}
		j++
		for j < len(ct) && isPerlSpaceByte(ct[j]) {
			j++
		}
		if j < len(ct) && ct[j] == '"' {
			k := j + 1
			for k < len(ct) && ct[k] != '"' {
				k++
			}
			if k > j+1 {
				return ct[j:k], true
			}
			continue
		}
		k := j
		for k < len(ct) && ct[k] != '"' && ct[k] != ';' && !isPerlSpaceByte(ct[k]) {
			k++
		}
		if k > j && (k == len(ct) || ct[k] == ';' || isPerlSpaceByte(ct[k]) || (ct[k] == '\n' && k == len(ct)-1)) {
			return ct[j:k], true
		}
	}
	return "", false
}

var (
	reCTCharset   = regexp.MustCompile(`(?i)\bcharset[\t\n\v\f\r ]*=[\t\n\v\f\r ]*["']?(.*?)["']?(?:;|\n?$)`)
	reCTName      = regexp.MustCompile(`(?i)\b(?:file)?name[\t\n\v\f\r ]*=[\t\n\v\f\r ]*["']?(.*?)["']?(?:;|\n?$)`)
	reCTNameStar  = regexp.MustCompile(`(?i)\b(?:file)?name\*(\d+)[\t\n\v\f\r ]*=[\t\n\v\f\r ]*["']?(.*?)["']?(?:;|\n?$)`)
	reCTNameStar0 = regexp.MustCompile(`(?i)\b(?:file)?name\*0[\t\n\v\f\r ]*=`)
)

// ctParam is /\bcharset\s*=\s*["']?(.*?)["']?(?:;|$)/i, or with name
// /\b(?:file)?name\s*=.../i.
func ctParam(ct, param string, file bool) (string, bool) {
	re := reCTCharset
	if file {
		re = reCTName
	}
	m := re.FindStringSubmatch(ct)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func hasNameStar0(ct string) bool { return reCTNameStar0.MatchString(ct) }

// ctNameStar joins RFC 2231 name*N parameters.
func ctNameStar(ct string) string {
	parts := map[int]string{}
	maxN := -1
	for _, m := range reCTNameStar.FindAllStringSubmatch(ct, -1) {
		n := 0
		for _, c := range m[1] {
			n = n*10 + int(c-'0')
			if n > 1000 {
				break
			}
		}
		if n > 1000 {
			continue
		}
		parts[n] = m[2]
		if n > maxN {
			maxN = n
		}
	}
	var b strings.Builder
	for i := 0; i <= maxN; i++ {
		b.WriteString(parts[i])
	}
	return b.String()
}

// decode is Node.pm decode(): the transfer-decoded part, "" when the node
// holds no data.
func (n *node) decode() string {
	if n.decoded != nil {
		return *n.decoded
	}
	if !n.hasRaw {
		return ""
	}
	raw := strings.Join(n.raw, "")
	enc := strings.ToLower(n.header1("content-transfer-encoding"))
	var d string
	switch enc {
	case "quoted-printable":
		d = strings.ReplaceAll(qpDecode(raw), "\r\n", "\n")
	case "base64":
		d = base64Decode(raw)
		if isTextOrMessage(n.typ) {
			d = strings.ReplaceAll(d, "\r\n", "\n")
		}
	default:
		d = raw
	}
	n.decoded = &d
	return d
}

// isTextOrMessage is m@^(?:text|message)\b/@i.
func isTextOrMessage(t string) bool {
	l := strings.ToLower(t)
	return strings.HasPrefix(l, "text/") || strings.HasPrefix(l, "message/")
}

// effectiveType is Node.pm effective_type.
func (n *node) effectiveType() string {
	l := strings.ToLower(n.name)
	for _, suf := range []string{".html", ".htm", ".shtml", ".shtm"} {
		if strings.HasSuffix(l, suf) {
			return "text/html"
		}
	}
	return n.typ
}

// findParts is Node.pm find_parts($re, $onlyleaves): every node in
// depth-first order whose type is not empty.
func (n *node) findParts(onlyLeaves bool) []*node {
	var out []*node
	stack := []*node{n}
	for len(stack) > 0 {
		p := stack[0]
		stack = stack[1:]
		leaf := p.isLeaf
		if p.typ != "" && (!onlyLeaves || leaf) {
			out = append(out, p)
		}
		if !leaf {
			stack = append(append([]*node{}, p.parts...), stack...)
		}
	}
	return out
}
