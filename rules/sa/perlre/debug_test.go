package perlre

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestDebugStock(t *testing.T) {
	if os.Getenv("PERLRE_DEBUG") == "" {
		t.Skip()
	}
	for _, p := range stockPatterns(t) {
		fmt.Fprintf(os.Stderr, "%s:%d %s ... ", p.file, p.line, p.name)
		st := time.Now()
		_, err := Translate(p.re, p.flags)
		fmt.Fprintf(os.Stderr, "%v %v\n", time.Since(st), err)
	}
}
