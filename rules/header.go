package rules

// Checks on the header fields: Date, Message-ID, From, Reply-To, To/Cc,
// Subject, the mail program's fields and the header block as a whole.
// Scores are defaults (the config's `scores:` map overrides them); they
// follow SpamAssassin and rspamd, capped at 4 and never negative: a
// spammer writes the header, so no header check may vouch for a message.
//
//   - Date: MISSING_DATE, INVALID_DATE, INVALID_DATE_TZ_ABSURD,
//     DATE_IN_FUTURE_03_06, DATE_IN_FUTURE_06_12, DATE_IN_FUTURE_12_24,
//     DATE_IN_FUTURE_24_96, DATE_IN_FUTURE_96_XX, DATE_IN_PAST_06_12,
//     DATE_IN_PAST_12_24, DATE_IN_PAST_24_96, DATE_IN_PAST_96_XX
//   - Message-ID: MISSING_MID, INVALID_MSGID, MSGID_NO_FQDN, MSGID_RATWARE,
//     MSGID_OUTLOOK_TIME
//   - From address: MISSING_FROM, FROM_NO_ADDRESS, FROM_MULTIPLE_ADDRS,
//     FROM_EXCESS_BASE64, FROM_LOCAL_HEX, FROM_LOCAL_DIGITS,
//     FROM_LOCAL_NOVOWEL, FROM_DOMAIN_INVALID, FROM_DOMAIN_MANY_LABELS,
//     FROM_FREE_HOSTING, FROM_ABUSED_TLD
//   - From display name: FROM_DN_SPOOFED_ADDR, FROM_DN_EQ_ADDR,
//     FROM_NAME_HAS_TITLE, FROM_NAME_EMOJI, FROM_NAME_DECORATED,
//     FROM_NAME_BRAND, FROM_NAME_SERVICE
//   - Reply-To: FREEMAIL_FORGED_REPLYTO
//   - To/Cc: MISSING_TO, TO_UNDISCLOSED, SORTED_RECIPS
//   - Subject: MISSING_SUBJECT, SUBJ_ALL_CAPS, FAKE_REPLY,
//     SUBJ_EXCESS_BASE64, SUBJ_EMOJI, SUBJ_LURE_WORDS, SUBJ_URGENT,
//     SUBJ_OBFUSCATED, MIXED_SCRIPT_WORD, HEADER_8BIT, HEADER_BAD_ENCODING
//   - other fields: X_PRIORITY_HIGH, HDR_UNFILLED_TEMPLATE,
//     FORGED_MUA_OUTLOOK, MISSING_MIMEOLE, XM_NO_VERSION, XM_GIBBERISH
//   - the header block: MULTIPLE_UNIQUE_HEADERS, MISSING_ESSENTIAL_HEADERS

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

