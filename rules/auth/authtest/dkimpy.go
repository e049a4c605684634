package authtest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Python is Debian's interpreter, where python3-dkim and python3-dnspython
// live (not a python of the PATH).
const Python = "/usr/bin/python3"

// The script: "verify SERVER PORT" verifies every DKIM-Signature of the
// message on stdin, asking SERVER:PORT (nsd) for the keys, and prints one
// line per signature; "sign SELECTOR DOMAIN KEYFILE ALGO LENGTH" signs it
// (c=relaxed/relaxed) and prints the signed message.
const script = `
import sys, dkim, dns.message, dns.query, dns.rdatatype
mode = sys.argv[1]
msg = sys.stdin.buffer.read()
if mode == "verify":
    server, port = sys.argv[2], int(sys.argv[3])
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        q = dns.message.make_query(name, dns.rdatatype.TXT)
        r = dns.query.udp(q, server, port=port, timeout=timeout)
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(list(rrset.items)[0].strings)
        return None
    n = sum(1 for l in msg.split(b"\n") if l.lower().startswith(b"dkim-signature:"))
    ok = n > 0
    d = dkim.DKIM(msg)
    for i in range(n):
        res = d.verify(idx=i, dnsfunc=dnsfunc)
        print("signature %d: %s" % (i, "pass" if res else "fail"))
        ok = ok and res
    sys.exit(0 if ok else 1)
elif mode == "sign":
    sel, dom, keyfile, algo, length = sys.argv[2:7]
    key = open(keyfile, "rb").read()
    sig = dkim.sign(msg, sel.encode(), dom.encode(), key,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        canonicalize=(b"relaxed", b"relaxed"), length=(length == "1"),
        signature_algorithm=algo.encode())
    sys.stdout.buffer.write(sig + msg)
`

// NeedDKIMPy skips (fails in CI) when dkimpy is not there.
func NeedDKIMPy(t testing.TB) {
	t.Helper()
	Need(t, Python)
	if err := exec.Command(Python, "-c", "import dkim, dns.message, nacl").Run(); err != nil {
		if InCI() {
			t.Fatal("python3-dkim, python3-dnspython or python3-nacl is missing (CI: .ci/test.sh installs them)")
		}
		t.Skip("python3-dkim, python3-dnspython or python3-nacl is not installed")
	}
}

func runPy(t testing.TB, stdin []byte, args ...string) ([]byte, string, error) {
	t.Helper()
	cmd := exec.Command(Python, append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), out.String() + errb.String(), err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("dkimpy hangs")
		return nil, "", nil
	}
}

// DKIMPyVerify verifies every signature of msg with dkimpy, the keys from
// nsd at addr ("127.0.0.1:PORT"). It returns whether all passed and what
// dkimpy printed.
func DKIMPyVerify(t testing.TB, addr string, msg []byte) (bool, string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	_, out, err := runPy(t, msg, "verify", host, port)
	return err == nil, out
}

// DKIMPySign signs msg with dkimpy: RSA (keyPEM) or Ed25519, with an l=
// tag when length is set.
func DKIMPySign(t testing.TB, msg []byte, selector, domain string, rsaPEM []byte, ed ed25519.PrivateKey, length bool) []byte {
	t.Helper()
	dir := t.TempDir()
	algo, key := "rsa-sha256", rsaPEM
	if ed != nil {
		// dkimpy's Ed25519 private key is the base64 seed
		algo, key = "ed25519-sha256", []byte(base64.StdEncoding.EncodeToString(ed.Seed()))
	}
	kf := filepath.Join(dir, "key")
	os.WriteFile(kf, key, 0o600)
	out, all, err := runPy(t, msg, "sign", selector, domain, kf, algo, strconv.Itoa(map[bool]int{false: 0, true: 1}[length]))
	if err != nil {
		t.Fatalf("dkimpy sign: %v\n%s", err, all)
	}
	return out
}
