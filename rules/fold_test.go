package rules

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestFoldRuneCanonical: foldRune picks one member of every case-folding
// orbit, the same for all its members, and every rune whose fold or lower
// case crosses between ASCII and non-ASCII is exotic (foldedText's
// exactness rests on these three).
func TestFoldRuneCanonical(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue
		}
		f := foldRune(r)
		inOrbit := f == r
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			if o == f {
				inOrbit = true
			}
			if foldRune(o) != f {
				t.Fatalf("foldRune(%U) = %U, foldRune(%U) = %U: same orbit", r, f, o, foldRune(o))
			}
		}
		if !inOrbit {
			t.Fatalf("foldRune(%U) = %U, not in its orbit", r, f)
		}
		if r >= 0x80 && (f < 0x80 || unicode.ToLower(r) < 0x80) && !exoticRune(r) {
			t.Fatalf("%U folds to ASCII but is not exotic", r)
		}
	}
}

var phraseTexts = []string{
	"",
	"Please VERIFY YOUR ACCOUNT within 24 hours. Dear Customer, click here",
	"Dear customer, your account has been suspended. Click the link below.",
	"ſecure your account: verify your ſtuff, Kelvin \u212a sign", // exotic
	"İstanbul TİCKER: ABC trading at a bargain, STOCK OF THE YEAR",
	"SYMBOL: XYZW now at $0.05 cents, OTC alert, strong buy target stock",
	"ΣΟΦΊΑ ΤΡΑΠΕΖΑ λογαριασμός σας: click HERE ς µ μ Μ",
	"Sua conta foi BLOQUEADA, clique AQUI para atualizar seus dados. CARTÃO Ação",
	"Sehr geehrter Kunde, Ihr Konto wurde GESPERRT. BESTÄTIGEN SIE Ihre Daten",
	"invalid \xff\xfe utf-8 \xc3 bytes: YOUR PASSWORD WILL EXPIRE, next of kin",
	"PayPal Service", "Pay Pal", "APPLE  Support", "Itaú Unibanco", "AT&T wireless", "Lowe's", "blockchain.com team", "Microsoft 365",
	"office365 Admin", "ups", "supsup", "Wells\tFargo", "Royal Mail", "geek   squad", "Meta for Business", "Trust Wallet",
	"barrister of the late client, sum of US$ 10,500,000.00 million dollars, beneficiary",
	"100% FREE, risk-free, order now, limited-time offer, no obligation, work from home",
	"Ｆｕｌｌｗｉｄｔｈ ＶＥＲＩＦＹ ｙｏｕｒ ａｃｃｏｕｎｔ",
	"xverify your account_click here9",
}

// TestPhraseREExact: a phrase regexp on folded text (with its literal
// prefilter) matches exactly where the (?i) regexp matches the original.
func TestPhraseREExact(t *testing.T) {
	all := append(append(append(append([]*phraseRE{}, lureREs...), spamREs...), advanceFeeREs...), pumpDumpREs...)
	for _, s := range phraseTexts {
		for _, p := range all {
			in := phraseInput(p, s)
			if got, want := p.match(newFoldedText(in)), p.orig.MatchString(in); got != want {
				t.Errorf("%q on %q: match %v, (?i) regexp %v (all %q)", p.orig, in, got, want, p.all)
			}
		}
	}
}

// phraseInput is s as the regexp gets it: joined by single spaces for
// the lure, spam and advance-fee phrases (lureCount).
func phraseInput(p *phraseRE, s string) string {
	if p.joined {
		return strings.Join(strings.Fields(s), " ")
	}
	return s
}

