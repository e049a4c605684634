package dfa

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// randomPattern builds a pattern from a grammar rich in what the DFA must
// get right: every assertion, case folding (Latin-1 and the fold orbits of
// k and s), classes with bytes >= 0x80, nested repetition.
func randomPattern(r *rand.Rand, depth int) string {
	atoms := []string{
		`a`, `b`, `k`, ` `, `\n`, `\x{e9}`, `\x{c9}`, `_`, `1`, `.`, `(?s:.)`,
		`[ab]`, `[^a]`, `[\x80-\xff]`, `[^\n]`, `\w`, `\W`, `\s`, `\d`,
		`\b`, `\B`, `^`, `$`, `(?m:^)`, `(?m:$)`, `\A`, `\z`,
		`(?i:a)`, `(?i:\x{e9})`, `(?i:k)`, `(?i:s)`, `\x{212a}`, `(?i:\x{212a})`, `[^\x00-\x{10ffff}]`,
	}
	if depth <= 0 || r.IntN(3) == 0 {
		return atoms[r.IntN(len(atoms))]
	}
	switch r.IntN(5) {
	case 0, 1:
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(randomPattern(r, depth-1))
		}
		return b.String()
	case 2:
		parts := make([]string, 2+r.IntN(2))
		for i := range parts {
			parts[i] = randomPattern(r, depth-1)
		}
		return "(?:" + strings.Join(parts, "|") + ")"
	default:
		reps := []string{`*`, `+`, `?`, `{2}`, `{1,3}`, `{0,2}`, `*?`, `{2,}`}
		return "(?:" + randomPattern(r, depth-1) + ")" + reps[r.IntN(len(reps))]
	}
}

func randomText(r *rand.Rand) string {
	const alpha = "aAbkK \n\xe9\xc9_1\x00s\x7f"
	n := r.IntN(14)
	if r.IntN(4) == 0 {
		n = 20 + r.IntN(80) // long enough for skipping ahead
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[r.IntN(len(alpha))]
	}
	return string(b)
}

// TestRandomPatterns compares Match with regexp on random patterns and
// texts, with the default limits and with a tiny cache.
func TestRandomPatterns(t *testing.T) {
	n := 3000
	if raceEnabled || testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		src := randomPattern(r, 4)
		re := regexp.MustCompile(src)
		ds := []*DFA{MustCompile(src)}
		if d, err := CompileLimits(mustParse(src), Limits{MaxStates: 4, MaxResets: 1}); err == nil {
			ds = append(ds, d)
		}
		texts := 30
		if i%10 == 0 {
			texts = 600 // past the calibration's calls
		}
		for range texts {
			text := randomText(r)
			w := re.MatchString(byteRunes(text))
			for k, d := range ds {
				if got := d.Match(text); got != w {
					t.Fatalf("dfa %d: Match(%q, %q) = %v, regexp says %v", k, src, text, got, w)
				}
				if err := allKinds(d, text, w); err != "" {
					t.Fatalf("dfa %d: Match(%q, %q): %s", k, src, text, err)
				}
			}
		}
	}
}
