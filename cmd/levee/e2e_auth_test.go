package main

// Sender authentication end to end: Debian's nsd serves the test zone of
// rules/auth/authtest on loopback, a levee with SPF, DKIM and DMARC on
// (on_error: tempfail, dmarc_reject: reject, DKIM keys of good.test) sits
// behind the package Postfix's "auth" service, and the main levee signs
// what Postfix's pickup service (sendmail(1), non_smtpd_milters) hands it.
// dkimpy (python3-dkim) verifies what levee signs; levee verifies what
// `levee dkim sign` and dkimpy sign.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
	"github.com/levee-mail/levee/rules/auth/authtest"
)

func init() { e2eAuthSetup = setupE2EAuth }

// e2eAuth is the package instance's auth part (nil nsd: not set up).
var e2eAuth struct {
	nsd     *authtest.NSD
	levee   *leveeProc
	rsaKey  string // key files of good.test
	edKey   string
	metrics int // the auth levee's /metrics port
}

func setupE2EAuth(t *testing.T, dir string) (string, []postfix.Service, []func(), error) {
	off := "auth:\n  enabled: false\n"
	for _, tool := range []string{authtest.NSDBin, authtest.Python} {
		if _, err := os.Stat(tool); err != nil {
			if inCI() {
				return "", nil, nil, fmt.Errorf("%s is missing", tool)
			}
			return off, nil, nil, nil
		}
	}
	k := authtest.TestKeys()
	kdir := filepath.Join(dir, "dkim")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return "", nil, nil, err
	}
	e2eAuth.rsaKey = filepath.Join(kdir, "rsa.key")
	e2eAuth.edKey = filepath.Join(kdir, "ed.key")
	os.WriteFile(e2eAuth.rsaKey, authtest.PEM(k.RSA), 0o600)
	os.WriteFile(e2eAuth.edKey, authtest.PEM(k.Ed), 0o600)
	zones := authtest.Zones(k)
	zones["example.com"] = authtest.EmptyZone("example.com")
	zones["example.org"] = authtest.EmptyZone("example.org")
	n, err := authtest.Launch(filepath.Join(dir, "nsd"), zones)
	if err != nil {
		return "", nil, nil, err
	}
	stops := []func(){n.Stop}
	sign := fmt.Sprintf("  sign:\n    - {domain: good.test, selector: rsa, key: %s}\n    - {domain: good.test, selector: ed, key: %s}\n", e2eAuth.rsaKey, e2eAuth.edKey)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adir := filepath.Join(dir, "auth")
	os.MkdirAll(adir, 0o755)
	e2eAuth.metrics = freePort(t)
	cfg := writeLeveeConfig(t, adir, fmt.Sprintf(`listen: inet:%s
log:
  level: debug
metrics:
  listen: 127.0.0.1:%d
dns:
  servers: ["%s"]
  timeout: 300ms
  deadline: 1500ms
dnsbl:
  lists: []
auth:
  authserv_id: mx.levee.test
  on_error: tempfail
  dmarc_reject: reject
%s`, addr, e2eAuth.metrics, n.Addr, sign))
	lp := startLeveeShared(leveeBinary(t), cfg, addr)
	if lp == nil {
		return "", nil, stops, fmt.Errorf("levee (auth) did not start")
	}
	stops = append(stops, func() { lp.stop() })
	e2eAuth.nsd, e2eAuth.levee = n, lp
	auth := postfix.Service{Name: "auth", Args: []string{"-o", "smtpd_milters=inet:" + addr, "-o", "milter_default_action=tempfail"}}
	return "auth:\n  enabled: false\n" + sign, []postfix.Service{auth}, stops, nil
}

func e2eAuthPostfix(t *testing.T) *postfixInst {
	t.Helper()
	p := e2ePostfix(t)
	if e2eAuth.nsd == nil {
		t.Skip("nsd or python3 is not installed")
	}
	authtest.NeedDKIMPy(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("levee (auth) log (tail):\n%s", tail(e2eAuth.levee.log.String(), 40))
		}
	})
	return p
}

// authMessage is a message with a unique token; its body can be changed.
func authMessage(token, from string) string {
	return testMessage(token, from, "", "", "")
}

