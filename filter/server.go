// Package filter is levee's milter: it speaks the milter protocol with
// Postfix or Sendmail (through github.com/emersion/go-milter v0.5.0, which
// only filter and filter/mta import), collects what the MTA sends about each
// message, asks the rules engine for a verdict and turns the verdict into
// milter actions.
//
// go-milter v0.5.0 speaks milter protocol version 2 only: no SKIP, no DATA
// stage, no SETSYMLIST. Postfix (milter_protocol = 6 is fine: it downgrades)
// and Sendmail both work with that. Its known defects are neutralised here;
// see session.go.
package filter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/rules"
)

// Config is the milter part of levee's configuration (top-level YAML keys).
type Config struct {
	// Listen is where the milter listens, in Postfix notation:
	// inet:127.0.0.1:8895 (default) or unix:/run/levee/levee.sock.
	Listen string `yaml:"listen"`
	// SocketMode is the permission of a unix socket, in octal (default 0660).
	SocketMode string `yaml:"socket_mode"`
	// OnPanic is the verdict when judging a message panics: "tempfail"
	// (default: the MTA keeps the message and retries) or "accept".
	OnPanic string `yaml:"on_panic"`
	// IdleTimeout closes an MTA connection that sends nothing for this long
	// (default 10m, above Postfix's milter_content_timeout of 300s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long sessions in flight may finish on
	// SIGTERM (default 30s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// BodyMemory bounds the body bytes kept in memory by all sessions
	// together (default 64MiB). Every message keeps its first 64 KiB;
	// beyond that, up to scan_limit, it draws on this budget, and a message
	// that finds it spent is judged on what it kept.
	BodyMemory rules.Size `yaml:"body_memory"`
	// AlwaysReply makes levee answer every event, as go-milter does,
	// instead of asking the MTA not to wait for its "continue" to connect,
	// HELO, MAIL FROM, each header field, end of header and body chunks
	// (the MTA must offer that: Postfix and Sendmail 8.14+ do). Off by
	// default; for debugging the protocol.
	AlwaysReply bool `yaml:"always_reply"`
	// Limits bound the MTA side: connections, packet length, negotiation
	// and packet timeouts (limits.go).
	Limits `yaml:",inline"`
}

// freeBody is what every message keeps whatever the budget.
const freeBody = 64 << 10

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "inet:127.0.0.1:8895"
	}
	if _, _, err := ParseAddr(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if _, err := c.Mode(); err != nil {
		return err
	}
	switch c.OnPanic {
	case "":
		c.OnPanic = "tempfail"
	case "tempfail", "accept":
	default:
		return fmt.Errorf("on_panic: %q is not tempfail or accept", c.OnPanic)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.BodyMemory < 0 {
		return fmt.Errorf("body_memory: must not be negative")
	}
	if c.BodyMemory == 0 {
		c.BodyMemory = 64 << 20
	}
	return c.Limits.validate()
}

// Mode returns the unix socket mode.
func (c *Config) Mode() (fs.FileMode, error) {
	if c.SocketMode == "" {
		return 0o660, nil
	}
	v, err := strconv.ParseUint(c.SocketMode, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("socket_mode: %q is not an octal mode like 0660", c.SocketMode)
	}
	return fs.FileMode(v), nil
}

// Observer receives per-message events (metrics); all methods may be nil-safe no-ops.
type Observer interface {
	Verdict(m *rules.Message, v *rules.Verdict)
	// EarlyReject is a recipient refused at RCPT TO by the DNS blocklists.
	EarlyReject()
	SessionStart()
	SessionEnd()
	Panic()
}

type nopObserver struct{}

func (nopObserver) Verdict(*rules.Message, *rules.Verdict) {}
func (nopObserver) EarlyReject()                           {}
func (nopObserver) SessionStart()                          {}
func (nopObserver) SessionEnd()                            {}
func (nopObserver) Panic()                                 {}

// Server serves the milter protocol. The engine can be swapped at any time
// (config reload): each message uses the engine current at its MAIL FROM.
type Server struct {
	Config   Config
	Logger   *slog.Logger
	Observer Observer
	// State, when set, greylists and rate-limits recipients (state.go).
	State *State

	engine atomic.Pointer[rules.Engine]
	budget atomic.Int64 // body bytes still free under Config.BodyMemory
	meta   atomic.Int64 // header bytes still free under metaMemory (limits.go)

	// closes caused by the limits, logged once per burst (limits.go)
	eventsOnce  sync.Once
	events      *connEvents
	reportEvery time.Duration // default 10s; tests shorten it

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*trackedConn]struct{}
	closing  bool
	sessions sync.WaitGroup
}

