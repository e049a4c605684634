package greylist

import (
	"net/netip"
	"testing"
	"unicode/utf8"
)

// Envelope addresses come from the SMTP client: any bytes make a key of
// three space-free parts of bounded length.
func FuzzTriplet(f *testing.F) {
	f.Add("alice@example.com", "<bob@example.org>", []byte{192, 0, 2, 1})
	f.Add("", "a b\tc\x00@x", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add("\"quoted local\"@x", "<>", []byte{})
	c := Config{}
	c.Validate()
	f.Fuzz(func(t *testing.T, from, rcpt string, ip []byte) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			a = netip.MustParseAddr("192.0.2.1")
		}
		op := c.Op(a, from, rcpt)
		n, s, r, ok := SplitTriplet(op.Triplet)
		if !ok || n != op.Network || s == "" {
			t.Fatalf("%q does not split into network, sender, rcpt", op.Triplet)
		}
		if len(s) > maxAddr || len(r) > maxAddr {
			t.Fatalf("address part too long: %d %d", len(s), len(r))
		}
		_ = utf8.ValidString(op.Triplet)
	})
}
