package soak

import (
	"fmt"
	"strings"
	"time"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/filter/mta/postfix"
)

// attempt is one SMTP transaction of the soak client: what the client saw.
type attempt struct {
	at      time.Time
	service string // "filter" (straight to the filtering smtpd) or "relay"
	code    int    // the deciding reply (tr.Final()); 0 after an I/O error
	text    string
	queueID string // the id in "250 ... queued as ID"
	err     string // an I/O error
	// session: the refusal came before the transaction (greeting, EHLO,
	// XCLIENT): the copy was never offered, which is the soak's failure,
	// not a verdict
	session bool
}

func (a attempt) String() string {
	if a.err != "" {
		return fmt.Sprintf("%s %s: error %s", a.at.Format("15:04:05.000"), a.service, a.err)
	}
	return fmt.Sprintf("%s %s: %d %s", a.at.Format("15:04:05.000"), a.service, a.code, a.text)
}

// sendCopy plays one SMTP client session carrying copy n of s to addr:
// EHLO, XCLIENT with the corpus message's client (Postfix then treats the
// session as coming from that address and name), EHLO with its HELO name,
// then one transaction.
func sendCopy(addr, service string, s *source, data []byte, to string, timeout time.Duration) attempt {
	a := attempt{at: time.Now(), service: service}
	fail := func(err error) attempt { a.err = err.Error(); return a }
	c, err := mta.DialSMTP(addr, timeout)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	if c.Greeting.Code != 220 {
		a.code, a.text = c.Greeting.Code, c.Greeting.Text
		a.session = true
		return a
	}
	if r, err := c.Cmd("EHLO soak-client.levee.test"); err != nil {
		return fail(err)
	} else if r.Code != 250 {
		a.code, a.text = r.Code, "EHLO: "+r.Text
		a.session = true
		return a
	}
	r, err := c.Cmd("XCLIENT %s", xclientAttrs(s, true))
	if err == nil && r.Code == 501 { // a name Postfix will not take
		r, err = c.Cmd("XCLIENT %s", xclientAttrs(s, false))
	}
	if err != nil {
		return fail(err)
	}
	if r.Code != 220 {
		a.code, a.text = r.Code, "XCLIENT: "+r.Text
		a.session = true
		return a
	}
	if r, err = c.Cmd("EHLO %s", heloName(s)); err == nil && r.Code != 250 {
		r, err = c.Cmd("EHLO %s", addrLiteral(s))
	}
	if err != nil {
		return fail(err)
	}
	if r.Code != 250 {
		a.code, a.text = r.Code, "EHLO: "+r.Text
		a.session = true
		return a
	}
	tr, err := c.Send(s.from, []string{to}, string(data))
	if err != nil {
		return fail(fmt.Errorf("%v (replies: %v)", err, tr))
	}
	f := tr.Final()
	a.code, a.text = f.Code, f.Text
	if f.Code == 250 {
		a.queueID = postfix.QueuedAs(f.Text)
	}
	c.Quit()
	return a
}

// xclientAttrs are the XCLIENT attributes (Postfix's XCLIENT_README) of
// s's client; withName false gives NAME=[UNAVAILABLE].
func xclientAttrs(s *source, withName bool) string {
	addr := "[UNAVAILABLE]"
	if s.ip.IsValid() {
		if s.ip.Is4() || s.ip.Is4In6() {
			addr = s.ip.Unmap().String()
		} else {
			addr = "IPV6:" + s.ip.String()
		}
	}
	name := "[UNAVAILABLE]"
	if h := strings.TrimSuffix(s.host, "."); withName && h != "" && h != "unknown" && !strings.HasPrefix(h, "[") {
		name = h
	}
	return "ADDR=" + xtext(addr) + " NAME=" + xtext(name) + " PROTO=ESMTP"
}

// heloName is s's HELO name, or its address literal when it has none a
// client could send.
func heloName(s *source) string {
	if h := s.helo; h != "" && !strings.ContainsAny(h, " \t\r\n") {
		return h
	}
	return addrLiteral(s)
}

func addrLiteral(s *source) string {
	switch {
	case !s.ip.IsValid():
		return "soak-unknown.invalid"
	case s.ip.Is4() || s.ip.Is4In6():
		return "[" + s.ip.Unmap().String() + "]"
	}
	return "[IPv6:" + s.ip.String() + "]"
}

// xtext encodes an ESMTP parameter value (RFC 3461 section 4).
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
