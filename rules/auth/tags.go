package auth

import (
	"errors"
	"strings"
)

// Tag lists (RFC 6376 section 3.2) are the syntax of DKIM-Signature fields
// and DKIM key records:
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC        (ALNUMPUNC = ALPHA / DIGIT / "_")
//
// Tag names are case-sensitive; a tag that appears twice makes the list
// invalid. go-msgauth parses them again for the cryptography: levee's own
// reading only picks the domain and selector (to prefetch the key at end of
// header) and tells apart the outcomes go-msgauth reports as one error
// (l=, x=, p= empty, a short key).

var (
	errTagSyntax = errors.New("malformed tag list")
	errTagDup    = errors.New("duplicate tag")
)

// maxTags bounds what a hostile field can make us allocate.
const maxTags = 64

// parseTags reads a tag list; values have their folding whitespace removed
// at both ends (inner whitespace is kept: b=, bh= and p= strip it later).
func parseTags(s string) (map[string]string, error) {
	tags := make(map[string]string, 12)
	for part := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return tags, errTagSyntax
		}
		name = strings.TrimSpace(name)
		if !validTagName(name) {
			return tags, errTagSyntax
		}
		if _, dup := tags[name]; dup {
			return tags, errTagDup
		}
		if len(tags) >= maxTags {
			return tags, errTagSyntax
		}
		tags[name] = strings.TrimSpace(value)
	}
	return tags, nil
}

func validTagName(n string) bool {
	if n == "" || !isAlpha(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// stripFWS removes all whitespace (folding included) from a tag value.
func stripFWS(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
