package perlre

import (
	"errors"
	"strings"
)

// ErrNoMatchOp is returned by ParseMatchOp for text that is not a match operator.
var ErrNoMatchOp = errors.New("perlre: not a match operator (/re/, m{re}, m!re!...)")

// ParseMatchOp splits a match operator as written in .cf files: /re/flags,
// m{re}flags, m(re), m<re>, m[re] (bracketing pairs nest), m!re!flags,
// m#re#, qr/re/... (any non-word, non-space delimiter except backslash, as in
// Mail::SpamAssassin::Util::compile_regexp). A backslash escapes the next
// character, so an escaped delimiter does not end the pattern. The pattern is
// returned verbatim, backslashes included, which is what SpamAssassin hands
// to qr//; flags are the letters right after the closing delimiter and rest
// is what follows them (an "[if-unset: ...]" clause, a comment).
func ParseMatchOp(s string) (re, flags, rest string, err error) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	s = s[i:]
	var open byte
	switch {
	case strings.HasPrefix(s, "/"):
		open = '/'
		s = s[1:]
	case strings.HasPrefix(s, "qr") && len(s) > 2 && isDelim(s[2]):
		open = s[2]
		s = s[3:]
	case strings.HasPrefix(s, "m") && len(s) > 1 && isDelim(s[1]):
		open = s[1]
		s = s[2:]
	default:
		return "", "", "", ErrNoMatchOp
	}
	close := open
	switch open {
	case '{':
		close = '}'
	case '(':
		close = ')'
	case '<':
		close = '>'
	case '[':
		close = ']'
	}
	depth := 0
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '\\':
			j++
		case c == close && depth == 0:
			re = s[:j]
			k := j + 1
			for k < len(s) && s[k] >= 'a' && s[k] <= 'z' {
				k++
			}
			return re, s[j+1 : k], s[k:], nil
		case c == close:
			depth--
		case c == open && open != close:
			depth++
		}
	}
	return "", "", "", errors.New("perlre: match operator without its closing delimiter")
}

func isDelim(c byte) bool {
	return c > ' ' && c < 0x7f && c != '\\' && !isWordByte(c)
}