func init() {
	register(
		// Date (RFC 5322 3.3, 3.6.1)
		Rule{Name: "MISSING_DATE", Score: 1.4, Kind: KindHeader, Desc: "Missing Date: header",
			Test: func(m *Message) bool { return !m.Has("Date") }},
		Rule{Name: "INVALID_DATE", Score: 1.2, Kind: KindHeader, Desc: "Date: header is not RFC 5322",
			Test: func(m *Message) bool {
				_, ok := parseDate(m.Header("Date"))
				return m.Has("Date") && !ok
			}},
		Rule{Name: "INVALID_DATE_TZ_ABSURD", Score: 2.0, Kind: KindHeader, Desc: "Date: has an impossible time zone",
			Test: dateTZAbsurd},
		Rule{Name: "DATE_IN_FUTURE_03_06", Score: 0.8, Kind: KindHeader, Desc: "Date: is 3 to 6 hours after arrival",
			Test: dateSkew(3, 6)},
		Rule{Name: "DATE_IN_FUTURE_06_12", Score: 1.5, Kind: KindHeader, Desc: "Date: is 6 to 12 hours after arrival",
			Test: dateSkew(6, 12)},
		Rule{Name: "DATE_IN_FUTURE_12_24", Score: 2.5, Kind: KindHeader, Desc: "Date: is 12 to 24 hours after arrival",
			Test: dateSkew(12, 24)},
		Rule{Name: "DATE_IN_FUTURE_24_96", Score: 2.5, Kind: KindHeader, Desc: "Date: is 1 to 4 days after arrival",
			Test: dateSkew(24, 96)},
		Rule{Name: "DATE_IN_FUTURE_96_XX", Score: 2.5, Kind: KindHeader, Desc: "Date: is more than 4 days after arrival",
			Test: dateSkew(96, 0)},
		Rule{Name: "DATE_IN_PAST_06_12", Score: 0.5, Kind: KindHeader, Desc: "Date: is 6 to 12 hours before arrival",
			Test: dateSkew(-6, -12)},
		Rule{Name: "DATE_IN_PAST_12_24", Score: 0.8, Kind: KindHeader, Desc: "Date: is 12 to 24 hours before arrival",
			Test: dateSkew(-12, -24)},
		Rule{Name: "DATE_IN_PAST_24_96", Score: 1.0, Kind: KindHeader, Desc: "Date: is 1 to 4 days before arrival",
			Test: dateSkew(-24, -96)},
		Rule{Name: "DATE_IN_PAST_96_XX", Score: 1.5, Kind: KindHeader, Desc: "Date: is more than 4 days before arrival",
			Test: dateSkew(-96, 0)},

		// Message-ID (RFC 5322 3.6.4)
		Rule{Name: "MISSING_MID", Score: 0.5, Kind: KindHeader, Desc: "Missing Message-ID: header",
			Test: func(m *Message) bool { return !m.Has("Message-ID") }},
		Rule{Name: "INVALID_MSGID", Score: 1.2, Kind: KindHeader, Desc: "Message-ID is not <local@domain>",
			Test: invalidMsgID},
		Rule{Name: "MSGID_NO_FQDN", Score: 0.8, Kind: KindHeader, Desc: "Message-ID right-hand side is a bare IP address or number",
			Test: msgIDNoFQDN},
		Rule{Name: "MSGID_RATWARE", Score: 1.5, Kind: KindHeader, Desc: "Message-ID has a shape only bulk-mailing software makes",
			Test: msgIDRatware},
		Rule{Name: "MSGID_OUTLOOK_TIME", Score: 2.0, Kind: KindHeader, Desc: "Outlook-style Message-ID whose timestamp does not match arrival",
			Test: msgIDOutlookTime},

		// From address (RFC 5322 3.6.2)
		Rule{Name: "MISSING_FROM", Score: 1.0, Kind: KindHeader, Desc: "Missing From: header",
			Test: func(m *Message) bool { return !m.Has("From") }},
		Rule{Name: "FROM_NO_ADDRESS", Score: 1.5, Kind: KindHeader, Desc: "From: holds no usable address",
			Test: func(m *Message) bool { return m.Has("From") && domainOf(addrOf(m.Header("From"))) == "" }},
		Rule{Name: "FROM_MULTIPLE_ADDRS", Score: 2.0, Kind: KindHeader, Desc: "From: has several addresses",
			Test: fromMultiple},
		Rule{Name: "FROM_EXCESS_BASE64", Score: 1.0, Kind: KindHeader, Desc: "From: is base64-encoded though it is plain ASCII",
			Test: func(m *Message) bool { return excessBase64(m.Header("From")) }},
		Rule{Name: "FROM_LOCAL_HEX", Score: 1.0, Kind: KindHeader, Desc: "From address local part is a long hex string",
			Test: func(m *Message) bool { return fromLocalHexRE.MatchString(fromLocal(m)) }},
		Rule{Name: "FROM_LOCAL_DIGITS", Score: 0.5, Kind: KindHeader, Desc: "From address local part has a long run of digits",
			Test: func(m *Message) bool { return fromLocalDigitsRE.MatchString(fromLocal(m)) }},
		Rule{Name: "FROM_LOCAL_NOVOWEL", Score: 0.5, Kind: KindHeader, Desc: "From address local part has no vowels in a long run of letters",
			Test: func(m *Message) bool { return fromLocalNoVowelRE.MatchString(fromLocal(m)) }},
		Rule{Name: "FROM_DOMAIN_INVALID", Score: 1.5, Kind: KindHeader, Desc: "From address domain has no valid top-level domain (noreply@netto, x@host.)",
			Test: fromDomainInvalid},
		Rule{Name: "FROM_DOMAIN_MANY_LABELS", Score: 1.0, Kind: KindHeader, Desc: "From address domain has six or more labels or runs of one-letter labels",
			Test: fromDomainManyLabels},
		Rule{Name: "FROM_FREE_HOSTING", Score: 1.5, Kind: KindHeader, Desc: "From address is on a free app or web hosting domain (firebaseapp.com, web.app)",
			Test: func(m *Message) bool { return hostIn(domainOf(addrOf(m.Header("From"))), freeHosting) }},
		Rule{Name: "FROM_ABUSED_TLD", Score: 1.0, Kind: KindHeader, Desc: "From address domain is under a top-level domain mostly used for abuse",
			Test: func(m *Message) bool { return abusedTLDHost(domainOf(addrOf(m.Header("From")))) }},

		// From display name
		Rule{Name: "FROM_DN_SPOOFED_ADDR", Score: 2.5, Kind: KindHeader, Desc: "From display name carries an address or domain other than the sender's",
			Test: fromDNSpoofed},
		Rule{Name: "FROM_DN_EQ_ADDR", Score: 0.3, Kind: KindHeader, Desc: "From display name is the address itself",
			Test: fromDNEqAddr},
		Rule{Name: "FROM_NAME_HAS_TITLE", Score: 0.5, Kind: KindHeader, Desc: "From display name starts with a title (Mr, Mrs, Dr, Barrister)",
			Test: func(m *Message) bool { return titleRE.MatchString(fromName(m)) }},
		Rule{Name: "FROM_NAME_EMOJI", Score: 1.0, Kind: KindHeader, Desc: "From display name contains emoji",
			Test: func(m *Message) bool { return hasEmoji(fromName(m)) }},
		Rule{Name: "FROM_NAME_DECORATED", Score: 0.8, Kind: KindHeader, Desc: "From display name is wrapped in symbols (#, *, !, $)",
			Test: func(m *Message) bool { return decoratedNameRE.MatchString(fromName(m)) }},
		Rule{Name: "FROM_NAME_BRAND", Score: 1.5, Kind: KindHeader, Desc: "From display name names a well-known brand the sender's domain is not",
			Test: fromNameBrand},
		Rule{Name: "FROM_NAME_SERVICE", Score: 1.0, Kind: KindHeader, Desc: "From display name is a help-desk or security role (Support, Admin, Security Team)",
			Test: fromNameService},

		// Reply-To
		Rule{Name: "FREEMAIL_FORGED_REPLYTO", Score: 2.0, Kind: KindHeader, Desc: "Reply-To is a freemail address, From is not (or another one)",
			Test: freemailForgedReplyTo},

		// To/Cc
		Rule{Name: "MISSING_TO", Score: 0.8, Kind: KindHeader, Desc: "Missing To: header",
			Test: func(m *Message) bool { return !m.Has("To") }},
		Rule{Name: "TO_UNDISCLOSED", Score: 0.5, Kind: KindHeader, Desc: "To: is 'undisclosed recipients' or an empty group",
			Test: toUndisclosed},
		Rule{Name: "SORTED_RECIPS", Score: 2.0, Kind: KindHeader, Desc: "Many To/Cc addresses in alphabetical order (harvested list)",
			Test: sortedRecips},

		// Subject (and the From name where the same trick serves)
		Rule{Name: "MISSING_SUBJECT", Score: 0.5, Kind: KindHeader, Desc: "Missing Subject: header",
			Test: func(m *Message) bool { return !m.Has("Subject") }},
		Rule{Name: "SUBJ_ALL_CAPS", Score: 0.5, Kind: KindHeader, Desc: "Subject is all capitals",
			Test: subjAllCaps},
		Rule{Name: "FAKE_REPLY", Score: 1.0, Kind: KindHeader, Desc: "Subject says Re: but there is no In-Reply-To or References",
			Test: fakeReply},
		Rule{Name: "SUBJ_EXCESS_BASE64", Score: 0.5, Kind: KindHeader, Desc: "Subject is base64-encoded though it is plain ASCII",
			Test: func(m *Message) bool { return excessBase64(m.Header("Subject")) }},
		Rule{Name: "SUBJ_EMOJI", Score: 0.8, Kind: KindHeader, Desc: "Subject contains emoji",
			Test: func(m *Message) bool { return hasEmoji(m.Decoded("Subject")) }},
		Rule{Name: "SUBJ_LURE_WORDS", Score: 0.5, Kind: KindHeader, Desc: "Subject uses lure words (suspended, unusual activity, winner, claim your prize)",
			Test: func(m *Message) bool { return lureRE.MatchString(m.Decoded("Subject")) }},
		Rule{Name: "SUBJ_URGENT", Score: 0.8, Kind: KindHeader, Desc: "Subject presses for action (action required, urgent, expires, verify, confirm)",
			Test: func(m *Message) bool { return subjUrgentRE.MatchString(m.Decoded("Subject")) }},
		Rule{Name: "SUBJ_OBFUSCATED", Score: 1.5, Kind: KindHeader, Desc: "Subject or From name hides text with invisible or look-alike characters",
			Test: subjObfuscated},
		Rule{Name: "MIXED_SCRIPT_WORD", Score: 1.5, Kind: KindHeader, Desc: "Subject or From name mixes Latin with Cyrillic or Greek letters inside a word (homoglyphs)",
			Test: mixedScriptHeader},
		Rule{Name: "HEADER_8BIT", Score: 0.8, Kind: KindHeader, Desc: "Raw 8-bit bytes in Subject or From",
			Test: header8bit},
		Rule{Name: "HEADER_BAD_ENCODING", Score: 1.0, Kind: KindHeader, Desc: "Subject or From has a broken encoded-word or unknown charset",
			Test: headerBadEncoding},

		// other fields: priority, templates, the mail program's own
		Rule{Name: "X_PRIORITY_HIGH", Score: 0.7, Kind: KindHeader, Desc: "X-Priority is 1 (highest)",
			Test: func(m *Message) bool { return strings.HasPrefix(m.Header("X-Priority"), "1") }},
		Rule{Name: "HDR_UNFILLED_TEMPLATE", Score: 1.5, Kind: KindHeader, Desc: "Address, Message-ID or MIME header holds an unexpanded mail-merge placeholder",
			Test: unfilledTemplate},
		Rule{Name: "FORGED_MUA_OUTLOOK", Score: 3.0, Kind: KindHeader, Desc: "Claims Microsoft Outlook but lacks Thread-Index, which Outlook always adds",
			Test: forgedOutlook},
		Rule{Name: "MISSING_MIMEOLE", Score: 2.0, Kind: KindHeader, Desc: "Claims Outlook Express/Outlook 2002-2003 but lacks X-MimeOLE",
			Test: missingMimeOLE},
		Rule{Name: "XM_NO_VERSION", Score: 0.1, Kind: KindHeader, Desc: "X-Mailer without a version number",
			Test: xmNoVersion},
		Rule{Name: "XM_GIBBERISH", Score: 1.0, Kind: KindHeader, Desc: "X-Mailer is random-looking text",
			Test: xmGibberish},

		// the header block
		Rule{Name: "MULTIPLE_UNIQUE_HEADERS", Score: 2.5, Kind: KindHeader, Desc: "A header that may appear once appears several times",
			Test: multipleUnique},
		Rule{Name: "MISSING_ESSENTIAL_HEADERS", Score: 1.0, Kind: KindHeader, Desc: "Two or more of Date, Message-ID, To, Subject are missing",
			Test: missingEssential},
	)
}

