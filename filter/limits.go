package filter

// Bounds on what the MTA side may take. levee listens on a socket any local
// user may reach (an inet port on loopback, or a unix socket Postfix's user
// can write): a broken or hostile client must not exhaust memory,
// connections or time, and real mail must keep being judged meanwhile.
//
//   - max_connections: at the bound, a new connection evicts the one that
//     looks least like a working MTA (not negotiated yet, oldest first;
//     then the one trickling a packet for longest; then the one idle for
//     longest). Connections levee is working on are never evicted; when
//     every one is, the new connection is refused (Postfix then applies
//     milter_default_action to that message).
//   - negotiation_timeout: Postfix and Sendmail send the option negotiation
//     at once; a connection that has not completed it by then is closed.
//   - packet_timeout: a packet the MTA has started must be complete within
//     this long (a client trickling one byte a second does not hold a
//     connection for idle_timeout), and the MTA must take levee's reply
//     within this long.
//   - max_packet: a length over it closes the connection before anything is
//     allocated. No packet's length reaches go-milter (which allocates the
//     length it reads) before the whole packet has arrived, so a claimed
//     length never costs more memory than the bytes actually sent.
//   - header bytes: what go-milter and levee keep of a message besides its
//     body (header fields, recipients, macros) is bounded per connection
//     (maxMessageMeta, maxConnMeta) and for all connections together
//     (metaMemory); the body has body_memory.
//
// Closes caused by these bounds are logged once per burst (the first at
// once, then one line per reportEvery with counts by reason) and counted
// in levee_connections_closed_total{reason}.

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/levee-mail/levee/rules"
)

// Limits are the bounds of the MTA side (top-level YAML keys).
type Limits struct {
	// MaxConnections bounds the MTA connections open at once (default
	// 1000; each Postfix smtpd or cleanup process holds one, and Postfix's
	// default_process_limit is 100).
	MaxConnections int `yaml:"max_connections"`
	// MaxPacket is the largest milter packet levee takes (default and
	// maximum 1MiB, go-milter's own bound; at least 64KiB, Postfix's and
	// Sendmail's body chunk). Postfix's largest are body chunks (64 KiB)
	// and header fields (header_size_limit, 100 KiB by default).
	MaxPacket rules.Size `yaml:"max_packet"`
	// NegotiationTimeout: a new connection must complete the option
	// negotiation within this long (default 10s).
	NegotiationTimeout time.Duration `yaml:"negotiation_timeout"`
	// PacketTimeout: a packet the MTA has started must be complete, and
	// levee's reply taken, within this long (default 10s).
	PacketTimeout time.Duration `yaml:"packet_timeout"`
}

// Bounds of the limits, and the internal bounds.
const (
	minPacket = 64 << 10
	maxPacket = 1 << 20 // go-milter v0.5.0 refuses longer packets

	// maxMessageMeta bounds the bytes of non-body packets (header fields,
	// recipients, macros) since the last ABORT; go-milter keeps a message's
	// header fields until then. Twice go-message's 1 MB header limit.
	maxMessageMeta = 2 << 20
	// maxConnMeta bounds the connect and HELO packets and their macros of
	// one connection (levee keeps them for the connection's life).
	maxConnMeta = 1 << 20
	// metaMemory bounds those bytes for all connections together.
	metaMemory = 64 << 20
)

func (l *Limits) validate() error {
	if l.MaxConnections < 0 {
		return errors.New("max_connections: must not be negative")
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = 1000
	}
	if l.MaxPacket == 0 {
		l.MaxPacket = maxPacket
	}
	if l.MaxPacket < minPacket || l.MaxPacket > maxPacket {
		return fmt.Errorf("max_packet: %s is not between 64KiB (a body chunk) and 1MiB (go-milter's limit)", l.MaxPacket)
	}
	if l.NegotiationTimeout < 0 || l.PacketTimeout < 0 {
		return errors.New("negotiation_timeout, packet_timeout: must not be negative")
	}
	if l.NegotiationTimeout == 0 {
		l.NegotiationTimeout = 10 * time.Second
	}
	if l.PacketTimeout == 0 {
		l.PacketTimeout = 10 * time.Second
	}
	return nil
}

