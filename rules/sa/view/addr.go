package view

import (
	"regexp"
	"strings"
)

// The internal address parser of Util.pm (_parse_header_addresses), the one
// SpamAssassin uses when Email::Address::XS is not installed. Perl's
// possessive quantifiers become greedy ones: the patterns never need to
// backtrack into them.
const (
	sp        = `[\t\n\v\f\r ]`
	nsp       = `[^\t\n\v\f\r ]`
	quotedStr = `"(?:|(?:[^"\\]+|\\.)*)"`
	mailRE    = `(?:` + quotedStr + `|[^@\t\n\v\f\r <>()\[\],:;]+)@(?:[^"\t\n\v\f\r <>()\[\],:;]+|\[[\d:.]+\])`
	phraseRE  = `(?:` + quotedStr + `|[^",;<]+)+`
	// The phrase of the standalone alternative never takes the trailing
	// comment group: Perl's possessive [^",;<]++ has eaten it.
	commentRE  = `(?:` + sp + `*\(((?:|(?:[^()\\]+|\\.)*))\))?`
	addrPartRE = `^` + sp + `*(?:(?:(` + phraseRE + `)` + sp + `*)?<` + sp + `*([^>@]*` + nsp + `+|` + sp + `*)` + sp + `*>(?:` + sp + `*<` + sp + `*(?:(?:` + quotedStr + `)?` + nsp + `+|` + sp + `*)` + sp + `*>)*` + commentRE + `|(` + mailRE + `)` + commentRE + `|(` + phraseRE + `))` + sp + `*(?:[,;]|\z)`
)

// addrPhraseCommentRE is the standalone phrase of addrPartRE after Perl
// gave back its last iterations: it then ends with a quoted string, and the
// comment group may follow.
const addrPhraseCommentRE = `^` + sp + `*((?:` + quotedStr + `|[^",;<]+)*` + quotedStr + `)` + sp + `*\(((?:|(?:[^()\\]+|\\.)*))\)` + sp + `*(?:[,;]|\z)`

var (
	reAddrPhraseComment = regexp.MustCompile(`(?is)` + addrPhraseCommentRE)
	reAddrPart          = regexp.MustCompile(`(?is)` + addrPartRE)
	reMailExact         = regexp.MustCompile(`(?is)^` + mailRE + `\n?$`)
	reMailInAngle       = regexp.MustCompile(`(?is)<(` + mailRE + `)>`)
	reComment           = regexp.MustCompile(`(?s)\((?:|(?:[^()\\]+|\\.)*)\)`)
	rePhrasePiece       = regexp.MustCompile(`(?is)(?:"(|(?:[^"\\]+|\\.)*)"|([^"]+))`)
	reGroupPrefix       = regexp.MustCompile(`(?s)^[^"()<>]+:` + sp + `*(?:;.*)?`)
	reBackslashes       = regexp.MustCompile(`\\\\`)
)

type address struct {
	phrase, address       string
	hasPhrase, hasAddress bool
}

func validParsedAddress(a string) bool {
	return !strings.HasPrefix(a, `""@`) && strings.Count(a, `"`) != 1
}

