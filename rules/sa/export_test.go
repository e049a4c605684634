package sa

import "github.com/levee-mail/levee/rules/sa/perlre"

// RuleRegexp is a rule's compiled regexp (tests).
func RuleRegexp(r *Rule) *perlre.Regexp { return r.re }

// SetFilters turns the filters that only spare work on or off (noFilters;
// tests that hold them exact).
func SetFilters(on bool) { noFilters = !on }

// SetFastCount turns the counting shortcuts of count.go on or off (tests).
func SetFastCount(on bool) { noFastCount = !on }
