package dfa

import (
	"errors"
	"regexp/syntax"
	"slices"
	"unicode"
)

// Instruction kinds of the compact program. Nop and Capture instructions of
// the syntax.Prog are skipped when the program is converted (every out edge
// points past them), so they never appear on a path.
const (
	opFail  uint8 = iota
	opAlt         // out, arg: the two branches
	opEmpty       // out; arg: the syntax.EmptyOp that must hold
	opRune        // out; arg: index into prog.sets
	opMatch
)

// inst is one instruction of the compact program: 12 bytes where a
// syntax.Inst takes 40 plus its rune slice.
type inst struct {
	op       uint8
	out, arg uint32
}

// byteSet is a set of byte values (bit b of word b>>6).
type byteSet [4]uint64

func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }

// Contexts of a position's previous symbol, and of its next symbol, for the
// empty-width assertions (syntax.EmptyOpContext). A program without \b or \B
// never sees ctxWord, one without (?m:^) or (?m:$) never sees ctxNewline:
// those bytes are ctxOther there, so that fewer states differ.
const (
	ctxOther   = 0
	ctxWord    = 1
	ctxNewline = 2
	ctxEdge    = 3 // begin of text (previous) or end of text (next)
)

// prog is a syntax.Prog made for byte input.
type prog struct {
	inst  []inst
	sets  []byteSet
	start uint32

	// startList is the flag-free closure of start (its Rune, EmptyWidth
	// and Match instructions, sorted); inStart marks every instruction the
	// closure visited, Alt included.
	startList []uint32
	inStart   []bool
	// startEmpty: startList has an EmptyWidth instruction, so the context
	// of the previous byte matters to every state.
	startEmpty bool
	// anchored: every path from start needs \A, so the start closure is
	// added at position 0 only.
	anchored bool
	// always: the empty string at position 0 matches whatever follows.
	always bool

	usesWord, usesLine bool
	class              [256]uint8 // byte -> class
	nclass             int
	rep                []byte               // class -> one of its bytes
	ctx                [256]uint8           // byte -> ctxOther, ctxWord or ctxNewline
	flags              [4][4]syntax.EmptyOp // [previous ctx][next ctx]
}

var errEmpty = errors.New("dfa: empty program")

// newProg converts p. Instructions reachable only through Nop and Capture
// are short-circuited; byte sets are computed over the 256 byte values,
// each byte b standing for the rune U+00bb.
func newProg(p *syntax.Prog) (*prog, error) {
	if len(p.Inst) == 0 || p.Start < 0 || p.Start >= len(p.Inst) {
		return nil, errEmpty
	}
	pr := &prog{inst: make([]inst, len(p.Inst))}
	setID := map[byteSet]uint32{}
	intern := func(s byteSet) uint32 {
		if id, ok := setID[s]; ok {
			return id
		}
		id := uint32(len(pr.sets))
		pr.sets = append(pr.sets, s)
		setID[s] = id
		return id
	}
	// skip follows Nop and Capture chains (bounded: a chain longer than
	// the program is a cycle, which matches nothing).
	skip := func(pc uint32) uint32 {
		for n := 0; n <= len(p.Inst); n++ {
			switch p.Inst[pc].Op {
			case syntax.InstNop, syntax.InstCapture:
				pc = p.Inst[pc].Out
			default:
				return pc
			}
		}
		return pc
	}
	for pc := range p.Inst {
		in := &p.Inst[pc]
		out := &pr.inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			out.op, out.out, out.arg = opAlt, skip(in.Out), skip(in.Arg)
		case syntax.InstEmptyWidth:
			out.op, out.out, out.arg = opEmpty, skip(in.Out), in.Arg
			op := syntax.EmptyOp(in.Arg)
			if op&(syntax.EmptyWordBoundary|syntax.EmptyNoWordBoundary) != 0 {
				pr.usesWord = true
			}
			if op&(syntax.EmptyBeginLine|syntax.EmptyEndLine) != 0 {
				pr.usesLine = true
			}
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			out.op, out.out, out.arg = opRune, skip(in.Out), intern(runeSet(in))
		case syntax.InstMatch:
			out.op = opMatch
		default: // Fail; Nop and Capture are never reached
			out.op = opFail
		}
	}
	pr.start = skip(uint32(p.Start))
	pr.classes()
	pr.startClosure()
	return pr, nil
}

