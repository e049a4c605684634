package perlre

import (
	"os"
	"sort"
	"testing"
	"time"
)

func TestSlowPatterns(t *testing.T) {
	if os.Getenv("PERLRE_SLOW") == "" {
		t.Skip()
	}
	text := Bytes(typicalText())
	type row struct {
		name string
		d, c time.Duration
		size int
	}
	var rows []row
	for _, p := range stockPatterns(t) {
		st := time.Now()
		r, err := Compile(p.re, p.flags)
		c := time.Since(st)
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
		rows = append(rows, row{p.name, best, c, len(r.String())})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].d > rows[j].d })
	var total time.Duration
	for _, r := range rows {
		total += r.d
	}
	t.Logf("total match time %v over %d patterns", total, len(rows))
	for _, r := range rows[:40] {
		t.Logf("%-30s match %v compile %v len %d", r.name, r.d, r.c, r.size)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].c > rows[j].c })
	for _, r := range rows[:10] {
		t.Logf("%-30s match %v compile %v len %d", r.name, r.d, r.c, r.size)
	}
}
