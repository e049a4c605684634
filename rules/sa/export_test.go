package sa

import (
	"fmt"

	"github.com/levee-mail/levee/rules/sa/perlre"
)

// RuleRegexp is a rule's compiled regexp (tests).
func RuleRegexp(r *Rule) *perlre.Regexp { return r.re }

// SetGates turns the gates of gate.go on or off (tests that hold them
// exact).
func SetGates(on bool) { noGates = !on }

// GateStats are the stats of each gate of the body view (tests).
func GateStats(s *RuleSet) (out []string) {
	for k, pf := range s.pf {
		if pf == nil {
			continue
		}
		for i, g := range pf.gates {
			var names []string
			for _, r := range pf.always {
				if r.gate == i+1 {
					names = append(names, r.Name)
				}
			}
			out = append(out, fmt.Sprintf("%v gate %d %+v %v", Kind(k), i+1, g.Stats(), names))
		}
	}
	return out
}

// RuleDFAStats (tests).
func RuleDFAStats(r *Rule) string {
	if r.dfa == nil {
		return "no dfa"
	}
	return fmt.Sprintf("%+v", r.dfa.Stats())
}

// SetFastCount turns the counting shortcuts of count.go on or off (tests).
func SetFastCount(on bool) { noFastCount = !on }
