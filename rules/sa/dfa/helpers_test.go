package dfa

import (
	"fmt"
	"regexp/syntax"
)

func mustParse(src string) *syntax.Regexp {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		panic(err)
	}
	return re
}

// allKinds checks match with each way of skipping ahead that d has,
// whatever calibration chose; it returns what went wrong, or "".
func allKinds(d *DFA, text string, want bool) string {
	a := d.accelerate()
	for _, kind := range []uint8{accelNone, accelMemchr, accelPairs} {
		if kind == accelMemchr && !a.memchr || kind == accelPairs && a.out == nil {
			continue
		}
		if got, _, _ := d.match(text, kind); got != want {
			return fmt.Sprintf("with acceleration %d: %v, want %v", kind, got, want)
		}
	}
	return ""
}
