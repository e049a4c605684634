package view

import (
	"regexp"
	"strings"
)

// htmlURI is one URI the HTML renderer found (HTML.pm push_uri).
type htmlURI struct{ tag, uri string }

// renderer is Mail::SpamAssassin::HTML: the handlers SpamAssassin gives
// HTML::Parser, reduced to what the rendered text and the URI list need.
type renderer struct {
	chunks   []string
	ws       []bool // text_whitespace
	invis    []bool // text_invisible
	inside   map[string]int
	uris     []htmlURI
	baseHref string
	styles   []textStyle
	basefont int
}

var (
	htmlElements = setOf("a abbr acronym address area b base bdo big blockquote body br button caption cite code col colgroup dd del dfn div dl dt em fieldset form h1 h2 h3 h4 h5 h6 head hr html i img input ins kbd label legend li link map meta noscript object ol optgroup option p param pre q samp script select small span strong style sub sup table tbody td textarea tfoot th thead title tr tt ul var " +
		"applet basefont center dir font frame frameset iframe isindex menu noframes s strike u nobr x-sigsep x-tab")
	htmlTricks     = setOf("bgsound embed listing plaintext xmp")
	htmlWhitespace = setOf("br div li th td dt dd p hr blockquote pre embed listing plaintext xmp title h1 h2 h3 h4 h5 h6")
	htmlURITags    = setOf("body table tr td a area link img frame iframe embed script form base bgsound meta")
	reNamespaceTag = regexp.MustCompile(`^(?:o|st\d):[\w-]+/?$`)
)

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// renderHTML is HTML.pm parse + get_rendered_text.
func renderHTML(text string) (string, []htmlURI) {
	r := &renderer{inside: map[string]int{}}
	r.initStyle()
	text = strings.ReplaceAll(text, "&nbsp;", " ")
	text = selfClosing(text)
	text = strings.ReplaceAll(text, "\u201C", `"`)
	text = strings.ReplaceAll(text, "\u201D", `"`)
	p := &hparser{h: r}
	p.parse(text)
	// HTML.pm closes what is left open; an iteration that closes nothing
	// (the parser is stuck in an unterminated tag) would repeat forever
	for _, tag := range []string{"style", "script"} {
		for i := 0; r.inside[tag] > 0 && i < 1000; i++ {
			before := r.inside[tag]
			p.parse("</" + tag + ">")
			if r.inside[tag] >= before {
				break
			}
		}
	}
	p.eof()
	return strings.Join(r.chunks, ""), r.uris
}

// selfClosing is s/<(\w+)\s*\/>/<$1>/gi.
func selfClosing(s string) string {
	if !strings.Contains(s, "/>") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		j := i + 1
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j == i+1 {
			continue
		}
		k := j
		for k < len(s) && isPerlSpaceByte(s[k]) {
			k++
		}
		if k+1 < len(s) && s[k] == '/' && s[k+1] == '>' {
			b.WriteString(s[last:j])
			b.WriteByte('>')
			last = k + 2
			i = k + 1
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

func (r *renderer) comment()                       {}
func (r *renderer) declaration(string)             {}
func (r *renderer) start(tag string, a []htmlAttr) { r.tag(tag, a, 1) }
func (r *renderer) end(tag string)                 { r.tag(tag, nil, -1) }

// tag is HTML.pm html_tag.
func (r *renderer) tag(tag string, attrs []htmlAttr, num int) {
	if reNamespaceTag.MatchString(tag) {
		r.inside[tag] += num
		if r.inside[tag] < 0 {
			r.inside[tag] = 0
		}
		return
	}
	r.inside[tag] += num
	if r.inside[tag] < 0 {
		r.inside[tag] = 0
	}
	if !htmlElements[tag] && !htmlTricks[tag] {
		return
	}
	if textStyleTags[tag] {
		r.textStyleTag(tag, attrs, num)
	}
	if htmlWhitespace[tag] {
		switch tag {
		case "br", "div":
			r.display("\n", true, false)
		case "li", "th", "td", "dt", "dd", "embed", "h1", "h2", "h3", "h4", "h5", "h6":
			r.display(" ", true, false)
		default:
			r.display("\n\n", true, false)
		}
	}
	if num == 1 && htmlURITags[tag] {
		r.htmlURI(tag, attrs)
	}
	if num == 1 && tag == "a" {
		// html_tests keys the anchor text by the canonicalised href, not
		// resolved against <base>: that key is a URI of its own
		href, _ := attr(attrs, "href")
		r.uris = append(r.uris, htmlURI{"a", canonURI(href)})
	}
}

func attr(a []htmlAttr, name string) (string, bool) {
	for _, x := range a {
		if x.name == name {
			return x.value, true
		}
	}
	return "", false
}

// text is HTML.pm html_text (invisible text is rendered too: the body
// array is get_rendered_text() without options).
func (r *renderer) text(t string) {
	if r.inside["script"] > 0 || r.inside["style"] > 0 {
		return
	}
	invisible := false
	if hasNonHTMLSpace(t) {
		invisible = r.fontInvisible()
	}
	r.display(t, false, invisible)
}

// hasNonHTMLSpace is: something is left after s/(?:[ \t\n\r\f\x0b]|\xc2\xa0)//gs.
func hasNonHTMLSpace(t string) bool {
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			continue
		}
		if strings.HasPrefix(t[i:], "\u00c2\u00a0") {
			i += 3
			continue
		}
		return true
	}
	return false
}

