package mta

import (
	"bytes"
	"net/netip"

	"github.com/emersion/go-milter"
)

// Client is the SMTP client an MTA reports to its milters at CONNECT and
// HELO.
type Client struct {
	IP   netip.Addr // the client's address; invalid: an unknown family
	Name string     // its verified reverse DNS; "" is sent as "unknown", as Postfix does
	Helo string     // the HELO name; "" is sent as the address literal "[IP]"
	// Macros are sent with CONNECT (name, value, ...): Postfix's
	// milter_connect_macros are j, {daemon_name}, {daemon_addr}, v and _;
	// Connect adds _ ("name [addr]") itself.
	Macros []string
	// HeloMacros are sent with HELO (Postfix's milter_helo_macros: the
	// TLS ones after STARTTLS).
	HeloMacros []string
}

// Field is one header field as an MTA hands it to a milter: the name, and
// the value after the colon with its folding (LF line ends) kept.
type Field struct {
	Name, Value string
}

// Message is one SMTP transaction: MAIL FROM, RCPT TO, the header and the
// body.
type Message struct {
	From   string   // MAIL FROM address, without <>; "" is the null sender
	Rcpts  []string // RCPT TO addresses, without <>
	Header []Field
	Body   []byte // CRLF line ends, as Postfix sends a body to a milter
	// QueueID, when set, is sent with Postfix's default macros of each
	// stage: {mail_addr} at MAIL; i and {rcpt_addr} at RCPT, then
	// RcptMacros; i at DATA, end of header and end of message. Empty: no
	// macros but MailMacros.
	QueueID    string
	RcptMacros []string // more RCPT macros with QueueID ({rcpt_host}, {rcpt_mailer})
	MailMacros []string // more MAIL macros (name, value, ...): {auth_authen}, ...
}

// ToCRLF turns every bare LF into CRLF: a message file's line ends as an
// MTA sends them (a body to a milter, a message over SMTP).
func ToCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte{'\n'}) - bytes.Count(b, []byte("\r\n"))
	if n <= 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// Reply is a milter's answer to one stage of a connection or transaction.
type Reply struct {
	// Stage is the event answered: milter.CodeConn or CodeHelo (Connect);
	// CodeMail, CodeRcpt, milter.CodeData, CodeHeader, CodeEOH or CodeBody
	// for an answer before end of message; CodeEOB for end of message.
	Stage  milter.Code
	Action *milter.Action
	Mods   []milter.ModifyAction // the changes asked at end of message
}

// Connect plays CONNECT (port 25) and HELO with c's macros. It returns the
// answer to HELO, or the answer to CONNECT when that is not "continue".
func (s *Session) Connect(c *Client) (Reply, error) {
	name := c.Name
	if name == "" {
		name = "unknown" // what Postfix reports for a client without (verified) rDNS
	}
	fam, addr := milter.FamilyUnknown, ""
	if c.IP.IsValid() {
		fam, addr = milter.FamilyInet, c.IP.String()
		if c.IP.Is6() {
			fam = milter.FamilyInet6
		}
	}
	s.macros(milter.CodeConn, c.Macros, []string{"_", name + " [" + addr + "]"})
	act, err := s.Conn(name, fam, 25, addr)
	if err != nil || act.Code != milter.ActContinue {
		return Reply{Stage: milter.CodeConn, Action: act}, err
	}
	if len(c.HeloMacros) > 0 {
		s.macros(milter.CodeHelo, c.HeloMacros)
	}
	helo := c.Helo
	if helo == "" {
		helo = "[" + addr + "]"
	}
	act, err = s.Helo(helo)
	return Reply{Stage: milter.CodeHelo, Action: act}, err
}

// Send plays one transaction as Postfix does: MAIL, each RCPT, DATA, the
// header fields, end of header, the body in chunks of milter.MaxBodyChunk
// and end of message, with the macros of m. The first answer that is not
// "continue" ends it (after a SKIP to a body chunk, end of message comes
// next); Postfix then sends ABORT (but after an accept) before the next
// transaction.
func (s *Session) Send(m *Message) (Reply, error) {
	early := func(stage milter.Code, act *milter.Action) (Reply, error) {
		if act.Code != milter.ActAccept {
			if err := s.Abort(); err != nil {
				return Reply{}, err
			}
		}
		return Reply{Stage: stage, Action: act}, nil
	}
	var qid []string
	if m.QueueID != "" {
		qid = []string{"i", m.QueueID}
		// Postfix opens the queue file at the first accepted RCPT
		// (smtpd_delay_open_until_valid_rcpt), so i is not known at MAIL yet.
		s.macros(milter.CodeMail, []string{"{mail_addr}", m.From}, m.MailMacros)
	} else if len(m.MailMacros) > 0 {
		s.macros(milter.CodeMail, m.MailMacros)
	}
	act, err := s.Mail(m.From, nil)
	if err != nil {
		return Reply{}, err
	}
	if act.Code != milter.ActContinue {
		return early(milter.CodeMail, act)
	}
	for _, r := range m.Rcpts {
		if qid != nil {
			s.macros(milter.CodeRcpt, qid, []string{"{rcpt_addr}", r}, m.RcptMacros)
		}
		if act, err = s.Rcpt(r, nil); err != nil {
			return Reply{}, err
		}
		if act.Code != milter.ActContinue {
			return early(milter.CodeRcpt, act)
		}
	}
	// Postfix sends SMFIC_DATA (with milter_data_macros) at the SMTP DATA
	// command unless the milter asked not to get it.
	if qid != nil {
		s.macros(milter.CodeData, qid)
	}
	if act, err = s.Data(); err != nil {
		return Reply{}, err
	}
	if act.Code != milter.ActContinue {
		return early(milter.CodeData, act)
	}
	for _, f := range m.Header {
		if act, err = s.HeaderField(f.Name, f.Value); err != nil {
			return Reply{}, err
		}
		if act.Code != milter.ActContinue {
			return early(milter.CodeHeader, act)
		}
	}
	if qid != nil {
		s.macros(milter.CodeEOH, qid)
	}
	if act, err = s.HeaderEnd(); err != nil {
		return Reply{}, err
	}
	if act.Code != milter.ActContinue {
		return early(milter.CodeEOH, act)
	}
	for b := m.Body; len(b) > 0; {
		n := min(len(b), milter.MaxBodyChunk)
		if act, err = s.BodyChunk(b[:n]); err != nil {
			return Reply{}, err
		}
		b = b[n:]
		if act.Code == milter.ActSkip {
			break
		}
		if act.Code != milter.ActContinue {
			return early(milter.CodeBody, act)
		}
	}
	if qid != nil {
		s.macros(milter.CodeEOB, qid)
	}
	mods, act, err := s.End()
	if err != nil {
		return Reply{}, err
	}
	return Reply{Stage: milter.CodeEOB, Action: act, Mods: mods}, nil
}
