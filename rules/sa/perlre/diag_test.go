package perlre

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

// Diagnostics for the stock rules, run by hand:
//
//	PERLRE_DIAG=1 go test -run TestDiagStock -v ./rules/sa/perlre
//
// lists each stock regexp with its translation time and error, then the 40
// slowest to match a 4 KiB text, the slowest to compile, and the largest
// growth of the source.
func TestDiagStock(t *testing.T) {
	if os.Getenv("PERLRE_DIAG") == "" {
		t.Skip("set PERLRE_DIAG=1")
	}
	text := Bytes(typicalText())
	type row struct {
		name    string
		match   time.Duration
		compile time.Duration
		in, out int
	}
	var rows []row
	var total time.Duration
	for _, p := range stockPatterns(t) {
		st := time.Now()
		r, err := Compile(p.re, p.flags)
		c := time.Since(st)
		fmt.Fprintf(os.Stderr, "%s:%d %s %v %v\n", p.file, p.line, p.name, c, err)
		if err != nil {
			continue
		}
		best := time.Hour
		for k := 0; k < 3; k++ {
			st = time.Now()
			r.MatchString(text)
			if d := time.Since(st); d < best {
				best = d
			}
		}
		total += best
		rows = append(rows, row{p.name, best, c, len(p.re), len(r.String())})
	}
	t.Logf("total match time %v over %d patterns", total, len(rows))
	show := func(title string, less func(a, b row) bool, n int) {
		sort.Slice(rows, func(i, j int) bool { return less(rows[i], rows[j]) })
		t.Log(title)
		for _, r := range rows[:min(n, len(rows))] {
			t.Logf("  %-32s match %-12v compile %-12v perl %6d re2 %7d", r.name, r.match, r.compile, r.in, r.out)
		}
	}
	show("slowest to match:", func(a, b row) bool { return a.match > b.match }, 40)
	show("slowest to compile:", func(a, b row) bool { return a.compile > b.compile }, 15)
	show("largest growth:", func(a, b row) bool { return a.out-a.in > b.out-b.in }, 15)
}
