package view

import (
	"strings"
)

// This file ports the tokenizer of Perl's HTML::Parser 3.81 (hparser.c
// parse_buf and friends) as SpamAssassin configures it: api_version 3,
// marked_sections on, every other option off, the text given as characters
// (utf8_mode off), in one parse() call, then eof. The input is the UTF-8
// encoding of Perl's characters; HTML::Parser looks at the same bytes.

type htmlAttr struct{ name, value string }

type htmlHandler interface {
	start(tag string, attrs []htmlAttr)
	end(tag string)
	text(dtext string)
	comment()
	declaration(text string)
}

type hparser struct {
	h           htmlHandler
	literal     string // literal mode element, "" when none
	isCdata     bool
	msStack     [][]string
	ms          int
	noDashDash  bool // no_dash_dash_comment_end, set at eof
	pendingEnd  string
	buf         string
	eofReported bool
}

const (
	msNone = iota
	msInclude
	msRCDATA
	msCDATA
	msIgnore
)

var literalElems = []struct {
	name  string
	cdata bool
}{
	{"script", true}, {"style", true}, {"xmp", true}, {"iframe", true},
	{"plaintext", true}, {"title", false}, {"textarea", false},
}

func isHSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xa0
}
func isHNameFirst(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}
func isHNameChar(c byte) bool {
	return isHNameFirst(c) || c >= '0' && c <= '9' || c == '.' || c == '-'
}
func isNotSpaceGT(c byte) bool   { return !isHSpace(c) && c != '>' }
func isNotSpaceEqGT(c byte) bool { return !isHSpace(c) && c != '>' && c != '=' }

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func (p *hparser) report(kind int, text string, tag string, attrs []htmlAttr) {
	if p.pendingEnd != "" && kind != evText && kind != evComment {
		t := p.pendingEnd
		p.pendingEnd = ""
		p.h.end(t)
	}
	if p.ms == msIgnore {
		return
	}
	switch kind {
	case evText:
		if !p.isCdata {
			text = decodeEntities(text, true)
		}
		p.h.text(text)
	case evStart:
		p.h.start(tag, attrs)
	case evEnd:
		p.h.end(tag)
	case evComment:
		p.h.comment()
	case evDecl:
		p.h.declaration(text)
	}
}

const (
	evText = iota
	evStart
	evEnd
	evComment
	evDecl
	evNone
)

// parse is HTML::Parser parse($chunk).
func (p *hparser) parse(chunk string) {
	data := p.buf + chunk
	p.buf = ""
	if data == "" {
		return
	}
	s := p.parseBuf(data, 0)
	if s < len(data) {
		p.buf = data[s:]
	}
}

// eof is HTML::Parser eof.
func (p *hparser) eof() {
	if p.buf != "" {
		data := p.buf
		p.buf = ""
		s := 0
		for s < len(data) {
			if p.literal != "" {
				if p.literal == "plaintext" || p.literal == "xmp" || p.literal == "iframe" || p.literal == "textarea" {
					break
				}
				if p.literal == "script" || p.literal == "style" {
					p.report(evEnd, "", p.literal, nil)
				} else {
					p.pendingEnd = p.literal
				}
				p.literal = ""
				s = p.parseBuf(data, s)
				continue
			}
			if !p.noDashDash && data[s] == '<' {
				p.noDashDash = true
				s = p.parseBuf(data, s)
				continue
			}
			if data[s] == '<' {
				if s+1 == len(data) || isHNameFirst(data[s+1]) || data[s+1] == '/' || data[s+1] == '!' || data[s+1] == '?' {
					p.report(evComment, "", "", nil)
					s = len(data)
				}
			}
			break
		}
		if s < len(data) {
			p.report(evText, data[s:], "", nil)
		}
	}
	// the end_document event flushes a pending end tag (title, textarea)
	if p.pendingEnd != "" {
		t := p.pendingEnd
		p.pendingEnd = ""
		p.h.end(t)
	}
	p.literal = ""
	p.isCdata = false
}

func (p *hparser) msUpdate() {
	p.ms = msNone
	for _, toks := range p.msStack {
		for _, t := range toks {
			v := msNone
			switch t {
			case "include":
				v = msInclude
			case "rcdata":
				v = msRCDATA
			case "cdata":
				v = msCDATA
			case "ignore":
				v = msIgnore
			}
			if p.ms < v {
				p.ms = v
			}
		}
	}
	p.isCdata = p.ms == msCDATA
}

