package rules

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Case-insensitive phrase matching, made cheap without changing what
// matches. A `(?i)` regexp is slow in RE2 (every literal rune is compared
// against its whole case-folding orbit) and most phrase regexps cannot
// match most messages. So a message's text is folded once (every rune
// replaced by one canonical member of its case-folding orbit, see
// foldRune), and each phrase regexp is run without (?i), literals folded
// the same way, and only when one of the literals every match must contain
// (derived from the regexp's syntax tree) occurs in the folded text.
//
// This is exact: a (?i) literal rune p matches r iff r is in p's orbit iff
// foldRune(r) == foldRune(p); a (?i) character class is closed under
// folding, so it holds r iff it holds foldRune(r); and since foldRune maps
// ASCII to ASCII and non-ASCII to non-ASCII except for the three "exotic"
// runes below, \b (ASCII word boundary) sees the same boundaries. Text with
// an exotic rune (KELVIN SIGN, LONG S, CAPITAL I WITH DOT) takes the slow
// path: the original (?i) regexp on the original text.

// foldedText is a text and its folded form.
type foldedText struct {
	orig   string
	low    string // orig with every rune folded; "" when exotic
	exotic bool   // orig holds a rune whose fold (or lower case) crosses ASCII
}

// exoticRune: non-ASCII runes whose case orbit or lower case holds an ASCII
// letter: U+212A KELVIN SIGN (k), U+017F LATIN SMALL LETTER LONG S (s),
// U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE (lower case i).
func exoticRune(r rune) bool { return r == 0x212a || r == 0x17f || r == 0x130 }

// foldTableSize: runes below this fold through a table built on first use
// (Latin, Greek, Cyrillic, Armenian, Georgian: the scripts of most mail).
const foldTableSize = 0x2000

var (
	foldTableOnce sync.Once
	foldTable     []rune
)

// foldRune returns the canonical member of r's simple case-folding orbit
// (the orbit unicode.SimpleFold walks and RE2's (?i) matches): the lower
// case of its upper case when that is in the orbit, else the orbit's
// smallest rune. It is the same for every rune of an orbit
// (TestFoldRuneCanonical checks all of Unicode).
func foldRune(r rune) rune {
	if r < 0x80 {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	if r < foldTableSize {
		foldTableOnce.Do(func() {
			foldTable = make([]rune, foldTableSize)
			for i := range foldTable {
				foldTable[i] = foldRuneSlow(rune(i))
			}
		})
		return foldTable[r]
	}
	return foldRuneSlow(r)
}

func foldRuneSlow(r rune) rune {
	f := unicode.SimpleFold(r)
	if f == r {
		return r // no case
	}
	c := unicode.ToLower(unicode.ToUpper(r))
	minR := r
	inOrbit := c == r
	for ; f != r; f = unicode.SimpleFold(f) {
		if f == c {
			inOrbit = true
		}
		minR = min(minR, f)
	}
	if inOrbit {
		return c
	}
	return minR
}

// foldString folds s rune by rune; invalid UTF-8 bytes are copied as they
// are (the regexp package reads each as U+FFFD either way). exotic reports
// an exoticRune, after which the result is incomplete.
func foldString(s string) (low string, exotic bool) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x80 || ('A' <= c && c <= 'Z') {
			break
		}
		i++
	}
	if i == len(s) {
		return s, false // already folded
	}
	b := make([]byte, i, len(s)+8)
	copy(b, s[:i])
	for i < len(s) {
		c := s[i]
		if c < 0x80 {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, c)
			i++
			continue
		}
		if exoticRune(r) {
			return "", true
		}
		b = utf8.AppendRune(b, foldRune(r))
		i += n
	}
	return string(b), false
}

func newFoldedText(s string) *foldedText {
	low, ex := foldString(s)
	return &foldedText{orig: s, low: low, exotic: ex}
}

