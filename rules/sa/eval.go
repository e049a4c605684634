package sa

import (
	"strings"

	"github.com/levee-mail/levee/rules/sa/perlre"
	"github.com/levee-mail/levee/rules/sa/view"
)

// PartValue is one MIME part's value for a mimeheader rule; OK is false
// when the part lacks the field.
type PartValue = view.PartValue

// Message is what the rules look at, SpamAssassin's views of one message
// (rules/sa/view implements it). Strings are octets as SpamAssassin has
// them: UTF-8 once charsets are normalised.
type Message interface {
	// Get is a header rule's left side (PerMsgStatus::get): "Subject",
	// "From:addr", "ALL", "ToCc", "X-Spam-Relays-Untrusted"...; every
	// value joined by newlines; ok false when there is none (undef).
	Get(spec string) (value string, ok bool)
	// Body is the rendered body, one paragraph a line, the Subject first.
	Body() []string
	// Rawbody is the decoded body, not rendered.
	Rawbody() []string
	// Full is the whole message as it came.
	Full() string
	// URIs is the list uri rules run on.
	URIs() []string
	// MIMEHeader is the value of a header in every MIME part, in
	// SpamAssassin's order (the message itself first).
	MIMEHeader(spec string) []PartValue
}

// Hit is a rule that matched, and how often (its value in metas).
type Hit struct {
	Rule  *Rule
	Count int
	// Value is what metas read: the count, or a meta's result.
	Value float64
}

// Score is what the hit adds: the rule's score for each counted match
// (tflags multiple counts every match, as SpamAssassin adds the score per
// got_hit), nothing for a sub-rule.
func (h Hit) Score() float64 {
	if h.Rule.Sub() {
		return 0
	}
	return h.Rule.Score * float64(h.Count)
}

// Eval runs every rule on m and returns the hits, sub-rules included, in
// rule order. It never panics on any message.
func (s *RuleSet) Eval(m Message) []Hit {
	sc, _ := s.scratch.Get().(*evalScratch)
	if sc == nil || len(sc.counts) != len(s.Rules) {
		sc = &evalScratch{make([]float64, len(s.Rules)), make([]int, len(s.Rules)), make([]int32, len(s.Rules))}
	}
	vals, counts, idx := sc.vals, sc.counts, sc.idx
	clear(counts) // vals are all set below; idx is left all 0 by pick
	s.evalHeaders(m, counts, idx)
	s.evalLines(KindBody, m.Body(), counts, idx)
	s.evalLines(KindRawbody, m.Rawbody(), counts, idx)
	s.evalLines(KindURI, m.URIs(), counts, idx)
	if rs := s.byKind[KindFull]; len(rs) > 0 {
		s.evalLines(KindFull, []string{m.Full()}, counts, idx)
	}
	for _, r := range s.byKind[KindMIMEHeader] {
		counts[r.slot] = r.mimeHeader(m.MIMEHeader(r.Header))
	}
	for i, c := range counts {
		vals[i] = float64(c)
	}
	for _, r := range s.metas {
		v := r.meta.eval(vals)
		if v != 0 {
			if v < 0 {
				v = 1 // got_hit: a value <= 0 counts 1
			}
			counts[r.slot] = 1
			vals[r.slot] = v
		}
	}
	var hits []Hit
	for i, c := range counts {
		if c > 0 {
			hits = append(hits, Hit{Rule: s.Rules[i], Count: c, Value: vals[i]})
		}
	}
	s.scratch.Put(sc) // not deferred: after a panic idx may not be all 0
	return hits
}

// evalScratch is what Eval needs per rule, kept between messages (some
// 20 KB with the stock rules).
type evalScratch struct {
	vals   []float64
	counts []int
	idx    []int32 // the prefilter's scratch
}

// count is how often r matches text (raw octets): 0 or 1 unless tflags
// multiple.
func (r *Rule) count(text string) int {
	if !r.Multiple {
		if r.matches(text) {
			return 1
		}
		return 0
	}
	if !noFastCount {
		if r.cnt.fixed != nil {
			return r.cnt.fixed.count(text, r.MaxHits)
		}
		if r.cnt.lines != nil {
			return r.cnt.lines.count(text, r.MaxHits)
		}
		if r.cnt.atMostOne && r.dfa != nil {
			if r.matches(text) {
				return 1
			}
			return 0
		}
	}
	if r.dfa != nil && !r.matches(text) {
		return 0
	}
	return r.re.Count(perlre.Bytes(text), r.MaxHits)
}