// parseBuf is hparser.c parse_buf: it returns how far it got.
func (p *hparser) parseBuf(d string, beg int) int {
	end := len(d)
	s, t := beg, beg
	for {
		for p.literal != "" {
			l := p.literal
			for s < end && d[s] != '<' {
				s++
			}
			if s == end {
				return t
			}
			endText := s
			s++
			if at(d, s) == '/' {
				s++
				k := 0
				for k < len(l) && toLowerByte(at(d, s)) == l[k] {
					s++
					k++
				}
				if k == len(l) && l != "plaintext" {
					for isHSpace(at(d, s)) && s < end {
						s++
					}
					if at(d, s) == '>' && s < end {
						s++
						if t != endText {
							p.report(evText, d[t:endText], "", nil)
						}
						p.report(evEnd, "", l, nil)
						p.literal = ""
						p.isCdata = false
						t = s
					}
				}
			}
		}
		for p.ms == msCDATA || p.ms == msRCDATA {
			for s < end && d[s] != ']' {
				s++
			}
			if s < end && d[s] == ']' {
				endText := s
				s++
				if at(d, s) == ']' && at(d, s+1) == '>' && s+1 < end {
					s += 2
					if t != endText {
						p.report(evText, d[t:endText], "", nil)
					}
					p.report(evNone, "", "", nil)
					t = s
					p.msStack = p.msStack[:len(p.msStack)-1]
					p.msUpdate()
					continue
				}
			}
			if s >= end {
				return t
			}
		}
		for s < end && d[s] != '<' {
			if p.ms != msNone && d[s] == ']' {
				endText := s
				s++
				if at(d, s) == ']' && s < end {
					s++
					if at(d, s) == '>' && s < end {
						s++
						p.report(evText, d[t:endText], "", nil)
						p.report(evNone, "", "", nil)
						t = s
						if len(p.msStack) > 0 {
							p.msStack = p.msStack[:len(p.msStack)-1]
						}
						p.msUpdate()
						continue
					}
				}
				if s < end {
					s++
				}
				continue
			}
			s++
		}
		if s != t {
			if s < end && d[s] == '<' {
				p.report(evText, d[t:s], "", nil)
				t = s
			} else {
				s--
				if isHSpace(d[s]) {
					for s >= t && isHSpace(d[s]) {
						s--
					}
				} else {
					for s >= t && !isHSpace(d[s]) {
						s--
					}
					for s >= t && isHSpace(d[s]) {
						s--
					}
				}
				s++
				if s != t {
					p.report(evText, d[t:s], "", nil)
				}
				return s
			}
		}
		if end-s < 3 {
			return s
		}
		s++
		var np int
		c := d[s]
		switch {
		case isHNameFirst(c):
			np = p.parseStart(d, t)
		case c == '/':
			np = p.parseEnd(d, t)
		case c == '!':
			np = p.parseDecl(d, t)
		case c == '?':
			np = p.parseProcess(d, t)
		default:
			np = -1
		}
		if np >= 0 {
			if np == t {
				return t
			}
			t, s = np, np
		}
	}
}

func toLowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// skipUntilGT is hparser.c skip_until_gt.
func skipUntilGT(d string, s int) int {
	var quote byte
	prev := byte(' ')
	for s < len(d) {
		c := d[s]
		if quote == 0 && c == '>' {
			return s
		}
		if c == '"' || c == '\'' {
			if c == quote {
				quote = 0
			} else if quote == 0 && (prev == ' ' || prev == '=') {
				quote = c
			}
		}
		prev = c
		s++
	}
	return s
}

// parseComment is the non-strict parse_comment; s is after "<!--". It
// returns -1 for failure (never, non-strict), beg (the value of s) when
// more data is needed, or the end.
func (p *hparser) parseComment(d string, beg int) int {
	s := beg
	end := len(d)
	if p.noDashDash {
		for s < end && d[s] != '>' {
			s++
		}
		if s < end {
			s++
			p.report(evComment, "", "", nil)
			return s
		}
		return beg
	}
	for {
		for s < end && d[s] != '-' {
			s++
		}
		tokEnd := s
		if s >= end {
			return beg
		}
		s++
		if at(d, s) == '-' && s < end {
			s++
			for s < end && isHSpace(d[s]) {
				s++
			}
			if s < end && d[s] == '>' {
				s++
				p.report(evComment, "", "", nil)
				return s
			}
		}
		if s < end {
			s = tokEnd + 1
			continue
		}
		return beg
	}
}

