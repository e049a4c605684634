package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/auth/authtest"
)

// recordOf extracts the key record from keygen's zone line.
func recordOf(zoneLine string) string {
	var b strings.Builder
	parts := strings.Split(zoneLine, "\"")
	for i := 1; i < len(parts); i += 2 {
		b.WriteString(parts[i])
	}
	return b.String()
}

func TestDKIMKeygenAndSign(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"rsa", "ed25519"} {
		key := filepath.Join(dir, typ+".key")
		code, out, errs := runCmd(t, "", "dkim", "keygen", "--domain", "example.org", "--selector", "s1", "--type", typ, "--out", key)
		if code != 0 {
			t.Fatalf("keygen %s: %d %s", typ, code, errs)
		}
		st, err := os.Stat(key)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st.Mode(), err)
		}
		if !strings.Contains(out, "s1._domainkey.example.org. IN TXT") || !strings.Contains(out, "k="+typ) {
			t.Errorf("record: %s", out)
		}
		k, algo, err := auth.LoadKey(key)
		if err != nil || algo != typ {
			t.Fatalf("%v %s", err, algo)
		}
		if typ == "rsa" && k.Public().(interface{ Size() int }).Size() != 256 {
			t.Errorf("RSA key is not 2048 bits")
		}
		rec := recordOf(out[strings.Index(out, "\n")+1:])
		if code, _, _ := runCmd(t, "", "dkim", "keygen", "--domain", "example.org", "--selector", "s1", "--out", key); code == 0 {
			t.Error("keygen overwrote a key file")
		}
		msg := "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: hello\nDate: Mon, 2 Nov 2026 10:00:00 +0100\n\nHello Bob.\n"
		code, signed, errs := runCmd(t, msg, "dkim", "sign", "--domain", "example.org", "--selector", "s1", "--key", key)
		if code != 0 || !strings.HasPrefix(signed, "DKIM-Signature: ") {
			t.Fatalf("sign: %d %s %s", code, errs, signed)
		}
		lookup := func(name string) ([]string, error) {
			if name == "s1._domainkey.example.org" {
				return []string{rec}, nil
			}
			return nil, &dnsNotFound{}
		}
		vs, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("%s: %v %+v", typ, err, vs)
		}
	}
	if code, _, errs := runCmd(t, "x", "dkim", "sign", "--domain", "example.org", "--selector", "s1", "--key", filepath.Join(dir, "nope.key")); code != 2 || !strings.Contains(errs, "nope.key") {
		t.Errorf("missing key: %d %s", code, errs)
	}
}

type dnsNotFound struct{}

func (dnsNotFound) Error() string { return "not found" }

func TestRulesListAuth(t *testing.T) {
	code, out, _ := runCmd(t, "", "rules", "list")
	for _, r := range []string{"SPF_FAIL", "DKIM_VALID_AU", "DKIM_KEY_REVOKED", "DMARC_REJECT"} {
		if code != 0 || !strings.Contains(out, r) {
			t.Errorf("rules list lacks %s", r)
		}
	}
	if !strings.Contains(out, "DMARC_REJECT                    4.00  auth") {
		t.Errorf("DMARC_REJECT line: %s", out)
	}
}

// A key file that cannot be read stops the config with its name.
func TestConfigAuthKey(t *testing.T) {
	cfg := writeFile(t, "auth.yaml", "auth:\n  sign:\n    - {domain: example.org, selector: s1, key: /nonexistent/s1.key}\n")
	code, _, errs := runCmd(t, "", "config", "check", cfg)
	if code != 2 || !strings.Contains(errs, "/nonexistent/s1.key") || !strings.Contains(errs, "auth: sign[0]") {
		t.Errorf("%d %s", code, errs)
	}
}

// levee check --dns and levee lookup against nsd.
func TestCheckAndLookupAuth(t *testing.T) {
	k := authtest.TestKeys()
	n := authtest.StartNSD(t, authtest.Zones(k))
	cfg := writeFile(t, "auth.yaml", "dns:\n  servers: [\""+n.Addr+"\"]\n  timeout: 500ms\ndnsbl:\n  lists: []\n")
	msg := "From: CEO <ceo@good.test>\r\nTo: bob@example.org\r\nSubject: wire transfer\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <x@good.test>\r\n\r\nPlease pay.\r\n" +
		strings.Repeat("A long body past the scan limit, line after line after line.\r\n", 30000)
	code, out, errs := runCmd(t, msg, "check", "--config", cfg, "--dns", "--explain", "--ip", authtest.BadIP, "--from", "x@good.test", "--helo", "bot.example", "-")
	if !strings.Contains(out, "SPF_FAIL") || !strings.Contains(out, "DMARC_REJECT") || !strings.Contains(out, "Authentication-Results: ") || !strings.Contains(out, "spf=fail") {
		t.Errorf("check: %d\n%s%s", code, out, errs)
	}
	// a signed message verifies over the whole body (past scan_limit)
	key := authtest.WriteKey(t, t.TempDir(), "rsa.key", authtest.PEM(k.RSA))
	_, signed, _ := runCmd(t, msg, "dkim", "sign", "--domain", "good.test", "--selector", "rsa", "--key", key)
	authtest.NeedDKIMPy(t)
	if ok, out := authtest.DKIMPyVerify(t, n.Addr, []byte(signed)); !ok {
		t.Errorf("dkimpy rejects levee dkim sign: %s", out)
	}
	_, out, _ = runCmd(t, signed, "check", "--config", cfg, "--dns", "--json", "--ip", authtest.BadIP, "--from", "x@list.example", "-")
	if !strings.Contains(out, `"rule":"DKIM_VALID"`) || !strings.Contains(out, `"dmarc":{"from":"good.test","policy":"","reason":"","requested":"reject","result":"pass"}`) {
		t.Errorf("check --json: %s", out)
	}
	code, out, errs = runCmd(t, "", "lookup", "--config", cfg, "--ip", authtest.GoodIP, "--selector", "rsa", "--selector", "revoked", "--selector", "none", "good.test")
	for _, want := range []string{"SPF    v=spf1 ip4:192.0.2.0/25", "check_host(" + authtest.GoodIP + ", good.test) = pass", "DMARC  policy for good.test: reject",
		"rsa._domainkey.good.test: ok", "revoked._domainkey.good.test: revoked", "none._domainkey.good.test: no key record"} {
		if !strings.Contains(out, want) {
			t.Errorf("lookup lacks %q: %d\n%s%s", want, code, out, errs)
		}
	}
}
