package rules

import (
	"net/mail"
	"strings"
	"testing"
)

// Table cases of header.go (run by TestChecksTable).
func init() { checkCases = append(checkCases, headerCases...) }

var headerCases = []checkCase{
	// Date (RFC 5322 3.3, 3.6.1)
	{"MISSING_DATE", hdr("Date:"), hdr()},
	{"INVALID_DATE", hdr("Date: yesterday at noon"), hdr("Date: Tue, 2 Jan 2024 09:59:50 GMT")},
	{"INVALID_DATE_TZ_ABSURD", hdr("Date: Tue, 2 Jan 2024 09:59:50 +1900"), hdr("Date: Tue, 2 Jan 2024 23:59:50 +1400")},
	{"DATE_IN_FUTURE_03_06", hdr("Date: Tue, 2 Jan 2024 14:00:00 +0000"), hdr("Date: Tue, 2 Jan 2024 12:00:00 +0000")},
	{"DATE_IN_FUTURE_06_12", hdr("Date: Tue, 2 Jan 2024 17:00:00 +0000"), hdr("Date: Tue, 2 Jan 2024 17:00:00 +0800")},
	{"DATE_IN_FUTURE_12_24", hdr("Date: Wed, 3 Jan 2024 01:00:00 +0000"), hdr("Date: Wed, 3 Jan 2024 11:00:00 +0000")},
	{"DATE_IN_FUTURE_24_96", hdr("Date: Thu, 4 Jan 2024 10:00:00 +0000"), hdr("Date: Mon, 8 Jan 2024 10:00:00 +0000")},
	{"DATE_IN_FUTURE_96_XX", hdr("Date: Mon, 8 Jan 2024 10:00:00 +0000"), hdr("Date: Thu, 4 Jan 2024 10:00:00 +0000")},
	{"DATE_IN_PAST_06_12", hdr("Date: Tue, 2 Jan 2024 02:00:00 +0000"), hdr("Date: Tue, 2 Jan 2024 05:00:00 +0000")},
	{"DATE_IN_PAST_12_24", hdr("Date: Mon, 1 Jan 2024 20:00:00 +0000"), hdr("Date: Tue, 2 Jan 2024 02:00:00 +0000")},
	{"DATE_IN_PAST_24_96", hdr("Date: Sat, 30 Dec 2023 10:00:00 +0000"), hdr("Date: Mon, 1 Jan 2024 20:00:00 +0000")},
	{"DATE_IN_PAST_96_XX", hdr("Date: Wed, 27 Dec 2023 10:00:00 +0000"), hdr("Date: Sat, 30 Dec 2023 10:00:00 +0000")},

	// Message-ID (RFC 5322 3.6.4)
	{"MISSING_MID", hdr("Message-ID:"), hdr()},
	{"INVALID_MSGID", hdr("Message-ID: 20240102.12345@mail.example.org"), hdr("Message-ID: <20240102.12345@mail.example.org> (comment)")},
	{"MSGID_NO_FQDN", hdr("Message-ID: <1028311679.886@0.57.142>"), hdr("Message-ID: <20240102095950.GA1234@laptop>")},
	{"MSGID_RATWARE", hdr("Message-Id: <w6kfuvi.jknyt.alt.alt@cganltwpqgsxnpz.emy>"), hdr("Message-Id: <87bkckczju.fsf@kernel.org>")},
	{"MSGID_OUTLOOK_TIME",
		hdr("Message-ID: <036e01b25e1c$2272a5b1$1ce36dc5@rbavou>"),
		// 0x01da3d65 is the FILETIME high word of 2 Jan 2024
		hdr("Message-ID: <000f01da3d65$2272a5b1$1ce36dc5@pc1>")},

	// From address (RFC 5322 3.6.2)
	{"MISSING_FROM", hdr("From:"), hdr()},
	{"FROM_NO_ADDRESS", hdr("From: Alice Example"), hdr("From: alice@example.org")},
	{"FROM_MULTIPLE_ADDRS", hdr("From: alice@example.org, carol@example.com"), hdr(`From: "alice@example.org, Alice" <alice@example.org>`)},
	{"FROM_EXCESS_BASE64", hdr("From: =?utf-8?B?QWxpY2UgRXhhbXBsZQ==?= <alice@example.org>"), hdr("From: =?utf-8?B?QWxpY2UgRMOpcMOk?= <alice@example.org>")},
	{"FROM_LOCAL_HEX", hdr("From: <a3f9c2e81b7d4f60@example.org>"), hdr("From: <deadbeef@example.org>")},
	{"FROM_LOCAL_DIGITS", hdr("From: <user8837466213@example.org>"), hdr("From: <alice1984@example.org>")},
	{"FROM_LOCAL_NOVOWEL", hdr("From: <xkcdqwrtzp@example.org>"), hdr("From: <christopher@example.org>")},
	{"FROM_DOMAIN_INVALID", hdr("From: netto <noreply@netto>"), hdr("From: netto <noreply@netto.de>")},
	{"FROM_DOMAIN_MANY_LABELS",
		hdr("From: Care <kb_12388@j.u.t.o.s.m75.example.shop>"),
		hdr("From: Care <kb@mail.eu.example.co.uk>")},
	{"FROM_FREE_HOSTING",
		hdr("From: Payment <noreply@oldsiva11.firebaseapp.com>"),
		hdr("From: Payment <noreply@firebaseapp-news.example.com>")},
	{"FROM_ABUSED_TLD", hdr("From: Promo <news@deals.shop>"), hdr("From: Shop <news@shop.example.org>")},

	// From display name
	{"FROM_DN_SPOOFED_ADDR", hdr(`From: "service@paypal.com" <x@evil.example>`), hdr(`From: "alice@mail.example.org" <alice@example.org>`)},
	{"FROM_DN_EQ_ADDR", hdr(`From: "alice@example.org" <alice@example.org>`), hdr(`From: "Alice" <alice@example.org>`)},
	{"FROM_NAME_HAS_TITLE", hdr("From: Mrs. Grace Williams <grace@example.org>"), hdr("From: Drew Mrsic <drew@example.org>")},
	{"FROM_NAME_EMOJI", hdr("From: =?UTF-8?B?8J+OgSBHaWZ0cw==?= <gifts@example.org>"), hdr("From: =?UTF-8?B?w6kgR2lmdHM=?= <gifts@example.org>")},
	{"FROM_NAME_DECORATED", hdr(`From: "#Congratulations!#" <a@example.org>`), hdr(`From: "Congratulations, Alice!" <a@example.org>`)},
	{"FROM_NAME_BRAND",
		hdr("From: PayPal Service <service@secure-update.example.com>"),
		hdr("From: PayPal <service@paypal.com>")},
	{"FROM_NAME_SERVICE",
		hdr("From: IT Helpdesk <it.helpdesk2291@gmail.com>"),
		hdr("From: Example Support <support@example.org>")},

	// Reply-To
	{"FREEMAIL_FORGED_REPLYTO", hdr("Reply-To: claims.dept@gmail.com"),
		hdr(`From: "Alice Example via Lunch-List" <lunch@lists.example.org>`, "Reply-To: alice.example@gmail.com")},

	// To/Cc
	{"MISSING_TO", hdr("To:"), hdr("To: undisclosed-recipients:;")},
	{"TO_UNDISCLOSED", hdr("To: undisclosed-recipients:;"), hdr("To: Disclosed Recipients <bob@example.net>")},
	{"SORTED_RECIPS", hdr("To: aa@example.net, ab@example.net, ba@example.com, bb@example.com, ca@example.org, cc@example.org"),
		hdr("To: aa@example.net, ba@example.net, ab@example.com, bb@example.com, ca@example.org, cc@example.org")},

	// Subject (and the From name where the same trick serves)
	{"MISSING_SUBJECT", hdr("Subject:"), hdr("Subject: x")},
	{"SUBJ_ALL_CAPS", hdr("Subject: URGENT BUSINESS PROPOSAL"), hdr("Subject: URGENT business proposal")},
	{"FAKE_REPLY", hdr("Subject: Re: your invoice"),
		hdr("Subject: Re: your invoice", "+In-Reply-To: <1@example.net>")},
	{"SUBJ_EXCESS_BASE64", hdr("Subject: =?UTF-8?B?THVuY2ggdG9tb3Jyb3c=?="), hdr("Subject: =?UTF-8?B?TMO8bmNo?=")},
	{"SUBJ_EMOJI", hdr("Subject: =?UTF-8?B?8J+OgSBZb3VyIGdpZnQ=?="), hdr("Subject: =?UTF-8?B?w6kgWW91ciBnaWZ0?=")},
	{"SUBJ_LURE_WORDS", hdr("Subject: Your account has been suspended"), hdr("Subject: Please verify your email address")},
	{"SUBJ_URGENT", hdr("Subject: Action required: verify your mailbox"), hdr("Subject: Actions for the meeting")},
	{"SUBJ_OBFUSCATED", hdr("Subject: Your Ac\u200bcount is suspended"), hdr("Subject: Your account is suspended")},
	{"MIXED_SCRIPT_WORD", hdr("Subject: Your P\u0430yPal account"), hdr("Subject: \u041f\u0440\u0438\u0432\u0435\u0442 Bob")},
	{"HEADER_8BIT", hdr("Subject: Gr\xfc\xdfe aus K\xf6ln"), hdr("Subject: Grüße aus Köln")},
	{"HEADER_BAD_ENCODING", hdr("Subject: =?x-no-such-charset?Q?hello?="), hdr("Subject: =?iso-8859-1?Q?Gr=FC=DFe?=")},

	// other fields: priority, templates, the mail program's own
	{"X_PRIORITY_HIGH", hdr("+X-Priority: 1 (Highest)"), hdr("+X-Priority: 3 (Normal)")},
	{"HDR_UNFILLED_TEMPLATE", hdr("To: <__Link__2IrWURe7qd@example.net>"), hdr("Subject: Re: [PATCH] drop __init__ from module")},
	{"FORGED_MUA_OUTLOOK", hdr("+X-Mailer: Microsoft Outlook 16.0"), hdr("+X-Mailer: Microsoft Outlook 16.0", "+Thread-Index: AQHaPWVvX2Rf")},
	{"MISSING_MIMEOLE", hdr("+X-Mailer: Microsoft Outlook Express 6.00.2800.1106"),
		hdr("+X-Mailer: Microsoft Outlook Express 6.00.2800.1106", "+X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2800.1106")},
	{"XM_NO_VERSION", hdr("+X-Mailer: Mass Mailer Pro"), hdr("+X-Mailer: Apple Mail (2.3774.300.61.1.2)")},
	{"XM_GIBBERISH", hdr("+X-Mailer: xKfPqLmz"), hdr("+X-Mailer: Zimbra")},
	{"XM_GIBBERISH", hdr("+X-Mailer: DQBWK"), hdr("+X-Mailer: AOL")},

	// the header block
	{"MULTIPLE_UNIQUE_HEADERS", hdr("+Subject: second subject"), hdr("+Comments: a second comment")},
	{"MISSING_ESSENTIAL_HEADERS", hdr("Date:", "Message-ID:"), hdr("Message-ID:")},
}

// parseDate's fast path gives what mail.ParseDate gives.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Mon, 2 Jan 2006 15:04:05 -0700", "Tue, 02 Jan 2006 15:04:05 +0100", "Mon, 2 Jan 2006 15:04:05 -0700 (PST)",
		"2 Jan 2006 15:04 GMT", "Mon, 32 Jan 2006 15:04:05 -0700", "Xyz, 2 Jan 2006 15:04:05 -0700"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDate(s)
		want, err := mail.ParseDate(strings.TrimSpace(s))
		if ok != (err == nil) || (ok && !got.Equal(want)) || (ok && got.String() != want.String()) {
			t.Fatalf("parseDate(%q) = %v %v, mail.ParseDate %v %v", s, got, ok, want, err)
		}
	})
}
