package filter

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-milter"
)

// Milter protocol values the connection layer needs beyond go-milter's
// exported ones (Sendmail's libmilter/mfdef.h).
const (
	cmdData    = 'T' // SMFIC_DATA
	cmdUnknown = 'U' // SMFIC_UNKNOWN
)

// Event flags levee asks for in the option negotiation, each only when the
// MTA offers it (Postfix offers all of them at milter_protocol = 6, Sendmail
// 8.14 and later too).
const (
	// Events levee never needs. go-milter v0.5.0 does not know
	// SMFIC_UNKNOWN (an unknown SMTP command, protocol 3 and later) and
	// drops the session when it gets one; SMFIC_DATA is one more round trip.
	// (Sendmail asks neither of a version-2 milter; Postfix 3.7 was not seen
	// sending SMFIC_UNKNOWN either, but its milter_protocol = 6 allows it.)
	skipEvents = milter.OptNoUnknown | milter.OptNoData

	// Events levee always answers with "continue" (connect, HELO, MAIL,
	// each header, end of header, body chunks): the MTA need not wait for
	// those replies. A verdict comes only at RCPT (early reject) and at end
	// of message. Without these, every header field costs a round trip.
	noReplyEvents = milter.OptNoConnReply | milter.OptNoHeloReply | milter.OptNoMailReply |
		milter.OptNoHeaderReply | milter.OptNoEOHReply | milter.OptNoBodyReply
)

// noReplyFlag is the no-reply flag of each MTA command.
var noReplyFlag = [256]milter.OptProtocol{
	milter.CodeConn:   milter.OptNoConnReply,
	milter.CodeHelo:   milter.OptNoHeloReply,
	milter.CodeMail:   milter.OptNoMailReply,
	milter.CodeHeader: milter.OptNoHeaderReply,
	milter.CodeEOH:    milter.OptNoEOHReply,
	milter.CodeBody:   milter.OptNoBodyReply,
}

// trackedConn sits between go-milter's server and the MTA's socket:
//   - it buffers reads (go-milter reads each 4-byte length and each packet
//     straight from the socket) and writes (sent when levee next waits for
//     the MTA);
//   - it follows the MTA's packets, so that it can add the flags above to
//     go-milter's answer to the option negotiation (go-milter v0.5.0
//     answers with its fixed protocol mask) and then hold back go-milter's
//     replies to the events the MTA no longer waits for;
//   - it applies an idle timeout and reports its close once.
type trackedConn struct {
	net.Conn
	r        *bufio.Reader
	w        []byte // written, not yet sent
	idle     time.Duration
	deadline time.Time // read deadline last set
	once     sync.Once
	onClose  func()

	// want is what levee asks of the MTA (skipEvents, plus noReplyEvents
	// unless always_reply is set).
	want milter.OptProtocol
	// got is what was agreed: want & what the MTA offered.
	got milter.OptProtocol
	in  packetTracker
	log *slog.Logger // debug: the negotiation
}

func (c *trackedConn) Read(p []byte) (int, error) {
	// The milter protocol is request and reply: before waiting for the
	// MTA's next command, everything written must be on its way.
	if err := c.flush(); err != nil {
		return 0, err
	}
	if c.idle > 0 && c.r.Buffered() == 0 {
		// Moving a deadline costs a timer update: push it out only when
		// less than idle is left, so a connection is closed after between
		// idle and 9/8 idle of silence.
		if now := time.Now(); c.deadline.Sub(now) < c.idle {
			c.deadline = now.Add(c.idle + c.idle/8)
			c.Conn.SetReadDeadline(c.deadline)
		}
	}
	n, err := c.r.Read(p)
	if c.want != 0 && n > 0 {
		c.in.feed(p[:n])
	}
	return n, err
}

