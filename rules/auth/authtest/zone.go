package authtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Keys are the test zone's DKIM keys.
type Keys struct {
	RSA   *rsa.PrivateKey    // 2048 bits: selector "rsa" (its record is split over several strings)
	Ed    ed25519.PrivateKey // selector "ed"
	Short []byte             // a 512-bit RSA key (PEM, PKCS#1): selector "short"
}

// short512 was made with `openssl genrsa -traditional 512`: Go refuses to
// generate (and to use) RSA keys under 1024 bits.
const short512 = `-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBAKONbfscucDA1gJLguItysp+ylZPwm2Cimm2/ABSykFADLcIdGYs
PvU+KdjkBDgMNMg+NF5gJ9511mWpXs6Fhw0CAwEAAQJARMh0GomoLUJsPqbXMpwj
jynnmokMsdWWtIL6VIB9AxdqmqOrqtOCnuoGzFpB0yFI1kVmOYVkPAIbw1mJ5k1A
QQIhANEdkq0ol6Se/wHVHfc8MvMp4wQLgeqUmtFttinItMbpAiEAyDi2Tzun+6w6
+rQgkkZBSK6D8MjBw6NMGHEJbmzKsIUCIHnTJLRERbPd/OnwYni6VWRcLqkYmyMy
V89SfyFwkAChAiEAxOUAY2qHBzeXyHLalP4BtTfpCCBka79qVZ7TZ4QUzwECIE7b
2R0VvYzXjK9owZebK/g+l9xY9CX/MviisP889Glx
-----END RSA PRIVATE KEY-----
`

var (
	keysOnce sync.Once
	keys     *Keys
)

// TestKeys returns the keys (made once per test binary).
func TestKeys() *Keys {
	keysOnce.Do(func() {
		k := &Keys{Short: []byte(short512)}
		var err error
		if k.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		_, k.Ed, _ = ed25519.GenerateKey(rand.Reader)
		keys = k
	})
	return keys
}

// PEM returns a key as PKCS#8 PEM (what levee's key files hold).
func PEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WriteKey writes a key file (0600) into dir and returns its path.
func WriteKey(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pubRecord(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, _ := x509.MarshalPKIXPublicKey(p)
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p)
	}
	panic("key type")
}

// txt writes a TXT record's data as strings of at most 255 bytes.
func txt(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	return "( " + strings.Join(parts, " ") + " )"
}

// Client addresses of the zone's SPF records.
const (
	GoodIP   = "192.0.2.10"  // allowed by good.test (and its HELO mta.good.test)
	BadIP    = "198.18.0.66" // allowed by nothing
	IncIP    = "198.51.100.7"
	MXIP     = "192.0.2.201"
	ExistsIP = "192.0.2.202"
	PTRIP    = "192.0.2.203"
	GoodIP6  = "2001:db8:1::25"
	V6IP     = "2001:db8:6::25"
)