func (p *hparser) parseMarkedSection(d string, beg int) int {
	s := beg + 3
	end := len(d)
	var toks []string
findNames:
	for s < end && isHSpace(d[s]) {
		s++
	}
	for s < end && isHNameFirst(d[s]) {
		ns := s
		s++
		for s < end && isHNameChar(d[s]) {
			s++
		}
		ne := s
		for s < end && isHSpace(d[s]) {
			s++
		}
		if s == end {
			return beg
		}
		toks = append(toks, strings.ToLower(d[ns:ne]))
	}
	if s < end && d[s] == '-' {
		s++
		if s < end && d[s] == '-' {
			s++
			for {
				for s < end && d[s] != '-' {
					s++
				}
				if s == end {
					return beg
				}
				s++
				if s < end && d[s] == '-' {
					s++
					goto findNames
				}
			}
		}
		return -1
	}
	if s < end && d[s] == '[' {
		s++
		if toks == nil {
			toks = []string{"include"}
		}
		p.msStack = append(p.msStack, toks)
		p.msUpdate()
		p.report(evNone, "", "", nil)
		return s
	}
	if s == end {
		return beg
	}
	return -1
}

func (p *hparser) parseDecl(d string, beg int) int {
	s := beg + 2
	end := len(d)
	if at(d, s) == '-' && s < end {
		s++
		if s == end {
			return beg
		}
		if d[s] == '-' {
			s++
			tmp := p.parseComment(d, s)
			if tmp == s {
				return beg
			}
			return tmp
		}
		goto declFail
	}
	if at(d, s) == '[' && s < end {
		tmp := p.parseMarkedSection(d, beg)
		if tmp < 0 {
			goto declFail
		}
		return tmp
	}
	if at(d, s) == '>' && s < end {
		s++
		p.report(evComment, "", "", nil)
		return s
	}
	if s < end && (d[s] >= 'a' && d[s] <= 'z' || d[s] >= 'A' && d[s] <= 'Z') {
		id := s
		s++
		for s < end && isHNameChar(d[s]) {
			s++
		}
		if s == end {
			return beg
		}
		w := strings.ToLower(d[id:s])
		if w != "doctype" && w != "entity" {
			goto declFail
		}
		for {
			for s < end && isHSpace(d[s]) {
				s++
			}
			if s == end {
				return beg
			}
			c := d[s]
			if c == '"' || c == '\'' {
				q := c
				s++
				for s < end && d[s] != q {
					s++
				}
				if s == end {
					return beg
				}
				s++
			} else if c == '-' {
				s++
				if s == end {
					return beg
				}
				if d[s] != '-' {
					goto declFail
				}
				s++
				for {
					for s < end && d[s] != '-' {
						s++
					}
					if s == end {
						return beg
					}
					s++
					if s == end {
						return beg
					}
					if d[s] == '-' {
						s++
						break
					}
				}
			} else if c != '>' {
				s++
				for s < end && isNotSpaceGT(d[s]) {
					s++
				}
				if s == end {
					return beg
				}
			} else {
				break
			}
		}
		if s < end && d[s] == '>' {
			s++
			p.report(evDecl, d[beg:s], "", nil)
			return s
		}
		goto declFail
	}
declFail:
	for s < end && d[s] != '>' {
		s++
	}
	if s < end {
		s++
		p.report(evComment, "", "", nil)
		return s
	}
	return beg
}

func (p *hparser) parseStart(d string, beg int) int {
	s := beg + 2
	end := len(d)
	for s < end && isNotSpaceGT(d[s]) {
		s++
	}
	rawTag := d[beg+1 : s]
	for s < end && isHSpace(d[s]) {
		s++
	}
	if s == end {
		return beg
	}
	var attrs []htmlAttr
	for s < end && isNotSpaceGT(d[s]) {
		ab := s
		s++
		for s < end && isNotSpaceEqGT(d[s]) {
			s++
		}
		if s == end {
			return beg
		}
		name := d[ab:s]
		for s < end && isHSpace(d[s]) {
			s++
		}
		if s == end {
			return beg
		}
		if d[s] == '=' {
			s++
			for s < end && isHSpace(d[s]) {
				s++
			}
			if s == end {
				return beg
			}
			if d[s] == '>' {
				attrs = append(attrs, htmlAttr{name, ""})
				break
			}
			var val string
			if d[s] == '"' || d[s] == '\'' {
				q := d[s]
				vb := s
				s++
				for s < end && d[s] != q {
					s++
				}
				if s == end {
					return beg
				}
				s++
				val = d[vb+1 : s-1]
			} else {
				vb := s
				for s < end && isNotSpaceGT(d[s]) {
					s++
				}
				if s == end {
					return beg
				}
				val = d[vb:s]
			}
			attrs = append(attrs, htmlAttr{name, val})
			for s < end && isHSpace(d[s]) {
				s++
			}
			if s == end {
				return beg
			}
		} else {
			attrs = append(attrs, htmlAttr{name, "\x00bool"})
		}
	}
	if s < end && d[s] == '>' {
		s++
		tag := strings.ToLower(rawTag)
		// attr hash: lower-cased names, the first value wins, values
		// entity-decoded, a boolean attribute's value is its name
		out := make([]htmlAttr, 0, len(attrs))
		var seen map[string]bool
		if len(attrs) > 1 {
			seen = make(map[string]bool, len(attrs))
		}
		for _, a := range attrs {
			ln := strings.ToLower(a.name)
			if seen != nil {
				if seen[ln] {
					continue
				}
				seen[ln] = true
			}
			v := a.value
			if v == "\x00bool" {
				v = a.name
			} else {
				v = decodeEntities(v, false)
			}
			out = append(out, htmlAttr{ln, v})
		}
		p.report(evStart, "", tag, out)
		for _, le := range literalElems {
			if len(rawTag) == len(le.name) && strings.ToLower(rawTag) == le.name {
				p.literal = le.name
				p.isCdata = le.cdata
				break
			}
		}
		return s
	}
	return -1
}

