package perlre

import (
	"os"
	"sort"
	"testing"
)

func TestInflation(t *testing.T) {
	if os.Getenv("PERLRE_INFL") == "" {
		t.Skip()
	}
	type row struct {
		name    string
		in, out int
	}
	var rows []row
	tot, totOut := 0, 0
	for _, p := range stockPatterns(t) {
		src, err := Translate(p.re, p.flags)
		if err != nil {
			continue
		}
		rows = append(rows, row{p.name, len(p.re), len(src)})
		tot += len(p.re)
		totOut += len(src)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].out-rows[i].in > rows[j].out-rows[j].in })
	for _, r := range rows[:20] {
		t.Logf("%-30s in %6d out %7d", r.name, r.in, r.out)
	}
	t.Logf("total in %d out %d", tot, totOut)
}