// Zones returns the test zones: "test" (every domain below, NXDOMAIN with
// a 60 s negative TTL for the rest) and the reverse zone of 192.0.2.0/24.
//
//	good.test      SPF ip4:192.0.2.0/25 ip6:2001:db8:1::/48 -all; MX; DMARC p=reject;
//	               DKIM rsa (2048, split strings), ed (Ed25519), revoked (p=), short (512 bits)
//	mta.good.test  SPF a -all (a HELO identity)
//	soft.test      ~all            neutral.test ?all        perm.test  a syntax error
//	inc.test       include -> include -> ip4:198.51.100.0/24
//	loop.test      include loop    many.test 11 lookups     void.test 3 void lookups
//	redirect.test  redirect=good.test                       v6.test ip6:2001:db8:6::/48
//	mx.test        mx              exists.test exists:%{i}  ptr.test ptr:ptr.test
//	quar.test      DMARC p=quarantine                       none.test DMARC p=none
//	parent.test    DMARC p=reject sp=quarantine (sub.parent.test)
//	strict.test    DMARC p=reject adkim=s aspf=s; SPF as good.test; DKIM rsa, ed
func Zones(k *Keys) map[string]string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	w("$ORIGIN test.")
	w("$TTL 300")
	w("@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60")
	w("@ IN NS ns.test.")
	w("ns IN A 127.0.0.1")
	w(`good IN TXT "v=spf1 ip4:192.0.2.0/25 ip6:2001:db8:1::/48 -all"`)
	w("good IN MX 10 mx.good.test.")
	w("mx.good IN A 192.0.2.200")
	w(`mta.good IN TXT "v=spf1 a -all"`)
	w("mta.good IN A %s", GoodIP)
	w(`_dmarc.good IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"`)
	w("rsa._domainkey.good IN TXT %s", txt(pubRecord(k.RSA.Public())))
	w("ed._domainkey.good IN TXT %s", txt(pubRecord(k.Ed.Public())))
	w(`revoked._domainkey.good IN TXT "v=DKIM1; k=rsa; p="`)
	blk, _ := pem.Decode(k.Short)
	sk, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		panic(err)
	}
	w("short._domainkey.good IN TXT %s", txt(pubRecord(&sk.PublicKey)))
	w(`soft IN TXT "v=spf1 ip4:192.0.2.0/25 ~all"`)
	w(`neutral IN TXT "v=spf1 ?all"`)
	w(`perm IN TXT "v=spf1 ip4:300.0.0.1 -all"`)
	w(`inc IN TXT "v=spf1 include:_a.inc.test -all"`)
	w(`_a.inc IN TXT "v=spf1 include:_b.inc.test ~all"`)
	w(`_b.inc IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`)
	w(`loop IN TXT "v=spf1 include:loop2.test -all"`)
	w(`loop2 IN TXT "v=spf1 include:loop.test -all"`)
	many := "v=spf1"
	for i := 1; i <= 11; i++ {
		many += fmt.Sprintf(" a:h%d.many.test", i)
		w("h%d.many IN A 203.0.113.1", i)
	}
	w(`many IN TXT "%s -all"`, many)
	w(`void IN TXT "v=spf1 a:v1.void.test a:v2.void.test a:v3.void.test -all"`)
	w(`redirect IN TXT "v=spf1 redirect=good.test"`)
	w(`v6 IN TXT "v=spf1 ip6:2001:db8:6::/48 -all"`)
	w(`mx IN TXT "v=spf1 mx -all"`)
	w("mx IN MX 10 mail.mx.test.")
	w("mail.mx IN A %s", MXIP)
	w(`exists IN TXT "v=spf1 exists:%%{i}.ok.exists.test -all"`)
	w("%s.ok.exists IN A 127.0.0.2", ExistsIP)
	w(`ptr IN TXT "v=spf1 ptr:ptr.test -all"`)
	w("host.ptr IN A %s", PTRIP)
	w(`_dmarc.quar IN TXT "v=DMARC1; p=quarantine"`)
	w(`_dmarc.none IN TXT "v=DMARC1; p=none"`)
	w(`_dmarc.parent IN TXT "v=DMARC1; p=reject; sp=quarantine"`)
	w(`_dmarc.strict IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`)
	w(`strict IN TXT "v=spf1 ip4:192.0.2.0/25 -all"`)
	w(`mail.strict IN TXT "v=spf1 ip4:192.0.2.0/25 -all"`)
	w("rsa._domainkey.strict IN TXT %s", txt(pubRecord(k.RSA.Public())))
	w("ed._domainkey.strict IN TXT %s", txt(pubRecord(k.Ed.Public())))
	rev := "$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n" +
		strings.TrimPrefix(PTRIP, "192.0.2.") + " IN PTR host.ptr.test.\n"
	return map[string]string{"test": b.String(), "2.0.192.in-addr.arpa": rev}
}

// EmptyZone is a zone with no names but its apex: every query in it gets
// a definite NXDOMAIN or NODATA (e.g. for the example.com addresses of
// tests, so that nothing is REFUSED).
func EmptyZone(origin string) string {
	return "$ORIGIN " + origin + ".\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n"
}