// Write collects what go-milter writes (one write per packet: the header
// changes at end of message come as several) until the next Read.
func (c *trackedConn) Write(p []byte) (int, error) {
	c.w = append(c.w, p...)
	if len(c.w) >= 64<<10 {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush sends what go-milter wrote in reply to the MTA's last command.
func (c *trackedConn) flush() error {
	if len(c.w) == 0 {
		return nil
	}
	if c.want != 0 {
		switch cmd := c.in.last; {
		case cmd == byte(milter.CodeOptNeg):
			c.negotiate()
		case c.got&noReplyFlag[cmd] != 0:
			// The MTA does not read a reply to this event. levee's
			// handlers for these events always continue (panics
			// included: the verdict then comes at end of message).
			c.w = c.w[:0]
			return nil
		}
	}
	_, err := c.Conn.Write(c.w)
	c.w = c.w[:0]
	return err
}

// negotiate adds the agreed flags to go-milter's SMFIC_OPTNEG answer: 4
// bytes length, 'O', then version, actions and protocol flags (32 bits
// each, network order), then optional macro lists.
func (c *trackedConn) negotiate() {
	const flagsAt = 4 + 1 + 4 + 4
	if len(c.w) < flagsAt+4 || c.w[4] != byte(milter.CodeOptNeg) {
		return // not go-milter's answer: leave it alone
	}
	c.got = c.want & c.in.offered
	flags := binary.BigEndian.Uint32(c.w[flagsAt:])
	binary.BigEndian.PutUint32(c.w[flagsAt:], flags|uint32(c.got))
	if c.log != nil && c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("milter negotiation", "mta_version", c.in.version, "mta_flags", fmt.Sprintf("%#x", uint32(c.in.offered)),
			"agreed", fmt.Sprintf("%#x", uint32(c.got)))
	}
}

func (c *trackedConn) Close() error {
	c.flush()
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
		// go-milter reads nothing after closing its connection
		c.r.Reset(nil)
		readers.Put(c.r)
	})
	return err
}

// readers recycles the connections' read buffers (one connection per
// message is the common case).
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func newReader(c net.Conn) *bufio.Reader {
	r := readers.Get().(*bufio.Reader)
	r.Reset(c)
	return r
}

// packetTracker follows the milter packets in a byte stream, whatever the
// sizes of the reads: it knows the code of the last complete packet and
// the protocol flags of the MTA's option negotiation.
type packetTracker struct {
	hdr     [4 + 1 + 12]byte // length, code, and the first 12 bytes of data
	have    int              // bytes of hdr filled
	want    int              // bytes of hdr to fill for this packet
	left    uint32           // bytes of this packet not yet seen past hdr
	last    byte             // code of the last complete packet
	version uint32           // of the MTA's option negotiation
	offered milter.OptProtocol
}

func (t *packetTracker) feed(b []byte) {
	for len(b) > 0 {
		if t.want == 0 { // a new packet starts
			t.have, t.want = 0, 5
		}
		if t.have < t.want {
			n := copy(t.hdr[t.have:t.want], b)
			t.have += n
			b = b[n:]
			if t.have < t.want {
				return
			}
			if t.have == 5 {
				size := binary.BigEndian.Uint32(t.hdr[:4])
				if size == 0 {
					// go-milter refuses an empty packet and drops the session
					t.want = 0
					continue
				}
				t.left = size - 1
				if t.hdr[4] == byte(milter.CodeOptNeg) && t.left >= 12 {
					t.want += 12 // keep version, actions and protocol flags
					t.left -= 12
					continue
				}
			}
			if t.hdr[4] == byte(milter.CodeOptNeg) && t.have == 5+12 {
				t.version = binary.BigEndian.Uint32(t.hdr[5:9])
				t.offered = milter.OptProtocol(binary.BigEndian.Uint32(t.hdr[13:17]))
			}
		}
		n := min(uint32(len(b)), t.left)
		t.left -= n
		b = b[n:]
		if t.left == 0 {
			t.last = t.hdr[4]
			t.want = 0
		}
	}
}

// oneConnListener hands out one connection, then reports itself closed.
type oneConnListener struct {
	mu   sync.Mutex
	c    net.Conn
	done bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || l.c == nil {
		return nil, net.ErrClosed
	}
	c := l.c
	l.c = nil
	return c, nil
}

func (l *oneConnListener) Close() error { l.mu.Lock(); l.done = true; l.mu.Unlock(); return nil }
func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}
