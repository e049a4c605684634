package dfa

import "regexp/syntax"

func mustParse(src string) *syntax.Regexp {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		panic(err)
	}
	return re
}
