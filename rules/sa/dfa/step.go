package dfa

import (
	"encoding/binary"
	"regexp/syntax"
)

// scratch is the working memory of one goroutine's step computations.
type scratch struct {
	mark  []uint32 // mark[pc] == gen: pc already visited in this pass
	gen   uint32
	stack []uint32
	cur   []uint32 // the threads of the current position (a state's pcs)
	list  []uint32 // the threads after the next byte, sorted
	buf   []byte   // a state key being built
	// hasEmpty: list holds an EmptyWidth instruction.
	hasEmpty bool
	// resets counts the cache clears of the current Match call.
	resets int
}

func newScratch(n int) *scratch { return &scratch{mark: make([]uint32, n)} }

// pass starts a new visiting pass.
func (sc *scratch) pass() uint32 {
	sc.gen++
	if sc.gen == 0 {
		clear(sc.mark)
		sc.gen = 1
	}
	return sc.gen
}

// load makes the pcs of s the current threads.
func (sc *scratch) load(s *state) {
	sc.cur = sc.cur[:0]
	for i, n := 0, s.npc(); i < n; i++ {
		sc.cur = append(sc.cur, s.pc(i))
	}
}

// step advances the threads sc.cur, whose previous byte had context prev,
// over the byte c (or the end of the text when c < 0), with the start
// closure added when withStart. It reports whether a match ends at this
// position or right after c; else, when c >= 0, sc.list holds the flag-free
// closure of the threads after c, sorted, without those of the start
// closure when the next position adds it.
//
// The empty-width assertions are evaluated here, where both the previous
// and the next symbol are known (RE2's DFA does the same: DFA::RunWorkqOnByte
// with the flags of the position before the byte).
func (d *DFA) step(sc *scratch, prev uint8, withStart bool, c int) bool {
	p := d.p
	next := uint8(ctxEdge)
	if c >= 0 {
		next = p.ctx[c]
	}
	flags := p.flags[prev][next]
	// Pass 1: the threads at this position, with the assertions that hold
	// here; the Rune instructions that accept c seed the next position.
	gen := sc.pass()
	stack := sc.stack[:0]
	stack = append(stack, sc.cur...)
	if withStart {
		stack = append(stack, p.startList...)
	}
	seeds := sc.list[:0]
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if sc.mark[pc] == gen {
			continue
		}
		sc.mark[pc] = gen
		in := &p.inst[pc]
		switch in.op {
		case opMatch:
			sc.stack = stack
			return true
		case opRune:
			if c >= 0 && p.sets[in.arg].has(byte(c)) {
				seeds = append(seeds, in.out)
			}
		case opEmpty:
			if syntax.EmptyOp(in.arg)&^flags == 0 {
				stack = append(stack, in.out)
			}
		case opAlt:
			stack = append(stack, in.arg, in.out)
		}
	}
	if c < 0 {
		sc.stack = stack
		return false
	}
	// Pass 2: the flag-free closure of the seeds. With the start closure
	// implied at the next position, what it holds is left out (every pc it
	// visited, Alt included, leads only to its own members).
	gen = sc.pass()
	nextStart := !p.anchored
	stack = append(stack, seeds...)
	list := seeds[:0] // seeds were all moved to the stack
	sc.hasEmpty = false
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if sc.mark[pc] == gen || nextStart && p.inStart[pc] {
			continue
		}
		sc.mark[pc] = gen
		in := &p.inst[pc]
		switch in.op {
		case opMatch:
			sc.stack, sc.list = stack, list
			return true
		case opRune:
			list = append(list, pc)
		case opEmpty:
			list = append(list, pc)
			sc.hasEmpty = true
		case opAlt:
			stack = append(stack, in.arg, in.out)
		}
	}
	sortU32(list)
	sc.stack, sc.list = stack, list
	return false
}

// nextPrev is the previous-byte context to keep in the state after byte b:
// only a state with an assertion to evaluate (its own or the start's) needs
// it.
func (sc *scratch) nextPrev(p *prog, b byte, withStart bool) uint8 {
	if sc.hasEmpty || withStart && p.startEmpty {
		return p.ctx[b]
	}
	return 0
}

// key returns the key of the state after byte b from sc.list, or nil for
// the dead state (no thread and no start to add).
func (sc *scratch) key(p *prog, b byte) []byte {
	with := !p.anchored
	if len(sc.list) == 0 && !with {
		return nil
	}
	h := sc.nextPrev(p, b, with)
	if with {
		h |= 4
	}
	buf := append(sc.buf[:0], h)
	for _, pc := range sc.list {
		buf = binary.LittleEndian.AppendUint32(buf, pc)
	}
	sc.buf = buf
	return buf
}

// bytes estimates the memory of the program.
func (p *prog) bytes() int {
	return 12*len(p.inst) + 32*len(p.sets) + 4*len(p.startList) + len(p.inStart) + len(p.rep) + 2*256 + 200
}