// contains reports whether the text holds the ASCII-lower-case word as
// strings.Contains(strings.ToLower(orig), word) would.
func (t *foldedText) contains(word string) bool {
	if t.exotic {
		return strings.Contains(strings.ToLower(t.orig), word)
	}
	return strings.Contains(t.low, word)
}

// phraseRE is a case-insensitive regexp split for foldedText.
type phraseRE struct {
	orig   *regexp.Regexp // as written, (?i)
	low    *regexp.Regexp // literals folded, no (?i): for foldedText.low
	all    [][]string     // every match of low holds a literal of each clause
	maxLen int            // the most bytes a match of low spans; -1: unbounded
	joined bool           // only for text joined by single spaces (see requiredLits)
}

// mustPhrase compiles pattern (which should start with (?i)) for matching
// a foldedText.
func mustPhrase(pattern string, joined bool) *phraseRE {
	p := &phraseRE{orig: regexp.MustCompile(pattern)}
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	foldLiterals(re)
	p.low = regexp.MustCompile(re.String())
	p.all = requiredLits(re, joined)
	p.maxLen = maxMatchLen(re, joined)
	p.joined = joined
	return p
}

// mustPhrases compiles (?i) phrase regexps; joined: they only ever see
// text joined by single spaces.
func mustPhrases(joined bool, pats ...string) []*phraseRE {
	out := make([]*phraseRE, len(pats))
	for i, s := range pats {
		out[i] = mustPhrase(`(?i)`+s, joined)
	}
	return out
}

// foldLiterals replaces case-folded literals by their folded runes.
// Character classes are left alone: under (?i) the parser already closed
// them under case folding.
func foldLiterals(re *syntax.Regexp) {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		for i, r := range re.Rune {
			re.Rune[i] = foldRune(r)
		}
	}
	re.Flags &^= syntax.FoldCase
	for _, s := range re.Sub {
		foldLiterals(s)
	}
}

// litInfo describes what a regexp node matches on folded text: exact is
// every string it can match (when that is a small finite set); all are
// clauses, every match holds a string of each clause.
type litInfo struct {
	exact []string
	all   [][]string
}

// maxExact bounds the exact sets (cross products of alternations);
// maxClauses the clauses kept of a concatenation (the most selective).
const (
	maxExact   = 64
	maxClauses = 3
)

// requiredLits returns clauses of literals: every match of re holds one
// literal of every clause (none: nothing known). joined: the text has no
// whitespace but single spaces (strings.Join(strings.Fields(s), " ")), so
// \s+ is " ".
func requiredLits(re *syntax.Regexp, joined bool) [][]string {
	return litsOf(re, joined).clauses()
}

// nonEmpty returns the exact set as a clause, nil when it holds "".
func nonEmpty(exact []string) []string {
	for _, s := range exact {
		if s == "" {
			return nil
		}
	}
	return exact
}

func (li litInfo) clauses() [][]string {
	if li.exact != nil {
		if c := nonEmpty(li.exact); c != nil {
			return [][]string{c}
		}
		return nil
	}
	return li.all
}

