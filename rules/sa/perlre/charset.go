package perlre

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode"
)

// cset is a set of byte-runes (U+0000..U+00FF): the alphabet of the text
// once Bytes has mapped it. Every character class of a pattern becomes one.
type cset [4]uint64

func (s *cset) add(c int)     { s[c>>6] |= 1 << (uint(c) & 63) }
func (s cset) has(c int) bool { return s[c>>6]&(1<<(uint(c)&63)) != 0 }
func (s *cset) addRange(lo, hi int) {
	for c := lo; c <= hi; c++ {
		s.add(c)
	}
}
func (s cset) union(t cset) cset { return cset{s[0] | t[0], s[1] | t[1], s[2] | t[2], s[3] | t[3]} }
func (s cset) inter(t cset) cset { return cset{s[0] & t[0], s[1] & t[1], s[2] & t[2], s[3] & t[3]} }
func (s cset) minus(t cset) cset {
	return cset{s[0] &^ t[0], s[1] &^ t[1], s[2] &^ t[2], s[3] &^ t[3]}
}
func (s cset) not() cset          { return cset{^s[0], ^s[1], ^s[2], ^s[3]} }
func (s cset) empty() bool        { return s == cset{} }
func (s cset) full() bool         { return s == allBytes }
func (s cset) subset(t cset) bool { return s.minus(t).empty() }
func (s cset) count() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

// first returns the smallest member, or -1.
func (s cset) first() int {
	for i, w := range s {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

func (s cset) members() []int {
	var out []int
	for c := 0; c < 256; c++ {
		if s.has(c) {
			out = append(out, c)
		}
	}
	return out
}

var allBytes = cset{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

func rangeSet(pairs ...int) cset {
	var s cset
	for i := 0; i+1 < len(pairs); i += 2 {
		s.addRange(pairs[i], pairs[i+1])
	}
	return s
}

func single(c int) cset {
	var s cset
	s.add(c)
	return s
}

// The classes under SpamAssassin's /aa (Mail::SpamAssassin::Util::compile_regexp
// compiles every rule with qr/$re/aa): \d \s \w and the POSIX classes are ASCII;
// \h and \v are not restricted by /a and keep their Latin-1 members (perlrecharclass).
var (
	digitSet = rangeSet('0', '9')
	wordSet  = rangeSet('0', '9', 'A', 'Z', 'a', 'z', '_', '_')
	spaceSet = rangeSet('\t', '\r', ' ', ' ') // \t \n \v \f \r and space: Perl >= 5.18 includes \v
	hspace   = rangeSet('\t', '\t', ' ', ' ', 0xa0, 0xa0)
	vspace   = rangeSet('\n', '\r', 0x85, 0x85)
	newline  = single('\n')
	notNL    = newline.not()
)

var posixClasses = map[string]cset{
	"alpha":  rangeSet('A', 'Z', 'a', 'z'),
	"digit":  digitSet,
	"alnum":  rangeSet('0', '9', 'A', 'Z', 'a', 'z'),
	"upper":  rangeSet('A', 'Z'),
	"lower":  rangeSet('a', 'z'),
	"space":  spaceSet,
	"blank":  rangeSet(' ', ' ', '\t', '\t'),
	"punct":  rangeSet('!', '/', ':', '@', '[', '`', '{', '~'),
	"print":  rangeSet(0x20, 0x7e),
	"graph":  rangeSet(0x21, 0x7e),
	"cntrl":  rangeSet(0, 0x1f, 0x7f, 0x7f),
	"xdigit": rangeSet('0', '9', 'A', 'F', 'a', 'f'),
	"word":   wordSet,
	"ascii":  rangeSet(0, 0x7f),
}

// foldByte returns the bytes that match c case-insensitively under /aai:
// ASCII letters pair with their other case, Latin-1 letters with theirs
// (Perl's /a keeps Unicode folding for code points above 127 but forbids an
// ASCII/non-ASCII match, so ß never matches "ss" and K never the Kelvin sign).
func foldRune(r rune) cset {
	var s cset
	if r < 256 {
		s.add(int(r))
	}
	ascii := r < 128
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < 256 && (f < 128) == ascii {
			s.add(int(f))
		}
	}
	return s
}

var foldTable [256]cset

func init() {
	for c := 0; c < 256; c++ {
		foldTable[c] = foldRune(rune(c))
	}
}

// foldSet closes s under case folding.
func (s cset) fold() cset {
	out := s
	for _, c := range s.members() {
		out = out.union(foldTable[c])
	}
	return out
}

// lowerByte is the folding that Lower applies and Literals assume.
func lowerByte(c int) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 32
	case c >= 0xc0 && c <= 0xde && c != 0xd7:
		return c + 32
	}
	return c
}

// lowered maps s through lowerByte.
func (s cset) lowered() cset {
	var out cset
	for _, c := range s.members() {
		out.add(lowerByte(c))
	}
	return out
}

// re2 writes s as an RE2 character class (or a single escaped literal).
func (s cset) re2() string {
	n := s.count()
	switch {
	case n == 0:
		return `[^\x00-\x{10FFFF}]`
	case n == 256:
		return `(?s:.)`
	case n == 1:
		return quoteByte(s.first())
	case s == notNL:
		return `[^\n]`
	}
	var b strings.Builder
	b.WriteByte('[')
	t := s
	if n > 128 {
		b.WriteByte('^')
		t = s.not()
	}
	for c := 0; c < 256; c++ {
		if !t.has(c) {
			continue
		}
		hi := c
		for hi+1 < 256 && t.has(hi+1) {
			hi++
		}
		b.WriteString(classByte(c))
		if hi > c {
			if hi > c+1 {
				b.WriteByte('-')
			}
			b.WriteString(classByte(hi))
		}
		c = hi
	}
	b.WriteByte(']')
	return b.String()
}

func quoteByte(c int) string {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return string(rune(c))
	case c > 0x20 && c < 0x7f:
		return `\` + string(rune(c))
	}
	return hexByte(c)
}

func classByte(c int) string {
	switch {
	case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return string(rune(c))
	case c > 0x20 && c < 0x7f:
		return `\` + string(rune(c))
	}
	return hexByte(c)
}

func hexByte(c int) string {
	h := strconv.FormatInt(int64(c), 16)
	if len(h) == 1 {
		h = "0" + h
	}
	if c < 0x80 {
		return `\x` + h
	}
	return `\x{` + h + `}`
}
