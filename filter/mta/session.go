// Package mta plays the MTA's side: the milter protocol as Postfix's
// milter8 client speaks it (Session), and SMTP as a client speaks it to an
// MTA (SMTPClient). `levee bench` (package bench below), the tests of
// package filter and the end-to-end tests of cmd/levee send their messages
// with it: one milter client, one SMTP client.
//
// It does not import levee's milter (package filter), so it can load any
// milter (levee, rspamd, spamass-milter, go-milter's own server) and
// filter's own tests can use it.
package mta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-milter"
)

// What Postfix's milter8 client offers at milter_protocol = 6 (Postfix's
// src/milter/milter8.c): every action, and every event flag of protocol
// version 6.
const (
	PostfixActions = milter.OptAddHeader | milter.OptChangeBody | milter.OptAddRcpt | milter.OptRemoveRcpt |
		milter.OptChangeHeader | milter.OptQuarantine | milter.OptChangeFrom | milter.OptAddRcptWithArgs |
		milter.OptSetSymList
	PostfixProtocol = milter.OptProtocol(0x1fffff)
)

// ClientActions are the actions of milter protocol version 2, what an MTA
// of that version (go-milter's own client, given explicit masks) offers.
const ClientActions = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine | milter.OptAddRcpt |
	milter.OptRemoveRcpt | milter.OptChangeBody

// ErrMilterVersion is a milter's negotiation answer no MTA would take.
var ErrMilterVersion = errors.New("milter: unsupported protocol version or actions")

// Session plays the MTA's side of the milter protocol the way Postfix's
// milter8 client does: it offers protocol version 6 with the given event
// flags, takes the milter's answer as it is (any version from 2 to 6),
// sends only the events the milter wants, reads a reply only where the
// milter gives one, and buffers what it writes until it waits for a reply
// (Postfix's VSTREAM flushes before each read). Offered no flags (offer
// 0), the milter answers every event, as with go-milter's client.
//
// Its methods follow go-milter's ClientSession. go-milter's client cannot
// do what Session does: it refuses a version-2 milter when it has offered
// any flag beyond version 2, so it cannot offer what Postfix offers and
// still talk to go-milter's own server.
type Session struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	buf     []byte // the last packet read; reused
	timeout time.Duration

	Version  uint32
	Actions  milter.OptAction
	Protocol milter.OptProtocol // the milter's answer
	inMsg    bool               // MAIL sent, end of message not yet answered
}

// Dial connects to a milter (Postfix notation: inet:HOST:PORT,
// unix:/PATH) and negotiates, offering the event flags offer
// (PostfixProtocol: what Postfix offers; 0: none). timeout bounds the dial
// and each wait for the milter.
func Dial(addr string, timeout time.Duration, offer milter.OptProtocol) (*Session, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	r, w := readers.Get().(*bufio.Reader), writers.Get().(*bufio.Writer)
	r.Reset(c)
	w.Reset(c)
	s := &Session{conn: c, r: r, w: w, timeout: timeout}
	if err := s.negotiate(offer); err != nil {
		s.release()
		c.Close()
		return nil, err
	}
	return s, nil
}

// The buffers are recycled, so that a load generator's own garbage
// collection disturbs the milter it measures as little as it can.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}
)

func (s *Session) release() {
	if s.r != nil {
		s.r.Reset(nil)
		readers.Put(s.r)
		s.w.Reset(nil)
		writers.Put(s.w)
		s.r, s.w = nil, nil
	}
}

