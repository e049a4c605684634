package filter

// Tests of the MTA-side bounds (limits.go, conn.go): what a broken or
// hostile client on levee's socket can and cannot do.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

// closeCounter is the harness's recorder plus the ConnObserver count.
type closeCounter struct {
	*recorder
	mu     sync.Mutex
	closed map[string]int
}

func (c *closeCounter) ConnClosed(reason string) {
	c.mu.Lock()
	c.closed[reason]++
	c.mu.Unlock()
}

func (c *closeCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.closed {
		out[k] = v
	}
	return out
}

// startLimited serves the test judgement config with fc's limits; closes
// caused by them are summarised every `every`.
func startLimited(t *testing.T, fc Config, every time.Duration) (*harness, *closeCounter) {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := rules.NewEngine(testConfig(), rules.Options{Logger: log, NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	fc.Listen = "inet:127.0.0.1:0"
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, e, log)
	s.reportEvery = every
	obs := &closeCounter{recorder: &recorder{}, closed: map[string]int{}}
	s.Observer = obs
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Shutdown(t.Context())
		e.Close()
	})
	return &harness{addr: "inet:" + ln.Addr().String(), srv: s, rec: obs.recorder, logs: logs}, obs
}

func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// rawMTA is a hand-driven MTA side.
type rawMTA struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, h *harness) *rawMTA {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.addr, "inet:"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawMTA{t: t, c: c}
}

func (r *rawMTA) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// negotiate offers what Postfix offers and reads the answer.
func (r *rawMTA) negotiate() {
	r.t.Helper()
	r.send(packetStream(optneg(6, uint32(mta.PostfixActions), uint32(mta.PostfixProtocol))))
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, _, err := readRawPacket(r.c)
	if err != nil || code != 'O' {
		r.t.Fatalf("negotiation: %q %v", code, err)
	}
}

func readRawPacket(c net.Conn) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("bad length %d", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil {
		return 0, nil, err
	}
	return p[0], p[1:], nil
}

// waitClosed reads until levee closes the connection. The deadline only
// keeps a broken test from hanging; the close must come from levee.
func (r *rawMTA) waitClosed(limit time.Duration) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, r.c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("levee did not close the connection within %v", limit)
	}
}

// waitFor polls cond (bounded, so that a broken test does not hang).
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// findConn returns the server's only connection.
func (s *Server) onlyConn() *trackedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 1 {
		return nil
	}
	for c := range s.conns {
		return c
	}
	return nil
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// A packet length of 2^31 (or any over max_packet) closes the connection
// at once, with one log line, before anything is allocated; the long
// timeouts show that the close is not a timeout.
func TestOversizedLengthRefused(t *testing.T) {
	for _, size := range []uint32{1 << 31, 0xFFFFFFFF, maxPacket + 1} {
		t.Run(strconv.FormatUint(uint64(size), 10), func(t *testing.T) {
			h, obs := startLimited(t, Config{IdleTimeout: time.Hour,
				Limits: Limits{NegotiationTimeout: time.Hour, PacketTimeout: time.Hour}}, time.Hour)
			r := dialRaw(t, h)
			r.negotiate()
			before := totalAlloc()
			hdr := binary.BigEndian.AppendUint32(nil, size)
			r.send(append(hdr, "Bsome body bytes"...))
			r.waitClosed(30 * time.Second)
			if grew := totalAlloc() - before; grew > 1<<20 {
				t.Errorf("allocated %d bytes for a claimed length of %d", grew, size)
			}
			want := fmt.Sprintf(`msg="MTA connection closed" reason=oversized_packet peer=%s detail="packet length %d over max_packet 1MiB"`,
				r.c.LocalAddr(), size)
			waitFor(t, "the log line", 10*time.Second, func() bool { return strings.Contains(h.logs.String(), want) })
			if n := strings.Count(h.logs.String(), "MTA connection"); n != 1 {
				t.Errorf("%d log lines about the connection, want 1:\n%s", n, h.logs.String())
			}
			if got := obs.counts(); got[ReasonOversized] != 1 {
				t.Errorf("closes counted %v", got)
			}
		})
	}
}