func (p *hparser) parseEnd(d string, beg int) int {
	s := beg + 2
	end := len(d)
	if s < end && isNotSpaceGT(d[s]) {
		tb := s
		s++
		for s < end && isNotSpaceGT(d[s]) {
			s++
		}
		te := s
		s = skipUntilGT(d, s)
		if s < end {
			if d[s] == '>' {
				s++
				p.report(evEnd, "", strings.ToLower(d[tb:te]), nil)
				return s
			}
		} else {
			return beg
		}
		return -1
	}
	s = skipUntilGT(d, s)
	if s < end {
		s++
		p.report(evComment, "", "", nil)
		return s
	}
	return beg
}

func (p *hparser) parseProcess(d string, beg int) int {
	s := beg + 2
	for s < len(d) {
		if d[s] == '>' {
			return s + 1
		}
		s++
	}
	return beg
}

// decodeEntities is HTML::Parser's decode_entities with the table of
// HTML::Entities 3.81; prefix expands entities given without ';' whose
// name is followed by more letters (dtext only).
func decodeEntities(s string, prefix bool) string {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	high := 0
	for i < len(s) {
		c := s[i]
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		entStart := i
		var repl string
		ok := false
		if at(s, i) == '#' && i < len(s) {
			i++
			var num uint64
			var prev uint64
			good := false
			if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
				i++
				for i < len(s) && isHex(s[i]) {
					num = num<<4 | uint64(unhex(s[i]))
					if prev != 0 && num <= prev {
						good = false
						break
					}
					prev = num
					i++
					good = true
				}
			} else {
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					num = num*10 + uint64(s[i]-'0')
					if prev != 0 && num < prev {
						good = false
						break
					}
					prev = num
					i++
					good = true
				}
			}
			if good {
				if num&0xFFFFFC00 == 0xDC00 {
					if high != 0 {
						// back up past the U+FFFD written for the high half
						cur := b.String()
						cur = strings.TrimSuffix(cur, "\uFFFD")
						b.Reset()
						b.WriteString(cur)
						num = uint64((high-0xD800)<<10) + (num - 0xDC00) + 0x10000
						high = 0
					} else {
						num = 0xFFFD
					}
				} else if num&0xFFFFFC00 == 0xD800 {
					high = int(num)
					num = 0xFFFD
				} else {
					high = 0
					if num >= 0xFDD0 && num <= 0xFDEF || num&0xFFFE == 0xFFFE || num > 0x10FFFF {
						num = 0xFFFD
					}
				}
				repl = string(rune(num))
				ok = true
			}
		} else {
			ns := i
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			if ns != i {
				name := s[ns:i]
				if v, found := entityTable[name]; found {
					repl, ok = v, true
				} else if at(s, i) == ';' && i < len(s) {
					if v, found := entityTable[name+";"]; found {
						repl, ok = v, true
					}
				}
				if !ok && prefix {
					// no entity name is longer than 8 characters
					for ss := min(i-1, ns+8); ss > ns; ss-- {
						if v, found := entityTable[s[ns:ss]]; found {
							repl, ok = v, true
							i = ss
							break
						}
					}
				}
			}
			high = 0
		}
		if ok {
			if i < len(s) && s[i] == ';' {
				i++
			}
			if at(s, i) != '&' {
				high = 0
			}
			b.WriteString(repl)
		} else {
			b.WriteByte('&')
			b.WriteString(s[entStart:i])
		}
	}
	// a chunk may end inside a UTF-8 sequence (HTML::Parser splits text
	// at a 0xA0 byte too): the bytes are kept, the chunks join again
	return b.String()
}
