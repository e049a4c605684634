package soak

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dnsProxy is the DNS server levee is pointed at (dns.servers): a UDP
// forwarder on loopback, as a local caching resolver would sit between
// levee and the lists. It passes each query to the upstream (rbldnsd) and
// its answer back; when the upstream does not answer (rbldnsd killed) it
// answers SERVFAIL, as a resolver does; switched to slow, it holds every
// answer back for a delay longer than levee's dns.timeout.
type dnsProxy struct {
	pc       net.PacketConn
	upstream string
	delay    atomic.Int64 // nanoseconds; 0: answer at once
	wg       sync.WaitGroup

	queries, servfails, delayed atomic.Int64
}

func startDNSProxy(upstream string) (*dnsProxy, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &dnsProxy{pc: pc, upstream: upstream}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *dnsProxy) addr() string { return p.pc.LocalAddr().String() }

// setDelay makes every answer wait d (0: none).
func (p *dnsProxy) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *dnsProxy) close() {
	p.pc.Close()
	p.wg.Wait()
}

func (p *dnsProxy) serve() {
	defer p.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		p.queries.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ans := p.forward(q)
			if d := time.Duration(p.delay.Load()); d > 0 {
				p.delayed.Add(1)
				time.Sleep(d)
			}
			p.pc.WriteTo(ans, from)
		}()
	}
}

// forward asks the upstream; SERVFAIL when it does not answer within a
// second.
func (p *dnsProxy) forward(q []byte) []byte {
	c, err := net.Dial("udp", p.upstream)
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err = c.Write(q); err == nil {
			buf := make([]byte, 4096)
			var n int
			if n, err = c.Read(buf); err == nil && n >= 12 && buf[0] == q[0] && buf[1] == q[1] {
				return buf[:n]
			}
		}
	}
	p.servfails.Add(1)
	return servfail(q)
}

// servfail turns a query into its SERVFAIL answer (RFC 1035 4.1.1): the
// header with QR and RA set and RCODE 2, and the question section only.
func servfail(q []byte) []byte {
	end := 12
	if binary.BigEndian.Uint16(q[4:6]) > 0 {
		i := 12
		for i < len(q) && q[i] != 0 {
			if q[i]&0xc0 != 0 { // no compression in a question; give up
				i = len(q)
				break
			}
			i += int(q[i]) + 1
		}
		if i+5 <= len(q) {
			end = i + 5 // the root label, QTYPE, QCLASS
		}
	}
	a := append([]byte(nil), q[:end]...)
	a[2] = 0x80 | (q[2] & 0x79) // QR, the opcode and RD of the query
	a[3] = 0x80 | 2             // RA, SERVFAIL
	if end == 12 {
		binary.BigEndian.PutUint16(a[4:6], 0)
	} else {
		binary.BigEndian.PutUint16(a[4:6], 1)
	}
	binary.BigEndian.PutUint16(a[6:8], 0)
	binary.BigEndian.PutUint16(a[8:10], 0)
	binary.BigEndian.PutUint16(a[10:12], 0)
	return a
}
