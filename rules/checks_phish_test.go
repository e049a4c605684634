package rules

import (
	"strings"
	"testing"
)

// Table cases of the phishing, lure and sender checks (checks_phish.go,
// checks_lure.go, checks_sender.go); they run in TestChecksTable.
func init() { checkCases = append(checkCases, phishCases...) }

const htmlHdr = "Content-Type: text/html; charset=utf-8"

// htmlBody is an HTML-only message with body b.
func htmlBody(b string, h ...string) checkEdit {
	return checkEdit{hdr: append([]string{htmlHdr}, h...), body: "<html><body>" + b + "</body></html>\n"}
}

func textBody(b string, h ...string) checkEdit { return checkEdit{hdr: h, body: b + "\n"} }

const longText = "Here is the report on the quarterly numbers you asked about last week, with the charts for each region and the notes from the meeting."

var phishCases = []checkCase{
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
	{"FROM_ABUSED_TLD", hdr("From: Promo <news@deals.shop>"), hdr("From: Shop <news@shop.example.org>")},
	{"IMG_HOSTING",
		htmlBody(`<p>` + longText + `</p><img src="https://i.imgur.com/HmRzYvn.png">`),
		// a link to the host is not an image loaded from it
		htmlBody(`<p>` + longText + `</p><a href="https://imgur.com/gallery/x">funny</a>`)},
	{"HTML_IMAGE_ONLY",
		htmlBody(`<a href="https://shop.example.com/x"><img src="https://cdn.example.com/offer.png"></a><p>Click now</p>`),
		htmlBody(`<a href="https://shop.example.com/x"><img src="https://cdn.example.com/offer.png"></a><p>` + longText + `</p>`)},
	{"BODY_INVISIBLE_CHARS",
		textBody("Your ac\u200bco\u200bunt is on h\u200bold. Ve\u200bri\u200bfy now."),
		textBody("Emoji sequences join with ZWJ: \U0001F468\u200d\U0001F469\u200d\U0001F467 is one family.")},
	{"ATTACH_RISKY",
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"Invoice_2291.iso\"\n\nAAAA\n--b1--\n"},
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"Invoice_2291.pdf\"\n\nAAAA\n--b1--\n"}},

	{"LURE_PHRASES_2",
		textBody("Dear Customer, please verify your account today. " + longText),
		textBody("Please verify your account settings before the release. " + longText)},
	{"LURE_PHRASES_4",
		textBody("Dear Customer, unusual sign-in activity was detected. Your account has been suspended. Click here to verify your account within 24 hours."),
		textBody("Dear Customer, your account has been suspended. " + longText)},
	{"SPAM_PHRASES_2",
		textBody("Work from home and earn extra income! 100% free to join. " + longText),
		textBody("This release is 100% free software. " + longText)},
	{"SPAM_PHRASES_4",
		textBody("Work from home! 100% free, risk-free, no obligation. Order now. To be removed reply with remove."),
		textBody("Work from home! 100% free. " + longText)},
	{"FROM_NAME_BRAND",
		hdr("From: PayPal Service <service@secure-update.example.com>"),
		hdr("From: PayPal <service@paypal.com>")},
	{"FROM_NAME_SERVICE",
		hdr("From: IT Helpdesk <it.helpdesk2291@gmail.com>"),
		hdr("From: Example Support <support@example.org>")},
	{"SUBJ_URGENT", hdr("Subject: Action required: verify your mailbox"), hdr("Subject: Actions for the meeting")},
	{"MIXED_SCRIPT_WORD", hdr("Subject: Your P\u0430yPal account"), hdr("Subject: \u041f\u0440\u0438\u0432\u0435\u0442 Bob")},
	{"FROM_DOMAIN_INVALID", hdr("From: netto <noreply@netto>"), hdr("From: netto <noreply@netto.de>")},
	{"FROM_FREE_HOSTING",
		hdr("From: Payment <noreply@oldsiva11.firebaseapp.com>"),
		hdr("From: Payment <noreply@firebaseapp-news.example.com>")},
	{"FROM_DOMAIN_MANY_LABELS",
		hdr("From: Care <kb_12388@j.u.t.o.s.m75.example.shop>"),
		hdr("From: Care <kb@mail.eu.example.co.uk>")},
	{"URI_RANDOM_HOST",
		textBody(longText + "\nhttp://xkqzrtplmnbvcxzqwrtpsdfgh.example.space/x"),
		textBody(longText + "\nhttps://internationalisation.example.org/x")},
	{"ADVANCE_FEE_2",
		textBody("I am a barrister to the late client. As his next of kin you may claim the inheritance fund."),
		textBody("Next of kin must be named on the form. " + longText)},
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
