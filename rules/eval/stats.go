package eval

import (
	"math"
	"sort"
)

// Counts is a confusion matrix at one threshold: messages at or over it
// are flagged.
type Counts struct {
	Ham, Spam        int // messages judged
	HamFlagged       int // false positives
	SpamFlagged      int // true positives
	Errors, Skipped  int // not in Ham/Spam
	Threshold        float64
	HamRate, SpamHit float64 // HamFlagged/Ham, SpamFlagged/Spam (0 when empty)
}

func (c *Counts) finish() {
	c.HamRate = rate(c.HamFlagged, c.Ham)
	c.SpamHit = rate(c.SpamFlagged, c.Spam)
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// Confusion counts the messages of source ("" means all) flagged at
// threshold t.
func (r *Result) Confusion(t float64, source string) Counts {
	c := Counts{Threshold: t}
	for i := range r.Messages {
		m := &r.Messages[i]
		if source != "" && m.Source != source {
			continue
		}
		switch {
		case m.Err != "":
			c.Errors++
			continue
		case m.Skipped != "":
			c.Skipped++
		}
		flagged := m.Score >= t
		if m.Class == Spam {
			c.Spam++
			if flagged {
				c.SpamFlagged++
			}
		} else {
			c.Ham++
			if flagged {
				c.HamFlagged++
			}
		}
	}
	c.finish()
	return c
}

// SourceInfo is one source of the corpus and its size.
type SourceInfo struct {
	Name      string
	Ham, Spam int
}

// Sources returns the sources, ham-only sources first, then by name.
func (r *Result) Sources() []SourceInfo {
	m := map[string]*SourceInfo{}
	for _, s := range r.Messages {
		si := m[s.Source]
		if si == nil {
			si = &SourceInfo{Name: s.Source}
			m[s.Source] = si
		}
		if s.Err != "" {
			continue
		}
		if s.Class == Spam {
			si.Spam++
		} else {
			si.Ham++
		}
	}
	out := make([]SourceInfo, 0, len(m))
	for _, si := range m {
		out = append(out, *si)
	}
	sort.Slice(out, func(i, j int) bool {
		hi, hj := out[i].Spam == 0, out[j].Spam == 0
		if hi != hj {
			return hi
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// RuleStat is the hit frequency of one check (SpamAssassin's
// hit-frequencies): the share of spam and of ham it fires on, and
// S/O = spam% / (spam% + ham%), 1 for a check that fires on spam only.
type RuleStat struct {
	Name              string
	Score             float64
	Desc              string
	SpamHits, HamHits int
	SpamPct, HamPct   float64 // 0..100
	SO                float64 // 0..1; NaN when it never fires
}

// RuleStats returns the hit frequency of every check the engine ran and of
// every other hit (GTUBE, blocklists), sorted by S/O then spam%.
func (r *Result) RuleStats() []RuleStat {
	by := map[string]*RuleStat{}
	for _, rl := range r.Rules {
		by[rl.Name] = &RuleStat{Name: rl.Name, Score: rl.Score, Desc: rl.Desc}
	}
	var ham, spam int
	for _, m := range r.Messages {
		if m.Err != "" {
			continue
		}
		if m.Class == Spam {
			spam++
		} else {
			ham++
		}
		for _, h := range m.Hits {
			st := by[h.Name]
			if st == nil {
				st = &RuleStat{Name: h.Name, Score: h.Score, Desc: h.Desc}
				by[h.Name] = st
			}
			if m.Class == Spam {
				st.SpamHits++
			} else {
				st.HamHits++
			}
		}
	}
	out := make([]RuleStat, 0, len(by))
	for _, st := range by {
		st.SpamPct = 100 * rate(st.SpamHits, spam)
		st.HamPct = 100 * rate(st.HamHits, ham)
		if st.SpamPct+st.HamPct > 0 {
			st.SO = st.SpamPct / (st.SpamPct + st.HamPct)
		} else {
			st.SO = math.NaN()
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		an, bn := math.IsNaN(a.SO), math.IsNaN(b.SO)
		if an != bn {
			return bn
		}
		if !an && a.SO != b.SO {
			return a.SO > b.SO
		}
		if a.SpamPct != b.SpamPct {
			return a.SpamPct > b.SpamPct
		}
		return a.Name < b.Name
	})
	return out
}

// Worst returns up to n false positives (ham at or over the tag threshold,
// highest score first) and n false negatives (spam under it, lowest first).
func (r *Result) Worst(n int) (fp, fn []Scored) {
	for _, m := range r.Messages {
		if m.Err != "" {
			continue
		}
		if m.Class == Ham && m.Score >= r.Tag {
			fp = append(fp, m)
		}
		if m.Class == Spam && m.Score < r.Tag {
			fn = append(fn, m)
		}
	}
	sort.SliceStable(fp, func(i, j int) bool { return fp[i].Score > fp[j].Score })
	sort.SliceStable(fn, func(i, j int) bool { return fn[i].Score < fn[j].Score })
	if len(fp) > n {
		fp = fp[:n]
	}
	if len(fn) > n {
		fn = fn[:n]
	}
	return fp, fn
}

// ThresholdFor returns the lowest threshold at which at most maxHamRate
// (0.001 = 0.1%) of the ham is flagged, in the whole corpus and in each
// ham source, and the share of spam flagged there. Thresholds are taken at
// the scores seen; with no ham, the tag threshold is returned.
func (r *Result) ThresholdFor(maxHamRate float64) (t, spamRate float64) {
	perSource := map[string][]float64{}
	var all []float64
	for _, m := range r.Messages {
		if m.Err == "" && m.Class == Ham {
			perSource[m.Source] = append(perSource[m.Source], m.Score)
			all = append(all, m.Score)
		}
	}
	if len(all) == 0 {
		return r.Tag, r.Confusion(r.Tag, "").SpamHit
	}
	t = math.Inf(-1)
	for _, s := range append([][]float64{all}, mapValues(perSource)...) {
		if x := lowestThreshold(s, maxHamRate); x > t {
			t = x
		}
	}
	return t, r.Confusion(t, "").SpamHit
}

func mapValues(m map[string][]float64) [][]float64 {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]float64, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// lowestThreshold returns the lowest t such that the share of scores >= t
// is at most maxRate: just above the k-th highest score, k = floor(maxRate*n).
func lowestThreshold(scores []float64, maxRate float64) float64 {
	s := append([]float64(nil), scores...)
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	k := int(math.Floor(maxRate*float64(len(s)) + 1e-9)) // how many may be flagged
	if k >= len(s) {
		return math.Inf(-1)
	}
	// s[k] must not be flagged: the threshold is just above it, on the
	// 0.1 grid scores are reported on.
	return math.Floor(s[k]*10+1e-6)/10 + 0.1
}

// Rescore returns a copy of r with the scores of the named checks replaced
// (0 drops the hit, as the engine does not run a check at 0); other hits
// keep their score.
func (r *Result) Rescore(scores map[string]float64) *Result {
	out := *r
	out.Messages = make([]Scored, len(r.Messages))
	for i, m := range r.Messages {
		n := m
		n.Hits = nil
		n.Score = 0
		for _, h := range m.Hits {
			if s, ok := scores[h.Name]; ok {
				if s == 0 {
					continue
				}
				h.Score = s
			}
			n.Hits = append(n.Hits, h)
			n.Score += h.Score
		}
		out.Messages[i] = n
	}
	out.Rules = nil
	for _, rl := range r.Rules {
		if s, ok := scores[rl.Name]; ok {
			if s == 0 {
				continue
			}
			rl.Score = s
		}
		out.Rules = append(out.Rules, rl)
	}
	return &out
}
