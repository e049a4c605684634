package rules

import (
	"net/mail"
	"strings"
)

// ---- Message-ID

func onlyLetters(s string) bool {
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// lowVowelRatio reports letter strings with fewer than 1 vowel in 5
// letters: "cganltwpqgsxnpz" (real words have about 2 in 5).
func lowVowelRatio(s string) bool {
	letters, vowels := 0, 0
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' {
			letters++
			if strings.ContainsRune("aeiouy", c) {
				vowels++
			}
		}
	}
	return letters >= 6 && vowels*5 < letters
}

// ---- Reply-To

func localPart(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i]
	}
	return a
}

// ---- the header block

// parseAddressList parses an address-list field leniently; ok is false when
// net/mail rejects it.
func parseAddressList(v string) ([]*mail.Address, bool) {
	l, err := (&mail.AddressParser{WordDecoder: &wordDecoder}).ParseList(v)
	return l, err == nil
}