// ---- Date

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)",
	"Mon Jan 2 15:04:05 2006",
	"Mon, 2 Jan 2006 15:04:05",
}

// parseDate parses a Date: value; ok is false when it is not a date RFC
// 5322 (with its obsolete forms) allows.
func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	// the common form first: mail.ParseDate tries its layouts in turn and
	// every miss allocates an error
	if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", v); err == nil {
		return t, true
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// parseDateLoose also accepts the malformed dates bulk mailers write,
// for measuring skew.
func parseDateLoose(v string) (time.Time, bool) {
	if t, ok := parseDate(v); ok {
		return t, true
	}
	v = strings.Join(strings.Fields(v), " ")
	if i := strings.Index(v, " ("); i > 0 {
		v = v[:i]
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var dateTZRE = regexp.MustCompile(`\s([+-])(\d\d)(\d\d)(?:\s*\(.*\))?\s*$`)

func dateTZAbsurd(m *Message) bool {
	sm := dateTZRE.FindStringSubmatch(m.Header("Date"))
	if sm == nil {
		return false
	}
	h, _ := strconv.Atoi(sm[2])
	mi, _ := strconv.Atoi(sm[3])
	return mi >= 60 || (sm[1] == "+" && h > 14) || (sm[1] == "-" && h > 12)
}

// dateSkew returns a test for Date: being between from and to hours after
// arrival (negative: before); to == 0 means no upper bound.
func dateSkew(from, to float64) func(*Message) bool {
	return func(m *Message) bool {
		m.chk.dateOnce.Do(func() { m.chk.date, m.chk.dateOK = parseDateLoose(m.Header("Date")) })
		d, ok := m.chk.date, m.chk.dateOK
		if !ok {
			return false
		}
		h, lo, hi := d.Sub(m.ArrivalTime()).Hours(), from, to
		if lo < 0 {
			h, lo, hi = -h, -lo, -hi
		}
		return h >= lo && (hi == 0 || h < hi)
	}
}

// ---- Message-ID

// msgIDParts splits a Message-ID value into left and right of the last
// '@'; ok is false when it is not bracketed or has no '@'.
func msgIDParts(v string) (left, right string, ok bool) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '('); i > 0 { // trailing comment
		v = strings.TrimSpace(v[:i])
	}
	if !strings.HasPrefix(v, "<") || !strings.HasSuffix(v, ">") {
		return "", "", false
	}
	v = v[1 : len(v)-1]
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return "", "", false
	}
	return v[:at], v[at+1:], true
}