func TestPhraseRERequired(t *testing.T) {
	for _, c := range []struct {
		pat  string
		want string
	}{
		{`(?i)\bnext\s+of\s+kin\b`, "next of kin"},
		{`(?i)\bbeneficiary\b`, "beneficiary"},
		{`(?i)\bVERIFY|CONFIRM`, "verify,confirm"},
		{`(?i)a.{0,40}bc`, "bc;a"},
		{`(?i)(?:x|y*)z`, "z"},
		{`(?i)(?:xyz|y*)`, ""},
		{`(?i)(?:|abc)|x.*yz`, ""},
		{`(?i)(?:ab|cd)\s+EF`, "ab ef,cd ef"}, // joined
		{`(?i)[aÃ]\d+`, "a,ã"},
	} {
		var got []string
		for _, cl := range mustPhrase(c.pat, true).all {
			got = append(got, strings.Join(cl, ","))
		}
		if strings.Join(got, ";") != c.want {
			t.Errorf("%s: required %q, want %q", c.pat, got, c.want)
		}
	}
}

// FuzzPhraseRE: folded matching agrees with the (?i) regexps on any text.
func FuzzPhraseRE(f *testing.F) {
	for _, s := range phraseTexts {
		f.Add(s)
	}
	all := append(append(append(append([]*phraseRE{}, lureREs...), spamREs...), advanceFeeREs...), pumpDumpREs...)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		ft := newFoldedText(s)
		if !ft.exotic && utf8.RuneCountInString(ft.low) != utf8.RuneCountInString(s) {
			t.Fatalf("fold changed the rune count of %q", s)
		}
		for _, p := range all {
			in := phraseInput(p, s)
			if got, want := p.match(newFoldedText(in)), p.orig.MatchString(in); got != want {
				t.Fatalf("%q on %q: match %v, (?i) regexp %v", p.orig, in, got, want)
			}
		}
		checkPhraseGroups(t, s)
	})
}

// TestPhraseGroupExact: the one-scan prefilter counts what the (?i)
// regexps count.
func TestPhraseGroupExact(t *testing.T) {
	for _, s := range withPadded(phraseTexts) {
		checkPhraseGroups(t, s)
	}
	t.Logf("automaton states: %d, %d, %d", len(lureSpamGroup.sc.out), len(advanceFeeGroup.sc.out), len(pumpDumpGroup.sc.out))
}

// withPadded adds each text amid long filler (so that the regexps run on
// windows around the literals), and repeated (more literals than
// maxLitPos).
func withPadded(texts []string) []string {
	filler := strings.Repeat(" the quick brown fox jumps over a lazy dog,", 16)
	out := texts
	for _, s := range texts {
		out = append(out, filler+s+filler+s[:len(s)/2]+filler+s[len(s)/2:], strings.Repeat(s+" ", 3*maxLitPos)+filler,
			strings.Join(strings.Fields(filler+s+filler), " "))
	}
	return out
}

func checkPhraseGroups(t *testing.T, s string) {
	for _, c := range []struct {
		g     *phraseGroup
		lists [][]*phraseRE
	}{{lureSpamGroup, [][]*phraseRE{lureREs, spamREs}}, {advanceFeeGroup, [][]*phraseRE{advanceFeeREs}}, {pumpDumpGroup, [][]*phraseRE{pumpDumpREs}},
		{brandGroup, brandREs}} {
		in := phraseInput(c.lists[0][0], s)
		got := c.g.count(newFoldedText(in))
		for k, l := range c.lists {
			want := 0
			for _, p := range l {
				if p.orig.MatchString(in) {
					want++
				}
			}
			if got[k] != want {
				t.Fatalf("%q: list %d counts %d, (?i) regexps %d", in, k, got[k], want)
			}
		}
	}
}

// FuzzPhraseWindows: the same amid filler, where the regexps run on
// windows around their literals (slower: the (?i) reference is slow).
func FuzzPhraseWindows(f *testing.F) {
	for _, s := range phraseTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The padding repeats s 3*maxLitPos times and the (?i) reference
		// regexps are slow: a longer s makes an input take seconds, and a
		// run of ten minutes a few hundred inputs. The windows are what
		// is tested here, and short texts place them as well.
		if len(s) > 160 {
			return
		}
		padded := withPadded([]string{s})
		checkPhraseGroups(t, padded[len(padded)-3])
	})
}
