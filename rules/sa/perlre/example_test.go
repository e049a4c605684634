package perlre_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/levee-mail/levee/rules/sa/perlre"
)

func Example() {
	// A body rule as written in a .cf file.
	re, flags, _, err := perlre.ParseMatchOp(`/\bcialis(?!\xe9)\b/i`)
	if err != nil {
		panic(err)
	}
	r, err := perlre.Compile(re, flags)
	if err != nil {
		panic(err)
	}
	text := perlre.Bytes("Buy CIALIS now") // bytes >= 0x80 become U+0080..U+00FF
	fmt.Println(r.MatchString(text))
	fmt.Println(r.MatchString(perlre.Bytes("Cialis\xe9")))

	// The prefilter: a match contains one of these (folded by Lower).
	lower := perlre.Lower(text)
	for _, l := range r.Literals() {
		fmt.Println(l, strings.Contains(lower, l))
	}
	// Output:
	// true
	// false
	// cialis true
}

func ExampleTranslate() {
	src, _ := perlre.Translate(`(?<![a-z])foo$`, "")
	fmt.Println(src)
	_, err := perlre.Translate(`(\w+) \1`, "")
	var ue *perlre.UnsupportedError
	fmt.Println(errors.As(err, &ue), ue.Construct)
	// Output:
	// (?:[^a-z]|\A)foo(?:\z|\x0a\z)
	// true backreference to a group that is not a small finite set of strings
}