func invalidMsgID(m *Message) bool {
	if !m.Has("Message-ID") {
		return false
	}
	l, r, ok := msgIDParts(m.Header("Message-ID"))
	return !ok || strings.ContainsAny(l, " <>\t") || strings.ContainsAny(r, " <>\t")
}

// msgIDNoFQDN: the right-hand side is a bare word or a dotted quad not in
// brackets (RFC 5322 wants a domain, and every MTA and MUA writes one).
func msgIDNoFQDN(m *Message) bool {
	_, r, ok := msgIDParts(m.Header("Message-ID"))
	if !ok {
		return false
	}
	r = strings.ToLower(r)
	if strings.HasPrefix(r, "[") {
		return false // a domain literal
	}
	return numericRHSRE.MatchString(r)
}

// numericRHSRE: an address or a number where a domain should be. (A bare
// host name without dots is common in real mail: mutt, git, Thunderbird
// on unnamed hosts.)
var numericRHSRE = regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$|^\d+(?:\.\d+)*$`)

// Ratware Message-ID shapes (after SpamAssassin's retired MSGID_SPAM_*
// and MSGID_RANDY rules): dot-separated runs of lower-case consonant
// junk, or a right-hand side that is a random name under a made-up TLD.
var (
	msgIDJunkLeftRE = regexp.MustCompile(`^[a-z0-9]{5,9}\.[a-z]{4,6}\.[a-z0-9.]{3,}$`)
	msgIDDollarRE   = regexp.MustCompile(`\$.*\$.*\$`)
	msgIDMultiAtRE  = regexp.MustCompile(`@.*@.*@`)
)

func msgIDRatware(m *Message) bool {
	v := m.Header("Message-ID")
	l, r, ok := msgIDParts(v)
	if !ok {
		return false
	}
	if msgIDDollarRE.MatchString(l) || msgIDMultiAtRE.MatchString(v) {
		return true
	}
	if msgIDJunkLeftRE.MatchString(l) && lowVowelRatio(strings.ReplaceAll(l, ".", "")) {
		return true
	}
	// the host part: a single long label of consonant junk before the TLD
	labels := strings.Split(strings.ToLower(r), ".")
	if len(labels) == 2 && len(labels[0]) >= 10 && lowVowelRatio(labels[0]) && onlyLetters(labels[0]) {
		return true
	}
	return false
}

// outlookMIDRE: Outlook Express / Outlook 97-2003 Message-IDs,
// <CCCCHHHHHHHH$LLLLLLLL$XXXXXXXX@host>: a counter, then the high 32 bits
// of the sending time as a Windows FILETIME.
var outlookMIDRE = regexp.MustCompile(`^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@`)

// msgIDOutlookTime: the FILETIME in an Outlook Message-ID lies more than
// a week from when the message arrived: ratware copies the shape, not
// the clock.
func msgIDOutlookTime(m *Message) bool {
	sm := outlookMIDRE.FindStringSubmatch(strings.ToLower(m.Header("Message-ID")))
	if sm == nil {
		return false
	}
	hi, err := strconv.ParseUint(sm[1], 16, 32)
	if err != nil {
		return false
	}
	// FILETIME counts 100 ns since 1601; its high word ticks every 429.5 s.
	at := m.ArrivalTime().Unix()
	want := uint64(at+11644473600) * 10_000_000 >> 32
	diff := int64(hi) - int64(want)
	const week = 7 * 24 * 3600 * 10_000_000 >> 32
	return diff > week || diff < -week
}

// ---- From address

func fromAddrs(m *Message) ([]*mail.Address, bool) {
	m.chk.from.Do(func() {
		if v := m.Header("From"); v != "" {
			m.chk.fromList, m.chk.fromOK = parseAddressList(v)
		}
	})
	return m.chk.fromList, m.chk.fromOK
}

func fromMultiple(m *Message) bool {
	if m.Count("From") > 1 {
		return false // MULTIPLE_UNIQUE_HEADERS
	}
	l, ok := fromAddrs(m)
	if ok {
		return len(l) > 1
	}
	// unparsable: count addresses outside quotes
	return len(emailRE.FindAllString(stripQuoted(m.Header("From")), -1)) > 1
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-=]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)

func stripQuoted(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			in = !in
			continue
		}
		if !in {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func fromLocal(m *Message) string {
	a := addrOf(m.Header("From"))
	if i := strings.LastIndexByte(a, '@'); i > 0 {
		return strings.ToLower(a[:i])
	}
	return ""
}

var (
	fromLocalHexRE     = regexp.MustCompile(`^(?:[0-9a-f]{12,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	fromLocalDigitsRE  = regexp.MustCompile(`\d{8,}`)
	fromLocalNoVowelRE = regexp.MustCompile(`[bcdfghjklmnpqrstvwxz]{7,}`)
	titleRE            = regexp.MustCompile(`(?i)^\s*(mr|mrs|ms|miss|dr|barrister|prof|sir|madam|mrs?\.|dr\.|engr|rev|hon|chief|capt)\.?\s+\S`)
)

// excessBase64: a header whose only encoded-words are base64 and whose
// decoded text is plain ASCII: no MUA needs base64 for that.
func excessBase64(raw string) bool {
	if !strings.Contains(raw, "=?") {
		return false
	}
	sawB := false
	for _, w := range encodedWordRE.FindAllStringSubmatch(raw, -1) {
		if !strings.EqualFold(w[2], "b") {
			return false
		}
		sawB = true
	}
	if !sawB {
		return false
	}
	d, err := Decode(raw)
	if err != nil {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 || (d[i] < 0x20 && d[i] != '\t') {
			return false
		}
	}
	return true
}

var encodedWordRE = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?[^?\s]*\?=`)

// fromDomainInvalid: the From domain ends in a label that is no top-level
// domain at all, or has a trailing dot or an empty label. (A real sender's
// mail system always writes a resolvable domain: RFC 5321 2.3.5.)
func fromDomainInvalid(m *Message) bool {
	a := addrOf(m.Header("From"))
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return false
	}
	d := strings.ToLower(strings.Trim(a[i+1:], "<> \t"))
	if d == "" || strings.HasPrefix(d, "[") {
		return false
	}
	if strings.HasSuffix(d, ".") || strings.Contains(d, "..") || !strings.Contains(d, ".") {
		return true
	}
	suffix, icann := publicsuffix.PublicSuffix(d)
	return !icann && !strings.Contains(suffix, ".")
}

// fromDomainManyLabels: "x@j.u.t.o.s.b.i.m.a.m75.example.shop": generated
// sub-domains that make every campaign's sender look new.
func fromDomainManyLabels(m *Message) bool {
	d := domainOf(addrOf(m.Header("From")))
	if d == "" {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) >= 6 {
		return true
	}
	run := 0
	for _, l := range labels {
		if len(l) == 1 {
			run++
			if run >= 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// ---- From display name

// fromName returns the decoded display name of the first From address.
func fromName(m *Message) string {
	if l, ok := fromAddrs(m); ok && len(l) > 0 {
		return l[0].Name
	}
	v := m.Decoded("From")
	if i := strings.IndexByte(v, '<'); i > 0 {
		return strings.Trim(strings.TrimSpace(v[:i]), `"`)
	}
	return ""
}