func litsOf(re *syntax.Regexp, joined bool) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return litInfo{}
		}
		return litInfo{exact: []string{string(re.Rune)}}
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return litInfo{exact: []string{""}}
	case syntax.OpCharClass:
		if joined && isSpaceClass(re) {
			return litInfo{exact: []string{" "}}
		}
		// the runes of the class a folded text can hold
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] > 8 {
				return litInfo{}
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if foldRune(r) == r && !exoticRune(r) {
					out = append(out, string(r))
				}
			}
			if len(out) > 4 {
				return litInfo{}
			}
		}
		if len(out) == 0 {
			return litInfo{}
		}
		return litInfo{exact: out}
	case syntax.OpCapture:
		return litsOf(re.Sub[0], joined)
	case syntax.OpQuest:
		li := litsOf(re.Sub[0], joined)
		if li.exact == nil {
			return litInfo{}
		}
		return litInfo{exact: append([]string{""}, li.exact...)}
	case syntax.OpPlus:
		if joined && isSpaceClass(re.Sub[0]) {
			return litInfo{exact: []string{" "}} // one space only
		}
		return litInfo{all: litsOf(re.Sub[0], joined).clauses()}
	case syntax.OpStar:
		if joined && isSpaceClass(re.Sub[0]) {
			return litInfo{exact: []string{"", " "}}
		}
		return litInfo{}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return litInfo{all: litsOf(re.Sub[0], joined).clauses()}
		}
		return litInfo{}
	case syntax.OpAlternate:
		var exact, union []string
		allExact, allReq := true, true
		for _, s := range re.Sub {
			li := litsOf(s, joined)
			if li.exact == nil {
				allExact = false
			}
			exact = append(exact, li.exact...)
			if best := bestClause(li.clauses()); best != nil {
				union = append(union, best...)
			} else {
				allReq = false
			}
		}
		if allExact && len(exact) <= maxExact {
			return litInfo{exact: dedup(exact)}
		}
		if !allReq {
			return litInfo{}
		}
		return litInfo{all: [][]string{dedup(union)}}
	case syntax.OpConcat:
		var all [][]string
		run := []string{""} // cross product of the current run of exact children
		allExact := true
		for _, s := range re.Sub {
			li := litsOf(s, joined)
			if li.exact != nil {
				if p := cross(run, li.exact); p != nil {
					run = p
					continue
				}
				// too many: close the run, start again with this child
				if c := nonEmpty(run); c != nil {
					all = append(all, c)
				}
				run = li.exact
				allExact = false
				continue
			}
			allExact = false
			if c := nonEmpty(run); c != nil {
				all = append(all, c)
			}
			run = []string{""}
			all = append(all, li.all...)
		}
		if allExact {
			return litInfo{exact: dedup(run)}
		}
		if c := nonEmpty(run); c != nil {
			all = append(all, c)
		}
		sort.SliceStable(all, func(i, j int) bool { return betterSet(all[i], all[j]) })
		if len(all) > maxClauses {
			all = all[:maxClauses]
		}
		return litInfo{all: all}
	}
	return litInfo{}
}

func bestClause(cs [][]string) []string {
	var best []string
	for _, c := range cs {
		if betterSet(c, best) {
			best = c
		}
	}
	return best
}

// isSpaceClass: \s, [\t\n\f\r ].
func isSpaceClass(re *syntax.Regexp) bool {
	if re.Op != syntax.OpCharClass {
		return false
	}
	var want = []rune{'\t', '\n', '\f', '\r', ' ', ' '}
	if len(re.Rune) != len(want) {
		return false
	}
	for i := range want {
		if re.Rune[i] != want[i] {
			return false
		}
	}
	return true
}

