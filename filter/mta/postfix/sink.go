package postfix

import (
	"bytes"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// Delivery is one message an MTA handed to a Sink.
type Delivery struct {
	From  string   // MAIL FROM, without <> ("" for a bounce)
	Rcpts []string // RCPT TO, without <>
	Data  []byte   // the message as sent (CRLF line ends, dot-unstuffed)
	At    time.Time
}

// Sink is a loopback SMTP server that takes every message, hands it to a
// function and only then answers 250: once an MTA's queue is empty, every
// message it delivered has been seen.
type Sink struct {
	ln      net.Listener
	deliver func(*Delivery)
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
}

// StartSink listens on addr ("127.0.0.1:0": a free port) and calls deliver
// for each message (from many goroutines at once).
func StartSink(addr string, deliver func(*Delivery)) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, deliver: deliver, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s, nil
}

// Addr is the sink's address, "127.0.0.1:PORT".
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes the connections and waits for them.
func (s *Sink) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Sink) serve(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	tp := textproto.NewConn(c)
	reply := func(line string) bool {
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		return tp.PrintfLine("%s", line) == nil
	}
	if !reply("220 sink.levee.test ESMTP sink") {
		return
	}
	var cur *Delivery
	for {
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(line)
		ok := true
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			ok = reply("250-sink.levee.test\r\n250-8BITMIME\r\n250-SIZE 0\r\n250 PIPELINING")
		case strings.HasPrefix(verb, "HELO"):
			ok = reply("250 sink.levee.test")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = &Delivery{From: TrimPath(line[len("MAIL FROM:"):])}
			ok = reply("250 2.1.0 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			if cur == nil {
				ok = reply("503 5.5.1 MAIL first")
				break
			}
			cur.Rcpts = append(cur.Rcpts, TrimPath(line[len("RCPT TO:"):]))
			ok = reply("250 2.1.5 ok")
		case verb == "DATA":
			if cur == nil || len(cur.Rcpts) == 0 {
				ok = reply("503 5.5.1 RCPT first")
				break
			}
			if !reply("354 go ahead") {
				return
			}
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.Data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			cur.At = time.Now()
			if s.deliver != nil {
				s.deliver(cur)
			}
			cur = nil
			ok = reply("250 2.0.0 queued")
		case verb == "RSET":
			cur = nil
			ok = reply("250 2.0.0 ok")
		case verb == "NOOP":
			ok = reply("250 2.0.0 ok")
		case verb == "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			ok = reply("502 5.5.2 not implemented")
		}
		if !ok {
			return
		}
	}
}

// TrimPath returns the address of a MAIL FROM or RCPT TO argument:
// "<a@b> SIZE=10" gives "a@b".
func TrimPath(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i] // ESMTP parameters
	}
	return strings.Trim(s, "<>")
}

// HeaderOf returns the header fields of a message (up to the first empty
// line) in order, unfolded (continuation lines joined with a space). A line
// that is neither a field nor a continuation is skipped. The body is not
// read: a bounce's attached copy of a message does not count.
func HeaderOf(data []byte) []Field {
	var out []Field
	last := false // the previous line was a field (a continuation of a skipped line is skipped)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(out); n > 0 && last {
				out[n-1].Value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if last = ok && fieldName(name); !last {
			continue
		}
		out = append(out, Field{Name: string(name), Value: strings.TrimSpace(string(value))})
	}
	return out
}

// fieldName: RFC 5322 section 3.6.8, printable ASCII but the colon.
func fieldName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return len(b) > 0
}

// Field is one header field.
type Field struct{ Name, Value string }

// Get returns the values of the fields named name (case-insensitive).
func Get(h []Field, name string) []string {
	var v []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			v = append(v, f.Value)
		}
	}
	return v
}