// fromDNSpoofed: the display name shows an e-mail address (or a domain
// name) in another organisation than the real sender's: "PayPal
// <service@paypal.com>" <x@evil.example> (rspamd SPOOF_DISPLAY_NAME,
// SpamAssassin FROMNAME_SPOOFED_EMAIL).
func fromDNSpoofed(m *Message) bool {
	l, ok := fromAddrs(m)
	if !ok || len(l) != 1 {
		return false
	}
	real := orgDomain(domainOf(l[0].Address))
	name := l[0].Name
	if real == "" || name == "" {
		return false
	}
	for _, a := range emailRE.FindAllString(name, 4) {
		if d := orgDomain(domainOf(a)); d != "" && d != real {
			return true
		}
	}
	return false
}

func fromDNEqAddr(m *Message) bool {
	l, ok := fromAddrs(m)
	if !ok || len(l) != 1 {
		return false
	}
	n := strings.Trim(strings.TrimSpace(l[0].Name), `"'<>`)
	return n != "" && strings.EqualFold(n, l[0].Address)
}

var decoratedNameRE = regexp.MustCompile(`^\s*[#*!$]+.*[#*!$]+\s*$|^\s*[#*$]{2,}|[#*$]{2,}\s*$`)

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
// (fold.go): what b.re.MatchString gives, at a fraction of the cost.
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