// display is HTML.pm display_text.
func (r *renderer) display(t string, whitespace, invisible bool) {
	n := len(r.chunks)
	if whitespace {
		if n > 0 && !r.ws[n-1] && !r.invis[n-1] {
			r.chunks[n-1] = strings.TrimSuffix(r.chunks[n-1], " ")
		}
	} else {
		t = squashHTMLSpace(t)
		if n > 0 && !invisible && r.ws[n-1] {
			t = strings.TrimPrefix(t, " ")
		}
	}
	r.chunks = append(r.chunks, t)
	r.ws = append(r.ws, whitespace)
	r.invis = append(r.invis, invisible)
}

// squashHTMLSpace is s/[ \t\n\r\f\x0b]+|\xc2\xa0/ /gs on characters.
func squashHTMLSpace(t string) string {
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			for i+1 < len(t) && (t[i+1] == ' ' || t[i+1] == '\t' || t[i+1] == '\n' || t[i+1] == '\r' || t[i+1] == '\f' || t[i+1] == '\v') {
				i++
			}
			b.WriteByte(' ')
			continue
		}
		if strings.HasPrefix(t[i:], "\u00c2\u00a0") {
			b.WriteByte(' ')
			i += 3
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// htmlURI is HTML.pm html_uri.
func (r *renderer) htmlURI(tag string, a []htmlAttr) {
	switch tag {
	case "body", "table", "tr", "td":
		if v, ok := attr(a, "background"); ok {
			r.pushURI(tag, v)
		}
	case "a", "area", "link":
		a = renameAttr(a, "href")
		if v, ok := attr(a, "href"); ok {
			v = strings.ReplaceAll(v, "\uFEFF", "")
			r.pushURI(tag, v)
		}
		if v, ok := attr(a, "data-saferedirecturl"); ok {
			r.pushURI(tag, v)
		}
	case "img", "frame", "iframe", "embed", "script", "bgsound":
		a = renameAttr(a, "src")
		if v, ok := attr(a, "src"); ok {
			r.pushURI(tag, v)
		}
	case "form":
		if v, ok := attr(a, "action"); ok {
			r.pushURI(tag, v)
		}
	case "base":
		if v, ok := attr(a, "href"); ok && v != "" && v != "0" {
			u := canonURI(v)
			r.pushURI(tag, u)
			if reBaseScheme.MatchString(u) {
				u = reBaseStrip.ReplaceAllString(u, "$1")
				if !strings.HasSuffix(u, "/") {
					u += "/"
				}
				r.baseHref = u
			}
		}
	case "meta":
		he, ok1 := attr(a, "http-equiv")
		c, ok2 := attr(a, "content")
		if ok1 && ok2 && reRefresh.MatchString(he) && reURLEq.MatchString(c) {
			u := reMetaURLPrefix.ReplaceAllString(c, "")
			u = reMetaURLSuffix.ReplaceAllString(u, "")
			r.pushURI(tag, u)
		}
	}
}

var (
	reBaseScheme    = regexp.MustCompile(`(?i)^(?:https?|ftp):/{0,2}`)
	reBaseStrip     = regexp.MustCompile(`(?i)^([a-z]+:/{0,2}[^/]+/.*?)[^/.]+\.[^/.]{2,4}$`)
	reRefresh       = regexp.MustCompile(`(?i)refresh`)
	reURLEq         = regexp.MustCompile(`(?i)\burl\s*=`)
	reMetaURLPrefix = regexp.MustCompile(`(?is)^.*\burl\s*=\s*`)
	reMetaURLSuffix = regexp.MustCompile(`(?s)\s*;.*`)
	reKeyHref       = regexp.MustCompile(`\w{1,8}/href`)
	reKeySrc        = regexp.MustCompile(`\w{1,8}/src`)
)

// renameAttr moves an attribute named like "x/href" to "href" (Perl's hash
// iteration order decides between several; the last one found wins here).
func renameAttr(a []htmlAttr, name string) []htmlAttr {
	re := reKeyHref
	if name == "src" {
		re = reKeySrc
	}
	var out []htmlAttr
	var moved *htmlAttr
	for i := range a {
		if re.MatchString(a[i].name) {
			x := a[i]
			moved = &x
			continue
		}
		out = append(out, a[i])
	}
	if moved == nil {
		return a
	}
	kept := out[:0]
	for _, x := range out {
		if x.name != name {
			kept = append(kept, x)
		}
	}
	return append(kept, htmlAttr{name, moved.value})
}

// canonURI is HTML.pm canon_uri.
func canonURI(u string) string {
	u = strings.TrimLeftFunc(u, isURISpace)
	u = strings.TrimRightFunc(u, isURISpace)
	if len(u) > maxURILength {
		u = u[:maxURILength]
	}
	return u
}

// isURISpace is [\s\xA0] on characters.
func isURISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' || r == 0xa0 ||
		r == 0x85 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000
}

