package rules

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// hasInvisible reports whether s holds one of the invisible characters of
// stripInvisible, by their UTF-8 bytes: U+00AD C2 AD, U+034F CD 8F,
// U+200B-U+200D E2 80 8B-8D, U+2060 E2 81 A0, U+FEFF EF BB BF. It is
// strings.ContainsAny(s, those) at a fraction of the cost (typographic
// quotes also start with E2).
func hasInvisible(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		switch s[i] {
		case 0xc2:
			if s[i+1] == 0xad {
				return true
			}
		case 0xcd:
			if s[i+1] == 0x8f {
				return true
			}
		case 0xe2:
			if i+2 < len(s) && ((s[i+1] == 0x80 && s[i+2] >= 0x8b && s[i+2] <= 0x8d) || (s[i+1] == 0x81 && s[i+2] == 0xa0)) {
				return true
			}
		case 0xef:
			if i+2 < len(s) && s[i+1] == 0xbb && s[i+2] == 0xbf {
				return true
			}
		}
	}
	return false
}

// joinFields is strings.Join(strings.Fields(s), " ") in one pass and one
// allocation.
func joinFields(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // at the start, or after a space: drop further spaces
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace(c) {
				space = true
				i++
				continue
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = true
			i += n
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// asciiSpace is unicode.IsSpace for an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func stripInvisible(s string) string {
	if !hasInvisible(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 0x200b, 0x200c, 0x200d, 0x2060, 0xad, 0x34f, 0xfeff:
			return -1
		}
		return r
	}, s)
}
