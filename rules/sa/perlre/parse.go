package perlre

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// maxPerlRepeat is Perl's REG_INFTY - 1: "Quantifier in {,} bigger than 65534".
const maxPerlRepeat = 65534

type flagSet struct {
	i, m, s, x, xx, n bool
}

// SyntaxError is a pattern that Perl itself rejects (or warns about, which
// makes SpamAssassin's compile_regexp reject the rule).
type SyntaxError struct {
	Msg    string
	Offset int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("perl regexp: %s at offset %d", e.Msg, e.Offset)
}

// UnsupportedError is a Perl construct that has no RE2 equivalent at this
// place in the pattern.
type UnsupportedError struct {
	Construct string
	Offset    int
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported: %s at offset %d", e.Construct, e.Offset)
}

type parser struct {
	src    string
	pos    int
	ncap   int
	names  map[string]int
	depth  int
	refs   []*node // backreferences by name, resolved at the end
	hasCap bool
}

type bailout struct{ err error }

func (p *parser) fail(off int, format string, args ...any) {
	panic(bailout{&SyntaxError{Msg: fmt.Sprintf(format, args...), Offset: off}})
}

func (p *parser) unsupported(off int, construct string) {
	panic(bailout{&UnsupportedError{Construct: construct, Offset: off}})
}

// parse turns a Perl pattern with its flags into a tree.
func parse(re, flags string) (n *node, ncap int, err error) {
	var fl flagSet
	for i := 0; i < len(flags); i++ {
		switch flags[i] {
		case 'i':
			fl.i = true
		case 'm':
			fl.m = true
		case 's':
			fl.s = true
		case 'x':
			if fl.x {
				fl.xx = true
			}
			fl.x = true
		case 'n':
			fl.n = true
		case 'g', 'o', 'p', 'a', 'c':
			// g, o, c: no meaning for a match test; a: SpamAssassin's /aa is the default here.
		case 'u', 'l', 'd':
			return nil, 0, &UnsupportedError{Construct: "charset modifier /" + flags[i:i+1] + " (SpamAssassin compiles with /aa)", Offset: 0}
		default:
			return nil, 0, &SyntaxError{Msg: fmt.Sprintf("unknown modifier %q", flags[i]), Offset: 0}
		}
	}
	p := &parser{src: re, names: map[string]int{}}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			n, err = nil, b.err
		}
	}()
	n = p.parseAlt(&fl)
	if p.pos < len(p.src) {
		p.fail(p.pos, "unmatched )")
	}
	for _, r := range p.refs {
		idx, ok := p.names[r.name]
		if !ok {
			p.fail(r.pos, "reference to nonexistent named group %q", r.name)
		}
		r.ref = idx
	}
	var bad *node
	n.walk(func(m *node) bool {
		if m.op == opBackref && (m.ref > p.ncap || m.ref <= 0) && bad == nil {
			bad = m
		}
		return true
	})
	if bad != nil {
		p.fail(bad.pos, "reference to nonexistent group")
	}
	return n, p.ncap, nil
}

func (p *parser) more() bool { return p.pos < len(p.src) }
func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}
func (p *parser) lookingAt(s string) bool { return strings.HasPrefix(p.src[p.pos:], s) }