// parseHeaderAddresses is Util.pm parse_header_addresses with the internal
// parser only.
func parseHeaderAddresses(s string) []address {
	if isBlank(s) {
		return nil
	}
	s = strings.TrimRightFunc(s, isPerlSpace)
	s = strings.ReplaceAll(s, `\\`, "")
	if loc := reGroupPrefix.FindStringIndex(s); loc != nil {
		s = s[loc[1]:]
	}
	if isBlank(s) {
		return nil
	}
	var out []address
	for n := 0; n < 1000; n++ {
		var p1, a2, c5, a3, p4 string
		var h1, h2, h5, h3, h4 bool
		m := reAddrPart.FindStringSubmatchIndex(s)
		g := func(i int) (string, bool) {
			if m[2*i] < 0 {
				return "", false
			}
			return s[m[2*i]:m[2*i+1]], true
		}
		if m != nil && m[1] > 0 {
			p1, h1 = g(1)
			a2, h2 = g(2)
			c5, h5 = g(3)
			a3, h3 = g(4)
			if !h5 {
				c5, h5 = g(5)
			}
			p4, h4 = g(6)
		} else {
			m = reAddrPhraseComment.FindStringSubmatchIndex(s)
			if m == nil || m[1] == 0 {
				break
			}
			p4, h4 = g(1)
			c5, h5 = g(2)
		}
		var a address
		a.phrase, a.hasPhrase = p1, h1
		if !h1 {
			a.phrase, a.hasPhrase = p4, h4
		}
		a.address, a.hasAddress = a2, h2
		if !h2 {
			a.address, a.hasAddress = a3, h3
		}
		if h2 {
			a.address = reComment.ReplaceAllString(a.address, "")
			if !reMailExact.MatchString(a.address) {
				a.hasAddress = false
			}
		}
		if !a.hasAddress || !validParsedAddress(a.address) {
			a.hasAddress, a.address = false, ""
		}
		if a.hasPhrase {
			var np strings.Builder
			for _, pm := range rePhrasePiece.FindAllStringSubmatchIndex(a.phrase, -1) {
				if pm[2] >= 0 {
					qs := a.phrase[pm[2]:pm[3]]
					qs = removeLoneBackslashes(qs)
					qs = strings.ReplaceAll(qs, `\\`, `\`)
					np.WriteString(qs)
				} else {
					nqs := a.phrase[pm[4]:pm[5]]
					np.WriteString(reComment.ReplaceAllString(nqs, ""))
				}
			}
			a.phrase = np.String()
			if !a.hasAddress && reMailExact.MatchString(a.phrase) && validParsedAddress(a.phrase) && phraseHostValid(a.phrase) {
				a.address, a.hasAddress = a.phrase, true
				a.phrase, a.hasPhrase = "", false
			} else if a.hasAddress && a.phrase == a.address {
				a.phrase, a.hasPhrase = "", false
			} else if a.phrase == "" {
				a.hasPhrase = false
			}
		}
		if !a.hasPhrase && h5 {
			a.phrase, a.hasPhrase = c5, true
		}
		if a.hasAddress {
			a.address = cutAtSecondAt(a.address)
		}
		out = append(out, a)
		s = s[m[1]:]
	}
	if strings.IndexByte(s, '@') >= 0 {
		for _, mm := range reMailInAngle.FindAllStringSubmatch(s, -1) {
			if !validParsedAddress(mm[1]) {
				continue
			}
			out = append(out, address{address: cutAtSecondAt(mm[1]), hasAddress: true})
		}
	}
	return out
}

// removeLoneBackslashes is s/\\(?!\\)//g.
func removeLoneBackslashes(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && !(i+1 < len(s) && s[i+1] == '\\') {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// phraseHostValid is $phrase =~ /^[^\@]*\@([^\@]*)/ && is_fqdn_valid($1).
func phraseHostValid(p string) bool {
	i := strings.IndexByte(p, '@')
	if i < 0 {
		return false
	}
	h := p[i+1:]
	if j := strings.IndexByte(h, '@'); j >= 0 {
		h = h[:j]
	}
	return isFQDNValid(idnToASCII(h))
}

// cutAtSecondAt is s/^(([^\@]*)\@([^\@]*)).*/$1/.
func cutAtSecondAt(a string) string {
	i := strings.IndexByte(a, '@')
	if i < 0 {
		return a
	}
	if j := strings.IndexByte(a[i+1:], '@'); j >= 0 {
		return a[:i+1+j]
	}
	// .* does not cross a newline without /s: the substitution has no /s
	if k := strings.IndexByte(a, '\n'); k >= 0 && k > i {
		return a
	}
	return a
}
