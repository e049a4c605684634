package filter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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
//   - it reads the MTA's bytes into its own buffer and gives go-milter a
//     packet only once the whole packet has arrived: go-milter allocates
//     the length it reads, so a claimed length never costs more than the
//     bytes actually sent, and a length over max_packet closes the
//     connection before anything is allocated (limits.go);
//   - it buffers writes (sent when levee next waits for the MTA);
//   - it follows the MTA's packets, so that it can add the flags above to
//     go-milter's answer to the option negotiation (go-milter v0.5.0
//     answers with its fixed protocol mask) and then hold back go-milter's
//     replies to the events the MTA no longer waits for;
//   - it applies the negotiation, packet and idle timeouts and says what
//     the connection is doing (for eviction at max_connections);
//   - it reports its close once.
type trackedConn struct {
	net.Conn
	srv      *Server
	w        []byte // written, not yet sent
	idle     time.Duration
	deadline time.Time // read deadline last set
	wdl      time.Time // write deadline last set
	once     sync.Once
	onClose  func()

	// Reading. buf[off:] has arrived and not gone to go-milter yet; the
	// packet go-milter is reading ends at pktEnd. buf is small (pooled,
	// for the connection's life) unless a packet needs more: then big
	// (pooled) or, past bigBuf, its own allocation, grown only as the
	// bytes arrive.
	small    *[]byte
	big      *[]byte
	buf      []byte
	off      int
	pktEnd   int
	inject   []byte    // a packet levee adds to the stream, given first
	accepted time.Time // the negotiation deadline runs from here
	partial  time.Time // when levee started waiting for the rest of a packet
	// negotiated: the MTA's option negotiation has arrived.
	negotiated bool
	// abortDue: an end of message went to go-milter, and no ABORT since.
	abortDue bool
	// header bytes kept (limits.go), reserved from Server.meta
	msgMeta, connMeta int64

	// What the MTA side is doing (stateBusy...), and since when (unix
	// nanoseconds), for eviction; the accept loop reads them.
	state       atomic.Int32
	since       atomic.Int64
	evictedFrom int32

	// want is what levee asks of the MTA (skipEvents, plus noReplyEvents
	// unless always_reply is set).
	want milter.OptProtocol
	// got is what was agreed: want & what the MTA offered.
	got milter.OptProtocol
	in  packetTracker
	log *slog.Logger // debug: the negotiation
}

// Buffer sizes: every connection holds a small buffer; a packet longer
// than that (body chunks of 64 KiB) borrows a big one while it arrives.
const (
	smallBuf = 16 << 10
	bigBuf   = 72 << 10 // a 64 KiB body chunk and what follows it
)

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	bigBufs   = sync.Pool{New: func() any { b := make([]byte, bigBuf); return &b }}
)

// abortPacket is an SMFIC_ABORT (see frame).
var abortPacket = []byte{0, 0, 0, 1, byte(milter.CodeAbort)}

func (c *trackedConn) Read(p []byte) (int, error) {
	// The milter protocol is request and reply: before waiting for the
	// MTA's next command, everything written must be on its way.
	if err := c.flush(); err != nil {
		return 0, c.writeFailed(err)
	}
	var src []byte
	if len(c.inject) > 0 {
		src = c.inject
	} else {
		if c.off == c.pktEnd {
			// go-milter is about to read a packet's length, then
			// allocate that much: first the whole packet must be here.
			if err := c.next(); err != nil {
				return 0, err
			}
			if len(c.inject) > 0 {
				return c.Read(p)
			}
		}
		src = c.buf[c.off:c.pktEnd]
	}
	n := copy(p, src)
	if c.want != 0 {
		c.in.feed(p[:n])
	}
	if len(c.inject) > 0 {
		c.inject = c.inject[n:]
		return n, nil
	}
	c.off += n
	if c.off == c.pktEnd {
		c.packetRead()
	}
	return n, nil
}

