package dfa

import "strings"

// Skipping ahead from the idle states. Most of the time a DFA of a
// SpamAssassin pattern is idle: no thread is alive but those the start
// closure adds at every position. Match then skips the bytes that cannot
// leave the idle states instead of walking the transition table byte by
// byte (Rust's regex-automata accelerates states the same way, and RE2
// skips to a literal prefix with memchr):
//
//   - memchr: when at most 3 bytes leave the idle states, strings.IndexByte
//     (vectorized) finds the next one.
//   - pairs: a table over pairs of byte classes says whether two bytes read
//     from an idle state can leave the idle states; pairs that cannot are
//     skipped two bytes at a time, with no dependency between iterations
//     (the transition table walk waits on each load). When a pair may leave
//     but its first byte alone cannot (from the idle state of the byte
//     before it), the search goes on one byte further.
//
// Both are computed once per DFA, from the program, without the cache. A
// stop (a position where the idle states may be left) costs a few branch
// mispredictions, some 30 ns, more than walking a dozen bytes: when stops
// come too often on the texts a DFA sees, skipping loses. So the first
// calls calibrate (see calibrate): memchr, then pairs, then none.
type accel struct {
	kind uint8 // the first kind to try
	// memchr (when memchr is set): the n escape bytes; none when no byte
	// leaves the idle states (the pattern cannot match after position 0).
	memchr bool
	n      int
	b      [3]byte
	// pairs (out != nil when usable): bit c1*nclass+c2 of out is set when
	// the classes c1 then c2, read from an idle state, may lead out of the
	// idle states; one[q] is the set of bytes that lead out of idle state q
	// in one step.
	out []uint64
	one [3]byteSet
}

const (
	accelNone = iota
	accelMemchr
	accelPairs
)

// Heuristic bounds: the pairs that stop must make less than maxPairFreq of
// mail text's byte pairs (seen as independent bytes); the pair table costs
// at most maxPairWork steps of the threads of one byte to build.
const (
	maxPairFreq = 0.2
	maxPairWork = 1 << 16
)

// accelerate computes d.acc once.
func (d *DFA) accelerate() *accel {
	if d.accReady.Load() {
		return &d.acc
	}
	d.accOnce.Do(func() {
		d.acc = d.computeAccel()
		d.accKind.Store(uint32(d.acc.kind))
		d.accReady.Store(true)
	})
	return &d.acc
}

// Calibration: calibrationCalls calls of Match with an acceleration count
// how often skipping ahead stops and how far it goes. When it stops more
// than once every minSkipPerStop bytes skipped, the stops cost more than
// walking the table would: memchr gives way to pairs, pairs to none, for
// good. The heuristics of computeAccel only guess from byte frequencies;
// the texts decide.
const (
	calibrationCalls = 256
	minSkipPerStop   = 32
)

func (d *DFA) calibrate(kind uint8, stops, skipped int) {
	d.stops.Add(uint64(stops))
	d.skipped.Add(uint64(skipped))
	if d.calls.Add(1) != calibrationCalls {
		return
	}
	st := d.stops.Load()
	if st == 0 || d.skipped.Load() >= minSkipPerStop*st {
		return // keep kind; calls stays at calibrationCalls: done
	}
	next := uint32(accelNone)
	if kind == accelMemchr && d.acc.out != nil {
		next = accelPairs
	}
	d.accKind.Store(next)
	if next != accelNone {
		d.stops.Store(0)
		d.skipped.Store(0)
		d.calls.Store(0)
	}
}

func (d *DFA) computeAccel() accel {
	p := d.p
	if p.anchored {
		return accel{}
	}
	sc := d.scratch.Get().(*scratch)
	defer d.scratch.Put(sc)
	nq := 1
	if p.startEmpty {
		nq = 3
	}
	// one[q][k]: reading class k from idle state q leaves the idle states.
	nc := p.nclass
	one := make([][]bool, nq)
	escClasses := make([]bool, nc)
	for q := range one {
		one[q] = make([]bool, nc)
		for k := 0; k < nc; k++ {
			sc.cur = sc.cur[:0]
			if d.step(sc, uint8(q), true, int(p.rep[k])) || len(sc.list) > 0 {
				one[q][k] = true
				escClasses[k] = true
			}
		}
	}
	var a accel
	nesc := 0
	for b := 0; b < 256; b++ {
		k := p.class[b]
		for q := 0; q < 3; q++ {
			if one[min(q, nq-1)][k] {
				a.one[q].add(byte(b))
			}
		}
		if escClasses[k] {
			if nesc < len(a.b) {
				a.b[nesc] = byte(b)
			}
			nesc++
		}
	}
	if nesc <= len(a.b) {
		a.kind, a.memchr, a.n = accelMemchr, true, nesc
	}
	a.out = d.pairTable(sc, one, escClasses)
	if a.kind == accelNone && a.out != nil {
		a.kind = accelPairs
	}
	return a
}