// A claimed length within max_packet is not allocated before the bytes
// arrive: go-milter allocates the length it reads, so it must not see it
// until the whole packet is here. A packet left unfinished is closed at
// packet_timeout.
func TestClaimedLengthNotAllocatedBeforeArrival(t *testing.T) {
	h, obs := startLimited(t, Config{IdleTimeout: time.Hour,
		Limits: Limits{NegotiationTimeout: time.Hour, PacketTimeout: 500 * time.Millisecond}}, time.Hour)
	r := dialRaw(t, h)
	r.negotiate()
	before := totalAlloc()
	hdr := binary.BigEndian.AppendUint32(nil, maxPacket) // at the limit: allowed
	r.send(append(hdr, bytes.Repeat([]byte("B"), 100)...))
	waitFor(t, "the packet to be partial", 10*time.Second, func() bool {
		c := h.srv.onlyConn()
		return c != nil && c.state.Load() == statePartial
	})
	if grew := totalAlloc() - before; grew > 256<<10 {
		t.Errorf("allocated %d bytes after 104 bytes of a packet claiming %d", grew, maxPacket)
	}
	r.waitClosed(30 * time.Second)
	waitFor(t, "the log line", 10*time.Second, func() bool {
		return strings.Contains(h.logs.String(), `reason=packet_timeout`)
	})
	if got := obs.counts(); got[ReasonPacketTimeout] != 1 || len(got) != 1 {
		t.Errorf("closes counted %v", got)
	}
}

// The framing, at the connection layer: go-milter's first Read of a
// packet (its 4-byte length) returns nothing until the whole packet is
// there, and an unfinished packet ends in io.EOF, never in its length.
func TestFramerDeliversWholePackets(t *testing.T) {
	fc := Config{IdleTimeout: time.Hour, Limits: Limits{NegotiationTimeout: time.Hour, PacketTimeout: 300 * time.Millisecond}}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, nil, nil)
	server, client := net.Pipe()
	defer client.Close()
	tc := s.newConn(server)
	defer tc.Close()
	body := bytes.Repeat([]byte("x"), 40000) // more than the small buffer
	stream := packetStream(optneg(6, 0, 0), append([]byte("B"), body...))
	go func() {
		client.Write(stream[:len(stream)-1]) // all but the last byte
	}()
	var got []byte
	p := make([]byte, 4)
	for {
		n, err := tc.Read(p)
		got = append(got, p[:n]...)
		if err != nil {
			if err != io.EOF {
				t.Fatalf("read: %v", err)
			}
			break
		}
		if len(got) == 17 {
			p = make([]byte, 64<<10) // as go-milter: length, then the rest
		}
	}
	if want := stream[:17]; !bytes.Equal(got, want) {
		t.Errorf("go-milter got %d bytes %q, want only the negotiation %q", len(got), got[:min(len(got), 24)], want)
	}
	if cap(tc.buf) > 2*len(stream) || cap(tc.buf) > 128<<10 {
		t.Errorf("read buffer grew to %d for a %d-byte packet", cap(tc.buf), len(body)+5)
	}
}

