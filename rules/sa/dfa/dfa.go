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
// is bounded (Limits) and cleared when full. From the idle states (no
// partial match under way) Match skips ahead with strings.IndexByte or a
// table of byte-class pairs. A *DFA is safe for concurrent use: existing
// transitions are read without locks. See README.md.
package dfa

import (
	"regexp/syntax"
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
	// Budget, when set, bounds the caches of every DFA that shares it
	// together: a DFA whose growth would pass it clears its own cache, as
	// at MaxBytes. MaxBytes alone bounds one DFA; a thousand DFAs each at
	// their bound would hold gigabytes.
	Budget *Budget
}

// Budget is memory shared by the caches of several DFAs (the rules of one
// set); see Limits.Budget. Safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int) *Budget { return &Budget{max: int64(max)} }

// Used is the estimated memory the caches sharing b hold.
func (b *Budget) Used() int { return int(b.used.Load()) }

// take reserves n bytes; false when that would pass the budget.
func (b *Budget) take(n int) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// give returns n bytes to the budget (a nil budget ignores it); force
// takes them whatever the budget (a cache's fixed rows).
func (b *Budget) give(n int) {
	if b != nil {
		b.used.Add(-int64(n))
	}
}

func (b *Budget) force(n int) {
	if b != nil {
		b.used.Add(int64(n))
	}
}

// DefaultLimits are the limits Compile uses.
var DefaultLimits = Limits{MaxStates: 20000, MaxBytes: 4 << 20, MaxResets: 2}

// DFA is a compiled pattern. The zero value is not usable; see Compile.
type DFA struct {
	p   *prog
	lim Limits
	// stride is the length of a state's row: one transition per byte
	// class, then the end-of-text column (rowMatch or rowDead id, 0 when
	// not computed yet).
	stride uint32
	endCol uint32

	mu    sync.Mutex // guards the creation of states and cache resets
	cache atomic.Pointer[cache]

	scratch sync.Pool // *scratch

	accOnce  sync.Once
	accReady atomic.Bool
	acc      accel
	// accKind is acc.kind until calibration finds that skipping ahead
	// does not pay on the texts this DFA sees (see calibrate).
	accKind atomic.Uint32
	// calibration: Match calls counted, and their stops and skipped bytes
	calls, stops, skipped atomic.Uint64

	resets, fallbacks atomic.Uint64
}

// State ids are premultiplied: state n's row is trans[n*stride :
// (n+1)*stride], and its id is n*stride. The first rows
// are fixed: 0 is no state (a transition not computed yet), then the
// sentinels dead and match, the idle states (no thread but those the start
// closure adds at every position), one per context of the previous byte,
// and the initial state (position 0).
const (
	rowUnknown = 0
	rowDead    = 1
	rowMatch   = 2
	rowIdle    = 3 // 3, 4, 5: previous byte ctxOther, ctxWord, ctxNewline
	rowInitial = 6
	nFixedRows = 7
)

// cache is one generation of states. A reset replaces it; a match walking
// the old generation moves its current state into the new one when it
// needs a new transition.
type cache struct {
	tab   atomic.Pointer[table]
	index map[string]uint32 // state key -> id; guarded by DFA.mu
	bytes int               // estimated memory; guarded by DFA.mu
}

// table holds a cache's transitions and states. It is replaced by a larger
// copy when it is full; readers of the old copy see transitions added later
// as not computed yet, and take the slow path, which loads the new one.
type table struct {
	trans []uint32 // entries read with atomic loads, written under DFA.mu
	info  []*state // by row; nil for the free rows and the sentinels
	n     int      // rows in use
}

// state is a set of program counters (Rune and EmptyWidth instructions: the
// flag-free closure of the threads alive after a byte), the context of that
// byte, and whether the start closure is implied (unanchored search, or
// position 0). Its key encodes all three.
type state struct {
	key string // [0]: prev | withStart<<2; then the pcs, 4 bytes each
}

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
	stride := p.nclass + 1
	// State ids are uint32 row offsets; tables grow by doubling.
	lim.MaxStates = min(lim.MaxStates, (1<<31)/stride-2*nFixedRows)
	d := &DFA{p: p, lim: lim, stride: uint32(stride), endCol: uint32(p.nclass)}
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