func (s *Session) negotiate(offer milter.OptProtocol) error {
	var d [12]byte
	binary.BigEndian.PutUint32(d[0:], 6)
	binary.BigEndian.PutUint32(d[4:], uint32(PostfixActions))
	binary.BigEndian.PutUint32(d[8:], uint32(offer))
	s.write(byte(milter.CodeOptNeg), d[:])
	code, data, err := s.read()
	if err != nil {
		return fmt.Errorf("milter: negotiate: %w", err)
	}
	if code != byte(milter.CodeOptNeg) || len(data) < 12 {
		return fmt.Errorf("milter: negotiate: unexpected answer %q", code)
	}
	s.Version = binary.BigEndian.Uint32(data[0:])
	s.Actions = milter.OptAction(binary.BigEndian.Uint32(data[4:]))
	s.Protocol = milter.OptProtocol(binary.BigEndian.Uint32(data[8:]))
	if s.Version < 2 || s.Version > 6 || s.Actions&^PostfixActions != 0 {
		return fmt.Errorf("%w: version %d, actions %#x", ErrMilterVersion, s.Version, uint32(s.Actions))
	}
	return nil
}

// write buffers one packet.
func (s *Session) write(code byte, data ...[]byte) {
	n := 1
	for _, d := range data {
		n += len(d)
	}
	var h [5]byte
	binary.BigEndian.PutUint32(h[:], uint32(n))
	h[4] = code
	s.w.Write(h[:])
	for _, d := range data {
		s.w.Write(d)
	}
}

// read flushes what is buffered and reads one packet, skipping progress
// packets. The data is valid until the next read.
func (s *Session) read() (byte, []byte, error) {
	if s.timeout > 0 {
		s.conn.SetDeadline(time.Now().Add(s.timeout))
	}
	if err := s.w.Flush(); err != nil {
		return 0, nil, err
	}
	for {
		var h [4]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			return 0, nil, err
		}
		n := binary.BigEndian.Uint32(h[:])
		if n == 0 || n > 1<<20 {
			return 0, nil, fmt.Errorf("milter: bad packet length %d", n)
		}
		if cap(s.buf) < int(n) {
			s.buf = make([]byte, n)
		}
		p := s.buf[:n]
		if _, err := io.ReadFull(s.r, p); err != nil {
			return 0, nil, err
		}
		if p[0] == 'p' { // SMFIR_PROGRESS
			continue
		}
		return p[0], p[1:], nil
	}
}

// WritePacket buffers one raw packet (code and data) and Flush sends what
// is buffered; ReadPacket flushes and reads one packet (progress packets
// skipped; the data is valid until the next read). They are for tests
// that play an MTA breaking the protocol's rhythm: writing without waiting
// for the answer, or sending what no event method sends.
func (s *Session) WritePacket(code byte, data []byte) { s.write(code, data) }

// Flush sends the buffered packets.
func (s *Session) Flush() error { return s.w.Flush() }

// ReadPacket reads one packet; see WritePacket.
func (s *Session) ReadPacket() (byte, []byte, error) { return s.read() }

// event sends an event unless the milter asked not to get it (skip), and
// reads the answer unless the milter asked not to give one (noReply).
func (s *Session) event(code byte, skip, noReply milter.OptProtocol, data ...[]byte) (*milter.Action, error) {
	if s.Protocol&skip != 0 {
		return &milter.Action{Code: milter.ActContinue}, nil
	}
	s.write(code, data...)
	if s.Protocol&noReply != 0 {
		return &milter.Action{Code: milter.ActContinue}, nil
	}
	c, d, err := s.read()
	if err != nil {
		return nil, err
	}
	return parseAction(c, d)
}