// Why levee closed an MTA connection (the reason label of
// levee_connections_closed_total).
const (
	ReasonEvictedNew         = "evicted_unnegotiated" // at max_connections: had not negotiated
	ReasonEvictedPartial     = "evicted_partial"      // at max_connections: trickling a packet
	ReasonEvictedIdle        = "evicted_idle"         // at max_connections: idle for longest
	ReasonRefused            = "refused"              // at max_connections, every connection busy
	ReasonNegotiationTimeout = "negotiation_timeout"
	ReasonPacketTimeout      = "packet_timeout"
	ReasonIdleTimeout        = "idle_timeout"
	ReasonWriteTimeout       = "write_timeout" // the MTA did not take levee's reply
	ReasonOversized          = "oversized_packet"
	ReasonBadLength          = "bad_length" // a zero packet length
	ReasonHeaderLimit        = "header_limit"
)

// CloseReasons are every reason, in the order the summary line lists them.
var CloseReasons = []string{ReasonEvictedNew, ReasonEvictedPartial, ReasonEvictedIdle, ReasonRefused,
	ReasonNegotiationTimeout, ReasonPacketTimeout, ReasonIdleTimeout, ReasonWriteTimeout,
	ReasonOversized, ReasonBadLength, ReasonHeaderLimit}

// ConnObserver is an optional interface of an Observer: it is told of
// every MTA connection levee closes because of a bound.
type ConnObserver interface {
	ConnClosed(reason string)
}

// What the MTA side of a connection is doing, for eviction.
const (
	stateBusy    int32 = iota // levee is working on a packet, or writing
	stateNew                  // accepted, option negotiation not complete
	statePartial              // part of a packet has arrived
	stateIdle                 // negotiated, waiting for the next packet
	stateEvicted
)

var evictReason = [...]string{stateNew: ReasonEvictedNew, statePartial: ReasonEvictedPartial, stateIdle: ReasonEvictedIdle}

// newConn wraps an accepted connection.
func (s *Server) newConn(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, srv: s, idle: s.Config.IdleTimeout, want: skipEvents, log: s.Logger,
		accepted: time.Now()}
	if !s.Config.AlwaysReply {
		tc.want |= noReplyEvents
	}
	tc.small = smallBufs.Get().(*[]byte)
	tc.buf = (*tc.small)[:0]
	tc.since.Store(tc.accepted.UnixNano())
	tc.state.Store(stateNew)
	return tc
}

// admitLocked makes room for tc under max_connections (s.mu held): it
// picks the connections to evict and marks them, and says whether tc may
// be served (false: every connection is busy). The caller closes the
// evicted ones with evict, after unlocking.
func (s *Server) admitLocked(tc *trackedConn) (evicted []*trackedConn, ok bool) {
	var spared []*trackedConn
	for s.Config.MaxConnections > 0 && len(s.conns) >= s.Config.MaxConnections {
		v, st := s.victimLocked(spared)
		if v == nil {
			return evicted, false
		}
		// Bytes waiting in its socket: its goroutine is about to read them
		// (in a flood, a real MTA's negotiation may wait there a while).
		// A few are spared per accept, so that the scan stays short.
		if len(spared) < 16 && pending(v.Conn) {
			spared = append(spared, v)
			continue
		}
		// The session may have just become busy: then look again.
		if !v.state.CompareAndSwap(st, stateEvicted) {
			continue
		}
		v.evictedFrom = st
		delete(s.conns, v)
		evicted = append(evicted, v)
	}
	return evicted, true
}