// newCache makes an empty generation with its fixed rows.
func (d *DFA) newCache() *cache {
	const initialRows = 16
	c := &cache{index: map[string]uint32{}}
	t := &table{trans: make([]uint32, initialRows*int(d.stride)), info: make([]*state, initialRows), n: nFixedRows}
	c.tab.Store(t)
	c.bytes = d.tableBytes(t)
	d.setRow(c, t, rowInitial, []byte{ctxEdge | 4})
	if !d.p.anchored {
		for q := 0; q < 3; q++ {
			// Without an assertion in the start closure the previous
			// byte's context is not kept: one idle state serves all.
			key := []byte{uint8(q) | 4}
			if !d.p.startEmpty {
				key[0] = 4
			}
			d.setRow(c, t, uint32(rowIdle+q), key)
		}
	}
	d.lim.Budget.force(c.bytes)
	return c
}

func (d *DFA) setRow(c *cache, t *table, row uint32, key []byte) {
	s := &state{key: string(key)}
	t.info[row] = s
	if _, ok := c.index[s.key]; !ok {
		c.index[s.key] = row * d.stride
	}
	c.bytes += stateBytes(len(key))
}

// stateBytes estimates the memory of a state with a key of n bytes besides
// its transitions: the struct, its key and its map entry.
func stateBytes(n int) int { return 32 + 48 + n }

func (d *DFA) tableBytes(t *table) int { return 4*len(t.trans) + 8*len(t.info) }

// intern returns the id of c's state of key, creating it (the caller holds
// d.mu). It returns ok false, creating nothing, when the cache is full.
func (d *DFA) intern(c *cache, key []byte) (id uint32, ok bool) {
	if id, ok := c.index[string(key)]; ok {
		return id, true
	}
	t := c.tab.Load()
	if t.n-nFixedRows >= d.lim.MaxStates {
		return 0, false
	}
	if t.n == len(t.info) {
		rows := 2 * len(t.info)
		grown := 4*int(d.stride)*(rows-len(t.info)) + 8*(rows-len(t.info))
		if c.bytes+grown+stateBytes(len(key)) > d.lim.MaxBytes || !d.lim.Budget.take(grown) {
			return 0, false
		}
		nt := &table{trans: make([]uint32, rows*int(d.stride)), info: make([]*state, rows), n: t.n}
		copy(nt.trans, t.trans)
		copy(nt.info, t.info)
		c.tab.Store(nt)
		c.bytes += grown
		t = nt
	} else if c.bytes+stateBytes(len(key)) > d.lim.MaxBytes {
		return 0, false
	}
	if !d.lim.Budget.take(stateBytes(len(key))) {
		return 0, false
	}
	row := uint32(t.n)
	t.n++
	d.setRow(c, t, row, key)
	return row * d.stride, true
}

// Match reports whether the pattern matches anywhere in text, each byte b
// of text being the rune U+00bb.
func (d *DFA) Match(text string) bool {
	if d.p.always {
		return true
	}
	if !d.accReady.Load() {
		d.accelerate()
	}
	kind := uint8(d.accKind.Load())
	if kind == accelNone || d.calls.Load() >= calibrationCalls {
		m, _, _ := d.match(text, kind)
		return m
	}
	m, stops, skipped := d.match(text, kind)
	d.calibrate(kind, stops, skipped)
	return m
}

// match is Match with the acceleration kind to use; it also returns how
// many times skipping ahead stopped before the end of the text, and how
// many bytes it skipped.
func (d *DFA) match(text string, kind uint8) (_ bool, stops, skipped int) {
	p := d.p
	stride := d.stride
	special := rowInitial * stride
	if kind == accelNone {
		special = rowIdle * stride
	}
	matchID, deadID := rowMatch*stride, rowDead*stride
	idleID, initialID := rowIdle*stride, rowInitial*stride
	a := &d.acc
	memo := [3]int{-1, -1, -1}
	resets := 0
	c := d.cache.Load()
	trans := c.tab.Load().trans
	id := initialID
	i := 0
	for {
		// The fast loop: one table load per byte, until a transition that
		// is not computed yet, or leads to a sentinel (or, when Match can
		// skip ahead from them, to an idle state).
		for ; i < len(text); i++ {
			next := atomic.LoadUint32(&trans[id+uint32(p.class[text[i]])])
			if next < special {
				break
			}
			id = next
		}
		if i >= len(text) {
			break
		}
		k := p.class[text[i]]
		next := atomic.LoadUint32(&trans[id+uint32(k)])
		if next == rowUnknown {
			var s *state
			var ok bool
			c, id, next, s, ok = d.fill(c, id, k, &resets)
			if !ok {
				d.fallbacks.Add(1)
				return d.simulate(s, text[i:]), stops, skipped
			}
			trans = c.tab.Load().trans
		}
		switch {
		case next == matchID:
			return true, stops, skipped
		case next == deadID:
			return false, stops, skipped
		case next >= idleID && next < initialID:
			i++
			id = next
			if i < len(text) {
				j := i
				switch kind {
				case accelMemchr:
					j = a.find(text, i, &memo)
				case accelPairs:
					j = a.skipPairs(p, text, i)
				}
				if j < len(text) {
					stops++
				}
				skipped += j - i
				if j > i {
					q := uint32(0)
					if p.startEmpty {
						q = uint32(p.ctx[text[j-1]])
					}
					id, i = (rowIdle+q)*stride, j
				}
			}
			continue
		}
		id = next
		i++
	}
	switch atomic.LoadUint32(&trans[id+d.endCol]) {
	case matchID:
		return true, stops, skipped
	case deadID:
		return false, stops, skipped
	}
	return d.atEnd(c, id), stops, skipped
}

