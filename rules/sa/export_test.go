package sa

import "github.com/levee-mail/levee/rules/sa/perlre"

// RuleRegexp is a rule's compiled regexp (tests).
func RuleRegexp(r *Rule) *perlre.Regexp { return r.re }
