// Package perlre translates SpamAssassin's Perl regular expressions into Go
// regexp (RE2) patterns that keep Perl's meaning, so that rules written for
// SpamAssassin run in linear time.
//
// SpamAssassin 4 matches its rules against byte strings (UTF-8 octets without
// Perl's utf8 flag) and compiles every rule with qr/$re/aa
// (Mail::SpamAssassin::Util::compile_regexp). This package keeps that meaning:
//
//   - The text is matched as "byte-runes": Bytes maps every byte >= 0x80 to
//     the rune U+0080..U+00FF, so "." matches one byte and \xe9 the byte 0xe9.
//     Pattern bytes >= 0x80 are taken the same way; a code point above U+00FF
//     (\x{0456}) can never occur in a byte string and matches nothing (under
//     /i it matches the Latin-1 characters that fold to it, as in Perl).
//   - /aa: \d \s \w, \b and the POSIX classes are ASCII; /i folds ASCII with
//     ASCII and Latin-1 letters with Latin-1 letters.
//   - Constructs RE2 lacks (lookarounds, possessive quantifiers, atomic
//     groups, backreferences to small finite groups, Perl's $) are rewritten
//     where the rewrite keeps the answer to "does it match"; others give an
//     *UnsupportedError that names the construct.
//
// Entry points: ParseMatchOp (split "/re/flags" off a .cf line), Translate
// (the RE2 source), Compile (a *Regexp with MatchString, Count, Literals).
package perlre

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sync"
)

// Bytes returns s with every byte >= 0x80 replaced by the rune of the same
// value (U+0080..U+00FF): the form that translated patterns match. It returns
// s itself, without allocating, when s is ASCII.
func Bytes(s string) string {
	i := 0
	for i < len(s) && s[i] < 0x80 {
		i++
	}
	if i == len(s) {
		return s
	}
	n := len(s)
	for j := i; j < len(s); j++ {
		if s[j] >= 0x80 {
			n++
		}
	}
	b := make([]byte, 0, n)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			b = append(b, c)
		} else {
			b = append(b, 0xc0|c>>6, 0x80|c&0x3f)
		}
	}
	return string(b)
}

// Lower folds a byte-rune text the way Literals are folded: A-Z and the
// Latin-1 capitals U+00C0..U+00DE (except U+00D7) become lower case. It
// returns s itself when nothing changes.
func Lower(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			if b == nil {
				b = []byte(s)
			}
			b[i] = c + 32
			i++
		case c == 0xc3 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9e && s[i+1] != 0x97:
			// U+00C0..U+00DE is C3 80..C3 9E; +0x20 is C3 A0..C3 BE
			if b == nil {
				b = []byte(s)
			}
			b[i+1] = s[i+1] + 0x20
			i += 2
		default:
			i++
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// Translate returns the RE2 source equivalent to the Perl pattern re with
// the flags (any of "imsxn"; "g", "o", "a" and "p" are accepted and ignored).
// The result is to be matched against Bytes(text).
func Translate(re, flags string) (string, error) {
	src, err := translateSource(re, flags)
	if err != nil {
		return "", err
	}
	if _, err := syntax.Parse(src, syntax.Perl); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) && (se.Code == syntax.ErrInvalidRepeatSize || se.Code == syntax.ErrLarge || se.Code == syntax.ErrNestingDepth) {
			return "", &UnsupportedError{Construct: "repetition beyond RE2's limits (" + string(se.Code) + ")", Offset: 0}
		}
		return "", err
	}
	return src, nil
}

// Rewrites may not make the RE2 source larger than this many times the Perl
// source plus a constant. rules/sa matches with a lazy DFA (rules/sa/dfa),
// whose cost per byte does not grow with the program, so the bound is
// about memory and compile time: a quarter MiB of source at most (Go's
// regexp, still used to count matches, costs text length times program
// size; see README.md).
const (
	maxGrowthFactor = 8
	maxGrowthSlack  = 256 << 10
	// maxProgSize bounds the compiled program: Go's regexp expands counted
	// repetitions, and both compiling and matching cost its size.
	maxProgSize = 100000
)

