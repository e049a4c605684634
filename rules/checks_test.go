package rules

import (
	"encoding/base64"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkCase is one table case: the base message with edits applied.
// hdr lines "Name: value" replace the base field of that name (the first
// one), "Name:" alone deletes it, "+Name: value" adds another field at the
// end of the header. body, when set, replaces the body. env edits the
// envelope.
type checkEdit struct {
	hdr  []string
	body string
	env  func(*Envelope)
}

type checkCase struct {
	rule       string
	fire, miss checkEdit
}

var arrival = time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)

const baseHeader = `Received: from mail.example.org (mail.example.org [93.184.216.34]) by mx.example.net (Postfix) with ESMTPS id 4AbC1; Tue, 2 Jan 2024 10:00:00 +0000
Received: from [192.168.1.20] (unknown [81.2.69.142]) by mail.example.org (Postfix) with ESMTPSA id 77F2; Tue, 2 Jan 2024 09:59:58 +0000
From: Alice Example <alice@example.org>
To: Bob <bob@example.net>
Subject: Lunch tomorrow
Date: Tue, 2 Jan 2024 09:59:50 +0000
Message-ID: <20240102095950.12345@mail.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
`

const baseBody = "Hi Bob,\n\nshall we have lunch tomorrow at noon? The usual place near the station.\n\nAlice\n"

func baseEnv() Envelope {
	return Envelope{
		ClientIP:   netip.MustParseAddr("93.184.216.34"),
		ClientName: "mail.example.org",
		Helo:       "mail.example.org",
		MailFrom:   "alice@example.org",
		Rcpts:      []string{"bob@example.net"},
		Time:       arrival,
	}
}