// next makes sure that the packet at off has arrived whole, then lets
// go-milter read it.
func (c *trackedConn) next() error {
	for {
		have := len(c.buf) - c.off
		need := 4
		if have >= 4 {
			size := binary.BigEndian.Uint32(c.buf[c.off:])
			switch {
			case size == 0:
				return c.fail(ReasonBadLength, "packet length 0")
			case int64(size) > int64(c.srv.maxPacket()):
				return c.fail(ReasonOversized, fmt.Sprintf("packet length %d over max_packet %s", size, c.srv.maxPacket()))
			}
			need = 4 + int(size)
			if have >= need {
				return c.frame(need)
			}
		}
		if err := c.readMore(need); err != nil {
			return err
		}
	}
}

// frame hands go-milter the whole packet at off (need bytes), after
// checking what it adds to the header bytes of the message.
func (c *trackedConn) frame(need int) error {
	code := c.buf[c.off+4]
	if c.abortDue && code != byte(milter.CodeAbort) {
		// go-milter keeps the header fields of a message until ABORT, and
		// Sendmail sends none between the messages of a session: add one
		// after each end of message (levee's own state is reset already).
		c.abortDue = false
		c.inject = abortPacket
		c.setState(stateBusy)
		c.resetMeta()
		return nil
	}
	c.abortDue = code == byte(milter.CodeEOB)
	var meta *int64
	limit := int64(maxMessageMeta)
	switch code {
	case byte(milter.CodeBody): // bounded by body_memory
	case byte(milter.CodeAbort):
		c.resetMeta()
	case byte(milter.CodeConn), byte(milter.CodeHelo):
		meta, limit = &c.connMeta, maxConnMeta
	case byte(milter.CodeMacro):
		meta = &c.msgMeta
		if need > 5 && (c.buf[c.off+5] == byte(milter.CodeConn) || c.buf[c.off+5] == byte(milter.CodeHelo)) {
			meta, limit = &c.connMeta, maxConnMeta
		}
	default:
		meta = &c.msgMeta
	}
	if meta != nil {
		if *meta+int64(need) > limit || !c.srv.reserveMeta(int64(need)) {
			return c.fail(ReasonHeaderLimit, fmt.Sprintf("header fields, recipients and macros over %d bytes (%c packet)", limit, code))
		}
		*meta += int64(need)
	}
	if code == byte(milter.CodeOptNeg) {
		c.negotiated = true
	}
	c.pktEnd = c.off + need
	c.partial = time.Time{}
	if !c.setState(stateBusy) {
		return io.EOF
	}
	return nil
}

func (c *trackedConn) resetMeta() {
	c.srv.meta.Add(c.msgMeta)
	c.msgMeta = 0
}

// packetRead runs when go-milter has read a whole packet: a borrowed
// buffer goes back as soon as what is left fits the small one.
func (c *trackedConn) packetRead() {
	rest := len(c.buf) - c.off
	if rest == 0 {
		c.buf, c.off, c.pktEnd = c.buf[:0], 0, 0
	}
	if c.onSmall() || rest > smallBuf {
		return
	}
	b := (*c.small)[:rest]
	copy(b, c.buf[c.off:])
	c.putBig()
	c.buf, c.off, c.pktEnd = b, 0, 0
}

// readMore waits for more of the packet at off, which needs need bytes
// (4 while its length is not known), under the deadline that applies.
func (c *trackedConn) readMore(need int) error {
	have := len(c.buf) - c.off
	now := time.Now()
	lim := &c.srv.Config.Limits
	var st int32
	var dl time.Time
	if have > 0 && c.partial.IsZero() {
		c.partial = now
	}
	switch {
	case !c.negotiated:
		st, dl = stateNew, after(c.accepted, lim.NegotiationTimeout)
		if have > 0 {
			dl = minTime(dl, after(c.partial, lim.PacketTimeout))
		}
	case have > 0:
		if c.state.Load() != statePartial {
			c.since.Store(c.partial.UnixNano())
		}
		st, dl = statePartial, after(c.partial, lim.PacketTimeout)
	default:
		if c.state.Load() != stateIdle {
			c.since.Store(now.UnixNano())
		}
		st = stateIdle
		// Moving a deadline costs a timer update: push it out only when
		// less than idle is left, so a connection is closed after between
		// idle and 9/8 idle of silence.
		dl = c.deadline
		if c.idle <= 0 {
			dl = time.Time{}
		} else if dl.Sub(now) < c.idle {
			dl = now.Add(c.idle + c.idle/8)
		}
	}
	if !c.setState(st) {
		return io.EOF // evicted
	}
	if !dl.Equal(c.deadline) {
		c.deadline = dl
		c.Conn.SetReadDeadline(dl)
	}
	c.room(need)
	n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil
	}
	if c.state.Load() == stateEvicted {
		return io.EOF // counted by the evictor
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason := ReasonIdleTimeout
		switch st {
		case stateNew:
			reason = ReasonNegotiationTimeout
		case statePartial:
			reason = ReasonPacketTimeout
		}
		detail := ""
		if have > 0 {
			detail = fmt.Sprintf("%d bytes of a packet had arrived", have)
		}
		return c.fail(reason, detail)
	}
	// The MTA closed the connection (mid-packet: it went away; go-milter
	// would log every such error, but there is nothing to do about it).
	if have > 0 && c.log != nil {
		c.log.Debug("MTA closed the connection mid-packet", "peer", peer(c), "bytes", have, "err", err.Error())
	}
	return io.EOF
}