// skipX skips whitespace and comments under /x.
func (p *parser) skipX(fl *flagSet) {
	if !fl.x {
		return
	}
	for p.more() {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x85:
			// Perl's Pattern_White_Space: NEL (0x85) too, in a byte pattern
			p.pos++
		case c == '#':
			for p.more() && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) parseAlt(fl *flagSet) *node {
	p.depth++
	if p.depth > 200 {
		p.fail(p.pos, "nesting too deep")
	}
	defer func() { p.depth-- }()
	var branches []*node
	for {
		branches = append(branches, p.parseSeq(fl))
		if p.more() && p.peek() == '|' {
			p.pos++
			continue
		}
		break
	}
	if len(branches) == 1 {
		return branches[0]
	}
	return &node{op: opAlt, subs: branches}
}

func (p *parser) parseSeq(fl *flagSet) *node {
	var items []*node
	for {
		p.skipX(fl)
		if !p.more() || p.peek() == '|' || p.peek() == ')' {
			break
		}
		start := p.pos
		atom := p.parseAtom(fl)
		if atom == nil { // (?#...), (?i)
			continue
		}
		p.skipX(fl)
		atom = p.parseQuant(fl, atom, start)
		items = append(items, atom)
	}
	switch len(items) {
	case 0:
		return emptyNode()
	case 1:
		return items[0]
	}
	return &node{op: opCat, subs: items}
}

// quantAt reports whether a {n,m} quantifier starts at i (Perl 5.34+ rules:
// blanks allowed inside, {,n} accepted), and returns its bounds and end.
func (p *parser) quantAt(i int) (min, max, end int, ok bool) {
	s := p.src
	if i >= len(s) || s[i] != '{' {
		return
	}
	j := i + 1
	blanks := func() {
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
	}
	num := func() (int, bool) {
		k := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == k {
			return 0, false
		}
		v, err := strconv.Atoi(s[k:j])
		if err != nil || v > maxPerlRepeat {
			p.fail(k, "quantifier in {,} bigger than %d", maxPerlRepeat)
		}
		return v, true
	}
	blanks()
	lo, hasLo := num()
	blanks()
	hi := lo
	if j < len(s) && s[j] == ',' {
		j++
		blanks()
		var hasHi bool
		hi, hasHi = num()
		if !hasHi {
			hi = -1
		}
		blanks()
		if !hasLo && !hasHi {
			return
		}
		if !hasLo {
			lo = 0
		}
	} else if !hasLo {
		return
	}
	if j >= len(s) || s[j] != '}' {
		return
	}
	return lo, hi, j + 1, true
}

func (p *parser) parseQuant(fl *flagSet, atom *node, start int) *node {
	if !p.more() {
		return atom
	}
	var min, max int
	qpos := p.pos
	switch c := p.peek(); c {
	case '*':
		min, max = 0, -1
		p.pos++
	case '+':
		min, max = 1, -1
		p.pos++
	case '?':
		min, max = 0, 1
		p.pos++
	case '{':
		lo, hi, end, ok := p.quantAt(p.pos)
		if !ok {
			return atom
		}
		min, max = lo, hi
		p.pos = end
	default:
		return atom
	}
	greedy, poss := true, false
	if p.more() {
		switch p.peek() {
		case '?':
			greedy = false
			p.pos++
		case '+':
			poss = true
			p.pos++
		}
	}
	if atom.op == opAssert || atom.op == opLook {
		p.unsupported(qpos, "quantifier on a zero-width assertion")
	}
	p.skipX(fl)
	if p.more() {
		if c := p.peek(); c == '*' || c == '+' || c == '?' {
			p.fail(p.pos, "nested quantifiers")
		}
		if _, _, _, ok := p.quantAt(p.pos); ok {
			p.fail(p.pos, "nested quantifiers")
		}
	}
	if max >= 0 && min > max {
		// Perl warns "can't match" (and SpamAssassin then rejects the rule).
		p.fail(qpos, "quantifier {n,m} with n > m")
	}
	n := &node{op: opRepeat, subs: []*node{atom}, min: min, max: max, greedy: greedy, poss: poss, pos: start}
	return n
}

func (p *parser) lit(fl *flagSet, c int, off int) *node {
	s := single(c)
	if fl.i {
		s = foldTable[c]
	}
	return &node{op: opSet, set: s, pos: off}
}

// runeSet is the set of byte-runes matched by code point r.
func runeSet(r rune, fold bool) cset {
	if fold {
		return foldRune(r)
	}
	if r < 256 {
		return single(int(r))
	}
	return cset{} // a character above U+00FF never occurs in a byte string
}

func (p *parser) parseAtom(fl *flagSet) *node {
	start := p.pos
	c := p.src[p.pos]
	switch c {
	case '(':
		return p.parseGroup(fl)
	case '[':
		p.pos++
		return &node{op: opSet, set: p.parseClass(fl, start), pos: start}
	case '.':
		p.pos++
		if fl.s {
			return &node{op: opSet, set: allBytes, pos: start}
		}
		return &node{op: opSet, set: notNL, pos: start}
	case '^':
		p.pos++
		if fl.m {
			return &node{op: opAssert, as: aMBOL, pos: start}
		}
		return &node{op: opAssert, as: aBOT, pos: start}
	case '$':
		p.pos++
		if fl.m {
			return &node{op: opAssert, as: aMEOL, pos: start}
		}
		return &node{op: opAssert, as: aEOTNL, pos: start}
	case '*', '+', '?':
		p.fail(start, "quantifier follows nothing")
	case '\\':
		return p.parseEscape(fl)
	}
	p.pos++
	return p.lit(fl, int(c), start)
}

func (p *parser) parseGroup(fl *flagSet) *node {
	start := p.pos
	p.pos++ // (
	if p.lookingAt("*") {
		p.unsupported(start, "backtracking control verb or alpha assertion (*...)")
	}
	if !p.lookingAt("?") {
		sub := *fl
		if fl.n {
			n := p.parseAlt(&sub)
			p.expect(')', start)
			return n
		}
		p.ncap++
		idx := p.ncap
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return &node{op: opGroup, subs: []*node{n}, capIdx: idx, pos: start}
	}
	p.pos++ // ?
	if !p.more() {
		p.fail(start, "sequence (? incomplete")
	}
	c := p.peek()
	switch {
	case c == '#':
		end := strings.IndexByte(p.src[p.pos:], ')')
		if end < 0 {
			p.fail(start, "sequence (?#... not terminated")
		}
		p.pos += end + 1
		return nil
	case c == ':':
		p.pos++
		sub := *fl
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return n
	case c == '=' || c == '!':
		p.pos++
		sub := *fl
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return &node{op: opLook, subs: []*node{n}, neg: c == '!', pos: start}
	case p.lookingAt("<=") || p.lookingAt("<!"):
		neg := p.src[p.pos+1] == '!'
		p.pos += 2
		sub := *fl
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return &node{op: opLook, subs: []*node{n}, neg: neg, behind: true, pos: start}
	case c == '>':
		p.pos++
		sub := *fl
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return &node{op: opAtomic, subs: []*node{n}, pos: start}
	case c == '<' || c == '\'' || p.lookingAt("P<"):
		if c == 'P' {
			p.pos++
		}
		close := byte('>')
		if p.peek() == '\'' {
			close = '\''
		}
		p.pos++
		name := p.groupName(close, start)
		p.ncap++
		idx := p.ncap
		if _, dup := p.names[name]; !dup {
			p.names[name] = idx
		}
		sub := *fl
		n := p.parseAlt(&sub)
		p.expect(')', start)
		return &node{op: opGroup, subs: []*node{n}, capIdx: idx, name: name, pos: start}
	case p.lookingAt("P="):
		p.pos += 2
		name := p.groupName(')', start)
		r := &node{op: opBackref, name: name, refFold: fl.i, pos: start}
		p.refs = append(p.refs, r)
		return r
	case p.lookingAt("P>") || c == '&' || c == 'R' || (c >= '0' && c <= '9') || ((c == '+' || c == '-') && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9'):
		p.unsupported(start, "recursion (?R), (?N), (?&name)")
	case c == '|':
		p.unsupported(start, "branch reset (?|...)")
	case c == '(':
		p.unsupported(start, "conditional (?(cond)yes|no)")
	case c == '{' || p.lookingAt("?{"):
		p.unsupported(start, "Perl code block (?{...})")
	}
	// Flags: (?^aluimnsx-imnsx) or (?flags:...)
	nf := *fl
	if p.peek() == '^' {
		nf = flagSet{}
		p.pos++
	}
	on := true
	for p.more() {
		c := p.peek()
		switch c {
		case 'i':
			nf.i = on
		case 'm':
			nf.m = on
		case 's':
			nf.s = on
		case 'n':
			nf.n = on
		case 'x':
			if on && p.pos+1 < len(p.src) && p.src[p.pos+1] == 'x' {
				nf.xx = true
				p.pos++
			} else if !on {
				nf.xx = false
			}
			nf.x = on
		case 'p', 'a', 'o':
		case 'u', 'l', 'd':
			p.unsupported(p.pos, "charset modifier (?"+string(c)+") (SpamAssassin compiles with /aa)")
		case '-':
			if !on {
				p.fail(p.pos, "sequence (?-...) with two -")
			}
			on = false
		case ')':
			p.pos++
			*fl = nf
			return nil
		case ':':
			p.pos++
			n := p.parseAlt(&nf)
			p.expect(')', start)
			return n
		default:
			p.fail(p.pos, "sequence (?%c...) not recognized", c)
		}
		p.pos++
	}
	p.fail(start, "sequence (?... not terminated")
	return nil
}

func (p *parser) groupName(close byte, start int) string {
	i := p.pos
	for p.more() && (isWordByte(p.peek())) {
		p.pos++
	}
	if p.pos == i || !p.more() || p.peek() != close || (p.src[i] >= '0' && p.src[i] <= '9') {
		p.fail(start, "bad group name")
	}
	name := p.src[i:p.pos]
	p.pos++
	return name
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (p *parser) expect(c byte, start int) {
	if !p.more() || p.peek() != c {
		p.fail(start, "unmatched (")
	}
	p.pos++
}

// parseEscape handles a backslash outside a class.
func (p *parser) parseEscape(fl *flagSet) *node {
	start := p.pos
	p.pos++
	if !p.more() {
		p.fail(start, "trailing \\")
	}
	c := p.src[p.pos]
	p.pos++
	set := func(s cset) *node { return &node{op: opSet, set: s, pos: start} }
	as := func(a assertKind) *node { return &node{op: opAssert, as: a, pos: start} }
	switch c {
	case 'A':
		return as(aBOT)
	case 'z':
		return as(aEOT)
	case 'Z':
		return as(aEOTNL)
	case 'b', 'B':
		if p.lookingAt("{") {
			p.unsupported(start, `\b{...} boundary types`)
		}
		if c == 'b' {
			return as(aWord)
		}
		return as(aNotWord)
	case 'G':
		p.unsupported(start, `\G`)
	case 'K':
		p.unsupported(start, `\K (keep)`)
	case 'X':
		p.unsupported(start, `\X (extended grapheme cluster)`)
	case 'C':
		p.fail(start, `\C no longer supported`)
	case 'R':
		// (?>\x0D\x0A|\v)
		crlf := catNode(setNode(single('\r')), setNode(single('\n')))
		return &node{op: opAtomic, subs: []*node{{op: opAlt, subs: []*node{crlf, setNode(vspace)}}}, pos: start}
	case 'N':
		if p.lookingAt("{") {
			r := p.namedChar(start)
			return set(runeSet(r, fl.i))
		}
		return set(notNL)
	case 'k':
		return p.namedRef(fl, start)
	case 'g':
		return p.gRef(fl, start)
	case 'Q', 'E', 'L', 'U', 'l', 'u', 'F':
		p.unsupported(start, `\`+string(c)+` (a string escape: SpamAssassin passes the pattern as a variable, Perl warns "Unrecognized escape" and SpamAssassin rejects the rule)`)
	}
	if c >= '1' && c <= '9' {
		// \1..\9 are backreferences; \10 and up only if that many groups are open, else octal.
		j := p.pos
		for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
			j++
		}
		num, _ := strconv.Atoi(p.src[start+1 : j])
		if c <= '9' && j == start+2 || num <= p.ncap {
			p.pos = j
			if num > 1000000 {
				p.fail(start, "reference to nonexistent group")
			}
			return &node{op: opBackref, ref: num, refFold: fl.i, pos: start}
		}
		if c >= '8' {
			p.fail(start, "reference to nonexistent group")
		}
		p.pos = start + 1
		v := p.octal(3)
		return set(runeSet(rune(v), fl.i))
	}
	if s, ok := classEscape(c); ok {
		return set(s)
	}
	if c == 'p' || c == 'P' {
		return set(p.property(fl, c == 'P', start))
	}
	r, ok := p.charEscape(c, start)
	if !ok {
		p.fail(start, "unrecognized escape \\%c", c)
	}
	return set(runeSet(r, fl.i))
}

// classEscape returns the set of \d \D \w \W \s \S \h \H \v \V.
func classEscape(c byte) (cset, bool) {
	switch c {
	case 'd':
		return digitSet, true
	case 'D':
		return digitSet.not(), true
	case 'w':
		return wordSet, true
	case 'W':
		return wordSet.not(), true
	case 's':
		return spaceSet, true
	case 'S':
		return spaceSet.not(), true
	case 'h':
		return hspace, true
	case 'H':
		return hspace.not(), true
	case 'v':
		return vspace, true
	case 'V':
		return vspace.not(), true
	}
	return cset{}, false
}

// charEscape decodes an escape that stands for one character (c already consumed).
func (p *parser) charEscape(c byte, start int) (rune, bool) {
	switch c {
	case 'a':
		return 7, true
	case 'e':
		return 27, true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	case '0':
		p.pos--
		return rune(p.octal(3)), true
	case 'o':
		if !p.lookingAt("{") {
			p.fail(start, `missing braces on \o{}`)
		}
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			p.fail(start, `missing right brace on \o{}`)
		}
		digits := strings.TrimSpace(p.src[p.pos+1 : p.pos+end])
		p.pos += end + 1
		v, err := strconv.ParseUint(digits, 8, 32)
		if err != nil || digits == "" {
			p.fail(start, `bad \o{}`)
		}
		return clampRune(v), true
	case 'x':
		if p.lookingAt("{") {
			end := strings.IndexByte(p.src[p.pos:], '}')
			if end < 0 {
				p.fail(start, `missing right brace on \x{}`)
			}
			digits := strings.TrimSpace(p.src[p.pos+1 : p.pos+end])
			p.pos += end + 1
			digits = strings.ReplaceAll(digits, "_", "")
			if digits == "" {
				return 0, true
			}
			v, err := strconv.ParseUint(digits, 16, 32)
			if err != nil {
				p.fail(start, `non-hex character in \x{}`)
			}
			return clampRune(v), true
		}
		v := 0
		for k := 0; k < 2 && p.more() && isHex(p.peek()); k++ {
			v = v*16 + hexVal(p.peek())
			p.pos++
		}
		if p.more() && !isHex(p.peek()) && p.pos-start < 4 && isWordByte(p.peek()) {
			// Perl: "Non-hex character terminates \x early" (a warning: SpamAssassin rejects).
			p.fail(start, `non-hex character terminates \x early`)
		}
		return rune(v), true
	case 'c':
		if !p.more() {
			p.fail(start, `character following \c must be printable ASCII`)
		}
		x := p.peek()
		p.pos++
		if x < 0x20 || x > 0x7e {
			p.fail(start, `character following \c must be printable ASCII`)
		}
		if x == '{' {
			p.fail(start, `use of '\c{' is not allowed`)
		}
		if x >= 'a' && x <= 'z' {
			x -= 32
		}
		return rune(x ^ 64), true
	}
	if c >= 0x80 || !isWordByte(c) {
		return rune(c), true // an escaped non-word character is itself
	}
	return 0, false
}

func clampRune(v uint64) rune {
	if v > unicode.MaxRune {
		return unicode.MaxRune + 1
	}
	return rune(v)
}

func (p *parser) octal(max int) int {
	v := 0
	for k := 0; k < max && p.more() && p.peek() >= '0' && p.peek() <= '7'; k++ {
		v = v*8 + int(p.peek()-'0')
		p.pos++
	}
	if p.more() && (p.peek() == '8' || p.peek() == '9') && max == 3 {
		p.fail(p.pos, "non-octal character terminates octal escape early")
	}
	return v
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

func (p *parser) namedChar(start int) rune {
	end := strings.IndexByte(p.src[p.pos:], '}')
	if end < 0 {
		p.fail(start, `missing right brace on \N{}`)
	}
	name := p.src[p.pos+1 : p.pos+end]
	p.pos += end + 1
	if strings.HasPrefix(name, "U+") {
		v, err := strconv.ParseUint(strings.ReplaceAll(name[2:], "_", ""), 16, 32)
		if err == nil {
			return clampRune(v)
		}
	}
	p.unsupported(start, `\N{name} (named character)`)
	return 0
}

func (p *parser) namedRef(fl *flagSet, start int) *node {
	var close byte
	switch p.peek() {
	case '<':
		close = '>'
	case '\'':
		close = '\''
	case '{':
		close = '}'
	default:
		p.fail(start, `sequence \k... not terminated`)
	}
	p.pos++
	name := p.groupName(close, start)
	r := &node{op: opBackref, name: name, refFold: fl.i, pos: start}
	p.refs = append(p.refs, r)
	return r
}

func (p *parser) gRef(fl *flagSet, start int) *node {
	braced := p.lookingAt("{")
	if braced {
		p.pos++
	}
	i := p.pos
	if p.more() && p.peek() == '-' {
		p.pos++
	}
	for p.more() && p.peek() >= '0' && p.peek() <= '9' {
		p.pos++
	}
	text := p.src[i:p.pos]
	if text == "" || text == "-" {
		if braced {
			p.pos = i
			name := p.groupName('}', start)
			r := &node{op: opBackref, name: name, refFold: fl.i, pos: start}
			p.refs = append(p.refs, r)
			return r
		}
		p.fail(start, `unterminated \g... pattern`)
	}
	if braced {
		p.expect('}', start)
	}
	num, err := strconv.Atoi(text)
	if err != nil || num > 1000000 || num < -1000000 {
		p.fail(start, "reference to nonexistent group")
	}
	if num < 0 {
		num = p.ncap + 1 + num
		if num <= 0 {
			p.fail(start, "reference to nonexistent or unclosed group")
		}
	}
	if num == 0 {
		p.fail(start, "reference to invalid group 0")
	}
	return &node{op: opBackref, ref: num, refFold: fl.i, pos: start}
}

// parseClass parses a bracketed class; the [ is consumed.
func (p *parser) parseClass(fl *flagSet, start int) cset {
	neg := false
	if p.more() && p.peek() == '^' {
		neg = true
		p.pos++
	}
	var s cset
	first := true
	prev := -1 // the last single character, for ranges
	for {
		if fl.xx {
			for p.more() && (p.peek() == ' ' || p.peek() == '\t') {
				p.pos++
			}
		}
		if !p.more() {
			p.fail(start, "unmatched [")
		}
		c := p.peek()
		if c == ']' && !first {
			p.pos++
			break
		}
		first = false
		itemStart := p.pos
		// Item: a single character (r >= 0) or a class (set).
		r := rune(-1)
		var item cset
		isClass := false
		switch {
		case c == '[' && (p.lookingAt("[:") || p.lookingAt("[=") || p.lookingAt("[.")):
			kind := p.src[p.pos+1]
			end := strings.Index(p.src[p.pos+2:], string(kind)+"]")
			if end < 0 {
				p.pos++
				r = '['
				break
			}
			name := p.src[p.pos+2 : p.pos+2+end]
			if kind != ':' {
				p.fail(itemStart, "POSIX syntax [%c %c] is reserved for future extensions", kind, kind)
			}
			pneg := strings.HasPrefix(name, "^")
			name = strings.TrimPrefix(name, "^")
			cls, ok := posixClasses[name]
			if !ok {
				p.fail(itemStart, "POSIX class [:%s:] unknown", name)
			}
			if pneg {
				cls = cls.not()
			}
			p.pos += 2 + end + 2
			item, isClass = cls, true
		case c == '\\':
			p.pos++
			if !p.more() {
				p.fail(start, "unmatched [")
			}
			e := p.peek()
			p.pos++
			if cls, ok := classEscape(e); ok {
				item, isClass = cls, true
				break
			}
			switch e {
			case 'b':
				r = 8
			case 'p', 'P':
				item, isClass = p.property(fl, e == 'P', itemStart), true
			case 'N':
				if p.lookingAt("{") {
					r = p.namedChar(itemStart)
				} else {
					p.fail(itemStart, `\N in a character class must be a named character: \N{...}`)
				}
			case 'R', 'X', 'K', 'G', 'A', 'z', 'Z', 'B', 'g', 'k':
				p.fail(itemStart, `unrecognized escape \%c in character class`, e)
			default:
				if e >= '1' && e <= '7' {
					p.pos--
					r = rune(p.octal(3))
					break
				}
				if e == '8' || e == '9' {
					p.fail(itemStart, `unrecognized escape \%c in character class`, e)
				}
				var ok bool
				r, ok = p.charEscape(e, itemStart)
				if !ok {
					p.fail(itemStart, `unrecognized escape \%c in character class`, e)
				}
			}
		default:
			p.pos++
			r = rune(c)
		}
		if isClass {
			if p.lookingAt("-") && !p.lookingAt("-]") {
				p.fail(itemStart, "false [] range")
			}
			s = s.union(item)
			prev = -1
			continue
		}
		// A range?
		if p.lookingAt("-") && !p.lookingAt("-]") && p.pos+1 < len(p.src) {
			p.pos++
			hi := rune(-1)
			d := p.peek()
			switch {
			case d == '[' && p.lookingAt("[:"):
				p.fail(itemStart, "false [] range")
			case d == '\\':
				p.pos++
				if !p.more() {
					p.fail(start, "unmatched [")
				}
				e := p.peek()
				p.pos++
				if _, ok := classEscape(e); ok || e == 'p' || e == 'P' {
					p.fail(itemStart, "false [] range")
				}
				switch {
				case e == 'b':
					hi = 8
				case e == 'N' && p.lookingAt("{"):
					hi = p.namedChar(itemStart)
				case e >= '1' && e <= '7':
					p.pos--
					hi = rune(p.octal(3))
				default:
					var ok bool
					hi, ok = p.charEscape(e, itemStart)
					if !ok {
						p.fail(itemStart, `unrecognized escape \%c in character class`, e)
					}
				}
			default:
				p.pos++
				hi = rune(d)
			}
			if hi < r {
				p.fail(itemStart, "invalid [] range")
			}
			lo := r
			for x := lo; x <= hi && x < 256; x++ {
				s.add(int(x))
			}
			if fl.i && hi > 255 {
				// code points above the byte range can still fold into it
				for x := max(lo, 256); x <= min(hi, 0x3000); x++ {
					s = s.union(foldRune(x))
				}
			}
			prev = -1
			continue
		}
		if r < 256 {
			s.add(int(r))
		} else if fl.i {
			s = s.union(foldRune(r))
		}
		prev = int(r)
	}
	_ = prev
	if fl.i {
		s = s.fold()
	}
	if neg {
		s = s.not()
	}
	return s
}

// property handles \p{...} / \P{...} (c consumed). Properties keep Unicode
// meaning under /aa, so they are evaluated on the Latin-1 code points.
func (p *parser) property(fl *flagSet, neg bool, start int) cset {
	var name string
	if p.lookingAt("{") {
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			p.fail(start, `missing right brace on \p{}`)
		}
		name = strings.TrimSpace(p.src[p.pos+1 : p.pos+end])
		p.pos += end + 1
	} else if p.more() {
		name = p.src[p.pos : p.pos+1]
		p.pos++
	} else {
		p.fail(start, `empty \p`)
	}
	if strings.HasPrefix(name, "^") {
		neg = !neg
		name = name[1:]
	}
	f, ok := propertyFunc(name)
	if !ok {
		p.unsupported(start, `\p{`+name+`} (property not known here)`)
	}
	var s cset
	for c := 0; c < 256; c++ {
		if f(rune(c)) {
			s.add(c)
		}
	}
	if fl.i {
		s = s.fold()
	}
	if neg {
		s = s.not()
	}
	return s
}

func propertyFunc(name string) (func(rune) bool, bool) {
	n := strings.ToLower(strings.NewReplacer("_", "", " ", "", "-", "").Replace(name))
	n = strings.TrimPrefix(n, "is")
	switch n {
	case "l", "letter", "alpha", "alphabetic", "xposixalpha":
		if n == "alpha" || n == "alphabetic" || n == "xposixalpha" {
			return func(r rune) bool { return unicode.IsLetter(r) || r == 0xaa || r == 0xba }, true
		}
		return unicode.IsLetter, true
	case "lu", "uppercaseletter":
		return unicode.IsUpper, true
	case "ll", "lowercaseletter":
		return unicode.IsLower, true
	case "n", "number":
		return unicode.IsNumber, true
	case "nd", "digit", "decimalnumber", "xposixdigit":
		return unicode.IsDigit, true
	case "p", "punct", "punctuation":
		return unicode.IsPunct, true
	case "s", "symbol":
		return unicode.IsSymbol, true
	case "z", "separator":
		return func(r rune) bool { return unicode.Is(unicode.Z, r) }, true
	case "c", "other":
		return func(r rune) bool { return unicode.Is(unicode.C, r) }, true
	case "cc", "control", "cntrl":
		return unicode.IsControl, true
	case "space", "xposixspace", "spaceperl", "xperlspace", "whitespace":
		return unicode.IsSpace, true
	case "word", "xposixword", "w":
		return func(r rune) bool {
			return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || r == 0xaa || r == 0xba || r == 0xb5
		}, true
	case "alnum", "xposixalnum":
		return func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == 0xaa || r == 0xba }, true
	case "ascii":
		return func(r rune) bool { return r < 128 }, true
	case "any", "all", "assigned":
		return func(r rune) bool { return true }, true
	case "latin", "latn":
		return func(r rune) bool { return unicode.Is(unicode.Latin, r) }, true
	case "common", "zyyy":
		return func(r rune) bool { return unicode.Is(unicode.Common, r) }, true
	}
	if t, ok := unicode.Scripts[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, true
	}
	if t, ok := unicode.Categories[name]; ok {
		return func(r rune) bool { return unicode.Is(t, r) }, true
	}
	return nil, false
}
