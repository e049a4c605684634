package received

// Token kinds.
const (
	tokWord = iota
	tokComment
)

// scanner splits the clause part of a Received value into top-level words
// and comments (balanced parentheses, nested to any depth). An unmatched
// '(' or ')' is an ordinary character. Everything is linear in the input.
type scanner struct {
	s    string
	pos  int
	semi int // index of the last top-level ';', -1 if none

	// match[i] is the index of the ')' closing the '(' at i, or -1. It is
	// only built for unbalanced input; balanced input (the normal case) is
	// handled with a depth counter and no allocation.
	match []int32
}

func newScanner(s string) scanner {
	sc := scanner{s: s, semi: -1}
	depth, balanced := 0, true
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				balanced = false
			} else {
				depth--
			}
		case ';':
			if depth == 0 {
				sc.semi = i
			}
		}
	}
	if depth != 0 {
		balanced = false
	}
	if balanced {
		return sc
	}
	// Pair parentheses with a stack, then find the last top-level ';'.
	sc.match = make([]int32, len(s))
	var stackBuf [32]int32
	stack := stackBuf[:0]
	for i := 0; i < len(s); i++ {
		sc.match[i] = -1
		switch s[i] {
		case '(':
			stack = append(stack, int32(i))
		case ')':
			if n := len(stack); n > 0 {
				sc.match[stack[n-1]] = int32(i)
				stack = stack[:n-1]
			}
		}
	}
	sc.semi = -1
	for i := 0; i < len(s); i++ {
		if s[i] == '(' && sc.match[i] >= 0 {
			i = int(sc.match[i])
			continue
		}
		if s[i] == ';' {
			sc.semi = i
		}
	}
	return sc
}

// closeOf returns the index of the ')' matching the '(' at i, or -1.
func (sc *scanner) closeOf(i int) int {
	if sc.match != nil {
		if i < len(sc.match) {
			if j := int(sc.match[i]); j < len(sc.s) {
				return j
			}
		}
		return -1
	}
	depth := 0
	for j := i; j < len(sc.s); j++ {
		switch sc.s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next returns the next token: a word (maximal run of non-space bytes up to
// a matched '(') or a comment's content without the outer parentheses.
// start is the token's offset in sc.s.
func (sc *scanner) next() (kind int, text string, start int, ok bool) {
	s := sc.s
	for sc.pos < len(s) && (isSpace(s[sc.pos]) || s[sc.pos] == ';') {
		sc.pos++
	}
	if sc.pos >= len(s) {
		return 0, "", 0, false
	}
	start = sc.pos
	if s[start] == '(' {
		if j := sc.closeOf(start); j > start {
			sc.pos = j + 1
			return tokComment, s[start+1 : j], start, true
		}
	}
	i := start
	for i < len(s) && !isSpace(s[i]) && s[i] != ';' {
		if s[i] == '(' && i > start && sc.closeOf(i) > i {
			break
		}
		i++
	}
	sc.pos = i
	return tokWord, s[start:i], start, true
}

// words iterates over the white-space (or comma) separated words of a
// comment's content at the comment's own level. A nested comment is
// returned whole (content without its parentheses) with nested=true.
type words struct {
	c string
	i int
}

func (w *words) next() (word string, nested, ok bool) {
	c := w.c
	i := w.i
	for i < len(c) && (isSpace(c[i]) || c[i] == ',') {
		i++
	}
	if i >= len(c) {
		w.i = i
		return "", false, false
	}
	if c[i] == '(' {
		depth, j := 0, i
		for ; j < len(c); j++ {
			if c[j] == '(' {
				depth++
			} else if c[j] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j >= len(c) { // unbalanced: the rest is one nested part
			w.i = len(c)
			return c[i+1:], true, true
		}
		w.i = j + 1
		return c[i+1 : j], true, true
	}
	j := i
	for j < len(c) && !isSpace(c[j]) && c[j] != '(' && c[j] != ',' {
		j++
	}
	w.i = j
	return c[i:j], false, true
}
