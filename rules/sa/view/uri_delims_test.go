package view

import (
	"math/rand"
	"strings"
	"testing"
)

// The delimiter tables say what PerMsgStatus.pm's _tbirdurire classes say,
// and atStops ends the scan where the byte-by-byte scan did.
func TestTbirdDelims(t *testing.T) {
	other := func(c byte) bool { return isPerlSpaceByte(c) || c == 0x1b || c == 0xa0 }
	start := func(c byte) bool { return strings.IndexByte("><\"'`,{[(|", c) >= 0 || other(c) }
	end := func(c byte) bool { return strings.IndexByte("><\"`}]{[|", c) >= 0 || other(c) }
	endEmail := func(c byte) bool { return end(c) || c == ',' || c == '(' || c == '\'' || c >= 0x80 }
	schemeless := func(c byte) bool { return strings.IndexByte("!\"#$&'()*+,/:;<=>?@[\\]^`{|}~", c) >= 0 || other(c) }
	for i := 0; i < 256; i++ {
		c := byte(i)
		if isTbirdStartDelim(c) != start(c) || isTbirdEndDelim(c) != end(c) ||
			isTbirdEndDelimEmail(c) != endEmail(c) || isSchemelessStartDelim(c) != schemeless(c) {
			t.Errorf("byte %#x: delimiter classes differ", c)
		}
	}
	rng := rand.New(rand.NewSource(1))
	alpha := "aaaaaaaa@,< .\x80"
	for round := 0; round < 500; round++ {
		b := make([]byte, rng.Intn(600))
		for i := range b {
			b[i] = alpha[rng.Intn(len(alpha))]
		}
		s := string(b)
		stops := atStops(s)
		for pos := 0; pos < len(s); pos++ {
			e := pos
			for e < len(s) && !endEmail(s[e]) && s[e] != '@' && e-pos < 251 {
				e++
			}
			if got := min(int(stops[pos]), pos+251); got != e {
				t.Fatalf("%q at %d: scan ends at %d, want %d", s, pos, got, e)
			}
		}
	}
}
