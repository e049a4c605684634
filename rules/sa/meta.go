package sa

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// A meta expression (Conf.pm, meta): rule names, numbers, ! and unary -,
// * /, + -, < > <= >=, == !=, && and ||, parentheses, with Perl's
// precedence and values: a rule's value is its hit count (a meta's, the
// value it returned), && and || return one of their operands, ! and the
// comparisons 1 or 0.
type metaNode struct {
	op   string // "num", "rule", or an operator; "neg" is unary minus
	num  float64
	rule string
	idx  int // the rule's slot once resolved
	l, r *metaNode
}

type metaParser struct {
	toks []string
	i    int
}

// parseMeta parses a meta expression; rules_matching(GLOB) is expanded
// by the caller (expandMatching) before.
func parseMeta(expr string) (*metaNode, error) {
	toks, err := metaTokens(expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty meta expression")
	}
	mp := &metaParser{toks: toks}
	n, err := mp.binary(0)
	if err != nil {
		return nil, err
	}
	if mp.i != len(toks) {
		return nil, fmt.Errorf("unexpected %q in meta expression", toks[mp.i])
	}
	return n, nil
}

func metaTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c >= '0' && c <= '9' || c == '.':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case isWord(c):
			j := i + 1
			for j < len(s) && isWord(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "&&", "||", "<=", ">=", "==", "!=":
				out = append(out, two)
				i += 2
				continue
			}
			if strings.IndexByte("()!+-*/<>", c) < 0 {
				return nil, fmt.Errorf("unexpected %q in meta expression", c)
			}
			out = append(out, s[i:i+1])
			i++
		}
	}
	return out, nil
}

// precedence of the binary operators, loosest first.
var metaLevels = [][]string{{"||"}, {"&&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"+", "-"}, {"*", "/"}}

func (mp *metaParser) peek() string {
	if mp.i < len(mp.toks) {
		return mp.toks[mp.i]
	}
	return ""
}

func (mp *metaParser) binary(level int) (*metaNode, error) {
	if level == len(metaLevels) {
		return mp.unary()
	}
	l, err := mp.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		op := mp.peek()
		found := false
		for _, o := range metaLevels[level] {
			if op == o {
				found = true
			}
		}
		if !found {
			return l, nil
		}
		mp.i++
		r, err := mp.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l = &metaNode{op: op, l: l, r: r}
	}
}

func (mp *metaParser) unary() (*metaNode, error) {
	switch t := mp.peek(); t {
	case "":
		return nil, fmt.Errorf("meta expression ends early")
	case "!", "-", "+":
		mp.i++
		x, err := mp.unary()
		if err != nil {
			return nil, err
		}
		switch t {
		case "!":
			return &metaNode{op: "!", l: x}, nil
		case "-":
			return &metaNode{op: "neg", l: x}, nil
		}
		return x, nil
	case "(":
		mp.i++
		x, err := mp.binary(0)
		if err != nil {
			return nil, err
		}
		if mp.peek() != ")" {
			return nil, fmt.Errorf("missing ) in meta expression")
		}
		mp.i++
		return x, nil
	default:
		mp.i++
		if t[0] >= '0' && t[0] <= '9' || t[0] == '.' {
			v, err := strconv.ParseFloat(t, 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q in meta expression", t)
			}
			return &metaNode{op: "num", num: v}, nil
		}
		if !validName(t) {
			return nil, fmt.Errorf("bad rule name %q in meta expression", t)
		}
		return &metaNode{op: "rule", rule: t}, nil
	}
}

// deps lists the rule names an expression reads, once each.
func (n *metaNode) deps(seen map[string]bool, out []string) []string {
	if n == nil {
		return out
	}
	if n.op == "rule" && !seen[n.rule] {
		seen[n.rule] = true
		out = append(out, n.rule)
	}
	out = n.l.deps(seen, out)
	return n.r.deps(seen, out)
}

// resolve gives every rule reference its slot; names not in slots (not
// defined, or disabled) read 0, as in SpamAssassin.
func (n *metaNode) resolve(slots map[string]int) {
	if n == nil {
		return
	}
	if n.op == "rule" {
		if i, ok := slots[n.rule]; ok {
			n.idx = i
		} else {
			n.idx = -1
		}
	}
	n.l.resolve(slots)
	n.r.resolve(slots)
}

func (n *metaNode) eval(vals []float64) float64 {
	switch n.op {
	case "num":
		return n.num
	case "rule":
		if n.idx < 0 {
			return 0
		}
		return vals[n.idx]
	case "!":
		return b2f(n.l.eval(vals) == 0)
	case "neg":
		return -n.l.eval(vals)
	case "&&":
		if l := n.l.eval(vals); l == 0 {
			return l
		}
		return n.r.eval(vals)
	case "||":
		if l := n.l.eval(vals); l != 0 {
			return l
		}
		return n.r.eval(vals)
	}
	l, r := n.l.eval(vals), n.r.eval(vals)
	switch n.op {
	case "+":
		return l + r
	case "-":
		return l - r
	case "*":
		return l * r
	case "/":
		if r == 0 {
			return 0 // Perl dies on it: SpamAssassin's meta then does not hit
		}
		return l / r
	case "<":
		return b2f(l < r)
	case ">":
		return b2f(l > r)
	case "<=":
		return b2f(l <= r)
	case ">=":
		return b2f(l >= r)
	case "==":
		return b2f(l == r)
	case "!=":
		return b2f(l != r)
	}
	return 0
}

// expandMatching replaces rules_matching(GLOB) with the rules whose names
// match the glob (* and ?), or'ed (Conf/Parser.pm, feature 4.0).
func expandMatching(expr, self string, names []string) string {
	const fn = "rules_matching("
	for {
		i := strings.Index(expr, fn)
		if i < 0 || i > 0 && (isWord(expr[i-1])) {
			return expr
		}
		j := strings.IndexByte(expr[i:], ')')
		if j < 0 {
			return expr
		}
		glob := strings.TrimSpace(expr[i+len(fn) : i+j])
		var hits []string
		for _, n := range names {
			if ok, _ := path.Match(glob, n); ok && n != self {
				hits = append(hits, n)
			}
		}
		rep := "0"
		if len(hits) > 0 {
			rep = "(" + strings.Join(hits, " || ") + ")"
		}
		expr = expr[:i] + rep + expr[i+j+1:]
	}
}