func translateSource(re, flags string) (src string, err error) {
	t, err := translateTree(re, flags)
	if err != nil {
		return "", err
	}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			src, err = "", b.err
		}
	}()
	if ps := progSize(t); ps > maxProgSize {
		return "", &UnsupportedError{Construct: fmt.Sprintf("program too large: about %d RE2 instructions, more than %d", ps, maxProgSize), Offset: 0}
	}
	src = emit(t)
	if len(src) > maxGrowthFactor*len(re)+maxGrowthSlack {
		return "", &UnsupportedError{Construct: fmt.Sprintf("rewrite too large: %d bytes of RE2 for %d of Perl", len(src), len(re)), Offset: 0}
	}
	return src, nil
}

func translateTree(re, flags string) (t *node, err error) {
	t, _, err = parse(re, flags)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			t, err = nil, b.err
		}
	}()
	t, err = expandBackrefs(t)
	if err != nil {
		return nil, err
	}
	t = normalizeAnchors(t)
	t, err = elimPossessive(t, follow{nullable: true})
	if err != nil {
		return nil, err
	}
	if t.has(func(n *node) bool { return n.op == opLook && n.behind }) {
		e := &engine{behind: false}
		r := reverse(t)
		r = e.eliminate(r)
		t = reverse(r)
	}
	if t.has(func(n *node) bool { return n.op == opLook }) {
		e := &engine{behind: false}
		t = e.eliminate(t)
	}
	if t.has(func(n *node) bool { return n.op == opLook || n.op == opAtomic || n.op == opBackref }) {
		return nil, &UnsupportedError{Construct: "lookaround", Offset: 0}
	}
	if t.size() > maxTreeSize {
		return nil, &UnsupportedError{Construct: "pattern too large after rewriting", Offset: 0}
	}
	t, ok := limitNesting(t)
	if !ok {
		return nil, &UnsupportedError{Construct: "nested repetition counts beyond RE2's limit of 1000", Offset: 0}
	}
	return t, nil
}

// Regexp is a translated pattern.
type Regexp struct {
	src      string // the RE2 source
	once     sync.Once
	re       *regexp.Regexp
	perl     string
	flags    string
	literals []string
	litDone  bool
}

// Compile translates a Perl pattern and checks the translation. Go's
// regexp is compiled on first use (MatchString, Count, Re2): a caller that
// matches with its own engine (rules/sa/dfa) never pays for it, and large
// rule sets keep their memory.
func Compile(re, flags string) (*Regexp, error) {
	src, err := Translate(re, flags)
	if err != nil {
		return nil, err
	}
	return &Regexp{src: src, perl: re, flags: flags}, nil
}

// MustCompile is Compile that panics on error, for tests and fixed patterns.
func MustCompile(re, flags string) *Regexp {
	r, err := Compile(re, flags)
	if err != nil {
		panic(err)
	}
	return r
}

// MatchString reports whether text (in Bytes form) contains a match.
func (r *Regexp) MatchString(text string) bool { return r.Re2().MatchString(text) }

// Count returns the number of non-overlapping matches in text (in Bytes
// form), at most max when max > 0: SpamAssassin's tflags multiple and
// maxhits, which loop on //g. Where a rewrite consumed context around the
// match (a lookbehind at the start, a lookahead at the end), two matches
// that Perl finds touching can count as one; see README.md.
func (r *Regexp) Count(text string, max int) int {
	if max <= 0 {
		max = -1
	}
	return len(r.Re2().FindAllStringIndex(text, max))
}

// String returns the RE2 source.
func (r *Regexp) String() string { return r.src }

// Perl returns the pattern and flags it was compiled from.
func (r *Regexp) Perl() (re, flags string) { return r.perl, r.flags }

// Re2 returns the compiled Go regexp (match it against Bytes(text)),
// compiling it on first use.
func (r *Regexp) Re2() *regexp.Regexp {
	r.once.Do(func() {
		re, err := regexp.Compile(r.src) // Translate parsed it: this does not fail
		if err != nil {
			re = regexp.MustCompile(`[^\x00-\x{10FFFF}]`) // matches nothing
		}
		r.re = re
	})
	return r.re
}
