package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
)

// BaselineActions are the actions the baseline milter asks for: those
// levee's milter asks for (package filter checks that they agree), so that
// both negotiate alike.
const BaselineActions = milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine

// StartBaseline starts go-milter v0.5.0's own server with a backend that
// reads everything and accepts, on a loopback port: the protocol's own cost,
// the floor any go-milter based filter sits on. It returns the address in
// Postfix notation and a stop function.
func StartBaseline() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return "inet:" + ln.Addr().String(), ServeBaseline(ln), nil
}

// ServeBaseline serves the baseline milter on ln until the returned stop
// function is called.
func ServeBaseline(ln net.Listener) func() {
	s := &milter.Server{
		NewMilter: func() milter.Milter { return milter.NoOpMilter{} },
		Actions:   BaselineActions,
		Protocol:  0,
	}
	go s.Serve(ln)
	return func() { s.Close() }
}

// HoldOptions say how to test a milter's memory under many large messages.
type HoldOptions struct {
	Addr     string
	Sessions int   // at once (default 200)
	Size     int64 // message body size (default 10 MiB); half of it is sent
	PID      int   // the target, whose RSS is read; 0: this process
	Timeout  time.Duration
	// Finish: once the RSS is read, every session sends the rest of its
	// body and end of message, all at once, instead of aborting; each
	// verdict and its latency are recorded (hold_finish.go).
	Finish bool
	// Clients gives each session its own client IP (198.18.0.0/15) and a
	// link to its own host in its body, so that no two sessions share a
	// DNS lookup and each looks one up at end of message.
	Clients bool
}

// HoldResult is the target's memory with every session mid-message.
type HoldResult struct {
	Target   string  `json:"target"`
	Sessions int     `json:"sessions"` // open, each mid-message
	SentMiB  float64 `json:"sent_mib_each"`
	RSSMiB0  float64 `json:"rss_mib_before"`
	RSSMiB   float64 `json:"rss_mib"` // VmRSS with every session open
	HWMMiB   float64 `json:"hwm_mib"` // VmHWM: the peak so far
	Errors   int     `json:"errors"`
	Source   string  `json:"source"`
	ErrorMsg string  `json:"error,omitempty"`
	// Finish is what the Finish option measured.
	Finish *FinishResult `json:"finish,omitempty"`
}

// Hold opens o.Sessions sessions, sends each the header and half of an
// o.Size body, reads the target's VmRSS and VmHWM (/proc/PID/status), then
// aborts them all.
func Hold(ctx context.Context, o HoldOptions) (*HoldResult, error) {
	if o.Sessions <= 0 {
		o.Sessions = 200
	}
	if o.Size <= 0 {
		o.Size = 10 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	pid, source := o.PID, fmt.Sprintf("pid %d", o.PID)
	if pid == 0 {
		pid, source = os.Getpid(), "bench process (client and server)"
	}
	r := &HoldResult{Target: o.Addr, Source: source}
	var err error
	if r.RSSMiB0, _, err = procRSS(pid); err != nil {
		return nil, err
	}
	// One chunk of text lines, shared by every session.
	var chunk []byte
	for len(chunk)+80 <= milter.MaxBodyChunk {
		chunk = append(chunk, strings.Repeat("lorem ipsum dolor sit amet ", 3)[:78]+"\r\n"...)
	}
	half := o.Size / 2
	m := &Message{
		Name:   "hold",
		Client: mta.Client{IP: netip.MustParseAddr("192.0.2.1"), Name: "unknown", Helo: "hold.example"},
		Message: mta.Message{From: "sender@example.com", Rcpts: []string{"rcpt@example.org"},
			Header: []mta.Field{{Name: "From", Value: "<sender@example.com>"}, {Name: "To", Value: "<rcpt@example.org>"},
				{Name: "Subject", Value: "big"}, {Name: "Message-ID", Value: "<hold@example.com>"},
				{Name: "Date", Value: "Mon, 2 Nov 2026 10:00:00 +0100"}}},
	}
	// Every event answered: when the last chunk's answer is in, the milter
	// holds half of each body, whatever it keeps.
	opt := &Options{Addr: o.Addr, Timeout: o.Timeout, Reuse: 1, Plain: true}
	clients := make([]*client, o.Sessions)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  int
		first error
		next  atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		errs++
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Sessions || ctx.Err() != nil {
					return
				}
				c := &client{opt: opt, worker: i}
				clients[i] = c
				if err := c.openMidMessage(holdMessage(m, i, o.Clients), holdChunk(chunk, i, o.Clients), half); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	r.Sessions = o.Sessions - errs
	r.Errors = errs
	r.SentMiB = float64(half) / (1 << 20)
	if first != nil {
		r.ErrorMsg = first.Error()
	}
	r.RSSMiB, r.HWMMiB, err = procRSS(pid)
	if o.Finish {
		r.Finish = finishHeld(clients, chunk, o.Size-half, pid)
		return r, err
	}
	for _, c := range clients {
		if c != nil && c.s != nil {
			c.s.Abort()
			c.close()
		}
	}
	return r, err
}

// openMidMessage connects and sends everything up to half of the body.
func (c *client) openMidMessage(m *Message, chunk []byte, n int64) error {
	r, err := c.connect(m)
	if err == nil && r.Action.Code != milter.ActContinue {
		err = fmt.Errorf("connect answered %c", r.Action.Code)
	}
	if err != nil {
		return err
	}
	s := c.s
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) { return s.Mail(m.From, nil) },
		func() (*milter.Action, error) { return s.Rcpt(m.Rcpts[0], nil) },
	}
	for _, f := range m.Header {
		steps = append(steps, func() (*milter.Action, error) { return s.HeaderField(f.Name, f.Value) })
	}
	steps = append(steps, s.HeaderEnd)
	for _, step := range steps {
		act, err := step()
		if err == nil && act.Code != milter.ActContinue {
			err = fmt.Errorf("answered %c before the body", act.Code)
		}
		if err != nil {
			return err
		}
	}
	for sent := int64(0); sent < n; {
		b := chunk[:min(int64(len(chunk)), n-sent)]
		act, err := s.BodyChunk(b)
		if err == nil && act.Code != milter.ActContinue {
			err = fmt.Errorf("answered %c mid-body", act.Code)
		}
		if err != nil {
			return err
		}
		sent += int64(len(b))
	}
	return nil
}
