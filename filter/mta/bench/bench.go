// Package bench is the load generator behind `levee bench`: it replays a
// corpus to any milter, playing Postfix's side of the protocol with package
// mta (one connection per message by default, Postfix's negotiation and
// macros), and measures throughput, latency, verdicts and the target's CPU
// and memory. It also serves the baseline: go-milter's own server with a
// no-op backend.
package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
)

func (o *Options) offer() milter.OptProtocol {
	if o.Plain {
		return 0
	}
	return mta.PostfixProtocol
}

// Options say how to load a milter.
type Options struct {
	// Addr is the milter, in Postfix notation (inet:HOST:PORT, unix:/PATH).
	Addr string
	// Concurrency is the number of connections at once (default 1).
	Concurrency int
	// N is the number of messages to send (default: the corpus once);
	// messages are taken in corpus order, wrapping around.
	N int
	// Reuse is the number of messages per connection (default 1: one
	// connection per message, as Postfix does for most inbound mail).
	Reuse int
	// Warmup messages are sent first and not counted (fills DNS caches).
	Warmup int
	// Timeout bounds each read and write (default 60s).
	Timeout time.Duration
	// TLS sends Postfix's TLS macros at HELO, as for a STARTTLS session.
	TLS bool
	// Mixed takes the messages in a fixed interleaved order (a stride
	// coprime with the corpus size, about 0.618 of it) instead of corpus
	// order, so that any N samples ham and spam of every source.
	Mixed bool
	// Slowest lists this many of the slowest messages in the result.
	Slowest int
	// Plain offers no event flags in the option negotiation (as go-milter's
	// client does), so that the milter answers every event. By default the
	// bench offers what Postfix offers (PostfixProtocol: all of protocol
	// version 6), and the milter picks.
	Plain bool
	// CPUPIDs are processes whose CPU time (with their descendants) is the
	// target's; empty: none is measured.
	CPUPIDs []int
}

// Verdicts counts the outcome of each message. Categories are exclusive.
type Verdicts struct {
	Accept     int `json:"accept"`     // accepted without X-Spam-Flag: YES
	Tagged     int `json:"tagged"`     // accepted with X-Spam-Flag: YES (or rspamd's X-Spam: Yes) added
	Quarantine int `json:"quarantine"` // accepted into the hold queue
	Reject     int `json:"reject"`     // 5xx
	Tempfail   int `json:"tempfail"`   // 4xx
	Discard    int `json:"discard"`
}

// SlowMessage is one of a run's slowest messages.
type SlowMessage struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

