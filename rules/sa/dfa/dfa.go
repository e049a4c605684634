// Package dfa answers "does this regexp match anywhere in this text" with a
// lazily built DFA, as RE2's DFA does, over raw octets: every byte b of the
// text is the input symbol U+00bb. That is the form rules/sa/perlre's
// translated SpamAssassin patterns are matched in (perlre.Bytes), so
//
//	dfa.MustCompile(src).Match(text) == regexp.MustCompile(src).MatchString(perlre.Bytes(text))
//
// for every pattern (a rune above U+00FF in the pattern never matches a
// byte). Empty-width assertions (\A \z ^ $ (?m:^) (?m:$) \b \B) are exact:
// the context of the previous byte is part of each state and the
// assertions are evaluated when the next byte (or the end of the text) is
// known.
//
// States are built on demand while matching and cached per DFA; the cache
// is bounded (Limits) and cleared when full. A *DFA is safe for concurrent
// use: existing transitions are read without locks.
package dfa

import (
	"regexp/syntax"
	"strings"
	"sync"
	"sync/atomic"
)

// Limits bound the memory of one DFA's state cache.
type Limits struct {
	// MaxStates is the number of states kept before the cache is cleared.
	MaxStates int
	// MaxBytes is the estimated memory of the states and their transition
	// tables kept before the cache is cleared.
	MaxBytes int
	// MaxResets is the number of cache clears one Match call may cause
	// before it gives up on caching and simulates the automaton without a
	// cache for the rest of its text (linear time, like regexp's NFA).
	MaxResets int
}

// DefaultLimits are the limits Compile uses.
var DefaultLimits = Limits{MaxStates: 10000, MaxBytes: 1 << 20, MaxResets: 2}

// DFA is a compiled pattern. The zero value is not usable; see Compile.
type DFA struct {
	p   *prog
	lim Limits

	mu    sync.Mutex // guards the creation of states and cache resets
	cache atomic.Pointer[cache]

	scratch sync.Pool // *scratch

	escOnce sync.Once
	esc     escape

	resets, fallbacks atomic.Uint64
}

// cache is one generation of states. A reset replaces it; matches still
// walking the old generation finish on it (the garbage collector frees it
// after them).
type cache struct {
	states  map[string]*state
	bytes   int
	initial *state    // position 0: previous context ctxEdge, start added
	idle    [3]*state // no thread but the start's, per previous context
}

// Kinds of state.
const (
	kindNormal = iota
	kindIdle   // no thread but those the start adds at every position
	kindMatch  // sentinel: a match was found
	kindDead   // sentinel: no match can follow
)

// state is a set of program counters (Rune, EmptyWidth instructions, the
// flag-free closure of the threads alive after a byte), the context of that
// byte, and whether the start closure is implied (unanchored search, or
// position 0). Its key encodes all three; next holds one transition per
// byte class, filled lazily.
type state struct {
	key  string // [0]: prev | withStart<<2; then the pcs, 4 bytes each
	kind uint8
	next []atomic.Pointer[state]
	end  atomic.Uint32 // 0 unknown, 1 no match at the end of text, 2 match
}

var (
	matchState = &state{kind: kindMatch}
	deadState  = &state{kind: kindDead}
)

func (s *state) prev() uint8     { return s.key[0] & 3 }
func (s *state) withStart() bool { return s.key[0]&4 != 0 }
func (s *state) npc() int        { return (len(s.key) - 1) / 4 }
func (s *state) pc(i int) uint32 {
	k := s.key[1+4*i : 5+4*i]
	return uint32(k[0]) | uint32(k[1])<<8 | uint32(k[2])<<16 | uint32(k[3])<<24
}

// Compile builds the DFA of re (parsed with the flags the caller chose;
// regexp uses syntax.Perl). No state is built until Match needs it.
func Compile(re *syntax.Regexp) (*DFA, error) {
	return CompileLimits(re, DefaultLimits)
}