// victimLocked is the connection to evict and its state, or nil; spared
// ones are left alone.
func (s *Server) victimLocked(spared []*trackedConn) (*trackedConn, int32) {
	var (
		best      *trackedConn
		bestState int32
		bestSince int64
	)
	for c := range s.conns {
		st := c.state.Load()
		if st != stateNew && st != statePartial && st != stateIdle || slices.Contains(spared, c) {
			continue
		}
		since := c.since.Load()
		if best == nil || rank(st) < rank(bestState) || rank(st) == rank(bestState) && since < bestSince {
			best, bestState, bestSince = c, st, since
		}
	}
	return best, bestState
}

// rank orders the states that may be evicted: first the connections that
// have not negotiated, then those trickling a packet, then the idle ones.
func rank(st int32) int { return int(st) } // stateNew < statePartial < stateIdle

// evict closes connections admitLocked took out; their session goroutines
// then end quietly.
func (s *Server) evict(victims []*trackedConn) {
	for _, v := range victims {
		v.Conn.Close()
		s.limitEvents().record(evictReason[v.evictedFrom], v, "")
	}
}

// refuse closes a connection max_connections has no room for.
func (s *Server) refuse(tc *trackedConn) {
	tc.Conn.Close()
	tc.release()
	s.limitEvents().record(ReasonRefused, tc, "every connection is busy")
}

// maxPacket is max_packet (1 MiB when the config was not validated).
func (s *Server) maxPacket() rules.Size {
	if s.Config.MaxPacket <= 0 {
		return maxPacket
	}
	return s.Config.MaxPacket
}

// reserveMeta takes n bytes from the header budget of all connections.
func (s *Server) reserveMeta(n int64) bool {
	for {
		free := s.meta.Load()
		if free < n {
			return false
		}
		if s.meta.CompareAndSwap(free, free-n) {
			return true
		}
	}
}

func (s *Server) limitEvents() *connEvents {
	s.eventsOnce.Do(func() {
		every := s.reportEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		s.events = &connEvents{srv: s, every: every, counts: map[string]int{}}
	})
	return s.events
}

// connEvents logs closes caused by the bounds once per burst: the first
// one at once, then, every `every` while they go on, one line with the
// counts by reason.
type connEvents struct {
	srv   *Server
	every time.Duration

	mu     sync.Mutex
	window bool // a burst is being counted
	counts map[string]int
	timer  *time.Timer
}

func (e *connEvents) record(reason string, c *trackedConn, detail string) {
	if o, ok := e.srv.Observer.(ConnObserver); ok {
		o.ConnClosed(reason)
	}
	e.mu.Lock()
	if e.window {
		e.counts[reason]++
		e.mu.Unlock()
		return
	}
	e.window = true
	if e.timer == nil {
		e.timer = time.AfterFunc(e.every, e.flush)
	} else {
		e.timer.Reset(e.every)
	}
	e.mu.Unlock()
	attrs := []any{"reason", reason, "peer", peer(c)}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	attrs = append(attrs, "max_connections", e.srv.Config.MaxConnections,
		"note", "further closes are counted and logged every "+e.every.String())
	e.srv.Logger.Warn("MTA connection closed", attrs...)
}

func (e *connEvents) flush() {
	e.mu.Lock()
	counts := e.counts
	if len(counts) == 0 {
		e.window = false // the burst is over: the next close is logged at once
		e.mu.Unlock()
		return
	}
	e.counts = map[string]int{}
	e.timer.Reset(e.every)
	e.mu.Unlock()
	e.srv.mu.Lock()
	open := len(e.srv.conns)
	e.srv.mu.Unlock()
	total := 0
	attrs := []any{"window", e.every.String()}
	for _, r := range CloseReasons {
		if n := counts[r]; n > 0 {
			attrs = append(attrs, r, n)
			total += n
		}
	}
	attrs = append(attrs, "total", total, "connections", open, "max_connections", e.srv.Config.MaxConnections)
	e.srv.Logger.Warn("MTA connections closed by levee's limits", attrs...)
}

func peer(c *trackedConn) string {
	if c == nil || c.Conn == nil {
		return ""
	}
	a := c.Conn.RemoteAddr()
	if a == nil {
		return ""
	}
	if s := a.String(); s != "" && s != "@" {
		return s
	}
	return a.Network()
}