// room makes space in buf for more of the packet at off (need bytes).
func (c *trackedConn) room(need int) {
	if len(c.buf) < cap(c.buf) {
		return
	}
	if c.off > 0 { // move what is left of the stream to the front
		n := copy(c.buf[:cap(c.buf)], c.buf[c.off:])
		c.buf, c.pktEnd, c.off = c.buf[:n], 0, 0
		if n < cap(c.buf) {
			return
		}
	}
	// Full with part of one packet: grow, at most doubling what has
	// arrived, never to the claimed length at once.
	size := min(need, 2*cap(c.buf))
	var nb []byte
	if c.big == nil && size <= bigBuf {
		c.big = bigBufs.Get().(*[]byte)
		nb = (*c.big)[:len(c.buf)]
		copy(nb, c.buf)
	} else {
		nb = append(make([]byte, 0, size), c.buf...)
		c.putBig() // when buf was the big one
	}
	c.buf = nb
}

// onSmall says whether buf is the small buffer.
func (c *trackedConn) onSmall() bool {
	return cap(c.buf) == smallBuf && c.small != nil && &c.buf[:1][0] == &(*c.small)[0]
}

func (c *trackedConn) putBig() {
	if c.big != nil {
		bigBufs.Put(c.big)
		c.big = nil
	}
}

// release gives the buffers back (once the connection is closed).
func (c *trackedConn) release() {
	c.putBig()
	if c.small != nil {
		smallBufs.Put(c.small)
		c.small = nil
	}
	c.buf, c.off, c.pktEnd = nil, 0, 0
}

// setState records what the MTA side is doing; false when the connection
// was evicted.
func (c *trackedConn) setState(st int32) bool {
	for {
		old := c.state.Load()
		if old == stateEvicted {
			return false
		}
		if old == st || c.state.CompareAndSwap(old, st) {
			return true
		}
	}
}

// fail closes the connection because of a bound: the close is logged and
// counted, and go-milter gets io.EOF (it logs every other error).
func (c *trackedConn) fail(reason, detail string) error {
	if c.setState(stateBusy) { // else evicted meanwhile: counted there
		c.srv.limitEvents().record(reason, c, detail)
	}
	return io.EOF
}

// writeFailed turns a failed write of levee's replies into io.EOF.
func (c *trackedConn) writeFailed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return c.fail(ReasonWriteTimeout, "the MTA did not read levee's reply")
	}
	return io.EOF
}

// after is t+d, or no deadline (zero) when d is not positive.
func after(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}

// minTime is the earlier deadline (zero: none).
func minTime(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
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
	// The MTA must take the reply within packet_timeout; as for reads,
	// the deadline moves only when less than that is left.
	if pt := c.srv.Config.PacketTimeout; pt > 0 {
		if now := time.Now(); c.wdl.Sub(now) < pt {
			c.wdl = now.Add(pt + pt/8)
			c.Conn.SetWriteDeadline(c.wdl)
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
	if c.state.Load() != stateEvicted {
		c.flush()
	}
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
		// go-milter reads nothing after closing its connection
		c.srv.meta.Add(c.msgMeta + c.connMeta)
		c.msgMeta, c.connMeta = 0, 0
		c.release()
	})
	return err
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