func TestE2EAuthPostfix(t *testing.T) {
	p := e2eAuthPostfix(t)
	bin := leveeBinary(t)

	t.Run("SPF fail", func(t *testing.T) {
		tok := newToken("spffail")
		c := p.client(t, "auth", "ADDR="+authtest.BadIP+" NAME=bot.example.com", "bot.example.com")
		if code, text := c.send("x@good.test", []string{"bob@example.org"}, authMessage(tok, "alice@none.test")); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		c.quit()
		m := p.sink.waitMsg(t, tok, 30*time.Second)
		if ar, _ := header(m, "Authentication-Results"); !strings.HasPrefix(ar, "mx.levee.test;") || !strings.Contains(ar, "spf=fail") || !strings.Contains(ar, "dmarc=fail") {
			t.Errorf("Authentication-Results %q", ar)
		}
		if st, _ := header(m, "X-Spam-Status"); !strings.Contains(st, "SPF_FAIL") || !strings.Contains(st, "DMARC_NONE") {
			t.Errorf("X-Spam-Status %q", st)
		}
	})

	t.Run("forged From of a p=reject domain", func(t *testing.T) {
		tok := newToken("forged")
		c := p.client(t, "auth", "ADDR="+authtest.BadIP+" NAME=bot.example.com", "bot.example.com")
		code, text := c.send("bounce@nothing.test", []string{"bob@example.org"}, authMessage(tok, "ceo@good.test"))
		c.quit()
		if code != 550 || !strings.Contains(text, "DMARC") {
			t.Fatalf("%d %s, want 550 DMARC", code, text)
		}
	})

	// signed by `levee dkim sign`
	dkimSign := func(t *testing.T, msg, key, selector string) string {
		t.Helper()
		cmd := exec.Command(bin, "dkim", "sign", "--domain", "good.test", "--selector", selector, "--key", key)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("levee dkim sign: %v", err)
		}
		return string(out)
	}

	t.Run("aligned DKIM passes", func(t *testing.T) {
		tok := newToken("dkimpass")
		signed := dkimSign(t, authMessage(tok, "ceo@good.test"), e2eAuth.rsaKey, "rsa")
		c := p.client(t, "auth", "ADDR="+authtest.BadIP+" NAME=list.example.com", "list.example.com")
		if code, text := c.send("list@nothing.test", []string{"bob@example.org"}, signed); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		c.quit()
		m := p.sink.waitMsg(t, tok, 30*time.Second)
		ar, _ := header(m, "Authentication-Results")
		if !strings.Contains(ar, "dkim=pass") || !strings.Contains(ar, "header.d=good.test") || !strings.Contains(ar, "dmarc=pass") {
			t.Errorf("Authentication-Results %q", ar)
		}
		if st, _ := header(m, "X-Spam-Status"); !strings.Contains(st, "DKIM_VALID_AU") {
			t.Errorf("X-Spam-Status %q", st)
		}
	})

	t.Run("body changed after signing", func(t *testing.T) {
		tok := newToken("dkimfail")
		signed := dkimSign(t, authMessage(tok, "ceo@good.test"), e2eAuth.edKey, "ed")
		changed := strings.Replace(signed, "next week", "next month", 1)
		c := p.client(t, "auth", "ADDR="+authtest.GoodIP+" NAME=mta.good.test", "mta.good.test")
		if code, text := c.send("ceo@good.test", []string{"bob@example.org"}, changed); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		c.quit()
		m := p.sink.waitMsg(t, tok, 30*time.Second)
		if ar, _ := header(m, "Authentication-Results"); !strings.Contains(ar, "dkim=fail") || !strings.Contains(ar, "spf=pass") {
			t.Errorf("Authentication-Results %q", ar)
		}
		if st, _ := header(m, "X-Spam-Status"); !strings.Contains(st, "DKIM_INVALID") {
			t.Errorf("X-Spam-Status %q", st)
		}
	})

	t.Run("signed by dkimpy", func(t *testing.T) {
		tok := newToken("dkimpy")
		raw := strings.ReplaceAll(authMessage(tok, "ceo@good.test"), "\r\n", "\n")
		signed := authtest.DKIMPySign(t, []byte(raw), "ed", "good.test", nil, authtest.TestKeys().Ed, false)
		c := p.client(t, "auth", "ADDR="+authtest.BadIP+" NAME=list.example.com", "list.example.com")
		if code, text := c.send("list@nothing.test", []string{"bob@example.org"}, strings.ReplaceAll(string(signed), "\n", "\r\n")); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		c.quit()
		m := p.sink.waitMsg(t, tok, 30*time.Second)
		if ar, _ := header(m, "Authentication-Results"); !strings.Contains(ar, "dkim=pass") || !strings.Contains(ar, "header.a=ed25519-sha256") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})

	t.Run("authenticated submission is signed", func(t *testing.T) {
		tok := newToken("signsub")
		c := p.client(t, "auth", "ADDR=192.0.2.150 NAME=laptop.example.com LOGIN=ceo", "laptop.example.com")
		if code, text := c.send("ceo@good.test", []string{"bob@example.org"}, authMessage(tok, "ceo@good.test")); code != 250 {
			t.Fatalf("%d %s", code, text)
		}
		c.quit()
		m := p.sink.waitMsg(t, tok, 30*time.Second)
		if n := strings.Count(string(m.Data), "DKIM-Signature:"); n != 2 {
			t.Fatalf("%d signatures:\n%s", n, m.Data)
		}
		if ok, out := authtest.DKIMPyVerify(t, e2eAuth.nsd.Addr, m.Data); !ok {
			t.Errorf("dkimpy: %s\n%s", out, m.Data)
		}
	})

	t.Run("pickup is signed", func(t *testing.T) {
		tok := newToken("signpickup")
		cmd := exec.Command("/usr/sbin/sendmail", "-C", p.Conf, "-f", "ceo@good.test", "bob@example.org")
		cmd.Stdin = strings.NewReader(strings.ReplaceAll(authMessage(tok, "ceo@good.test"), "\r\n", "\n"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sendmail: %v %s", err, out)
		}
		m := p.sink.waitMsg(t, tok, 60*time.Second)
		t.Logf("delivered header:\n%s", strings.SplitN(string(m.Data), "\r\n\r\n", 2)[0])
		if n := strings.Count(string(m.Data), "DKIM-Signature:"); n != 2 {
			t.Fatalf("%d signatures:\n%s", n, m.Data)
		}
		if ok, out := authtest.DKIMPyVerify(t, e2eAuth.nsd.Addr, m.Data); !ok {
			t.Errorf("dkimpy: %s\n%s", out, m.Data)
		}
		if ok, _ := authtest.DKIMPyVerify(t, e2eAuth.nsd.Addr, bytes.Replace(m.Data, []byte("next week"), []byte("next year"), 1)); ok {
			t.Error("dkimpy accepts a changed body")
		}
	})

	t.Run("DNS stops answering", func(t *testing.T) {
		tok := newToken("dnsdown")
		e2eAuth.nsd.Pause()
		defer e2eAuth.nsd.Resume()
		// with DNS up: SPF_NEUTRAL (?all) and DMARC_QUAR (quar.test's p=quarantine, nothing aligned)
		from := tok + "@neutral.test"
		c := p.client(t, "auth", "ADDR="+authtest.BadIP+" NAME=bot.example.com", "bot.example.com")
		code, text := c.send(from, []string{"bob@example.org"}, authMessage(tok, "ceo@quar.test"))
		c.quit()
		if code != 451 || !strings.Contains(text, "4.4.3") {
			t.Fatalf("%d %s, want 451 4.4.3 (on_error: tempfail)", code, text)
		}
		// the 451 would hide a fail: the verdict's own hits must be temperrors only
		e2eAuth.levee.waitLog("from="+from, 10*time.Second)
		var hits string
		for _, line := range strings.Split(e2eAuth.levee.log.String(), "\n") {
			if strings.Contains(line, "msg=message") && strings.Contains(line, "from="+from) {
				if m := regexp.MustCompile(`\bhits=(\S*)`).FindStringSubmatch(line); m != nil {
					hits = m[1]
				}
			}
		}
		if !strings.Contains(hits, "SPF_TEMPERROR") || !strings.Contains(hits, "DMARC_TEMPERROR") {
			t.Errorf("hits %q, want SPF_TEMPERROR and DMARC_TEMPERROR", hits)
		}
		for _, h := range strings.Split(hits, ",") {
			if strings.Contains(h, "FAIL") || strings.Contains(h, "REJECT") || strings.Contains(h, "QUAR") || h == "SPF_NEUTRAL" {
				t.Errorf("hit %s with DNS down (hits %s)", h, hits)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", e2eAuth.metrics))
		for _, s := range []string{`{method="spf",result="fail"}`, `{method="spf",result="temperror"}`, `{method="dkim",result="pass"}`,
			`{method="dkim",result="fail"}`, `{method="dmarc",result="fail"}`, `{method="dmarc",result="pass"}`} {
			if v := metricLine(body, "levee_auth_results_total"+s); v < 1 {
				t.Errorf("levee_auth_results_total%s = %v", s, v)
			}
		}
	})
}

// The DKIM key files are read when the config loads: a reload with a key
// that cannot be read fails, names the file, and keeps the running config.
func TestE2EDaemonReloadDKIMKey(t *testing.T) {
	h := startDaemon(t, "text")
	key := filepath.Join(h.dir, "good.test.key")
	if err := os.WriteFile(key, authtest.PEM(authtest.TestKeys().Ed), 0o600); err != nil {
		t.Fatal(err)
	}
	withKey := strings.Replace(fmt.Sprintf(daemonConfig, h.addr, "text", h.metrics), "auth:\n  enabled: false\n",
		"auth:\n  enabled: false\n  sign:\n    - {domain: good.test, selector: ed, key: "+key+"}\n", 1)
	h.writeConfig(t, withKey)
	h.hup(t, "config reloaded", 1)
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.hup(t, "reload failed, keeping the running config", 1)
	if log := h.p.log.String(); !strings.Contains(log, key) {
		t.Errorf("the reload error does not name %s:\n%s", key, tail(log, 5))
	}
}
