package sa

import "github.com/levee-mail/levee/rules/sa/perlre"

// RuleRegexp is a rule's compiled regexp (tests).
func RuleRegexp(r *Rule) *perlre.Regexp { return r.re }

// SetGates turns the gates of gate.go on or off (tests that hold them
// exact).
func SetGates(on bool) { noGates = !on }

// SetFastCount turns the counting shortcuts of count.go on or off (tests).
func SetFastCount(on bool) { noFastCount = !on }
