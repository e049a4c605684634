package dfa

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

// TestProfStock times every stock pattern on the benchmark's sample with
// each acceleration (none, memchr, pairs), the one calibration chose, and
// the best of them: the figures of README.md. It takes minutes: run it with
// LEVEE_DFA_PROFILE=1.
func TestProfStock(t *testing.T) {
	if os.Getenv("LEVEE_DFA_PROFILE") == "" {
		t.Skip("set LEVEE_DFA_PROFILE=1 to run")
	}
	msgs := loadMessages(t, 100, 85)
	pats := compileStock(t, loadStock(t))
	for range 2 {
		for j := range pats {
			p := &pats[j]
			for _, m := range msgs {
				for _, s := range m.texts(&p.stockRE) {
					if p.dfa.Match(s) {
						break
					}
				}
			}
		}
	}
	run := func(p *compiled, kind uint8) time.Duration {
		t0 := time.Now()
		for _, m := range msgs {
			for _, s := range m.texts(&p.stockRE) {
				if m, _, _ := p.dfa.match(s, kind); m {
					break
				}
			}
		}
		return time.Since(t0)
	}
	type res struct {
		i                int
		none, acc, calib time.Duration
		best             time.Duration
		bytes            int
	}
	var rs []res
	cat := map[string][4]time.Duration{}
	catB := map[string]int{}
	var tot [4]time.Duration
	for j := range pats {
		p := &pats[j]
		n := 0
		for _, m := range msgs {
			for _, s := range m.texts(&p.stockRE) {
				n += len(s)
				if p.dfa.Match(s) {
					break
				}
			}
		}
		r := res{i: j, none: time.Hour, acc: time.Hour, calib: time.Hour, best: time.Hour, bytes: n}
		a := &p.dfa.acc
		for range 5 {
			r.none = min(r.none, run(p, accelNone))
			best := r.none
			if a.memchr {
				t := run(p, accelMemchr)
				best = min(best, t)
				if a.kind == accelMemchr {
					r.acc = min(r.acc, t)
				}
			}
			if a.out != nil {
				t := run(p, accelPairs)
				best = min(best, t)
				if a.kind == accelPairs {
					r.acc = min(r.acc, t)
				}
			}
			if a.kind == accelNone {
				r.acc = r.none
			}
			r.calib = min(r.calib, run(p, uint8(p.dfa.accKind.Load())))
			r.best = min(r.best, best)
		}
		rs = append(rs, r)
		k := fmt.Sprintf("kind%d", p.dfa.acc.kind)
		if p.dfa.p.anchored {
			k = "anchored"
		}
		c := cat[k]
		c[0] += r.none
		c[1] += r.acc
		c[2] += r.calib
		c[3] += r.best
		cat[k] = c
		catB[k] += n
		tot[0] += r.none
		tot[1] += r.acc
		tot[2] += r.calib
		tot[3] += r.best
	}
	nm := time.Duration(len(msgs))
	for k, v := range cat {
		t.Logf("%-10s %8d B/msg: none %v (%.2f ns/B) accel %v (%.2f ns/B) calibrated %v best %v", k, catB[k]/len(msgs), v[0]/nm, float64(v[0])/float64(catB[k]), v[1]/nm, float64(v[1])/float64(catB[k]), v[2]/nm, v[3]/nm)
	}
	t.Logf("per message: none %v accel %v calibrated %v best %v", tot[0]/nm, tot[1]/nm, tot[2]/nm, tot[3]/nm)
	mem, resets, fallbacks := 0, uint64(0), uint64(0)
	for _, p := range pats {
		st := p.dfa.Stats()
		mem += st.Bytes
		resets += st.Resets
		fallbacks += st.Fallbacks
	}
	t.Logf("DFAs hold %.1f MiB; %d resets, %d fallbacks", float64(mem)/(1<<20), resets, fallbacks)
	// regexp, once, on the first 20 messages
	t0 := time.Now()
	for j := range pats {
		p := &pats[j]
		for _, m := range msgs[:20] {
			for _, s := range m.texts(&p.stockRE) {
				if p.re.MatchString(byteRunes(s)) {
					break
				}
			}
		}
	}
	t.Logf("regexp: %v per message (first 20 messages)", time.Since(t0)/20)
	var dfa20 time.Duration
	for j := range pats {
		d := time.Hour
		for range 3 {
			t0 := time.Now()
			p := &pats[j]
			for _, m := range msgs[:20] {
				for _, s := range m.texts(&p.stockRE) {
					if p.dfa.Match(s) {
						break
					}
				}
			}
			d = min(d, time.Since(t0))
		}
		dfa20 += d
	}
	t.Logf("dfa: %v per message (first 20 messages)", dfa20/20)
	sort.Slice(rs, func(a, b int) bool { return rs[a].calib-rs[a].best > rs[b].calib-rs[b].best })
	for _, r := range rs[:15] {
		p := &pats[r.i]
		t.Logf("calibrated worse than best: none %v acc %v calib %v best %v kinds %d->%d: %s %.60q", r.none/nm, r.acc/nm, r.calib/nm, r.best/nm, p.dfa.acc.kind, p.dfa.accKind.Load(), p.Name, p.RE2)
	}
}
