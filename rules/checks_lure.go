package rules

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Content checks: the wording of credential, parcel, prize and payment
// lures in several languages, counted as distinct phrases (one phrase
// alone is common in real mail; several together are not), the wording of
// classic bulk spam, and brand or service names in the From display name
// of a sender that is not the brand.
func init() {
	register(
		Rule{Name: "FROM_NAME_BRAND", Score: 1.5, Kind: KindHeader, Desc: "From display name names a well-known brand the sender's domain is not",
			Test: fromNameBrand},
		Rule{Name: "FROM_NAME_SERVICE", Score: 1.0, Kind: KindHeader, Desc: "From display name is a help-desk or security role (Support, Admin, Security Team)",
			Test: fromNameService},
		Rule{Name: "SUBJ_URGENT", Score: 0.8, Kind: KindHeader, Desc: "Subject presses for action (action required, urgent, expires, verify, confirm)",
			Test: func(m *Message) bool { return subjUrgentRE.MatchString(m.Decoded("Subject")) }},
		Rule{Name: "MIXED_SCRIPT_WORD", Score: 1.5, Kind: KindHeader, Desc: "Subject or From name mixes Latin with Cyrillic or Greek letters inside a word (homoglyphs)",
			Test: mixedScriptHeader},
	)
}

// hasInvisible reports whether s holds one of the invisible characters of
// stripInvisible, by their UTF-8 bytes: U+00AD C2 AD, U+034F CD 8F,
// U+200B-U+200D E2 80 8B-8D, U+2060 E2 81 A0, U+FEFF EF BB BF. It is
// strings.ContainsAny(s, those) at a fraction of the cost (typographic
// quotes also start with E2).
func hasInvisible(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		switch s[i] {
		case 0xc2:
			if s[i+1] == 0xad {
				return true
			}
		case 0xcd:
			if s[i+1] == 0x8f {
				return true
			}
		case 0xe2:
			if i+2 < len(s) && ((s[i+1] == 0x80 && s[i+2] >= 0x8b && s[i+2] <= 0x8d) || (s[i+1] == 0x81 && s[i+2] == 0xa0)) {
				return true
			}
		case 0xef:
			if i+2 < len(s) && s[i+1] == 0xbb && s[i+2] == 0xbf {
				return true
			}
		}
	}
	return false
}

// joinFields is strings.Join(strings.Fields(s), " ") in one pass and one
// allocation.
func joinFields(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // at the start, or after a space: drop further spaces
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace(c) {
				space = true
				i++
				continue
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = true
			i += n
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// asciiSpace is unicode.IsSpace for an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func stripInvisible(s string) string {
	if !hasInvisible(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 0x200b, 0x200c, 0x200d, 0x2060, 0xad, 0x34f, 0xfeff:
			return -1
		}
		return r
	}, s)
}

var subjUrgentRE = regexp.MustCompile(`(?i)\b(?:action\s+required|urgent(?:e|ly)?|immediate(?:ly)?|expir(?:es|ed|ing|ation)|verify|verification|confirm(?:ation)?\s+(?:required|needed|your)|suspend(?:ed)?|alert|warning|attention|important\s+notice|last\s+(?:chance|notice|warning)|final\s+(?:notice|reminder)|aten[cç][aã]o|urgente|importante|dringend|wichtig|bestätigen|ação\s+necess[aá]ria)\b`)

// ---- display name

// brandNames: brands phishing imitates most (APWG and vendor reports),
// each with the registrable-domain labels its own mail comes from.
type brand struct {
	re      *regexp.Regexp
	domains []string // a From org domain containing one of these is the brand's
}

// owns reports whether an organisation domain (hyphens removed) is the brand's.
func (b brand) owns(org string) bool {
	for _, d := range b.domains {
		if strings.Contains(org, strings.ReplaceAll(d, "-", "")) {
			return true
		}
	}
	return false
}

