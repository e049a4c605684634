package rules

import (
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
)

// The first set of header heuristics. Scores are defaults; the config's
// `scores:` map overrides them.
func init() {
	register(
		Rule{Name: "MISSING_DATE", Score: 1.4, Kind: KindHeader, Desc: "Missing Date: header",
			Test: func(m *Message) bool { return !m.Has("Date") }},
		Rule{Name: "MISSING_MID", Score: 0.5, Kind: KindHeader, Desc: "Missing Message-ID: header",
			Test: func(m *Message) bool { return !m.Has("Message-ID") }},
		Rule{Name: "INVALID_MSGID", Score: 1.2, Kind: KindHeader, Desc: "Message-ID is not <local@domain>",
			Test: invalidMsgID},
		Rule{Name: "MISSING_FROM", Score: 1.0, Kind: KindHeader, Desc: "Missing From: header",
			Test: func(m *Message) bool { return !m.Has("From") }},
		Rule{Name: "HELO_BARE_IP", Score: 1.5, Kind: KindEnvelope, Desc: "HELO is a bare IP address",
			Test: heloBareIP},
		Rule{Name: "RDNS_NONE", Score: 1.2, Kind: KindEnvelope, Desc: "Client IP has no reverse DNS",
			Test: func(m *Message) bool {
				name, known := m.Env.RDNS()
				return known && name == "" && m.Env.ClientIP.IsValid()
			}},
		Rule{Name: "SUBJ_ALL_CAPS", Score: 0.5, Kind: KindHeader, Desc: "Subject is all capitals",
			Test: subjAllCaps},
	)
}

func invalidMsgID(m *Message) bool {
	if !m.Has("Message-ID") {
		return false
	}
	v := m.Header("Message-ID")
	if !strings.HasPrefix(v, "<") || !strings.HasSuffix(v, ">") {
		return true
	}
	v = v[1 : len(v)-1]
	at := strings.LastIndexByte(v, '@')
	return at <= 0 || at == len(v)-1 || strings.ContainsAny(v, " <>\t")
}

func heloBareIP(m *Message) bool {
	h := strings.TrimSpace(m.Env.Helo)
	h = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "IPv6:")
	_, err := netip.ParseAddr(h)
	return err == nil
}

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

// parseAddressList parses an address-list field leniently; ok is false when
// net/mail rejects it.
func parseAddressList(v string) ([]*mail.Address, bool) {
	l, err := (&mail.AddressParser{WordDecoder: &wordDecoder}).ParseList(v)
	return l, err == nil
}