// buildCase makes the message of an edit.
func buildCase(t *testing.T, e checkEdit) *Message {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(baseHeader, "\n"), "\n")
	for _, h := range e.hdr {
		add := strings.HasPrefix(h, "+")
		h = strings.TrimPrefix(h, "+")
		name, value, _ := strings.Cut(h, ":")
		if add {
			lines = append(lines, h)
			continue
		}
		found := false
		for i, l := range lines {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				if strings.TrimSpace(value) == "" {
					lines = append(lines[:i], lines[i+1:]...)
				} else {
					lines[i] = h
				}
				found = true
				break
			}
		}
		if !found && strings.TrimSpace(value) != "" {
			lines = append(lines, h)
		}
	}
	body := baseBody
	if e.body != "" {
		body = e.body
	}
	env := baseEnv()
	if e.env != nil {
		e.env(&env)
	}
	raw := strings.Join(lines, "\n") + "\n\n" + body
	m, err := ReadMessage(strings.NewReader(raw), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hdr(h ...string) checkEdit { return checkEdit{hdr: h} }

func envOnly(f func(*Envelope)) checkEdit { return checkEdit{env: f} }

func helo(h string) checkEdit { return envOnly(func(e *Envelope) { e.Helo = h }) }

func rdns(n string) checkEdit { return envOnly(func(e *Envelope) { e.ClientName = n }) }

const alternative = `--b1
Content-Type: text/plain; charset=utf-8

%s
--b1
Content-Type: text/html; charset=utf-8

<html><head><title>x</title><style>p {color: red}</style></head><body><p>%s</p></body></html>
--b1--
`

func alt(plain, htm string) string {
	return strings.Replace(strings.Replace(alternative, "%s", plain, 1), "%s", htm, 1)
}

const altHdr = "Content-Type: multipart/alternative; boundary=b1"

var checkCases = []checkCase{
	// Date
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

	// Message-ID
	{"MISSING_MID", hdr("Message-ID:"), hdr()},
	{"INVALID_MSGID", hdr("Message-ID: 20240102.12345@mail.example.org"), hdr("Message-ID: <20240102.12345@mail.example.org> (comment)")},
	{"MSGID_NO_FQDN", hdr("Message-ID: <1028311679.886@0.57.142>"), hdr("Message-ID: <20240102095950.GA1234@laptop>")},
	{"MSGID_RATWARE", hdr("Message-Id: <w6kfuvi.jknyt.alt.alt@cganltwpqgsxnpz.emy>"), hdr("Message-Id: <87bkckczju.fsf@kernel.org>")},
	{"MSGID_OUTLOOK_TIME",
		hdr("Message-ID: <036e01b25e1c$2272a5b1$1ce36dc5@rbavou>"),
		// 0x01da3d65 is the FILETIME high word of 2 Jan 2024
		hdr("Message-ID: <000f01da3d65$2272a5b1$1ce36dc5@pc1>")},

	// From
	{"MISSING_FROM", hdr("From:"), hdr()},
	{"FROM_NO_ADDRESS", hdr("From: Alice Example"), hdr("From: alice@example.org")},
	{"FROM_MULTIPLE_ADDRS", hdr("From: alice@example.org, carol@example.com"), hdr(`From: "alice@example.org, Alice" <alice@example.org>`)},
	{"FROM_DN_SPOOFED_ADDR", hdr(`From: "service@paypal.com" <x@evil.example>`), hdr(`From: "alice@mail.example.org" <alice@example.org>`)},
	{"FROM_DN_EQ_ADDR", hdr(`From: "alice@example.org" <alice@example.org>`), hdr(`From: "Alice" <alice@example.org>`)},
	{"FROM_EXCESS_BASE64", hdr("From: =?utf-8?B?QWxpY2UgRXhhbXBsZQ==?= <alice@example.org>"), hdr("From: =?utf-8?B?QWxpY2UgRMOpcMOk?= <alice@example.org>")},
	{"FROM_LOCAL_HEX", hdr("From: <a3f9c2e81b7d4f60@example.org>"), hdr("From: <deadbeef@example.org>")},
	{"FROM_LOCAL_DIGITS", hdr("From: <user8837466213@example.org>"), hdr("From: <alice1984@example.org>")},
	{"FROM_LOCAL_NOVOWEL", hdr("From: <xkcdqwrtzp@example.org>"), hdr("From: <christopher@example.org>")},
	{"FROM_NAME_HAS_TITLE", hdr("From: Mrs. Grace Williams <grace@example.org>"), hdr("From: Drew Mrsic <drew@example.org>")},

	// Reply-To
	{"FREEMAIL_FORGED_REPLYTO", hdr("Reply-To: claims.dept@gmail.com"),
		hdr(`From: "Alice Example via Lunch-List" <lunch@lists.example.org>`, "Reply-To: alice.example@gmail.com")},

	// To/Cc
	{"MISSING_TO", hdr("To:"), hdr("To: undisclosed-recipients:;")},
	{"TO_UNDISCLOSED", hdr("To: undisclosed-recipients:;"), hdr("To: Disclosed Recipients <bob@example.net>")},
	{"SORTED_RECIPS", hdr("To: aa@example.net, ab@example.net, ba@example.com, bb@example.com, ca@example.org, cc@example.org"),
		hdr("To: aa@example.net, ba@example.net, ab@example.com, bb@example.com, ca@example.org, cc@example.org")},

	// Subject
	{"MISSING_SUBJECT", hdr("Subject:"), hdr("Subject: x")},
	{"SUBJ_ALL_CAPS", hdr("Subject: URGENT BUSINESS PROPOSAL"), hdr("Subject: URGENT business proposal")},
	{"FAKE_REPLY", hdr("Subject: Re: your invoice"),
		hdr("Subject: Re: your invoice", "+In-Reply-To: <1@example.net>")},
	{"SUBJ_EXCESS_BASE64", hdr("Subject: =?UTF-8?B?THVuY2ggdG9tb3Jyb3c=?="), hdr("Subject: =?UTF-8?B?TMO8bmNo?=")},
	{"HEADER_8BIT", hdr("Subject: Gr\xfc\xdfe aus K\xf6ln"), hdr("Subject: Grüße aus Köln")},
	{"HEADER_BAD_ENCODING", hdr("Subject: =?x-no-such-charset?Q?hello?="), hdr("Subject: =?iso-8859-1?Q?Gr=FC=DFe?=")},
	{"SUBJ_EMOJI", hdr("Subject: =?UTF-8?B?8J+OgSBZb3VyIGdpZnQ=?="), hdr("Subject: =?UTF-8?B?w6kgWW91ciBnaWZ0?=")},
	{"FROM_NAME_EMOJI", hdr("From: =?UTF-8?B?8J+OgSBHaWZ0cw==?= <gifts@example.org>"), hdr("From: =?UTF-8?B?w6kgR2lmdHM=?= <gifts@example.org>")},
	{"FROM_NAME_DECORATED", hdr(`From: "#Congratulations!#" <a@example.org>`), hdr(`From: "Congratulations, Alice!" <a@example.org>`)},
	{"SUBJ_LURE_WORDS", hdr("Subject: Your account has been suspended"), hdr("Subject: Please verify your email address")},
	{"X_PRIORITY_HIGH", hdr("+X-Priority: 1 (Highest)"), hdr("+X-Priority: 3 (Normal)")},
	{"HDR_UNFILLED_TEMPLATE", hdr("To: <__Link__2IrWURe7qd@example.net>"), hdr("Subject: Re: [PATCH] drop __init__ from module")},
	{"SUBJ_OBFUSCATED", hdr("Subject: Your Ac\u200bcount is suspended"), hdr("Subject: Your account is suspended")},

	// the header block
	{"MULTIPLE_UNIQUE_HEADERS", hdr("+Subject: second subject"), hdr("+Comments: a second comment")},
	{"MISSING_ESSENTIAL_HEADERS", hdr("Date:", "Message-ID:"), hdr("Message-ID:")},

	// mail programs
	{"FORGED_MUA_OUTLOOK", hdr("+X-Mailer: Microsoft Outlook 16.0"), hdr("+X-Mailer: Microsoft Outlook 16.0", "+Thread-Index: AQHaPWVvX2Rf")},
	{"MISSING_MIMEOLE", hdr("+X-Mailer: Microsoft Outlook Express 6.00.2800.1106"),
		hdr("+X-Mailer: Microsoft Outlook Express 6.00.2800.1106", "+X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2800.1106")},
	{"XM_NO_VERSION", hdr("+X-Mailer: Mass Mailer Pro"), hdr("+X-Mailer: Apple Mail (2.3774.300.61.1.2)")},
	{"XM_GIBBERISH", hdr("+X-Mailer: xKfPqLmz"), hdr("+X-Mailer: Zimbra")},
	{"XM_GIBBERISH", hdr("+X-Mailer: DQBWK"), hdr("+X-Mailer: AOL")},
}

func b64(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\n")
		e = e[76:]
	}
	return b.String() + e + "\n"
}