var brandNames = []brand{
	{regexp.MustCompile(`(?i)\bpay\s?pal|\b(?:coinbase|binance|metamask|netflix|microsoft|docusign|dropbox|instagram|facebook|whatsapp|linkedin)`), []string{"paypal", "coinbase", "binance", "metamask", "netflix", "microsoft", "docusign", "dropbox", "instagram", "facebook", "whatsapp", "linkedin"}},
	{regexp.MustCompile(`(?i)\b(?:microsoft|office\s?365|outlook|onedrive|sharepoint|m365|windows\s+defender)\b`), []string{"microsoft", "office", "outlook", "live", "onmicrosoft", "sharepoint", "hotmail", "msn"}},
	{regexp.MustCompile(`(?i)\b(?:apple|icloud|itunes|app\s+store)\b`), []string{"apple", "icloud"}},
	{regexp.MustCompile(`(?i)\bamazon\b|\bprime\s+video\b`), []string{"amazon"}},
	{regexp.MustCompile(`(?i)\bnetflix\b`), []string{"netflix"}},
	{regexp.MustCompile(`(?i)\b(?:facebook|instagram|whats\s?app|meta\s+(?:support|business|for\s+business))\b`), []string{"facebook", "facebookmail", "instagram", "whatsapp", "meta"}},
	{regexp.MustCompile(`(?i)\b(?:dhl|fedex|ups|usps|royal\s+mail|correios|la\s+poste|post\s?nl|canada\s+post|australia\s+post|evri|hermes|gls|dpd)\b`), []string{"dhl", "fedex", "ups", "usps", "royalmail", "correios", "laposte", "postnl", "canadapost", "auspost", "evri", "hermes", "gls", "dpd"}},
	{regexp.MustCompile(`(?i)\b(?:wells\s+fargo|chase|bank\s+of\s+america|citibank|hsbc|santander|barclays|bradesco|ita[uú]|caixa|nubank|banco\s+do\s+brasil|american\s+express|amex)\b`), []string{"wellsfargo", "chase", "bankofamerica", "bofa", "citi", "hsbc", "santander", "barclays", "bradesco", "itau", "caixa", "nubank", "bb", "americanexpress", "aexp", "amex"}},
	{regexp.MustCompile(`(?i)\b(?:norton|mcafee|avast|kaspersky|geek\s+squad)\b`), []string{"norton", "mcafee", "avast", "kaspersky", "geeksquad", "bestbuy"}},
	{regexp.MustCompile(`(?i)\b(?:coinbase|binance|metamask|kraken|ledger|trust\s+wallet|blockchain\.com)\b`), []string{"coinbase", "binance", "metamask", "kraken", "ledger", "trustwallet", "blockchain"}},
	{regexp.MustCompile(`(?i)\b(?:docusign|adobe|dropbox|wetransfer)\b`), []string{"docusign", "adobe", "dropbox", "wetransfer"}},
	{regexp.MustCompile(`(?i)\b(?:walmart|costco|ebay|target|best\s?buy|home\s+depot|lowe'?s|kohl'?s)\b`), []string{"walmart", "costco", "ebay", "target", "bestbuy", "homedepot", "lowes", "kohls"}},
	{regexp.MustCompile(`(?i)\b(?:at&t|verizon|t-mobile|spectrum|xfinity|comcast)\b`), []string{"att", "verizon", "t-mobile", "tmobile", "spectrum", "xfinity", "comcast"}},
	{regexp.MustCompile(`(?i)\b(?:steam|roblox|epic\s+games|playstation|xbox)\b`), []string{"steam", "roblox", "epicgames", "playstation", "sony", "xbox", "microsoft"}},
	{regexp.MustCompile(`(?i)\b(?:irs|hmrc|receita\s+federal|social\s+security|detran|correios)\b`), []string{"irs", "hmrc", "gov", "receita", "ssa", "detran", "correios"}},
	{regexp.MustCompile(`(?i)\b(?:google|gmail|youtube)\b`), []string{"google", "gmail", "youtube", "googlemail"}},
	{regexp.MustCompile(`(?i)\blinked\s?in\b`), []string{"linkedin"}},
}

// fromNameBrand: the display name names a brand, the address is not in
// one of the brand's domains ("PayPal Service" <x@random.example>).
// Mailing lists that rewrite From ("X via List") are skipped.
func fromNameBrand(m *Message) bool {
	name := fromName(m)
	if name == "" || listRewrittenFrom(m) {
		return false
	}
	dom := orgDomain(domainOf(addrOf(m.Header("From"))))
	if dom == "" {
		return false
	}
	flat := strings.ReplaceAll(dom, "-", "")
	named := brandGroup.count(newFoldedText(name))
	for i, b := range brandNames {
		if named[i] > 0 && !b.owns(flat) {
			return true
		}
	}
	return false
}

// brandREs and brandGroup match brandNames' regexps with one literal scan
// (checks_fold.go): what b.re.MatchString gives, at a fraction of the cost.
var brandREs, brandGroup = func() ([][]*phraseRE, *phraseGroup) {
	lists := make([][]*phraseRE, len(brandNames))
	for i, b := range brandNames {
		lists[i] = []*phraseRE{mustPhrase(b.re.String(), false)}
	}
	return lists, newPhraseGroup(lists...)
}()

var serviceNameRE = regexp.MustCompile(`(?i)\b(?:support|help\s?desk|service\s+desk|it\s+(?:department|support|team|helpdesk|service)|admin(?:istrator)?|security(?:\s+(?:team|center|centre|alert|notice|department))?|account\s+(?:services?|team|security|verification)|billing(?:\s+(?:team|department))?|customer\s+(?:service|care|support)|mail\s+(?:delivery|server|administrator)|e-?mail\s+(?:admin|support|administrator|server)|webmaster|postmaster|notification(?:s)?|verification\s+team|mailbox)\b`)

// fromNameService: the display name is a role that asks for trust,
// sent from a freemail account or from a domain the name does not show.
func fromNameService(m *Message) bool {
	name := fromName(m)
	if name == "" || listRewrittenFrom(m) || !serviceNameRE.MatchString(name) {
		return false
	}
	dom := domainOf(addrOf(m.Header("From")))
	if dom == "" {
		return false
	}
	if isFreemail(dom) {
		return true
	}
	// the role names no organisation that the address is part of
	org := orgDomain(dom)
	label := org
	if i := strings.IndexByte(org, '.'); i > 0 {
		label = org[:i]
	}
	ln := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	return len(label) >= 3 && !strings.Contains(ln, label) && len(strings.Fields(name)) <= 3
}

// mixedScriptHeader: a word of the Subject or From name that mixes Latin
// letters with Cyrillic or Greek ones: "Pаypal" with a Cyrillic а.
func mixedScriptHeader(m *Message) bool {
	for _, s := range []string{m.Decoded("Subject"), fromName(m)} {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
			var latin, other bool
			for _, r := range w {
				switch {
				case r < 0x250 && unicode.Is(unicode.Latin, r):
					latin = true
				case unicode.Is(unicode.Cyrillic, r) || unicode.Is(unicode.Greek, r):
					other = true
				}
			}
			if latin && other {
				return true
			}
		}
	}
	return false
}