var reNoBase = regexp.MustCompile(`(?i)^(?:data|mailto|file|cid|tel):`)

// pushURI is HTML.pm push_uri.
func (r *renderer) pushURI(tag, u string) {
	u = canonURI(u)
	if u == "" {
		return
	}
	if reNoBase.MatchString(u) {
		r.uris = append(r.uris, htmlURI{tag, u})
		return
	}
	t := targetURI(r.baseHref, u)
	if t != "" {
		r.uris = append(r.uris, htmlURI{tag, t})
	}
}

type parsedURI struct {
	scheme, authority, path, query, fragment string
	hasScheme, hasAuth, hasQuery, hasFrag    bool
}

var reParseURI = regexp.MustCompile(`^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?`)

func parseURI(u string) parsedURI {
	var p parsedURI
	m := reParseURI.FindStringSubmatchIndex(u)
	if m == nil {
		return p
	}
	get := func(i int) (string, bool) {
		if m[2*i] < 0 {
			return "", false
		}
		return u[m[2*i]:m[2*i+1]], true
	}
	p.scheme, p.hasScheme = get(1)
	p.authority, p.hasAuth = get(2)
	p.path, _ = get(3)
	p.query, p.hasQuery = get(4)
	p.fragment, p.hasFrag = get(5)
	return p
}

// removeDotSegments is HTML.pm _remove_dot_segments.
func removeDotSegments(in string) string {
	out := ""
	if strings.HasPrefix(in, "./") {
		in = "/" + in[2:]
	} else if strings.HasPrefix(in, "../") {
		in = "/" + in[3:]
	}
	for in != "" && in != "0" {
		switch {
		case in == "/." || strings.HasPrefix(in, "/./"):
			in = "/" + strings.TrimPrefix(strings.TrimPrefix(in, "/./"), "/.")
		case in == "/.." || strings.HasPrefix(in, "/../"):
			in = "/" + strings.TrimPrefix(strings.TrimPrefix(in, "/../"), "/..")
			if i := strings.LastIndexByte(out, '/'); i >= 0 {
				out = out[:i]
			} else {
				out = ""
			}
		default:
			j := 0
			if in[0] == '/' {
				j = 1
			}
			for j < len(in) && in[j] != '/' {
				j++
			}
			out += in[:j]
			in = in[j:]
		}
	}
	return out
}

// targetURI is HTML.pm target_uri.
func targetURI(base, rel string) string {
	r := parseURI(rel)
	b := parseURI(base)
	if r.hasScheme && b.hasScheme && r.scheme == b.scheme {
		r.hasScheme = false
	}
	var t parsedURI
	if r.hasScheme {
		t.scheme, t.hasScheme = r.scheme, true
		t.authority, t.hasAuth = r.authority, r.hasAuth
		t.path = removeDotSegments(r.path)
		t.query, t.hasQuery = r.query, r.hasQuery
	} else {
		if r.hasAuth {
			t.authority, t.hasAuth = r.authority, true
			t.path = removeDotSegments(r.path)
			t.query, t.hasQuery = r.query, r.hasQuery
		} else {
			if r.path == "" {
				t.path = b.path
				if r.hasQuery {
					t.query, t.hasQuery = r.query, true
				} else {
					t.query, t.hasQuery = b.query, b.hasQuery
				}
			} else {
				if strings.HasPrefix(r.path, "/") {
					t.path = removeDotSegments(r.path)
				} else {
					t.path = removeDotSegments(mergeURI(b.authority, b.hasAuth, b.path, r.path))
				}
				t.query, t.hasQuery = r.query, r.hasQuery
			}
			t.authority, t.hasAuth = b.authority, b.hasAuth
		}
		t.scheme, t.hasScheme = b.scheme, b.hasScheme
	}
	t.fragment, t.hasFrag = r.fragment, r.hasFrag
	var out strings.Builder
	if t.hasScheme && t.scheme != "" && t.scheme != "0" {
		out.WriteString(t.scheme + ":")
	} else if t.hasAuth {
		la := strings.ToLower(t.authority)
		if reWWW.MatchString(la) {
			out.WriteString("http:")
		} else if reFTP.MatchString(la) {
			out.WriteString("ftp:")
		}
	}
	if t.hasAuth {
		out.WriteString("//" + t.authority)
	}
	out.WriteString(t.path)
	if t.hasQuery {
		out.WriteString("?" + t.query)
	}
	if t.hasFrag {
		out.WriteString("#" + t.fragment)
	}
	return out.String()
}

var (
	reWWW = regexp.MustCompile(`^www\d*\.`)
	reFTP = regexp.MustCompile(`^ftp\d*\.`)
)

func mergeURI(bAuth string, hasAuth bool, bPath, rPath string) string {
	if hasAuth && (bPath == "" || bPath == "0") {
		return "/" + rPath
	}
	if strings.Contains(bPath, "/") {
		bPath = bPath[:strings.LastIndexByte(bPath, '/')+1]
	} else {
		bPath = ""
	}
	return bPath + rPath
}
