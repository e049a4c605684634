package perlre

import (
	"math/rand"
	"strings"
	"testing"
)

// BenchmarkCompileStock translates (and compiles) every stock regexp.
func BenchmarkCompileStock(b *testing.B) {
	pats := stockPatterns(b)
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, p := range pats {
				Translate(p.re, p.flags)
			}
		}
	})
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			n := 0
			for _, p := range pats {
				if _, err := Compile(p.re, p.flags); err == nil {
					n++
				}
			}
			b.ReportMetric(float64(n), "patterns")
		}
	})
}

// typicalText is a 4 KiB message-like text: mixed-case prose, URLs,
// header-like lines and a few Latin-1 bytes.
func typicalText() string {
	words := strings.Fields(`the quick brown fox jumps over the lazy dog Hello World meeting tomorrow
		please find attached invoice payment account update click here http://example.com/path?id=42
		unsubscribe newsletter free offer limited time money back guarantee caf` + "\xe9" + ` r` + "\xe9" + `sum` + "\xe9" + `
		From: Alice <alice@example.org> Subject: Re: project status 2024-05-01 12:00 +0200`)
	rng := rand.New(rand.NewSource(1))
	var sb strings.Builder
	for sb.Len() < 4096 {
		sb.WriteString(words[rng.Intn(len(words))])
		if rng.Intn(12) == 0 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()[:4096]
}

// BenchmarkMatchStock runs every translated stock regexp over a 4 KiB
// text, with and without the literal prefilter.
func BenchmarkMatchStock(b *testing.B) {
	pats := stockPatterns(b)
	var res []*Regexp
	for _, p := range pats {
		if r, err := Compile(p.re, p.flags); err == nil {
			res = append(res, r)
		}
	}
	text := Bytes(typicalText())
	b.Run("all", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for i := 0; i < b.N; i++ {
			for _, r := range res {
				r.MatchString(text)
			}
		}
	})
	b.Run("prefiltered", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for i := 0; i < b.N; i++ {
			lower := Lower(text)
			for _, r := range res {
				lits := r.Literals()
				if lits != nil {
					found := false
					for _, l := range lits {
						if strings.Contains(lower, l) {
							found = true
							break
						}
					}
					if !found {
						continue
					}
				}
				r.MatchString(text)
			}
		}
	})
}
