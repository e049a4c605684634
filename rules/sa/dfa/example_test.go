package dfa_test

import (
	"fmt"
	"regexp/syntax"

	"github.com/levee-mail/levee/rules/sa/dfa"
)

func Example() {
	// A translated SpamAssassin pattern (rules/sa/perlre gives RE2 source
	// whose bytes >= 0x80 are the runes U+0080..U+00FF).
	re, err := syntax.Parse(`\b[Vv][Ii][Aa][Gg][Rr][Aa]\b|caf\x{e9}`, syntax.Perl)
	if err != nil {
		panic(err)
	}
	d, err := dfa.Compile(re)
	if err != nil {
		panic(err)
	}
	// The text is raw octets: no conversion to byte-runes.
	fmt.Println(d.Match("Buy VIAGRA now"))
	fmt.Println(d.Match("viagras"))
	fmt.Println(d.Match("un caf\xe9"))     // Latin-1 é: the byte 0xE9
	fmt.Println(d.Match("un caf\xc3\xa9")) // UTF-8 é: the bytes C3 A9
	// Output:
	// true
	// false
	// true
	// false
}

func ExampleDFA_Stats() {
	d := dfa.MustCompile(`(?m)^Subject: .*\$\d+`)
	d.Match("From: a\nSubject: win $100 now\n")
	st := d.Stats()
	fmt.Println(st.States > 0, st.Resets, st.Fallbacks)
	// Output:
	// true 0 0
}
