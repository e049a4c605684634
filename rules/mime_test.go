package rules

import (
	"fmt"
	"strings"
	"testing"
)

// Table cases of mime.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, mimeCases...) }

var mimeCases = []checkCase{
	// structure
	{"MIME_HTML_ONLY", checkEdit{hdr: []string{"Content-Type: text/html"}, body: "<p>Hello</p>"},
		checkEdit{hdr: []string{altHdr}, body: alt("Hello", "Hello")}},
	{"FREEMAIL_HTML_ONLY", checkEdit{hdr: []string{"From: <x@yahoo.com>", "Content-Type: text/html"}, body: "<p>Hello</p>"},
		checkEdit{hdr: []string{"From: <x@example.org>", "Content-Type: text/html"}, body: "<p>Hello</p>"}},
	{"MPART_ALT_DIFF",
		checkEdit{hdr: []string{altHdr}, body: alt("Hi Bob, shall we meet", "Claim your prize today, winners get free cruise tickets worth thousands of dollars now")},
		checkEdit{hdr: []string{altHdr}, body: alt("Claim your prize today, winners get free cruise tickets worth thousands of dollars now", "Claim your <b>prize</b> today, winners get free cruise tickets worth thousands of dollars now")}},
	{"MIME_MALFORMED", checkEdit{hdr: []string{"Content-Transfer-Encoding: base64"}, body: "!!!! not base64 at all ****\n"},
		checkEdit{hdr: []string{"Content-Transfer-Encoding: base64"}, body: b64("fine")}},
	{"MIME_NO_VERSION", hdr("MIME-Version:", altHdr), hdr(altHdr)},
	{"BODY_EMPTY", checkEdit{body: "\n \n"}, checkEdit{body: "ok\n"}},

	// charsets and encodings
	{"MIME_CHARSET_UNKNOWN", hdr("Content-Type: text/plain; charset=x-unheard-of"), hdr("Content-Type: text/plain; charset=iso-8859-2")},
	{"MIME_CHARSET_MISLABELLED", checkEdit{hdr: []string{"Content-Type: text/plain; charset=us-ascii"}, body: "Grüße aus Köln\n"},
		checkEdit{hdr: []string{"Content-Type: text/plain; charset=us-ascii"}, body: "plain ascii\n"}},
	{"MIME_BASE64_TEXT",
		checkEdit{hdr: []string{"Content-Transfer-Encoding: base64"}, body: b64(strings.Repeat("plain ascii text here. ", 12))},
		checkEdit{hdr: []string{"Content-Transfer-Encoding: base64"}, body: b64(strings.Repeat("Grüße aus Köln. ", 14))}},

	// attachments
	{"MIME_HTML_ATTACHMENT",
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream; name=\"Invoice.html\"\n\n<form></form>\n--b1--\n"},
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/pdf; name=\"Invoice.pdf\"\n\n%PDF\n--b1--\n"}},
	{"ATTACH_RISKY",
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"Invoice_2291.iso\"\n\nAAAA\n--b1--\n"},
		checkEdit{hdr: []string{"Content-Type: multipart/mixed; boundary=b1"}, body: "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"Invoice_2291.pdf\"\n\nAAAA\n--b1--\n"}},

	// text and HTML
	{"HTML_HIDDEN_TEXT",
		checkEdit{hdr: []string{"Content-Type: text/html"}, body: "<p>Pay now</p><div style=\"display:none\">" + strings.Repeat("harmless words about gardening and weather ", 4) + "</div>"},
		checkEdit{hdr: []string{"Content-Type: text/html"}, body: "<p>Pay now</p><div style=\"display:none\">Your monthly newsletter preview</div><p>" + strings.Repeat("harmless words about gardening and weather ", 4) + "</p>"}},
	{"BODY_INVISIBLE_CHARS",
		textBody("Your ac\u200bco\u200bunt is on h\u200bold. Ve\u200bri\u200bfy now."),
		textBody("Emoji sequences join with ZWJ: \U0001F468\u200d\U0001F469\u200d\U0001F467 is one family.")},
}

var styleTexts = []string{
	`<p style="display:none">hidden words</p><p STYLE = 'color:red;visibility : hidden'>x</p>`,
	`<span style="font-size:0px;">a</span><span style="font-size:0">b</span><i style="FONT-SIZE:0PT">`,
	`stystyle="display:none" styl style= "x" style="displa" styLE="display:none;style='visibility:hidden'"`,
	`<p ſtyle="display:none">long s</p>`,
	`style=""style="display:none"style='font-size: 0em;'`,
}

func checkHiddenStyles(t *testing.T, s string) {
	for _, max := range []int{1, 2, 50} {
		var got [][]int
		hiddenStyles(s, max, func(a, b int) { got = append(got, []int{a, b}) })
		if want := hiddenStyleRE.FindAllStringIndex(s, max); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q max %d: %v, hiddenStyleRE %v", s, max, got, want)
		}
	}
	var got, want []int
	for i := range foldIndexes(s, "style", 2) {
		got = append(got, i)
	}
	ls := []byte(s)
	for i := range ls {
		if 'A' <= ls[i] && ls[i] <= 'Z' {
			ls[i] += 'a' - 'A'
		}
	}
	for i := 0; i+5 <= len(ls); i++ {
		if string(ls[i:i+5]) == "style" {
			want = append(want, i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%q: foldIndexes %v, want %v", s, got, want)
	}
}

// TestHiddenStyles: the anchored scan finds what hiddenStyleRE finds.
func TestHiddenStyles(t *testing.T) {
	for _, s := range styleTexts {
		checkHiddenStyles(t, s)
	}
}

func FuzzHiddenStyles(f *testing.F) {
	for _, s := range styleTexts {
		f.Add(s)
	}
	f.Fuzz(checkHiddenStyles)
}

// hiddenStyleEnd is the anchored regexp it replaces, without it.
func FuzzHiddenStyleEnd(f *testing.F) {
	for _, s := range []string{`style="display:none"`, `STYLE = 'color:red; Visibility : hidden;x'`, `style="font-size:0px;"`,
		`style="font-size: 0 '`, `style="font-size:0pxx;"`, `style="display:none;font-size:0em "`, `style=display:none`,
		`style="a" display:none"`, `style='font-size:0"`, `stylE="visibility:hiddenx"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.Contains(v, "\u017f") {
			return // the caller takes the regexp for those
		}
		want := -1
		if loc := hiddenStyleAnchRE.FindStringIndex(v); loc != nil {
			want = loc[1]
		}
		if got := hiddenStyleEnd(v); got != want {
			t.Fatalf("hiddenStyleEnd(%q) = %d, regexp %d", v, got, want)
		}
	})
}