// pairTable computes accel.out, or nil when it would cost too much to
// build or stop too often.
func (d *DFA) pairTable(sc *scratch, one [][]bool, escClasses []bool) []uint64 {
	p := d.p
	nq, nc := len(one), p.nclass
	n1 := 0
	for k := 0; k < nc; k++ {
		if escClasses[k] {
			n1++
		}
	}
	if nq*n1*nc > maxPairWork {
		return nil
	}
	// For each idle state q and each class c1 that leaves it, the threads
	// after c1, then each c2. The start closure's part of the second step
	// is one[] of c1's context; only the threads of c1 are stepped.
	out := make([]uint64, (nc*nc+63)/64)
	set := func(c1, c2 int) { k := c1*nc + c2; out[k>>6] |= 1 << (k & 63) }
	var l1 []uint32
	for q := 0; q < nq; q++ {
		for c1 := 0; c1 < nc; c1++ {
			q2 := 0 // the idle state after c1
			if p.startEmpty {
				q2 = int(p.ctx[p.rep[c1]])
			}
			for c2 := 0; c2 < nc; c2++ {
				if one[q2][c2] {
					set(c1, c2)
				}
			}
			if !one[q][c1] {
				continue
			}
			sc.cur = sc.cur[:0]
			if d.step(sc, uint8(q), true, int(p.rep[c1])) {
				for c2 := 0; c2 < nc; c2++ {
					set(c1, c2)
				}
				continue
			}
			prev := sc.nextPrev(p, p.rep[c1], true)
			l1 = append(l1[:0], sc.list...)
			for c2 := 0; c2 < nc; c2++ {
				sc.cur = append(sc.cur[:0], l1...)
				if d.step(sc, prev, false, int(p.rep[c2])) || len(sc.list) > 0 {
					set(c1, c2)
				}
			}
		}
	}
	// How often the search would stop (a pair that may leave whose first
	// byte may leave), with bytes taken as independent and the contexts
	// as one.
	pf := 0.0
	cf := make([]float64, nc)
	for b := 0; b < 256; b++ {
		cf[p.class[b]] += byteFreq(byte(b))
	}
	for c1 := 0; c1 < nc; c1++ {
		if !escClasses[c1] {
			continue
		}
		for c2 := 0; c2 < nc; c2++ {
			if k := c1*nc + c2; out[k>>6]&(1<<(k&63)) != 0 {
				pf += cf[c1] * cf[c2]
			}
		}
	}
	if pf >= maxPairFreq {
		return nil
	}
	return out
}

// find returns the first position >= i of an escape byte in text, or
// len(text). memo[j] remembers where b[j] was last found (-1: not looked
// for, len(text): nowhere), so that a text is scanned once per escape byte.
func (a *accel) find(text string, i int, memo *[3]int) int {
	best := len(text)
	for j := 0; j < a.n; j++ {
		if memo[j] < i {
			if k := strings.IndexByte(text[i:], a.b[j]); k >= 0 {
				memo[j] = i + k
			} else {
				memo[j] = len(text)
			}
		}
		if memo[j] < best {
			best = memo[j]
		}
	}
	return best
}

// skipPairs returns the first position >= i (i > 0, in an idle state)
// from which the next byte may leave the idle states while the two next
// bytes may too, or len(text).
func (a *accel) skipPairs(p *prog, text string, i int) int {
	out, nc := a.out, p.nclass
	for i+1 < len(text) {
		k := int(p.class[text[i]])*nc + int(p.class[text[i+1]])
		if out[k>>6]&(1<<(k&63)) == 0 {
			i += 2
			continue
		}
		if a.one[p.ctx[text[i-1]]].has(text[i]) {
			return i
		}
		i++
	}
	if i < len(text) && a.one[p.ctx[text[i-1]]].has(text[i]) {
		return i
	}
	return len(text)
}

// byteFreq is a rough frequency of byte b in mail text (English prose,
// headers, HTML and encoded parts mixed), for the heuristics only.
func byteFreq(b byte) float64 {
	const lower = "etaoinsrhldcumfpgwybvkxjqz"
	switch {
	case b == ' ':
		return 0.13
	case b >= 'a' && b <= 'z':
		return letterFreq[strings.IndexByte(lower, b)]
	case b >= 'A' && b <= 'Z':
		return letterFreq[strings.IndexByte(lower, b+32)]/6 + 0.002
	case b >= '0' && b <= '9':
		return 0.006
	case b == '\n' || b == '.' || b == ',' || b == '=' || b == '-':
		return 0.012
	case b == '\r' || b == '/' || b == ':' || b == '<' || b == '>' || b == '"' || b == '\t' || b == '_' || b == '\'' || b == ';':
		return 0.004
	case b < 0x20 || b == 0x7f:
		return 0.0001
	case b >= 0x80:
		return 0.0005
	}
	return 0.001
}

var letterFreq = [26]float64{
	0.085, 0.062, 0.055, 0.053, 0.05, 0.049, 0.045, 0.044, 0.035, 0.03, 0.028, 0.024, 0.021,
	0.019, 0.018, 0.017, 0.015, 0.015, 0.014, 0.011, 0.008, 0.005, 0.0015, 0.001, 0.001, 0.0007,
}
