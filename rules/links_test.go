package rules

import (
	"fmt"
	"strings"
	"testing"
)

// Table cases of links.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, linksCases...) }

var linksCases = []checkCase{
	// where a link goes
	{"HTML_LINK_TEXT_MISMATCH",
		htmlBody(`<p>` + longText + `</p><a href="https://login.evil-example.com/x">https://www.paypal.com/signin</a>`),
		// the shown host is in the href: a safe-link rewriter
		htmlBody(`<p>` + longText + `</p><a href="https://urldefense.proofpoint.com/v2/url?u=https-3A__www.paypal.com_signin">https://www.paypal.com/signin</a>`)},
	{"URI_IP_HOST",
		textBody(longText + "\nhttp://203.0.114.7/login.php"),
		textBody(longText + "\nhttp://intranet.example.org/login.php (not http://192.168.1.1/)")},
	{"URI_USERINFO",
		htmlBody(`<p>` + longText + `</p><a href="http://www.bank.example@evil.example/">log in</a>`),
		htmlBody(`<p>` + longText + `</p><a href="http://www.bank.example/?u=a@b">log in</a>`)},
	{"URI_SHORTENER",
		textBody(longText + "\nhttps://bit.ly/3xYz"),
		textBody(longText + "\nhttps://orbit.ly.example.org/3xYz")},
	{"URI_FREE_HOSTING",
		htmlBody(`<p>` + longText + `</p><a href="https://secure-login-4821.web.app/">open</a>`),
		htmlBody(`<p>` + longText + `</p><a href="https://www.example.org/web.app/">open</a>`)},
	{"URI_ABUSED_TLD",
		textBody(longText + "\nhttps://promo.winner-prize.top/claim"),
		textBody(longText + "\nhttps://www.top.example.org/claim")},
	{"URI_RANDOM_HOST",
		textBody(longText + "\nhttp://xkqzrtplmnbvcxzqwrtpsdfgh.example.space/x"),
		textBody(longText + "\nhttps://internationalisation.example.org/x")},

	// images and links instead of text
	{"IMG_HOSTING",
		htmlBody(`<p>` + longText + `</p><img src="https://i.imgur.com/HmRzYvn.png">`),
		// a link to the host is not an image loaded from it
		htmlBody(`<p>` + longText + `</p><a href="https://imgur.com/gallery/x">funny</a>`)},
	{"HTML_IMAGE_ONLY",
		htmlBody(`<a href="https://shop.example.com/x"><img src="https://cdn.example.com/offer.png"></a><p>Click now</p>`),
		htmlBody(`<a href="https://shop.example.com/x"><img src="https://cdn.example.com/offer.png"></a><p>` + longText + `</p>`)},
	{"BODY_SHORT_LINK", checkEdit{body: "View your document:\nhttps://evil.example.com/x?id=1\n"},
		checkEdit{body: baseBody + "Menu: https://food.example.com/menu\n"}},
}

// TestURLHost: the host of hrefs as browsers read them (user info, port,
// scheme-relative, IPv6 literal, backslash).
func TestURLHost(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://Example.COM/path", "example.com"},
		{"http://user:pw@evil.example:8080/x", "evil.example"},
		{"//cdn.example.net/a.png", "cdn.example.net"},
		{"http://[2001:db8::1]/", "2001:db8::1"},
		{"https://a.example\\@b.example/", "a.example"},
		{"mailto:a@b.example", ""},
		{"javascript:alert(1)", ""},
		{"https://", ""},
	} {
		if got := urlHost(c.in); got != c.want {
			t.Errorf("urlHost(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestLinkScanBounded: a huge HTML body with endless anchors is scanned in
// bounded work (the link cap) and unclosed tags end the scan.
func TestLinkScanBounded(t *testing.T) {
	body := strings.Repeat(`<a href="https://x.example/">x</a>`, 50000) + "<a href="
	m := buildCase(t, htmlBody(body))
	if n := len(phish(m).links); n != maxLinks {
		t.Errorf("links = %d, want the cap %d", n, maxLinks)
	}
}

// attrValue and bareURLs are the regexps they replace, without them.
func FuzzAttrValue(f *testing.F) {
	for _, s := range []string{`a href="http://x.example/"`, `img SRC = 'y'`, `form action=z>`, `a data-href="q" href=x`,
		`a href="unclosed`, `a href= >`, `a xhref=1 src=2`, "a href=\"\u017f\"", "a \u017frc=3", `a href=`, `href="" src=1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, ok := attrValue(tag)
		sm := hrefAttrRE.FindStringSubmatch(tag)
		if ok != (sm != nil) || (ok && v != sm[1]+sm[2]+sm[3]) {
			t.Fatalf("attrValue(%q) = %q %v, regexp %q", tag, v, ok, sm)
		}
	})
}

func FuzzBareURLs(f *testing.F) {
	for _, s := range []string{"see http://a.example/x and HTTPS://b.example.", "xhttp://no http://", "(http://c.example/)",
		"http://\u017f https://d", "httpS://e'f", "https//g http:/h", "\thttp://i\nhttp://j"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := bareURLs(s, 100), bareURLRE.FindAllString(s, 100)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("bareURLs(%q) = %q, regexp %q", s, got, want)
		}
	})
}

var urlTexts = []string{
	"see https://Example.COM/x and HTTP://a.b:8080/y, ftp://files.example.org",
	"xhttp://no.example _http://no.example http://ok.example",
	"http://ftp://x.example https://:80 http://[::1]/ http://1.2.3.4:/",
	"httpſ://long-s.example HTTPS://Ünïcode.éxample/ http://a\xffb.example",
	"https://a.b:9x http://host_name~x%41.example:: http://",
	"://x.example s://y.example tp://z.example",
	"http://a.example:80http://b.example é:http://c.example",
}

func urlRefMatches(s string) string {
	var out string
	for _, m := range urlRE.FindAllStringSubmatchIndex(s, -1) {
		out += fmt.Sprintf("[%d %d %d]", m[0], m[2], m[1])
	}
	return out
}

func urlScanMatches(s string) string {
	var out string
	scanURLs(s, func(start, host, end int) bool {
		out += fmt.Sprintf("[%d %d %d]", start, host, end)
		return true
	})
	return out
}

// TestScanURLs: the hand-written scan finds what urlRE finds.
func TestScanURLs(t *testing.T) {
	for _, s := range urlTexts {
		if got, want := urlScanMatches(s), urlRefMatches(s); got != want {
			t.Errorf("%q: scan %s, urlRE %s", s, got, want)
		}
	}
}

func FuzzScanURLs(f *testing.F) {
	for _, s := range urlTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := urlScanMatches(s), urlRefMatches(s); got != want {
			t.Fatalf("%q: scan %s, urlRE %s", s, got, want)
		}
	})
}