// matches says whether r matches anywhere in text (raw octets).
func (r *Rule) matches(text string) bool {
	if r.dfa != nil {
		if r.minLine > 0 && !noFilters && !hasLine(text, r.minLine) {
			return false
		}
		if r.loose != nil && !noFilters && !r.loose.Match(text) {
			return false
		}
		return r.dfa.Match(text)
	}
	return r.re.MatchString(perlre.Bytes(text))
}

func addCount(r *Rule, have, n int) int {
	if !r.Multiple {
		return 1
	}
	have += n
	if r.MaxHits > 0 && have > r.MaxHits {
		have = r.MaxHits
	}
	return have
}

func (s *RuleSet) evalHeaders(m Message, counts []int, idx []int32) {
	for _, g := range s.headers {
		v, ok := m.Get(g.spec)
		text, have := "", false
		var rules []*Rule
		if ok && !g.pf.none() {
			text, have = v, true
			for _, p := range g.pf.pick([]string{v}, idx) {
				rules = append(rules, p.r)
			}
		} else {
			rules = g.rules
		}
		gm := gateMemo{gates: g.pf.gates}
		for _, r := range rules {
			if r.Exists {
				if ok {
					counts[r.slot] = 1
				}
				continue
			}
			if !have {
				// undef matches as the empty string; a rule with
				// [if-unset: X] (alone in its group) reads X
				val := v
				if !ok {
					val = ""
					if r.HasUnset {
						val = r.IfUnset
					}
				}
				text, have = val, true
			}
			if r.gate > 0 {
				if gm.lines == nil {
					gm.lines = []string{text}
				}
				if !gm.open(r.gate, 0) {
					continue
				}
			}
			if r.Negate {
				if !r.matches(text) {
					counts[r.slot] = 1
				}
				continue
			}
			if n := r.count(text); n > 0 {
				counts[r.slot] = n
			}
		}
	}
}

// evalLines runs the rules of one kind over the lines of a view (body
// paragraphs, rawbody lines, URIs, the full message): a rule hits when
// any line matches; a multiple rule counts the matches of all lines. The
// prefilter says which lines each rule may match on.
func (s *RuleSet) evalLines(k Kind, lines []string, counts []int, idx []int32) {
	rs := s.byKind[k]
	if len(rs) == 0 || len(lines) == 0 {
		return
	}
	gm := gateMemo{gates: s.pf[k].gates, lines: lines}
	for _, p := range s.pf[k].pick(lines, idx) {
		r := p.r
		nl := len(p.lines)
		if p.lines == nil {
			nl = len(lines)
		}
		for j := 0; j < nl; j++ {
			i := j
			if p.lines != nil {
				i = int(p.lines[j])
			}
			if i == 0 && r.NoSubject && k == KindBody || !gm.open(r.gate, i) {
				continue
			}
			if n := r.count(lines[i]); n > 0 {
				counts[r.slot] = addCount(r, counts[r.slot], n)
				if !r.Multiple || r.MaxHits > 0 && counts[r.slot] >= r.MaxHits {
					break
				}
			}
		}
	}
}

// Names returns the names of hits, sub-rules left out unless subs.
func Names(hits []Hit, subs bool) []string {
	var out []string
	for _, h := range hits {
		if subs || !strings.HasPrefix(h.Rule.Name, "__") {
			out = append(out, h.Rule.Name)
		}
	}
	return out
}

// mimeHeader is a mimeheader rule's count over the parts
// (Plugin/MIMEHeader.pm eval_hook_called): each part's value, or the
// if-unset value (""), is matched; the first part that matches gives the
// hits (one, or every match with tflags multiple, up to maxhits). A
// negated rule hits whatever the values: SpamAssassin 4.0's _check stops
// at a negated rule's first match without counting it, and its hook then
// returns a hit.
func (r *Rule) mimeHeader(parts []PartValue) int {
	if r.Negate {
		return 1
	}
	for _, p := range parts {
		v := p.Value
		if !p.OK {
			v = r.IfUnset
		}
		if n := r.count(v); n > 0 {
			return n
		}
	}
	return 0
}