// runeSet returns the bytes b whose rune U+00bb the instruction matches,
// exactly as regexp's machines test a rune (Inst.MatchRune; Rune1 is a
// plain comparison, RuneAny and RuneAnyNotNL need no table).
func runeSet(in *syntax.Inst) byteSet {
	var s byteSet
	switch in.Op {
	case syntax.InstRuneAny:
		return byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	case syntax.InstRuneAnyNotNL:
		s = byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
		s[0] &^= 1 << '\n'
		return s
	case syntax.InstRune1:
		if r := in.Rune[0]; r >= 0 && r < 256 {
			s.add(byte(r))
		}
		return s
	}
	if len(in.Rune) == 1 {
		// A literal, perhaps folded: the rune and, under FoldCase, its
		// orbit under unicode.SimpleFold, as Inst.MatchRunePos walks it.
		r0 := in.Rune[0]
		if r0 >= 0 && r0 < 256 {
			s.add(byte(r0))
		}
		if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for r1 := unicode.SimpleFold(r0); r1 != r0; r1 = unicode.SimpleFold(r1) {
				if r1 >= 0 && r1 < 256 {
					s.add(byte(r1))
				}
			}
		}
		return s
	}
	// Pairs of ranges (already folded by the parser).
	for i := 0; i+1 < len(in.Rune); i += 2 {
		lo, hi := in.Rune[i], in.Rune[i+1]
		if lo < 0 {
			lo = 0
		}
		if hi > 255 {
			hi = 255
		}
		for r := lo; r <= hi; r++ {
			s.add(byte(r))
		}
	}
	return s
}

func isWordByte(b byte) bool { return syntax.IsWordChar(rune(b)) }

// classes partitions the byte values into classes that no instruction and
// no assertion tells apart, and fills the context tables.
func (pr *prog) classes() {
	var word, nl byteSet
	for b := 0; b < 256; b++ {
		if isWordByte(byte(b)) {
			word.add(byte(b))
		}
	}
	nl.add('\n')
	var cls [256]int
	n := 1
	refine := func(s *byteSet) {
		var remap [512]int
		for i := range remap[:2*n] {
			remap[i] = -1
		}
		m := 0
		for b := 0; b < 256; b++ {
			k := cls[b] * 2
			if s.has(byte(b)) {
				k++
			}
			if remap[k] < 0 {
				remap[k] = m
				m++
			}
			cls[b] = remap[k]
		}
		n = m
	}
	for i := range pr.sets {
		if n == 256 {
			break
		}
		refine(&pr.sets[i])
	}
	if pr.usesWord {
		refine(&word)
	}
	if pr.usesLine {
		refine(&nl)
	}
	pr.nclass = n
	pr.rep = make([]byte, n)
	seen := make([]bool, n)
	for b := 0; b < 256; b++ {
		c := cls[b]
		pr.class[b] = uint8(c)
		if !seen[c] {
			seen[c] = true
			pr.rep[c] = byte(b)
		}
		switch {
		case pr.usesWord && isWordByte(byte(b)):
			pr.ctx[b] = ctxWord
		case pr.usesLine && b == '\n':
			pr.ctx[b] = ctxNewline
		default:
			pr.ctx[b] = ctxOther
		}
	}
	// A rune standing for each context: ' ' is neither a word character
	// nor a newline; -1 is the edge of the text.
	prevRune := [4]rune{ctxOther: ' ', ctxWord: 'a', ctxNewline: '\n', ctxEdge: -1}
	for p := 0; p < 4; p++ {
		for q := 0; q < 4; q++ {
			pr.flags[p][q] = syntax.EmptyOpContext(prevRune[p], prevRune[q])
		}
	}
}

// startClosure computes startList, inStart, startEmpty, anchored and always.
func (pr *prog) startClosure() {
	pr.inStart = make([]bool, len(pr.inst))
	stack := []uint32{pr.start}
	anchored := true
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if pr.inStart[pc] {
			continue
		}
		pr.inStart[pc] = true
		in := &pr.inst[pc]
		switch in.op {
		case opAlt:
			stack = append(stack, in.arg, in.out)
		case opMatch:
			pr.always = true
			pr.startList = append(pr.startList, pc)
		case opRune:
			anchored = false
			pr.startList = append(pr.startList, pc)
		case opEmpty:
			if syntax.EmptyOp(in.arg)&syntax.EmptyBeginText == 0 {
				anchored = false
			}
			pr.startEmpty = true
			pr.startList = append(pr.startList, pc)
		}
	}
	sortU32(pr.startList)
	pr.anchored = anchored && !pr.always
}

// sortU32 sorts a small or large slice of program counters (insertion sort
// for short lists, which is what most states hold).
func sortU32(a []uint32) {
	if len(a) < 24 {
		for i := 1; i < len(a); i++ {
			for j := i; j > 0 && a[j] < a[j-1]; j-- {
				a[j], a[j-1] = a[j-1], a[j]
			}
		}
		return
	}
	slices.Sort(a)
}