// ---- Reply-To

// listRewrittenFrom: a mailing list that rewrote From for DMARC writes
// "Name via List" and puts the author into Reply-To (Mailman, Google
// Groups, Sympa).
func listRewrittenFrom(m *Message) bool {
	return strings.Contains(strings.ToLower(fromName(m)), " via ")
}

func freemailForgedReplyTo(m *Message) bool {
	rt := addrOf(m.Header("Reply-To"))
	from := addrOf(m.Header("From"))
	if rt == "" || from == "" || !isFreemail(domainOf(rt)) || listRewrittenFrom(m) {
		return false
	}
	if !isFreemail(domainOf(from)) {
		return true
	}
	return !strings.EqualFold(rt, from) && !strings.EqualFold(localPart(rt), localPart(from))
}

// ---- To/Cc

var undisclosedRE = regexp.MustCompile(`(?i)undisclosed[ ._-]*recipients?|recipient list suppressed|^\s*:\s*;\s*$`)

func toUndisclosed(m *Message) bool {
	v := m.Decoded("To")
	return v != "" && undisclosedRE.MatchString(v)
}

// sortedRecips: at least 6 To/Cc addresses in strict alphabetical order
// of their local parts, as harvested lists come (SpamAssassin SORTED_RECIPS).
func sortedRecips(m *Message) bool {
	var addrs []string
	for _, name := range []string{"To", "Cc"} {
		for _, v := range m.Headers(name) {
			l, ok := parseAddressList(v)
			if !ok {
				for _, a := range emailRE.FindAllString(v, 200) {
					addrs = append(addrs, strings.ToLower(a))
				}
				continue
			}
			for _, a := range l {
				addrs = append(addrs, strings.ToLower(a.Address))
			}
		}
	}
	if len(addrs) < 6 {
		return false
	}
	for i := 1; i < len(addrs); i++ {
		if addrs[i] <= addrs[i-1] {
			return false
		}
	}
	return true
}