// Sendmail sends no ABORT between the messages of a session; go-milter
// keeps a message's header fields until ABORT. levee adds one after each
// end of message that is not followed by ABORT.
func TestAbortAddedAfterEndOfMessage(t *testing.T) {
	s := NewServer(Config{}, nil, nil)
	server, client := net.Pipe()
	defer client.Close()
	tc := s.newConn(server)
	defer tc.Close()
	stream := packetStream(optneg(6, 0, 0), []byte("Mfrom\x00"), []byte("LSubject\x00one\x00"), []byte("E"),
		[]byte("DMi\x00Q1\x00"), []byte("Mfrom\x00"), []byte("LSubject\x00two\x00"), []byte("E"), []byte("A"), []byte("Q"))
	go func() { client.Write(stream); client.Close() }()
	all, _ := io.ReadAll(readerFunc(tc.Read))
	var codes []byte
	for b := all; len(b) >= 5; {
		n := binary.BigEndian.Uint32(b)
		codes = append(codes, b[4])
		b = b[4+n:]
	}
	if string(codes) != "OMLEADMLEAQ" {
		t.Errorf("go-milter got packets %q, want OMLEADMLEAQ (an ABORT after the first end of message)", codes)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// Header fields, recipients and macros since the last ABORT are bounded;
// the same bytes spread over messages with ABORT between them are fine.
func TestHeaderBytesBounded(t *testing.T) {
	field := append([]byte("LX-Filler\x00"), bytes.Repeat([]byte("f"), 60<<10)...)
	field = append(field, 0)
	for _, abort := range []bool{true, false} {
		t.Run(map[bool]string{true: "with ABORT", false: "without ABORT"}[abort], func(t *testing.T) {
			h, obs := startLimited(t, Config{}, time.Hour)
			s := postfixSession(t, h, 0) // every event answered
			fields, sent := 3*maxMessageMeta/len(field), 0
			for i := 0; i < fields; i++ {
				if i%8 == 0 {
					if abort {
						s.Abort()
					}
					if _, err := s.Mail("a@example.com", nil); err != nil {
						break
					}
				}
				s.WritePacket('L', field[1:])
				if _, _, err := s.ReadPacket(); err != nil {
					break
				}
				sent++
			}
			if abort && sent != fields {
				t.Errorf("with ABORT between messages, %d of %d fields went through", sent, fields)
			}
			counts := obs.counts()
			if abort && len(counts) > 0 || !abort && counts[ReasonHeaderLimit] != 1 {
				t.Errorf("closes %v", counts)
			}
			if !abort {
				waitFor(t, "the meta budget back", 10*time.Second, func() bool { return h.srv.meta.Load() == metaMemory })
			}
		})
	}
}

// Timeouts: no negotiation, a packet trickled, silence after negotiating.
func TestConnectionTimeouts(t *testing.T) {
	h, obs := startLimited(t, Config{IdleTimeout: 400 * time.Millisecond,
		Limits: Limits{NegotiationTimeout: 300 * time.Millisecond, PacketTimeout: 300 * time.Millisecond}}, time.Hour)
	silent := dialRaw(t, h)
	trickle := dialRaw(t, h)
	trickle.negotiate()
	trickle.send([]byte{0, 0, 0, 9, 'D'})
	idle := dialRaw(t, h)
	idle.negotiate()
	for _, r := range []*rawMTA{silent, trickle, idle} {
		r.waitClosed(30 * time.Second)
	}
	waitFor(t, "three closes", 10*time.Second, func() bool {
		c := obs.counts()
		return c[ReasonNegotiationTimeout] == 1 && c[ReasonPacketTimeout] == 1 && c[ReasonIdleTimeout] == 1
	})
}

// At max_connections, a new connection evicts the one not negotiated,
// then the one trickling a packet, then the longest idle; a connection
// levee is working on is never evicted; with every one busy, the new one
// is refused.
func TestEvictionOrder(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int32
	testHook = func(stage string) {
		if stage == "mail" {
			held.Add(1)
			<-release
		}
	}
	t.Cleanup(func() { testHook = nil })
	h, obs := startLimited(t, Config{IdleTimeout: time.Hour,
		Limits: Limits{MaxConnections: 4, NegotiationTimeout: time.Hour, PacketTimeout: time.Hour}}, time.Hour)
	busy := postfixSession(t, h, 0)
	busy.WritePacket('M', []byte("<a@example.com>\x00"))
	busy.Flush()
	waitFor(t, "a busy session", 10*time.Second, func() bool { return held.Load() == 1 })
	idleOld := dialRaw(t, h)
	idleOld.negotiate()
	partial := dialRaw(t, h)
	partial.negotiate()
	partial.send([]byte{0, 0, 0, 9, 'D', 'C'})
	fresh := dialRaw(t, h)
	waitFor(t, "four connections in their states", 10*time.Second, func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		n := map[int32]int{}
		for c := range h.srv.conns {
			n[c.state.Load()]++
		}
		return n[stateBusy] == 1 && n[stateIdle] == 1 && n[statePartial] == 1 && n[stateNew] == 1
	})
	var newcomers []*rawMTA
	step := func(victim *rawMTA, reason string) {
		t.Helper()
		r := dialRaw(t, h)
		r.negotiate() // the newcomer negotiates: it is idle now
		newcomers = append(newcomers, r)
		victim.waitClosed(30 * time.Second)
		waitFor(t, reason, 10*time.Second, func() bool { return obs.counts()[reason] == 1 })
	}
	step(fresh, ReasonEvictedNew)
	step(partial, ReasonEvictedPartial)
	step(idleOld, ReasonEvictedIdle)
	if got := h.srv.openConns(); got != 4 {
		t.Fatalf("%d connections open, want 4", got)
	}
	// Every session busy (in MAIL): a newcomer is refused.
	for _, r := range newcomers {
		r.send(packetStream([]byte("M<b@example.com>\x00")))
	}
	waitFor(t, "four busy sessions", 10*time.Second, func() bool { return held.Load() == 4 })
	refused := dialRaw(t, h)
	refused.waitClosed(30 * time.Second)
	waitFor(t, "a refusal", 10*time.Second, func() bool { return obs.counts()[ReasonRefused] == 1 })
	if got := obs.counts(); len(got) != 4 {
		t.Errorf("closes %v", got)
	}
	close(release)
	if _, _, err := busy.ReadPacket(); err != nil { // the answer to its MAIL
		t.Fatal(err)
	}
	busy.Abort()
	if _, act := send(t, busy, ham()); act.Code != milter.ActAccept {
		t.Errorf("the busy session's message: %c", act.Code)
	}
}

// hostileKind is what one of the hostile connections does.
type hostileKind int

const (
	silentConn        hostileKind = iota // connects, sends nothing
	trickleNegotiate                     // the option negotiation, one byte a second
	silentNegotiated                     // negotiates, then nothing
	trickleNegotiated                    // negotiates, then a packet one byte a second
	numHostileKinds
)

// 2,000 connections that send nothing or one byte a second: levee keeps
// its connections within max_connections, closes each hostile one
// (eviction or a timeout), logs that a few times with counts rather than
// once per connection, keeps judging real mail meanwhile, and leaks no
// goroutine once they are gone.
func TestHostileConnections(t *testing.T) {
	const (
		hostile = 2000
		limit   = 200
		real    = 30
	)
	every := 500 * time.Millisecond
	h, obs := startLimited(t, Config{IdleTimeout: 3 * time.Second,
		Limits: Limits{MaxConnections: limit, NegotiationTimeout: 2 * time.Second, PacketTimeout: 2 * time.Second}}, every)
	addr := strings.TrimPrefix(h.addr, "inet:")
	baseGoroutines := runtime.NumGoroutine()

	// levee's connection count, sampled all along
	var peak, atLimit atomic.Int64
	var inHelper atomic.Bool
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := int64(h.srv.openConns())
			if n > peak.Load() {
				peak.Store(n)
			}
			if n >= limit && inHelper.Load() {
				atLimit.Add(1)
			}
			select {
			case <-sampling:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		clients []net.Conn
		dialErr error
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	neg := packetStream(optneg(6, uint32(mta.PostfixActions), uint32(mta.PostfixProtocol)))
	macro := packetStream([]byte("DCj\x00mx.example.org\x00"))
	trickle := func(c net.Conn, b []byte) {
		defer wg.Done()
		for _, x := range b {
			if _, err := c.Write([]byte{x}); err != nil {
				return // levee closed it
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= hostile {
					return
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					mu.Lock()
					dialErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				clients = append(clients, c)
				mu.Unlock()
				switch hostileKind(i) % numHostileKinds {
				case trickleNegotiate:
					wg.Add(1)
					go trickle(c, neg)
				case silentNegotiated, trickleNegotiated:
					// negotiate (levee may evict it first: then the read fails)
					c.Write(neg)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					readRawPacket(c)
					if hostileKind(i)%numHostileKinds == trickleNegotiated {
						wg.Add(1)
						go trickle(c, macro)
					}
				}
			}
		}()
	}

	// Real mail through the flood, from its own process (as Postfix is):
	// ham accepted with its headers, GTUBE rejected, every one answered.
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperRealMail$", "-test.count=1")
	helper.Env = append(os.Environ(), "LEVEE_REAL_MAIL="+h.addr, "LEVEE_REAL_MAIL_N="+strconv.Itoa(real))
	inHelper.Store(true)
	out, err := helper.CombinedOutput()
	inHelper.Store(false)
	if err != nil {
		t.Errorf("real mail helper: %v\n%s", err, out)
	}
	answered, retried := 0, 0
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "retried "):
			retried++
		case strings.HasPrefix(l, "verdict ok "):
			answered++
		case strings.HasPrefix(l, "verdict "):
			t.Error(l)
		}
	}
	if answered != real {
		t.Errorf("%d of %d real messages got the right verdict:\n%s", answered, real, out)
	}
	if retried > real/5 {
		t.Errorf("%d of %d real connections were evicted before they negotiated:\n%s", retried, real, out)
	}
	if atLimit.Load() == 0 {
		t.Error("levee never was at max_connections while the real mail went through")
	}

	// Every hostile connection is closed by levee: evicted or timed out.
	waitFor(t, "levee to close every hostile connection", 60*time.Second, func() bool {
		n := 0
		for _, v := range obs.counts() {
			n += v
		}
		return n >= hostile && h.srv.openConns() == 0
	})
	close(stop)
	close(sampling)
	<-sampled
	mu.Lock()
	for _, c := range clients {
		c.Close()
	}
	opened := len(clients)
	mu.Unlock()
	wg.Wait()
	if dialErr != nil || opened != hostile {
		t.Fatalf("opened %d hostile connections: %v", opened, dialErr)
	}

	if p := peak.Load(); p > limit {
		t.Errorf("levee held %d connections at once, over max_connections %d", p, limit)
	}
	counts := obs.counts()
	total := 0
	for _, v := range counts {
		total += v
	}
	if total != hostile {
		t.Errorf("%d closes counted (%v), want one per hostile connection (%d)", total, counts, hostile)
	}
	if counts[ReasonEvictedNew]+counts[ReasonEvictedPartial]+counts[ReasonEvictedIdle] == 0 {
		t.Errorf("no eviction at max_connections %d: %v", limit, counts)
	}
	if counts[ReasonRefused] != 0 {
		t.Errorf("%d connections refused: only busy connections make levee refuse", counts[ReasonRefused])
	}

	// The log says so, with counts, in a few lines.
	waitFor(t, "the last summary", 10*time.Second, func() bool {
		return logged(h.logs.String()) == hostile
	})
	logs := h.logs.String()
	if n := strings.Count(logs, "msg=\"MTA connection"); n > 40 {
		t.Errorf("%d log lines for %d closes: want a few lines with counts", n, hostile)
	}
	if !strings.Contains(logs, `msg="MTA connections closed by levee's limits"`) {
		t.Errorf("no summary line:\n%s", logs)
	}
	t.Logf("closes: %v; peak connections %d; log lines about them: %d", counts, peak.Load(),
		strings.Count(logs, "msg=\"MTA connection"))

	// No goroutine left behind (a small margin for the runtime's own).
	waitFor(t, "goroutines back to their number before the flood", 30*time.Second, func() bool {
		return runtime.NumGoroutine() <= baseGoroutines+5
	})
}