func cross(a, b []string) []string {
	if len(a)*len(b) > maxExact {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out
}

func dedup(l []string) []string {
	seen := map[string]bool{}
	out := l[:0:0]
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func betterSet(a, b []string) bool {
	if b == nil {
		return true
	}
	ma, mb := shortest(a), shortest(b)
	if ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func shortest(l []string) int {
	n := -1
	for _, s := range l {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// match reports whether the regexp matches the text, exactly as
// p.orig.MatchString(t.orig) does.
func (p *phraseRE) match(t *foldedText) bool {
	if t.exotic {
		return p.orig.MatchString(t.orig)
	}
	for _, c := range p.all {
		if !containsAny(t.low, c) {
			return false
		}
	}
	return p.low.MatchString(t.low)
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// countMatches returns how many of ps match t.
func countMatches(ps []*phraseRE, t *foldedText) int {
	n := 0
	for _, p := range ps {
		if p.match(t) {
			n++
		}
	}
	return n
}

// maxLitLen truncates prefilter literals (a text holding a literal holds
// its prefix): a smaller automaton, hardly less selective.
const maxLitLen = 16

// litScanner finds which of many literals occur in a text in one pass: an
// Aho-Corasick automaton with a full transition table over the bytes that
// occur in literals (all other bytes are one class).
type litScanner struct {
	cls   [256]uint8
	ncls  int
	next  []int32   // state*ncls + class
	out   [][]int32 // clause ids found on entering a state
	nlits int       // clauses
}

func newLitScanner(clauses [][]string) *litScanner {
	sc := &litScanner{nlits: len(clauses)}
	sc.ncls = 1
	for _, c := range clauses {
		for _, w := range c {
			for i := 0; i < len(w); i++ {
				if sc.cls[w[i]] == 0 {
					sc.cls[w[i]] = uint8(sc.ncls)
					sc.ncls++
				}
			}
		}
	}
	// trie
	type node struct {
		edge map[uint8]int32
		fail int32
		out  []int32
	}
	nodes := []node{{edge: map[uint8]int32{}}}
	for id, c := range clauses {
		for _, w := range c {
			if len(w) > maxLitLen {
				w = w[:maxLitLen]
			}
			s := int32(0)
			for i := 0; i < len(w); i++ {
				k := sc.cls[w[i]]
				n, ok := nodes[s].edge[k]
				if !ok {
					n = int32(len(nodes))
					nodes = append(nodes, node{edge: map[uint8]int32{}})
					nodes[s].edge[k] = n
				}
				s = n
			}
			nodes[s].out = append(nodes[s].out, int32(id))
		}
	}
	// breadth first: fail links and the full table
	sc.next = make([]int32, len(nodes)*sc.ncls)
	sc.out = make([][]int32, len(nodes))
	queue := []int32{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s != 0 {
			nodes[s].out = append(nodes[s].out, sc.out[nodes[s].fail]...)
		}
		sc.out[s] = dedupIDs(nodes[s].out)
		for k := 0; k < sc.ncls; k++ {
			n, ok := nodes[s].edge[uint8(k)]
			if !ok || k == 0 {
				if s == 0 {
					sc.next[k] = 0
				} else {
					sc.next[int(s)*sc.ncls+k] = sc.next[int(nodes[s].fail)*sc.ncls+k]
				}
				continue
			}
			if s != 0 {
				nodes[n].fail = sc.next[int(nodes[s].fail)*sc.ncls+k]
			}
			sc.next[int(s)*sc.ncls+k] = n
			queue = append(queue, n)
		}
	}
	return sc
}

func dedupIDs(l []int32) []int32 {
	var out []int32
	for _, x := range l {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// maxLitPos bounds the literal positions kept per clause; a clause found
// more often is matched on the whole text.
const maxLitPos = 16

// litHits is what a scan found: per clause, how often (up to
// maxLitPos+1) and where (the end offsets of the first maxLitPos).
type litHits struct {
	n   []uint8
	pos []int32 // clause*maxLitPos + k
}

// scan records the literal occurrences of every clause in s.
func (sc *litScanner) scan(s string, h *litHits) {
	st, n := int32(0), sc.ncls
	for i := 0; i < len(s); i++ {
		st = sc.next[int(st)*n+int(sc.cls[s[i]])]
		if out := sc.out[st]; out != nil {
			for _, id := range out {
				if k := h.n[id]; k <= maxLitPos {
					if k < maxLitPos {
						h.pos[int(id)*maxLitPos+int(k)] = int32(i + 1)
					}
					h.n[id] = k + 1
				}
			}
		}
	}
}

// phraseGroup matches lists of phrase regexps on one text, with one scan
// for the literals of all of them.
type phraseGroup struct {
	lists   [][]*phraseRE
	clauses [][][]int // per list, per regexp: clause ids
	sc      *litScanner
	hits    sync.Pool // *litHits
}

func newPhraseGroup(lists ...[]*phraseRE) *phraseGroup {
	g := &phraseGroup{lists: lists}
	var all [][]string
	for _, l := range lists {
		ids := make([][]int, len(l))
		for i, p := range l {
			for _, c := range p.all {
				ids[i] = append(ids[i], len(all))
				all = append(all, c)
			}
		}
		g.clauses = append(g.clauses, ids)
	}
	g.sc = newLitScanner(all)
	g.hits.New = func() any {
		return &litHits{n: make([]uint8, len(all)), pos: make([]int32, len(all)*maxLitPos)}
	}
	return g
}

// count returns, per list, how many of its regexps match t: exactly what
// counting p.orig.MatchString(t.orig) gives.
func (g *phraseGroup) count(t *foldedText) []int {
	out := make([]int, len(g.lists))
	if t.exotic {
		for k, l := range g.lists {
			for _, p := range l {
				if p.orig.MatchString(t.orig) {
					out[k]++
				}
			}
		}
		return out
	}
	h := g.hits.Get().(*litHits)
	clear(h.n)
	g.sc.scan(t.low, h)
	for k, l := range g.lists {
	next:
		for i, p := range l {
			best := -1
			for _, id := range g.clauses[k][i] {
				if h.n[id] == 0 {
					continue next
				}
				if best < 0 || h.n[id] < h.n[best] {
					best = id
				}
			}
			if p.matchNear(t.low, h, best) {
				out[k]++
			}
		}
	}
	g.hits.Put(h)
	return out
}

// matchNear is p.low.MatchString(s), run only on the windows of s around
// the occurrences of clause id that a match could span: p.maxLen either
// side, widened to an ASCII non-word byte (or the end of s) so that \b at
// a window's edge sees what it sees in s. Patterns with line or text
// anchors, unbounded repeats or a clause found too often run on all of s.
func (p *phraseRE) matchNear(s string, h *litHits, id int) bool {
	if id < 0 || p.maxLen < 0 || h.n[id] > maxLitPos || int(h.n[id])*p.maxLen*2 >= len(s) {
		return p.low.MatchString(s)
	}
	lo, hi := -1, -1 // the current window
	for _, e := range h.pos[id*maxLitPos : id*maxLitPos+int(h.n[id])] {
		a, b := max(0, int(e)-p.maxLen), min(len(s), int(e)+p.maxLen)
		for a > 0 && !isASCIINonWord(s[a-1]) {
			a--
		}
		for b < len(s) && !isASCIINonWord(s[b]) {
			b++
		}
		if lo >= 0 && a <= hi {
			hi = max(hi, b)
			continue
		}
		if lo >= 0 && p.low.MatchString(s[lo:hi]) {
			return true
		}
		lo, hi = a, b
	}
	return p.low.MatchString(s[lo:hi])
}

func isASCIINonWord(c byte) bool { return c < utf8.RuneSelf && !isASCIIWord(c) }

// maxMatchLen returns the most bytes a match of re can span in a folded
// text, or -1 when unbounded or when re has a line or text anchor (whose
// meaning a window would change). joined: \s matches one byte at most.
func maxMatchLen(re *syntax.Regexp, joined bool) int {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		return len(string(re.Rune))
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax
	case syntax.OpCapture:
		return maxMatchLen(re.Sub[0], joined)
	case syntax.OpQuest:
		return maxMatchLen(re.Sub[0], joined)
	case syntax.OpStar, syntax.OpPlus:
		if joined && isSpaceClass(re.Sub[0]) {
			return 1 // no two spaces in a row
		}
		return -1
	case syntax.OpRepeat:
		n := maxMatchLen(re.Sub[0], joined)
		if re.Max < 0 || n < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpConcat, syntax.OpAlternate:
		total := 0
		for _, sub := range re.Sub {
			n := maxMatchLen(sub, joined)
			if n < 0 {
				return -1
			}
			if re.Op == syntax.OpConcat {
				total += n
			} else {
				total = max(total, n)
			}
		}
		return total
	}
	return -1
}