// ---- Subject

func subjAllCaps(m *Message) bool {
	s := m.Decoded("Subject")
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	return letters >= 10 && upper == letters
}

var replyPrefixRE = regexp.MustCompile(`(?i)^\s*(re|aw|sv|antw|r|rif|res|odp|vs|wg|fw|fwd|tr)\s*(\[\d+\])?\s*:`)

func fakeReply(m *Message) bool {
	s := m.Decoded("Subject")
	if !replyPrefixRE.MatchString(s) || m.Has("In-Reply-To") || m.Has("References") || m.Has("Thread-Index") {
		return false
	}
	p := strings.ToLower(replyPrefixRE.FindStringSubmatch(s)[1])
	return p != "fw" && p != "fwd" && p != "wg" && p != "tr" // forwards start threads
}

func header8bit(m *Message) bool {
	for _, n := range []string{"Subject", "From"} {
		v := m.Header(n)
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				// RFC 6532 allows UTF-8; raw Latin-1 and the like is not.
				if !utf8.ValidString(v) {
					return true
				}
				break
			}
		}
	}
	return false
}

func headerBadEncoding(m *Message) bool {
	for _, n := range []string{"Subject", "From"} {
		v := m.Header(n)
		if !strings.Contains(v, "=?") {
			continue
		}
		if _, err := Decode(v); err != nil {
			return true
		}
	}
	return false
}

// subjObfuscated: invisible characters (zero-width, soft hyphen, BOM)
// inside words, or letters taken from the mathematical alphanumeric and
// enclosed blocks, used to dodge word filters ("𝐏𝐚𝐲𝐏𝐚𝐥", "Ac\u200bcount").
func subjObfuscated(m *Message) bool {
	for _, s := range []string{m.Decoded("Subject"), fromName(m)} {
		for _, r := range s {
			switch {
			case r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060 || r == 0xfeff || r == 0xad || r == 0x34f:
				return true
			case r >= 0x1d400 && r <= 0x1d7ff: // mathematical alphanumerics
				return true
			case r >= 0x24b6 && r <= 0x24e9: // circled letters
				return true
			case r >= 0xff21 && r <= 0xff5a: // full-width Latin
				return true
			case r >= 0x1f130 && r <= 0x1f189: // squared/negative letters
				return true
			}
		}
	}
	return false
}

// hasEmoji reports pictographs (U+1F300-1FAFF) and dingbats/symbols
// (U+2600-27BF) used as emoji.
func hasEmoji(s string) bool {
	for _, r := range s {
		if (r >= 0x1f300 && r <= 0x1faff) || (r >= 0x2600 && r <= 0x27bf) {
			return true
		}
	}
	return false
}

// lureRE: words of account-takeover and prize lures. Words common in
// real transactional mail (verify, password, invoice, payment) are left out.
var lureRE = regexp.MustCompile(`(?i)\b(?:suspend(?:ed|sion)|unusual (?:activity|sign|login)|locked|deactivat(?:ed|ion)|final notice|unauthori[sz]ed|winner|prize|congratulations|claim your|reward)\b`)