// TestHelperRealMail is the real mail of TestHostileConnections, sent
// from another process (run by it).
func TestHelperRealMail(t *testing.T) {
	addr := os.Getenv("LEVEE_REAL_MAIL")
	if addr == "" {
		t.Skip("helper process of TestHostileConnections")
	}
	n, _ := strconv.Atoi(os.Getenv("LEVEE_REAL_MAIL_N"))
	for i := 0; i < n; i++ {
		spam := i%2 == 1
		mods, act, err := sendOne(addr, spam)
		// A connection evicted before levee read its negotiation (on a
		// loaded machine the flood can outrun the client's first write):
		// Postfix applies milter_default_action and the message is tried
		// again later. So does this client, a few times.
		for try := 0; try < 3 && err != nil && strings.Contains(err.Error(), "negotiat"); try++ {
			fmt.Printf("retried %d: %v\n", i, err)
			time.Sleep(100 * time.Millisecond)
			mods, act, err = sendOne(addr, spam)
		}
		switch {
		case err != nil:
			fmt.Printf("verdict error: message %d (spam %v): %v\n", i, spam, err)
		case spam && (act.Code != milter.ActReplyCode || act.SMTPCode != 550):
			fmt.Printf("verdict wrong: GTUBE message %d: %c %d, want a 550 reject\n", i, act.Code, act.SMTPCode)
		case !spam && (act.Code != milter.ActAccept || addedHeaders(mods)["X-Spam-Status"] == ""):
			fmt.Printf("verdict wrong: ham message %d: %c %v, want accept with X-Spam-Status\n", i, act.Code, mods)
		default:
			fmt.Printf("verdict ok %d\n", i)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var countRE = regexp.MustCompile(`(?:^| )(evicted_\w+|refused|\w+_timeout|oversized_packet|bad_length|header_limit)=(\d+)`)

// logged sums the closes the log lines report: 1 per "MTA connection
// closed" line, the counts of each summary line.
func logged(logs string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(l, `msg="MTA connection closed"`):
			n++
		case strings.Contains(l, `msg="MTA connections closed by levee's limits"`):
			for _, m := range countRE.FindAllStringSubmatch(l, -1) {
				v, _ := strconv.Atoi(m[2])
				n += v
			}
		}
	}
	return n
}

// sendOne plays one message from its own connection as Postfix does,
// without failing the test (it runs beside it).
func sendOne(addr string, spam bool) ([]milter.ModifyAction, *milter.Action, error) {
	s, err := mta.Dial(addr, 20*time.Second, mta.PostfixProtocol)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	m := ham()
	if spam {
		m.body = "Hello\r\n" + rules.GTUBE + "\r\n"
	}
	r, err := s.Connect(&mta.Client{IP: netip.MustParseAddr("192.0.2.70"), Name: "a.example.com", Helo: "a.example.com",
		Macros: []string{"j", "mx.example.org", "{daemon_name}", "smtpd-in"}})
	if err == nil && r.Action.Code != milter.ActContinue {
		err = fmt.Errorf("answered %c at connect", r.Action.Code)
	}
	if err != nil {
		return nil, nil, err
	}
	tm := &mta.Message{From: m.from, Rcpts: m.rcpts, Body: []byte(m.body)}
	for _, h := range m.headers {
		tm.Header = append(tm.Header, mta.Field{Name: h[0], Value: h[1]})
	}
	if r, err = s.Send(tm); err != nil {
		return nil, nil, err
	}
	if r.Stage != milter.CodeEOB {
		return nil, nil, fmt.Errorf("answered %c at stage %c, before end of message", r.Action.Code, r.Stage)
	}
	return r.Mods, r.Action, nil
}

// go-milter logs once per connection it drops: a flood of them makes a
// few lines and a count, not one line each.
func TestGoMilterLogBounded(t *testing.T) {
	logs := &syncBuf{}
	w := &stdLogWriter{l: slog.New(slog.NewTextHandler(logs, nil)), window: 200 * time.Millisecond}
	for i := 0; i < 500; i++ {
		fmt.Fprintf(w, "Unrecognized command code: %d\n", i)
	}
	waitFor(t, "the count", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "go-milter: more messages suppressed")
	})
	out := logs.String()
	if n := strings.Count(out, "Unrecognized command code"); n != stdLogBurst {
		t.Errorf("%d lines through, want %d", n, stdLogBurst)
	}
	if !strings.Contains(out, fmt.Sprintf("count=%d", 500-stdLogBurst)) {
		t.Errorf("no count of the suppressed lines:\n%s", out)
	}
	// the next window lets lines through again
	fmt.Fprintf(w, "Unrecognized command code: again\n")
	if !strings.Contains(logs.String(), "code: again") {
		t.Error("a line after the window was dropped")
	}
}
