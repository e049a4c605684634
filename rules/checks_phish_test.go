package rules

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
	{"FROM_ABUSED_TLD", hdr("From: Promo <news@deals.shop>"), hdr("From: Shop <news@shop.example.org>")},

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
}
