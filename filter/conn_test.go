package filter

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

// postfixSession connects to h as Postfix does (protocol version 6,
// offering offer) and plays CONNECT and HELO.
func postfixSession(t *testing.T, h *harness, offer milter.OptProtocol) *mta.Session {
	t.Helper()
	s := h.dial(t, offer)
	connect(t, s, "192.0.2.70", "a.example.com", "a.example.com")
	return s
}

// levee asks a Postfix-like MTA not to send DATA and unknown commands and
// not to wait for its "continue" to the events it always passes; RCPT and
// end of message keep their replies. Offered nothing, it asks nothing.
func TestNegotiatedFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offer  milter.OptProtocol
		always bool
		want   milter.OptProtocol
	}{
		{"postfix v6", mta.PostfixProtocol, false, skipEvents | noReplyEvents},
		{"postfix v6, always_reply", mta.PostfixProtocol, true, skipEvents},
		{"v2 flags only", 0x7f, false, 0},
		{"nothing offered", 0, false, 0},
		{"no_header_reply only", milter.OptNoHeaderReply, false, milter.OptNoHeaderReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, testConfig(), rules.Options{}, Config{AlwaysReply: tc.always})
			s := h.dial(t, tc.offer)
			if s.Protocol != tc.want {
				t.Errorf("negotiated %#x, want %#x", uint32(s.Protocol), uint32(tc.want))
			}
			if s.Protocol&milter.OptNoRcptReply != 0 {
				t.Error("RCPT must keep its reply: early rejects are given there")
			}
			if s.Version != 2 {
				t.Errorf("version %d: go-milter v0.5.0 speaks 2", s.Version)
			}
		})
	}
}

// With the no-reply flags agreed, the stream stays in step over several
// messages on one connection: a stray "continue" would be read as the
// next end-of-message answer.
func TestNoReplySessionStaysInStep(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(map[bool]string{false: "no-reply", true: "always_reply"}[always], func(t *testing.T) {
			h := start(t, testConfig(), rules.Options{}, Config{AlwaysReply: always})
			s := postfixSession(t, h, mta.PostfixProtocol)
			if got := s.Protocol&noReplyEvents != 0; got == always {
				t.Fatalf("no-reply flags %#x with always_reply=%v", uint32(s.Protocol), always)
			}
			spam := ham()
			spam.body = "Hello\r\n" + rules.GTUBE + "\r\n"
			big := ham()
			big.body = strings.Repeat("a line of a long body\r\n", 10000) // several chunks
			for i, tc := range []struct {
				m    msg
				want milter.ActionCode
			}{{ham(), milter.ActAccept}, {spam, milter.ActReplyCode}, {big, milter.ActAccept}, {ham(), milter.ActAccept}} {
				mods, act := send(t, s, tc.m)
				if act.Code != tc.want {
					t.Fatalf("message %d: action %c, want %c", i, act.Code, tc.want)
				}
				if tc.want == milter.ActAccept && addedHeaders(mods)["X-Spam-Status"] == "" {
					t.Errorf("message %d: no X-Spam-Status among %+v", i, mods)
				}
				if tc.want == milter.ActReplyCode {
					s.Abort() // Postfix aborts after a final answer
				}
			}
			m, _ := h.rec.last(t)
			if m.Env.Helo != "a.example.com" || m.Env.ClientIP.String() != "192.0.2.70" {
				t.Errorf("connection state lost: helo %q ip %v", m.Env.Helo, m.Env.ClientIP)
			}
		})
	}
}

// A panic in an event handler becomes "continue" (with every reply
// expected, go-milter would otherwise send none and the MTA would wait
// until its timeout) and the message gets the on_panic verdict.
func TestPanicInEventHandlerContinues(t *testing.T) {
	for _, stage := range []string{"connect", "helo", "mail", "rcpt", "header", "eoh", "body"} {
		for _, offer := range []milter.OptProtocol{0, mta.PostfixProtocol} {
			t.Run(stage+"/"+map[bool]string{false: "plain", true: "postfix"}[offer != 0], func(t *testing.T) {
				testHook = func(s string) {
					if s == stage {
						panic("boom at " + s)
					}
				}
				t.Cleanup(func() { testHook = nil })
				h := start(t, testConfig(), rules.Options{}, Config{})
				s := postfixSession(t, h, offer)
				_, act := send(t, s, ham())
				if act.Code != milter.ActReplyCode || act.SMTPCode != 451 {
					t.Fatalf("action %c %d, want the on_panic tempfail", act.Code, act.SMTPCode)
				}
				if h.rec.panics == 0 {
					t.Error("panic not counted")
				}
			})
		}
	}
}

// packetStream builds milter packets.
func packetStream(pkts ...[]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func optneg(version, actions, proto uint32) []byte {
	p := []byte{'O'}
	p = binary.BigEndian.AppendUint32(p, version)
	p = binary.BigEndian.AppendUint32(p, actions)
	return binary.BigEndian.AppendUint32(p, proto)
}

// The tracker finds the same packets however the stream is cut.
func TestPacketTrackerAnySplit(t *testing.T) {
	stream := packetStream(optneg(6, 0x1ff, 0x1fffff), []byte("DCj\x00mx\x00"), []byte("Chost\x004\x00\x19192.0.2.1\x00"),
		[]byte("LSubject\x00hi\x00"), []byte("N"), append([]byte("B"), bytes.Repeat([]byte("x"), 70000)...), []byte("E"))
	for _, step := range []int{1, 2, 3, 5, 7, 13, 4096, len(stream)} {
		var tr packetTracker
		var seen []byte // the code after each feed that ends a packet
		for b := stream; len(b) > 0; {
			n := min(step, len(b))
			tr.feed(b[:n])
			if tr.want == 0 && (len(seen) == 0 || seen[len(seen)-1] != tr.last) {
				seen = append(seen, tr.last)
			}
			b = b[n:]
		}
		if step == 1 && string(seen) != "ODCLNBE" {
			t.Errorf("byte by byte: packets %q", seen)
		}
		if tr.offered != 0x1fffff {
			t.Errorf("step %d: offered %#x", step, uint32(tr.offered))
		}
		if tr.last != 'E' || tr.want != 0 {
			t.Errorf("step %d: last %q, mid-packet %v", step, tr.last, tr.want != 0)
		}
	}
}

// FuzzPacketTracker: whatever the MTA sends and however it is cut, the
// tracker neither panics nor disagrees with a whole-stream parse.
func FuzzPacketTracker(f *testing.F) {
	f.Add(packetStream(optneg(6, 0x1ff, 0x1fffff), []byte("N"), []byte("E")), uint8(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'O'}, uint8(1))
	f.Add(packetStream(optneg(2, 0, 0)[:5]), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		var whole, cut packetTracker
		whole.feed(stream)
		s := int(step%32) + 1
		for b := stream; len(b) > 0; b = b[min(s, len(b)):] {
			cut.feed(b[:min(s, len(b))])
		}
		if whole.last != cut.last || whole.offered != cut.offered || whole.want != cut.want || whole.left != cut.left {
			t.Fatalf("whole %+v, cut by %d %+v", whole, s, cut)
		}
	})
}