// NewServer makes a server; cfg must be validated.
func NewServer(cfg Config, e *rules.Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{Config: cfg, Logger: log, Observer: nopObserver{}, conns: map[*trackedConn]struct{}{}}
	s.engine.Store(e)
	s.budget.Store(int64(cfg.BodyMemory))
	s.meta.Store(metaMemory)
	return s
}

// reserveBody takes up to n bytes from the body budget and returns how many it got.
func (s *Server) reserveBody(n int64) int64 {
	for {
		free := s.budget.Load()
		got := min(n, free)
		if got <= 0 {
			return 0
		}
		if s.budget.CompareAndSwap(free, free-got) {
			return got
		}
	}
}

func (s *Server) releaseBody(n int64) {
	if n > 0 {
		s.budget.Add(n)
	}
}

// SetEngine swaps the engine; sessions judge their next message with it.
func (s *Server) SetEngine(e *rules.Engine) { s.engine.Store(e) }

// Engine returns the current engine.
func (s *Server) Engine() *rules.Engine { return s.engine.Load() }

// acquireEngine returns the current engine, acquired for one message
// (released in resetMessage). An engine is retired only after SetEngine
// has put its successor in place, so the loop ends at the next load.
func (s *Server) acquireEngine() *rules.Engine {
	for {
		e := s.engine.Load()
		if e.Acquire() {
			return e
		}
	}
}

// Actions levee may ask of the MTA. go-milter is given no OptNo*Reply
// protocol flags: v0.5.0 advertises them but answers every event anyway,
// which would desynchronise the stream. levee's connection layer
// (trackedConn, conn.go) negotiates them itself and holds those answers
// back.
const (
	actions  = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine
	protocol = milter.OptProtocol(0)
)

// Serve accepts MTA connections on ln until Shutdown or an accept error.
//
// Each connection gets its own go-milter Server whose NewMilter always
// returns a backend bound to the same per-connection state. go-milter calls
// NewMilter again after every response whose Continue() is false (accept,
// reject, tempfail, discard); with this, that replacement loses nothing.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else if tempDelay *= 2; tempDelay > time.Second {
					tempDelay = time.Second
				}
				time.Sleep(tempDelay)
				continue
			}
			return err
		}
		tempDelay = 0
		s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	tc := s.newConn(c)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		tc.release()
		return
	}
	// at max_connections: evict, or refuse (limits.go)
	evicted, ok := s.admitLocked(tc)
	if ok {
		s.conns[tc] = struct{}{}
		s.sessions.Add(1)
	}
	s.mu.Unlock()
	s.evict(evicted)
	if !ok {
		s.refuse(tc)
		return
	}
	s.Observer.SessionStart()
	st := newConnState(s)
	st.conn = tc
	tc.onClose = func() {
		// runs on the session goroutine (go-milter closes the conn when
		// its loop ends): give back a message's body budget
		st.resetMessage()
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
		s.Observer.SessionEnd()
		s.sessions.Done()
	}
	ms := &milter.Server{
		NewMilter: func() milter.Milter { return &backend{st: st} },
		Actions:   actions,
		Protocol:  protocol,
	}
	// Serve takes our one connection, starts its session goroutine, then
	// returns at the second Accept.
	go ms.Serve(&oneConnListener{c: tc})
}

// Shutdown stops accepting, lets sessions in flight finish until ctx is
// done, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