var subjUrgentRE = regexp.MustCompile(`(?i)\b(?:action\s+required|urgent(?:e|ly)?|immediate(?:ly)?|expir(?:es|ed|ing|ation)|verify|verification|confirm(?:ation)?\s+(?:required|needed|your)|suspend(?:ed)?|alert|warning|attention|important\s+notice|last\s+(?:chance|notice|warning)|final\s+(?:notice|reminder)|aten[cç][aã]o|urgente|importante|dringend|wichtig|bestätigen|ação\s+necess[aá]ria)\b`)

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

// ---- other fields

// templateRE: mail-merge placeholders a bulk mailer failed to fill:
// __Link__, {{name}}, %%email%%, %RND_NUM%, ${EMAIL}, [%tag%].
var (
	templateRE     = regexp.MustCompile(`\{\{\s*[\w.]+\s*\}\}|%%[A-Za-z_]+%%|%[A-Z][A-Z_]{2,}%|\$\{[A-Za-z_]{3,}\}|\[%[\w ]+%\]`)
	templateAddrRE = regexp.MustCompile(`__[A-Za-z]+[A-Za-z0-9]*__`)
)

func unfilledTemplate(m *Message) bool {
	for _, n := range []string{"From", "To", "Cc", "Reply-To", "Message-ID", "References", "In-Reply-To", "Content-Type", "Subject"} {
		v := m.Header(n)
		if v == "" {
			continue
		}
		// every match of templateRE holds "{" or "%"
		if strings.ContainsAny(v, "{%") && templateRE.MatchString(v) {
			return true
		}
		// __x__ is also a Python name in subjects ("__init__"); in
		// addresses and identifiers it is a placeholder
		if n != "Subject" && n != "Content-Type" && strings.Contains(v, "__") && templateAddrRE.MatchString(v) {
			return true
		}
		if n == "Content-Type" && strings.Contains(v, "__DynTag") {
			return true
		}
	}
	return false
}

var (
	outlookOERE   = regexp.MustCompile(`^Microsoft Outlook Express [4-6]\.|^Microsoft (?:Office )?Outlook(?:, Build| CWS|, Build 1[01]\.| 1[01]\.)|^Microsoft Outlook IMO`)
	outlookModRE  = regexp.MustCompile(`^Microsoft (?:Office )?Outlook 1[2-6]\.`)
	xmVersionRE   = regexp.MustCompile(`\d`)
	xmGibberishRE = regexp.MustCompile(`^[A-Za-z]{5,}$|^[a-z0-9]{12,}$`)
)

// forgedOutlook: Outlook 2007 and later write Thread-Index on every
// message (and X-Mailer "Microsoft Outlook 16.0" or "Microsoft Office
// Outlook 12.0"); bulk mailers copy the X-Mailer alone.
func forgedOutlook(m *Message) bool {
	x := m.Header("X-Mailer")
	return outlookModRE.MatchString(x) && !m.Has("Thread-Index")
}

// missingMimeOLE: Outlook Express 4-6 and Outlook 2000-2003 (builds 9-11)
// always write X-MimeOLE.
func missingMimeOLE(m *Message) bool {
	x := m.Header("X-Mailer")
	return outlookOERE.MatchString(x) && !outlookModRE.MatchString(x) && !m.Has("X-MimeOLE")
}

func xmNoVersion(m *Message) bool {
	x := strings.TrimSpace(m.Header("X-Mailer"))
	return x != "" && !xmVersionRE.MatchString(x)
}

// xmGibberish: an X-Mailer that is one random word: no vowels in a long
// run, or a lower-case alphanumeric blob.
func xmGibberish(m *Message) bool {
	x := strings.TrimSpace(m.Header("X-Mailer"))
	if !xmGibberishRE.MatchString(x) {
		return false
	}
	if utf8.RuneCountInString(x) >= 12 && strings.IndexFunc(x, unicode.IsDigit) >= 0 {
		return true
	}
	return lowVowelRatio(x) || mixedCaseJunk(x)
}

// ---- the header block

// uniqueFields may appear at most once (RFC 5322 3.6, table).
var uniqueFields = []string{"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type"}

func multipleUnique(m *Message) bool {
	for _, n := range uniqueFields {
		if m.Count(n) > 1 {
			return true
		}
	}
	return false
}

func missingEssential(m *Message) bool {
	n := 0
	for _, h := range []string{"Date", "Message-ID", "To", "Subject"} {
		if !m.Has(h) {
			n++
		}
	}
	return n >= 2
}
