package mta

import (
	"fmt"
	"io"
	"net"
	"net/textproto"
	"time"
)

// SMTPClient is an SMTP client that interprets no reply: each command
// returns the server's reply as it came, so that a test (or a soak run
// feeding an MTA from many clients at once) knows exactly what an SMTP
// client saw at each stage. It is not safe for concurrent use; run one per
// connection.
type SMTPClient struct {
	c       io.Closer
	conn    net.Conn // nil over pipes (sendmail -bs)
	tp      *textproto.Conn
	timeout time.Duration
	// Greeting is the server's first reply (220 when it takes mail).
	Greeting SMTPReply
}

// SMTPReply is one reply of an SMTP server.
type SMTPReply struct {
	// Command is what it answers: the command line sent ("MAIL
	// FROM:<a@example.com>", "DATA"), "." for the end of the message
	// data, "" for the greeting.
	Command string
	Code    int
	Text    string // the reply's lines joined by "\n", without the codes
}

func (r SMTPReply) String() string { return fmt.Sprintf("%q: %d %s", r.Command, r.Code, r.Text) }

// DialSMTP connects to an SMTP server (HOST:PORT) and reads its greeting.
// timeout bounds the dial and each command's wait for its reply.
func DialSMTP(addr string, timeout time.Duration) (*SMTPClient, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	s, err := newSMTPClient(c, c, timeout)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// NewSMTPClient speaks SMTP over rwc (a connection, or the pipes of
// `sendmail -bs`) and reads the greeting. rwc is closed by Close.
func NewSMTPClient(rwc io.ReadWriteCloser) (*SMTPClient, error) {
	conn, _ := rwc.(net.Conn)
	return newSMTPClient(rwc, conn, 0)
}

func newSMTPClient(rwc io.ReadWriteCloser, conn net.Conn, timeout time.Duration) (*SMTPClient, error) {
	s := &SMTPClient{c: rwc, conn: conn, tp: textproto.NewConn(rwc), timeout: timeout}
	s.deadline()
	r, err := s.reply("")
	s.Greeting = r
	return s, err
}

func (s *SMTPClient) deadline() {
	if s.conn != nil && s.timeout > 0 {
		s.conn.SetDeadline(time.Now().Add(s.timeout))
	}
}

// reply reads one reply (of any code) to command.
func (s *SMTPClient) reply(command string) (SMTPReply, error) {
	code, text, err := s.tp.ReadResponse(0)
	r := SMTPReply{Command: command, Code: code, Text: text}
	if code != 0 {
		err = nil // a reply was read: textproto's *Error is just its code
	} else if err != nil {
		err = fmt.Errorf("smtp: reply to %q: %w", command, err)
	}
	return r, err
}

// Cmd sends one command line and returns the reply. The error is an I/O
// error; a refusal is a reply.
func (s *SMTPClient) Cmd(format string, args ...any) (SMTPReply, error) {
	line := fmt.Sprintf(format, args...)
	s.deadline()
	if err := s.tp.PrintfLine("%s", line); err != nil {
		return SMTPReply{Command: line}, fmt.Errorf("smtp: send %q: %w", line, err)
	}
	return s.reply(line)
}

// Data sends DATA and, when the server answers 354, the message (CRLF line
// ends, dot-stuffed here) and the final dot. It returns the replies: to
// DATA, then to the final dot.
func (s *SMTPClient) Data(msg string) ([]SMTPReply, error) {
	r, err := s.Cmd("DATA")
	if err != nil || r.Code != 354 {
		return []SMTPReply{r}, err
	}
	w := s.tp.DotWriter()
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		return []SMTPReply{r}, fmt.Errorf("smtp: message data: %w", err)
	}
	end, err := s.reply(".")
	return []SMTPReply{r, end}, err
}

// Send runs one transaction: MAIL FROM, RCPT TO for each recipient, DATA
// and the message. It stops at the first reply that is not a success (and
// sends RSET after a refused recipient). It returns every reply in order;
// the last one is the transaction's outcome.
func (s *SMTPClient) Send(from string, rcpts []string, msg string) (SMTPTranscript, error) {
	var t SMTPTranscript
	r, err := s.Cmd("MAIL FROM:<%s>", from)
	if t = append(t, r); err != nil || r.Code != 250 {
		return t, err
	}
	for _, rcpt := range rcpts {
		r, err := s.Cmd("RCPT TO:<%s>", rcpt)
		if err != nil {
			return append(t, r), err
		}
		if r.Code != 250 && r.Code != 251 {
			rset, err := s.Cmd("RSET")
			return append(t, r, rset), err // the outcome is the refusal
		}
		t = append(t, r)
	}
	d, err := s.Data(msg)
	return append(t, d...), err
}

// SMTPTranscript is the replies of one transaction, in order.
type SMTPTranscript []SMTPReply

// Final is the reply that decided the transaction: to the final dot, or
// the first refusal (a refused RCPT, not the RSET after it).
func (t SMTPTranscript) Final() SMTPReply {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i].Command != "RSET" {
			return t[i]
		}
	}
	return SMTPReply{}
}

// Quit sends QUIT, reads the reply and closes the connection.
func (s *SMTPClient) Quit() error {
	s.deadline()
	s.tp.PrintfLine("QUIT")
	s.tp.ReadResponse(0)
	return s.c.Close()
}

// Close closes the connection without QUIT.
func (s *SMTPClient) Close() error { return s.c.Close() }