// fill computes and stores the transition of state id of cache c on byte
// class k. When the cache was reset meanwhile, or is reset now, the state
// moves into the new generation: fill returns the cache and id to go on
// with, and the state. ok is false when the calling Match has reset the
// cache more than MaxResets times (counted in *resets): it should go on
// without the cache from the state.
func (d *DFA) fill(c *cache, id uint32, k uint8, resets *int) (_ *cache, _, next uint32, s *state, ok bool) {
	p := d.p
	s = c.tab.Load().info[id/d.stride]
	if d.cache.Load() == c {
		// another goroutine may have filled it in a newer table
		if next := atomic.LoadUint32(&c.tab.Load().trans[id+uint32(k)]); next != rowUnknown {
			return c, id, next, s, true
		}
	}
	sc := d.scratch.Get().(*scratch)
	defer d.scratch.Put(sc)
	b := p.rep[k]
	sc.load(s)
	var key []byte
	switch {
	case d.step(sc, s.prev(), s.withStart(), int(b)):
		next = rowMatch * d.stride
	default:
		if key = sc.key(p, b); key == nil {
			next = rowDead * d.stride
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur := d.cache.Load(); cur != c {
		c = cur
		if id, ok = d.intern(c, []byte(s.key)); !ok {
			if c, id, ok = d.reset(s, resets); !ok {
				return c, id, 0, s, false
			}
		}
	}
	if key != nil {
		if next, ok = d.intern(c, key); !ok {
			if c, id, ok = d.reset(s, resets); !ok {
				return c, id, 0, s, false
			}
			if next, ok = d.intern(c, key); !ok {
				// a single state larger than MaxBytes
				return c, id, 0, s, false
			}
		}
	}
	atomic.StoreUint32(&c.tab.Load().trans[id+uint32(k)], next)
	return c, id, next, s, true
}

// reset replaces the cache with an empty one holding s (the caller holds
// d.mu). ok is false when the calling Match has reset too often, or s does
// not fit: it should go on without the cache.
func (d *DFA) reset(s *state, resets *int) (c *cache, id uint32, ok bool) {
	d.lim.Budget.give(d.cache.Load().bytes)
	c = d.newCache()
	d.cache.Store(c)
	d.resets.Add(1)
	*resets++
	if id, ok = d.intern(c, []byte(s.key)); !ok {
		return c, id, false
	}
	return c, id, *resets <= d.lim.MaxResets
}

// atEnd reports whether a match ends at the end of the text in state id
// of cache c, and records it in the end-of-text column.
func (d *DFA) atEnd(c *cache, id uint32) bool {
	s := c.tab.Load().info[id/d.stride]
	sc := d.scratch.Get().(*scratch)
	sc.load(s)
	m := d.step(sc, s.prev(), s.withStart(), -1)
	d.scratch.Put(sc)
	end := rowDead * d.stride
	if m {
		end = rowMatch * d.stride
	}
	d.mu.Lock()
	if d.cache.Load() == c {
		atomic.StoreUint32(&c.tab.Load().trans[id+d.endCol], end)
	}
	d.mu.Unlock()
	return m
}

// simulate runs the automaton without caching from the threads of s over
// text: the fallback when the cache thrashes.
func (d *DFA) simulate(s *state, text string) bool {
	p := d.p
	sc := d.scratch.Get().(*scratch)
	defer d.scratch.Put(sc)
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
		States:  len(c.index),
		Bytes:   c.bytes + d.p.bytes(),
	}
	d.mu.Unlock()
	st.Resets = d.resets.Load()
	st.Fallbacks = d.fallbacks.Load()
	return st
}