// parseAction reads a milter's answer to an event.
func parseAction(code byte, data []byte) (*milter.Action, error) {
	act := &milter.Action{Code: milter.ActionCode(code)}
	switch act.Code {
	case milter.ActAccept, milter.ActContinue, milter.ActDiscard, milter.ActReject, milter.ActTempFail, milter.ActSkip:
	case milter.ActReplyCode:
		if len(data) < 4 {
			return nil, fmt.Errorf("milter: short reply code %q", data)
		}
		n, err := strconv.Atoi(string(data[:3]))
		if err != nil {
			return nil, fmt.Errorf("milter: bad reply code %q", data[:3])
		}
		act.SMTPCode, act.SMTPText = n, cstring(data[4:])
	default:
		return nil, fmt.Errorf("milter: unexpected answer %q", code)
	}
	return act, nil
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func cstr(s string) []byte { return append([]byte(s), 0) }

// stageSkip is the flag that keeps a stage's event (and its macros) away.
var stageSkip = map[milter.Code]milter.OptProtocol{
	milter.CodeConn: milter.OptNoConnect, milter.CodeHelo: milter.OptNoHelo, milter.CodeMail: milter.OptNoMailFrom,
	milter.CodeRcpt: milter.OptNoRcptTo, milter.CodeHeader: milter.OptNoHeaders, milter.CodeEOH: milter.OptNoEOH,
	milter.CodeData: milter.OptNoData,
}

// Macros sends the macros of a stage (name, value, name, value...), as
// Postfix does before the stage's event (and not when the milter does not
// want the event).
func (s *Session) Macros(stage milter.Code, kv ...string) error {
	s.macros(stage, kv)
	return nil
}

// macros writes one macro packet made of the lists, without building it.
func (s *Session) macros(stage milter.Code, lists ...[]string) {
	if s.Protocol&stageSkip[stage] != 0 {
		return
	}
	n := 2 // code and stage
	for _, l := range lists {
		for _, v := range l {
			n += len(v) + 1
		}
	}
	var h [6]byte
	binary.BigEndian.PutUint32(h[:], uint32(n))
	h[4], h[5] = byte(milter.CodeMacro), byte(stage)
	s.w.Write(h[:])
	for _, l := range lists {
		for _, v := range l {
			s.w.WriteString(v)
			s.w.WriteByte(0)
		}
	}
}

// Conn sends the client's host name, address family, port and address.
func (s *Session) Conn(host string, fam milter.ProtoFamily, port uint16, addr string) (*milter.Action, error) {
	d := append(cstr(host), byte(fam))
	if fam != milter.FamilyUnknown {
		if fam == milter.FamilyInet || fam == milter.FamilyInet6 {
			d = binary.BigEndian.AppendUint16(d, port)
		}
		d = append(d, cstr(addr)...)
	}
	return s.event(byte(milter.CodeConn), milter.OptNoConnect, milter.OptNoConnReply, d)
}

// Helo sends the HELO (or EHLO) name.
func (s *Session) Helo(name string) (*milter.Action, error) {
	return s.event(byte(milter.CodeHelo), milter.OptNoHelo, milter.OptNoHeloReply, cstr(name))
}

// Mail sends MAIL FROM (the address without <>) and its ESMTP arguments.
func (s *Session) Mail(from string, esmtpArgs []string) (*milter.Action, error) {
	s.inMsg = true
	return s.event(byte(milter.CodeMail), milter.OptNoMailFrom, milter.OptNoMailReply, withArgs("<"+from+">", esmtpArgs))
}

// Rcpt sends RCPT TO (the address without <>) and its ESMTP arguments.
func (s *Session) Rcpt(to string, esmtpArgs []string) (*milter.Action, error) {
	return s.event(byte(milter.CodeRcpt), milter.OptNoRcptTo, milter.OptNoRcptReply, withArgs("<"+to+">", esmtpArgs))
}

// withArgs is the data of MAIL and RCPT: the address, then each argument.
func withArgs(addr string, args []string) []byte {
	d := cstr(addr)
	for _, a := range args {
		d = append(append(d, a...), 0)
	}
	return d
}

// Data is the SMTP DATA command (protocol version 4 and later).
func (s *Session) Data() (*milter.Action, error) {
	return s.event(byte(milter.CodeData), milter.OptNoData, milter.OptNoDataReply)
}

// HeaderField sends one header field; the value keeps its folding.
func (s *Session) HeaderField(name, value string) (*milter.Action, error) {
	if s.Protocol&milter.OptHeaderLeadingSpace != 0 {
		value = " " + value
	}
	return s.event(byte(milter.CodeHeader), milter.OptNoHeaders, milter.OptNoHeaderReply, cstr(name), cstr(value))
}

// HeaderEnd sends end of header.
func (s *Session) HeaderEnd() (*milter.Action, error) {
	return s.event(byte(milter.CodeEOH), milter.OptNoEOH, milter.OptNoEOHReply)
}

// BodyChunk sends one body chunk (at most milter.MaxBodyChunk bytes).
func (s *Session) BodyChunk(b []byte) (*milter.Action, error) {
	return s.event(byte(milter.CodeBody), milter.OptNoBody, milter.OptNoBodyReply, b)
}

// BodyReadFrom sends the body read from r in chunks of
// milter.MaxBodyChunk, then end of message, as go-milter's ClientSession
// does: an answer other than "continue" to a chunk ends it early (with no
// changes), SKIP ends the body.
func (s *Session) BodyReadFrom(r io.Reader) ([]milter.ModifyAction, *milter.Action, error) {
	buf := make([]byte, milter.MaxBodyChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			act, err := s.BodyChunk(buf[:n])
			if err != nil {
				return nil, nil, err
			}
			if act.Code == milter.ActSkip {
				break
			}
			if act.Code != milter.ActContinue {
				return nil, act, nil
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return s.End()
}

// End sends end of message and reads the milter's changes and its answer.
func (s *Session) End() ([]milter.ModifyAction, *milter.Action, error) {
	s.write(byte(milter.CodeEOB))
	var mods []milter.ModifyAction
	for {
		c, d, err := s.read()
		if err != nil {
			return nil, nil, err
		}
		if m, ok, err := parseModify(c, d); err != nil {
			return nil, nil, err
		} else if ok {
			mods = append(mods, m)
			continue
		}
		s.inMsg = false
		act, err := parseAction(c, d)
		return mods, act, err
	}
}

// parseModify reads a modification request of end of message.
func parseModify(code byte, d []byte) (m milter.ModifyAction, ok bool, err error) {
	m.Code = milter.ModifyActCode(code)
	strs := func(b []byte) []string {
		var out []string
		for len(b) > 0 {
			s := cstring(b)
			out = append(out, s)
			b = b[min(len(s)+1, len(b)):]
		}
		return out
	}
	switch m.Code {
	case milter.ActAddHeader:
		f := strs(d)
		if len(f) < 2 {
			return m, false, fmt.Errorf("milter: short add-header request")
		}
		m.HeaderName, m.HeaderValue = f[0], f[1]
	case milter.ActChangeHeader, milter.ActInsertHeader:
		if len(d) < 4 {
			return m, false, fmt.Errorf("milter: short header request")
		}
		m.HeaderIndex = binary.BigEndian.Uint32(d)
		f := strs(d[4:])
		if len(f) < 2 {
			f = append(f, "", "")
		}
		m.HeaderName, m.HeaderValue = f[0], f[1]
	case milter.ActQuarantine:
		m.Reason = cstring(d)
	case milter.ActAddRcpt, milter.ActDelRcpt:
		m.Rcpt = cstring(d)
	case milter.ActChangeFrom:
		m.From = cstring(d)
	case milter.ActReplBody:
		m.Body = append([]byte(nil), d...)
	default:
		return m, false, nil
	}
	return m, true, nil
}

// Abort ends the message in progress (Postfix sends it after an early
// answer and before the next MAIL). It is sent with the next packet that
// waits for an answer, or at Close.
func (s *Session) Abort() error {
	s.inMsg = false
	s.write(byte(milter.CodeAbort))
	return nil
}

// Close sends QUIT (after ABORT within a message) and closes the
// connection. Closing twice is harmless.
func (s *Session) Close() error {
	if s.w == nil {
		return nil // closed already
	}
	if s.inMsg {
		s.Abort()
	}
	s.write(byte(milter.CodeQuit))
	if s.timeout > 0 {
		s.conn.SetDeadline(time.Now().Add(s.timeout))
	}
	s.w.Flush()
	err := s.conn.Close()
	s.release()
	return err
}