// Result is what a run measured.
type Result struct {
	Target      string   `json:"target"`
	Concurrency int      `json:"concurrency"`
	Reuse       int      `json:"reuse"`
	Messages    int      `json:"messages"` // answered at end of message or earlier
	Errors      int      `json:"errors"`
	ErrorSample []string `json:"error_sample,omitempty"`
	Verdicts    Verdicts `json:"verdicts"`

	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// Latency of one message: from the dial (or, on a reused connection,
	// from MAIL) to the end-of-message reply, in milliseconds.
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Slowest are the slowest messages, slowest first (Slowest option).
	Slowest []SlowMessage `json:"slowest,omitempty"`

	// CPUSeconds is the target's user+system CPU time during the run;
	// CPUSource says whose it is ("pid 123 (+2 children)", or "bench
	// process (client and server)" for the in-process baseline).
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	MsgsPerCPUSec float64 `json:"msgs_per_cpu_sec,omitempty"`
	CPUSource     string  `json:"cpu_source,omitempty"`
	// ClientCPUSeconds is the bench process's own CPU time (the load
	// generator, plus the server for the in-process baseline).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}

// Run sends messages to the milter at o.Addr and measures.
func Run(ctx context.Context, msgs []Message, o Options) (*Result, error) {
	if len(msgs) == 0 {
		return nil, errors.New("bench: no messages")
	}
	if _, _, err := mta.ParseAddr(o.Addr); err != nil {
		return nil, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.N <= 0 {
		o.N = len(msgs)
	}
	if o.Reuse <= 0 {
		o.Reuse = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Warmup > 0 {
		w := o
		w.N, w.Warmup, w.CPUPIDs = o.Warmup, 0, nil
		if _, err := run(ctx, msgs, w, 0); err != nil {
			return nil, err
		}
	}
	// Warm-up messages came first in corpus order; the run goes on from there.
	return run(ctx, msgs, o, o.Warmup)
}

type outcome struct {
	name    string
	latency time.Duration
	verdict string // accept, tagged, quarantine, reject, tempfail, discard
	err     error
}

func run(ctx context.Context, msgs []Message, o Options, offset int) (*Result, error) {
	pids, err := withDescendants(o.CPUPIDs)
	if err != nil {
		return nil, err
	}
	cpu0, err := cpuOf(pids)
	if err != nil {
		return nil, err
	}
	self0 := selfCPU()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		results = make([]outcome, 0, o.N)
		wg      sync.WaitGroup
	)
	stride := 1
	if o.Mixed {
		stride = mixedStride(len(msgs))
	}
	take := func() (int, bool) {
		i := int(next.Add(1) - 1)
		if i >= o.N || ctx.Err() != nil {
			return 0, false
		}
		return int(int64(offset+i) * int64(stride) % int64(len(msgs))), true
	}
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := &client{opt: &o, worker: w}
			var local []outcome
			for {
				i, ok := take()
				if !ok {
					break
				}
				out := cl.send(&msgs[i])
				out.name = msgs[i].Name
				local = append(local, out)
			}
			cl.close()
			mu.Lock()
			results = append(results, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := cpuOf(pids)
	self1 := selfCPU()

	r := &Result{Target: o.Addr, Concurrency: o.Concurrency, Reuse: o.Reuse, Seconds: elapsed.Seconds()}
	var lat []time.Duration
	for _, x := range results {
		if x.err != nil {
			r.Errors++
			if len(r.ErrorSample) < 5 {
				r.ErrorSample = append(r.ErrorSample, x.err.Error())
			}
			continue
		}
		r.Messages++
		lat = append(lat, x.latency)
		switch x.verdict {
		case "accept":
			r.Verdicts.Accept++
		case "tagged":
			r.Verdicts.Tagged++
		case "quarantine":
			r.Verdicts.Quarantine++
		case "reject":
			r.Verdicts.Reject++
		case "tempfail":
			r.Verdicts.Tempfail++
		case "discard":
			r.Verdicts.Discard++
		}
	}
	if elapsed > 0 {
		r.MsgsPerSec = float64(r.Messages) / elapsed.Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if o.Slowest > 0 {
		ok := make([]outcome, 0, len(results))
		for _, x := range results {
			if x.err == nil {
				ok = append(ok, x)
			}
		}
		sort.SliceStable(ok, func(i, j int) bool { return ok[i].latency > ok[j].latency })
		for _, x := range ok[:min(o.Slowest, len(ok))] {
			r.Slowest = append(r.Slowest, SlowMessage{Name: x.name, Ms: ms(x.latency)})
		}
	}
	r.P50ms, r.P90ms, r.P99ms = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	r.ClientCPUSeconds = (self1 - self0).Seconds()
	if len(pids) > 0 {
		r.CPUSeconds = (cpu1 - cpu0).Seconds()
		r.CPUSource = fmt.Sprintf("pid %v", o.CPUPIDs)
		if n := len(pids) - len(o.CPUPIDs); n > 0 {
			r.CPUSource = fmt.Sprintf("pid %v with %d descendants", o.CPUPIDs, n)
		}
		if r.CPUSeconds > 0 {
			r.MsgsPerCPUSec = float64(r.Messages) / r.CPUSeconds
		}
	}
	return r, nil
}

// mixedStride returns a step near 0.618 n that is coprime with n, so that
// i*step mod n visits every message once per n.
func mixedStride(n int) int {
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	s := max(n*618/1000, 1)
	for gcd(s, n) != 1 {
		s++
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

// client is one worker's connection to the milter.
type client struct {
	opt    *Options
	worker int
	s      *mta.Session
	used   int // messages sent on s
	qid    int
}

func (c *client) close() {
	if c.s != nil {
		c.s.Close()
		c.s = nil
	}
}

// Postfix-like fixed values of the macros.
const (
	myHostname = "mx.bench.example"
	mailName   = "Postfix 3.7.11"
)

var (
	// Postfix's default milter_connect_macros but _ (mta.Session.Connect
	// adds it).
	connectMacros = []string{"j", myHostname, "{daemon_name}", myHostname, "{daemon_addr}", "192.0.2.25", "v", mailName}
	// milter_helo_macros after STARTTLS.
	tlsMacros = []string{"{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384", "{cipher_bits}", "256"}
	// milter_rcpt_macros beyond i and {rcpt_addr}.
	rcptMacros = []string{"{rcpt_host}", myHostname, "{rcpt_mailer}", "local"}
)

// queueID makes a Postfix-style short queue ID, unique per worker.
func (c *client) queueID() string {
	c.qid++
	return strings.ToUpper(strconv.FormatInt(int64(c.worker)<<32|int64(c.qid), 16))
}

// connect opens a session and plays CONNECT and HELO with Postfix's
// default milter_connect_macros and milter_helo_macros.
func (c *client) connect(m *Message) (mta.Reply, error) {
	s, err := mta.Dial(c.opt.Addr, c.opt.Timeout, c.opt.offer())
	if err != nil {
		return mta.Reply{}, err
	}
	c.s, c.used = s, 0
	cl := m.Client
	cl.Macros = connectMacros
	if c.opt.TLS {
		cl.HeloMacros = tlsMacros
	}
	return s.Connect(&cl)
}

// send plays one message and returns its outcome. A connection is opened
// when there is none; it is closed after Reuse messages or an error.
func (c *client) send(m *Message) (out outcome) {
	start := time.Now()
	defer func() {
		out.latency = time.Since(start)
		if out.err != nil {
			if c.s != nil {
				c.s.Close()
			}
			c.s = nil
		} else if c.s != nil && c.used >= c.opt.Reuse {
			c.close()
		}
	}()
	if c.s == nil {
		r, err := c.connect(m)
		if err != nil {
			return outcome{err: fmt.Errorf("%s: connect: %w", m.Name, err)}
		}
		if r.Action.Code != milter.ActContinue {
			// The milter refused the connection: that is this message's verdict.
			v := verdictOf(r.Action, nil)
			c.close()
			return outcome{verdict: v}
		}
	}
	c.used++
	// MAIL, RCPT, DATA, the header, the body and end of message, with
	// Postfix's macros.
	t := m.Message
	t.QueueID, t.RcptMacros = c.queueID(), rcptMacros
	r, err := c.s.Send(&t)
	if err != nil {
		return outcome{err: fmt.Errorf("%s: %w", m.Name, err)}
	}
	return outcome{verdict: verdictOf(r.Action, r.Mods)}
}

// verdictOf names the outcome of a final milter answer.
func verdictOf(act *milter.Action, mods []milter.ModifyAction) string {
	switch act.Code {
	case milter.ActReject:
		return "reject"
	case milter.ActTempFail:
		return "tempfail"
	case milter.ActDiscard:
		return "discard"
	case milter.ActReplyCode:
		if act.SMTPCode >= 400 && act.SMTPCode < 500 {
			return "tempfail"
		}
		return "reject"
	}
	v := "accept"
	for _, m := range mods {
		switch m.Code {
		case milter.ActQuarantine:
			return "quarantine"
		case milter.ActAddHeader, milter.ActInsertHeader, milter.ActChangeHeader:
			val := strings.TrimSpace(m.HeaderValue)
			if (strings.EqualFold(m.HeaderName, "X-Spam-Flag") && strings.EqualFold(val, "YES")) ||
				(strings.EqualFold(m.HeaderName, "X-Spam") && strings.EqualFold(val, "Yes")) {
				v = "tagged"
			}
		}
	}
	return v
}
