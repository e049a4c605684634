// A 512-bit key signs the DKIM_KEY_SHORT test message.

//go:debug rsa1024min=0

package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"github.com/emersion/go-msgauth/dmarc"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/dns"
)

// Keys are made once per test binary: RSA key generation is slow.
var (
	keysOnce              sync.Once
	rsaKey, rsa512, rsaK2 *rsa.PrivateKey
	edKey                 ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaK2, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		if rsa512, err = rsa.GenerateKey(rand.Reader, 512); err != nil {
			panic(err)
		}
		_, edKey, _ = ed25519.GenerateKey(rand.Reader)
	})
}

func keyRec(t testing.TB, k crypto.Signer) string {
	t.Helper()
	r, err := KeyRecord(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// env is a Checker over a MapResolver with every method on.
type env struct {
	res *dns.MapResolver
	c   *Checker
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	res := &dns.MapResolver{A: map[string][]netip.Addr{}, AAAA: map[string][]netip.Addr{}, TXT: map[string][]string{},
		MX: map[string][]dns.MX{}, PTR: map[string][]string{}, Fail: map[string]error{}}
	cfg := Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, dns.ResolverConfig{Deadline: 2 * time.Second}, Options{Resolver: res, Sample: func(int) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{res: res, c: c}
}

func ips(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// message is a small message: header fields then a body.
func message(from string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("From: Alice <" + from + ">\r\n")
	b.WriteString("To: bob@example.org\r\nSubject: minutes\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <1@x>\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\nHello Bob,\r\n\r\nthe minutes are attached.\r\n")
	return []byte(b.String())
}

// sign signs raw with go-msgauth (an independent signer from levee's
// Signing: default options, c=simple/simple unless set).
func sign(t testing.TB, raw []byte, o dkim.SignOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &o); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// run authenticates raw as the milter would: Start, Header, Body in
// chunks of size, Result.
func (e *env) run(t testing.TB, raw []byte, ip, helo, mailFrom string) *Result {
	t.Helper()
	return e.runEnv(t, raw, Envelope{ClientIP: netip.MustParseAddr(ip), Helo: helo, MailFrom: mailFrom}, nil, 7)
}

func (e *env) runEnv(t testing.TB, raw []byte, en Envelope, hop *Hop, chunk int) *Result {
	t.Helper()
	fields, at, err := splitHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := e.c.Start(en)
	s.Header(fields, hop)
	body := raw[at:]
	for len(body) > 0 {
		n := min(chunk, len(body))
		s.Body(body[:n])
		body = body[n:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Result(ctx)
}

func hitNames(r *Result) string {
	var n []string
	for _, h := range r.Hits {
		n = append(n, h.Rule)
	}
	return strings.Join(n, ",")
}

func hasHit(r *Result, name string) bool {
	for _, h := range r.Hits {
		if h.Rule == name {
			return true
		}
	}
	return false
}

func score(r *Result) float64 {
	s := 0.0
	for _, h := range r.Hits {
		s += h.Score
	}
	return s
}

func alignMode(s string) dmarcAlign { return dmarcAlign(s) }

type dmarcAlign = dmarc.AlignmentMode