// CompileLimits is Compile with other limits; a zero field takes the
// default's.
func CompileLimits(re *syntax.Regexp, lim Limits) (*DFA, error) {
	sp, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	p, err := newProg(sp)
	if err != nil {
		return nil, err
	}
	if lim.MaxStates <= 0 {
		lim.MaxStates = DefaultLimits.MaxStates
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	if lim.MaxResets <= 0 {
		lim.MaxResets = DefaultLimits.MaxResets
	}
	d := &DFA{p: p, lim: lim}
	d.scratch.New = func() any { return newScratch(len(p.inst)) }
	d.cache.Store(d.newCache())
	return d, nil
}

// MustCompile parses src with syntax.Perl (as regexp.MustCompile does) and
// compiles it; it panics on error. For tests and fixed patterns.
func MustCompile(src string) *DFA {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		panic(err)
	}
	d, err := Compile(re)
	if err != nil {
		panic(err)
	}
	return d
}

// newCache makes an empty generation with its initial and idle states.
func (d *DFA) newCache() *cache {
	c := &cache{states: map[string]*state{}}
	c.initial = d.intern(c, []byte{ctxEdge | 4})
	if !d.p.anchored {
		for p := range c.idle {
			if p == 0 || d.p.startEmpty {
				c.idle[p] = d.intern(c, []byte{uint8(p) | 4})
			} else {
				c.idle[p] = c.idle[0]
			}
		}
	}
	return c
}

// stateBytes estimates the memory of a state with a key of n bytes: the
// struct, its key and transition table, and its map entry.
func (d *DFA) stateBytes(n int) int { return 64 + 48 + n + 8*d.p.nclass }

// intern returns c's state of key, creating it (the caller holds d.mu or
// owns c).
func (d *DFA) intern(c *cache, key []byte) *state {
	if s := c.states[string(key)]; s != nil {
		return s
	}
	s := &state{key: string(key), next: make([]atomic.Pointer[state], d.p.nclass)}
	if len(key) == 1 && key[0]&4 != 0 && key[0]&3 != ctxEdge {
		s.kind = kindIdle
	}
	c.states[s.key] = s
	c.bytes += d.stateBytes(len(key))
	return s
}

// Match reports whether the pattern matches anywhere in text, each byte b
// of text being the rune U+00bb.
func (d *DFA) Match(text string) bool {
	p := d.p
	if p.always {
		return true
	}
	c := d.cache.Load()
	s := c.initial
	for i := 0; i < len(text); i++ {
		ns := s.next[p.class[text[i]]].Load()
		if ns == nil {
			return d.matchSlow(c, s, text, i)
		}
		if ns != s {
			switch ns.kind {
			case kindMatch:
				return true
			case kindDead:
				return false
			case kindIdle:
				if e := d.escapes(); e.n > 0 {
					return d.matchSlow(c, ns, text, i+1)
				}
			}
		}
		s = ns
	}
	return d.atEnd(s, nil)
}

// matchSlow goes on from state s at position i: it fills missing
// transitions, skips ahead from idle states, and falls back to the
// uncached simulation when the cache thrashes.
func (d *DFA) matchSlow(c *cache, s *state, text string, i int) bool {
	p := d.p
	sc := d.scratch.Get().(*scratch)
	defer d.scratch.Put(sc)
	sc.resets = 0
	e := d.escapes()
	var memo [3]int
	for j := range memo {
		memo[j] = -1
	}
	for {
		if s.kind == kindIdle && e.n > 0 && i < len(text) {
			j := e.find(text, i, &memo)
			if j > i {
				q := uint8(0)
				if p.startEmpty {
					q = p.ctx[text[j-1]]
				}
				s, i = c.idle[q], j
			}
		}
		if i >= len(text) {
			return d.atEnd(s, sc)
		}
		k := p.class[text[i]]
		ns := s.next[k].Load()
		if ns == nil {
			ns = d.fill(sc, s, k)
			if sc.resets > d.lim.MaxResets {
				d.fallbacks.Add(1)
				return d.simulate(sc, s, text[i:])
			}
		}
		switch ns.kind {
		case kindMatch:
			return true
		case kindDead:
			return false
		}
		s = ns
		i++
	}
}

