package rules

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var wordRE = regexp.MustCompile(`[\p{L}\p{N}]{3,}`)

// htmlToText strips tags, comments, scripts, styles and the head, and
// decodes entities. It is a linear scan, not a parser: good enough to
// read what a message shows.
func htmlToText(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for i := 0; i < len(s); {
		c := s[i]
		if c != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			j := strings.Index(s[i+4:], "-->")
			if j < 0 {
				break
			}
			i += 4 + j + 3
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		tag := strings.ToLower(s[i+1 : i+end])
		i += end + 1
		b.WriteByte(' ')
		for _, skip := range [...]string{"script", "style", "head", "title"} {
			if strings.HasPrefix(tag, skip) && (len(tag) == len(skip) || tag[len(skip)] == ' ' || tag[len(skip)] == '\t' || tag[len(skip)] == '\n') {
				if j := indexFold(s[i:], "</"+skip); j >= 0 {
					i += j
				} else {
					i = len(s)
				}
				break
			}
		}
	}
	return html.UnescapeString(b.String())
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], needle) {
			return i
		}
	}
	return -1
}

func wordSet(s string) map[string]bool {
	out := map[string]bool{}
	forWords(strings.ToLower(s), 5000, func(w string) bool {
		out[w] = true
		return true
	})
	return out
}

// isRESpace: the bytes of the regexp class \s.
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// forWords calls fn with every match of wordRE ([\p{L}\p{N}]{3,}: a
// run of three or more letters or digits) in s, at most max; fn returns
// false to stop.
func forWords(s string, max int, fn func(w string) bool) {
	n := 0
	for i := 0; i < len(s) && n < max; {
		start, runes := i, 0
		for i < len(s) {
			c := s[i]
			if c < utf8.RuneSelf {
				if '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
					i++
					runes++
					continue
				}
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || !(unicode.IsLetter(r) || unicode.IsNumber(r)) {
				break
			}
			i += size
			runes++
		}
		if runes >= 3 {
			n++
			if !fn(s[start:i]) {
				return
			}
		}
		if runes == 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
	}
}

// countWords is len(wordRE.FindAllString(s, max)).
func countWords(s string, max int) int {
	n := 0
	forWords(s, max, func(string) bool { n++; return true })
	return n
}

// ---- mail programs

// mixedCaseJunk: upper-case letters inside a word at random: "xKfPqLmz".
func mixedCaseJunk(s string) bool {
	changes := 0
	for i := 1; i < len(s); i++ {
		if unicode.IsUpper(rune(s[i])) != unicode.IsUpper(rune(s[i-1])) {
			changes++
		}
	}
	return changes >= 3 || (changes == 0 && strings.ToUpper(s) == s && noVowel(s))
}

func noVowel(s string) bool {
	return !strings.ContainsAny(strings.ToLower(s), "aeiouy")
}

func skipRESpace(s string, i int) int {
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// containsFoldAny: s holds one of the lower-case ASCII words, ignoring
// ASCII case.
func containsFoldAny(s string, words ...string) bool {
	for _, w := range words {
		for range foldIndexes(s, w, 0) {
			return true
		}
	}
	return false
}

// foldIndexes yields, in order, every index of the lower-case ASCII word w
// in s, ignoring ASCII case; k is the byte of w to look for first (the
// rarest).
func foldIndexes(s, w string, k int) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		lo, up := w[k], w[k]
		if 'a' <= lo && lo <= 'z' {
			up = lo - 'a' + 'A'
		}
		nextLo, nextUp := -2, -2 // -2: not searched yet, -1: none left
		for i := k; i < len(s); {
			if nextLo != -1 && nextLo < i {
				if nextLo = strings.IndexByte(s[i:], lo); nextLo >= 0 {
					nextLo += i
				}
			}
			if nextUp != -1 && nextUp < i {
				if nextUp = strings.IndexByte(s[i:], up); nextUp >= 0 {
					nextUp += i
				}
			}
			j := nextLo
			if j < 0 || (nextUp >= 0 && nextUp < j) {
				j = nextUp
			}
			if j < 0 {
				return
			}
			if start := j - k; start >= 0 && start+len(w) <= len(s) && asciiEqualFold(s[start:start+len(w)], w) {
				if !yield(start) {
					return
				}
			}
			i = j + 1
		}
	}
}