func TestChecksTable(t *testing.T) {
	rules := map[string]Rule{}
	for _, r := range Builtin() {
		rules[r.Name] = r
	}
	for _, c := range checkCases {
		t.Run(c.rule, func(t *testing.T) {
			r, ok := rules[c.rule]
			if !ok {
				t.Fatalf("no rule %s", c.rule)
			}
			if m := buildCase(t, c.fire); !r.Test(m) {
				t.Errorf("%s does not fire on its case", c.rule)
			}
			if m := buildCase(t, c.miss); r.Test(m) {
				t.Errorf("%s fires on its near miss", c.rule)
			}
		})
	}
}

// TestBaseMessageIsClean: the base of the table fires nothing, so each
// case's hit comes from its edit.
func TestBaseMessageIsClean(t *testing.T) {
	m := buildCase(t, checkEdit{})
	for _, r := range Builtin() {
		if r.Test(m) {
			t.Errorf("%s fires on the base message", r.Name)
		}
	}
}

var ruleNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)

func TestRegisteredRulesAreComplete(t *testing.T) {
	cased := map[string]bool{}
	for _, c := range checkCases {
		cased[c.rule] = true
	}
	kinds := map[string]bool{KindHeader: true, KindEnvelope: true, KindReceived: true, KindMIME: true, KindDNSBL: true, KindSpecial: true}
	for _, r := range Builtin() {
		if !ruleNameRE.MatchString(r.Name) {
			t.Errorf("%q: name is not UPPER_SNAKE", r.Name)
		}
		if strings.TrimSpace(r.Desc) == "" || strings.Contains(r.Desc, "\n") {
			t.Errorf("%s: description must be one non-empty line", r.Name)
		}
		if !kinds[r.Kind] {
			t.Errorf("%s: unknown kind %q", r.Name, r.Kind)
		}
		if r.Test == nil {
			t.Errorf("%s: no test", r.Name)
		}
		if !cased[r.Name] {
			t.Errorf("%s: no table case in checkCases", r.Name)
		}
		// the registered score is the fallback and must count; a fitted
		// score may be 0 (the check is then not run)
		if reg := registry[r.Name].Score; r.Kind != KindDNSBL && r.Kind != KindSpecial && (reg <= 0 || reg > 4) {
			t.Errorf("%s: registered score %v outside (0, 4]", r.Name, reg)
		}
		if r.Score < 0 || r.Score > 4 {
			t.Errorf("%s: default score %v outside [0, 4]", r.Name, r.Score)
		}
	}
}

// TestChecksSurviveJunk: every check on hostile input returns without
// panicking.
func TestChecksSurviveJunk(t *testing.T) {
	junk := []string{
		"",
		"From:\nTo:\nSubject:\nDate:\nMessage-ID:\nReceived:\nContent-Type: multipart/alternative\n\n--\n",
		"From: =?utf-8?B?====?= <@>\nMessage-ID: <@>\nDate: Mon, 99 Foo 0000 99:99:99 +9999\nX-Mailer: \nReceived: from [999.1.1.1] by [::1]\n\n",
		"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/html; charset=\"\"\nContent-Transfer-Encoding: base64\n\n<<<<<\n",
		"Subject: " + strings.Repeat("=?utf-8?q?a?= ", 1000) + "\nFrom: " + strings.Repeat("a@b.c, ", 500) + "\n\n<html><script>",
	}
	envs := []Envelope{{}, {Helo: "[", ClientName: "[", MailFrom: "@"}, baseEnv()}
	for _, j := range junk {
		for _, env := range envs {
			m, err := ReadMessage(strings.NewReader(j), env, 0)
			if err != nil {
				continue
			}
			for _, r := range Builtin() {
				r.Test(m)
			}
		}
	}
}

func FuzzChecks(f *testing.F) {
	f.Add(baseHeader+"\n"+baseBody, "mail.example.org", "mail.example.org")
	f.Add("From: a\nContent-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/html\n\n<p>x</p>\n--q--\n", "[1.2.3.4]", "unknown")
	f.Fuzz(func(t *testing.T, raw, heloName, clientName string) {
		env := baseEnv()
		env.Helo, env.ClientName = heloName, clientName
		m, err := ReadMessage(strings.NewReader(raw), env, 1<<16)
		if err != nil {
			return
		}
		for _, r := range Builtin() {
			r.Test(m)
		}
	})
}