// fill computes, stores and returns the transition of s on class k.
func (d *DFA) fill(sc *scratch, s *state, k uint8) *state {
	p := d.p
	b := p.rep[k]
	sc.load(s)
	if d.step(sc, s.prev(), s.withStart(), int(b)) {
		s.next[k].Store(matchState)
		return matchState
	}
	key := sc.key(p, b)
	if key == nil {
		s.next[k].Store(deadState)
		return deadState
	}
	d.mu.Lock()
	c := d.cache.Load()
	ns := c.states[string(key)]
	if ns == nil {
		if len(c.states) >= d.lim.MaxStates || c.bytes+d.stateBytes(len(key)) > d.lim.MaxBytes {
			c = d.newCache()
			d.cache.Store(c)
			d.resets.Add(1)
			sc.resets++
		}
		ns = d.intern(c, key)
	}
	d.mu.Unlock()
	s.next[k].Store(ns)
	return ns
}

// atEnd reports whether a match ends at the end of the text in state s.
func (d *DFA) atEnd(s *state, sc *scratch) bool {
	switch s.end.Load() {
	case 1:
		return false
	case 2:
		return true
	}
	if sc == nil {
		sc = d.scratch.Get().(*scratch)
		defer d.scratch.Put(sc)
	}
	sc.load(s)
	m := d.step(sc, s.prev(), s.withStart(), -1)
	if m {
		s.end.Store(2)
	} else {
		s.end.Store(1)
	}
	return m
}

// simulate runs the automaton without caching from the threads of s over
// text: the fallback when the cache thrashes.
func (d *DFA) simulate(sc *scratch, s *state, text string) bool {
	p := d.p
	sc.load(s)
	prev, with := s.prev(), s.withStart()
	for i := 0; i < len(text); i++ {
		b := text[i]
		if d.step(sc, prev, with, int(b)) {
			return true
		}
		with = !p.anchored
		if len(sc.list) == 0 && !with {
			return false
		}
		prev = sc.nextPrev(p, b, with)
		sc.cur, sc.list = sc.list, sc.cur
	}
	return d.step(sc, prev, with, -1)
}

// Stats describes a DFA's program and cache.
type Stats struct {
	Insts   int // instructions of the program
	Classes int // byte classes
	States  int // states in the current cache
	// Bytes estimates the memory of the program and the current cache.
	Bytes int
	// Resets counts cache clears; Fallbacks counts Match calls that went
	// on without the cache.
	Resets, Fallbacks uint64
}

// Stats returns the DFA's statistics.
func (d *DFA) Stats() Stats {
	d.mu.Lock()
	c := d.cache.Load()
	st := Stats{
		Insts:   len(d.p.inst),
		Classes: d.p.nclass,
		States:  len(c.states),
		Bytes:   c.bytes + d.p.bytes(),
	}
	d.mu.Unlock()
	st.Resets = d.resets.Load()
	st.Fallbacks = d.fallbacks.Load()
	return st
}

// escape is the set of bytes that leave the idle states for a state with
// threads (or a match): between two of them the DFA stays idle, so Match
// skips ahead with strings.IndexByte. n is 0 when there are more than 3.
type escape struct {
	n int
	b [3]byte
}

// escapes computes the escape set once, by stepping each idle state on
// each byte class without the cache.
func (d *DFA) escapes() *escape {
	d.escOnce.Do(func() {
		p := d.p
		if p.anchored {
			return
		}
		sc := d.scratch.Get().(*scratch)
		defer d.scratch.Put(sc)
		var set byteSet
		for q := 0; q < 3; q++ {
			if q > 0 && !p.startEmpty {
				break
			}
			for k := 0; k < p.nclass; k++ {
				sc.cur = sc.cur[:0]
				if d.step(sc, uint8(q), true, int(p.rep[k])) || len(sc.list) > 0 {
					for b := 0; b < 256; b++ {
						if int(p.class[b]) == k {
							set.add(byte(b))
						}
					}
				}
			}
		}
		n := 0
		for b := 0; b < 256; b++ {
			if set.has(byte(b)) {
				if n == len(d.esc.b) {
					d.esc.n = 0
					return
				}
				d.esc.b[n] = byte(b)
				n++
			}
		}
		d.esc.n = n
	})
	return &d.esc
}

// find returns the first position >= i of an escape byte in text, or
// len(text). memo[j] remembers where b[j] was last found (-1: not looked
// for), so that a text is scanned once per escape byte.
func (e *escape) find(text string, i int, memo *[3]int) int {
	best := len(text)
	for j := 0; j < e.n; j++ {
		if memo[j] < i {
			if k := strings.IndexByte(text[i:], e.b[j]); k >= 0 {
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
