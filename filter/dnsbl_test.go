package filter

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	"github.com/miekg/dns"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/dnsbl"
)

// startRbldnsd runs Debian's rbldnsd on a loopback port serving zone bl.test
// from the given ip4set data, and returns "127.0.0.1:PORT".
func startRbldnsd(t *testing.T, data string) string {
	t.Helper()
	bin, err := exec.LookPath("rbldnsd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rbldnsd is not installed (the test command installs it)")
		}
		t.Skip("rbldnsd not installed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "zone"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	args := []string{"-n", "-b", "127.0.0.1/" + strconv.Itoa(port), "-r", dir, "-w", "/", "-t", "60"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "rbldns")
	}
	args = append(args, "bl.test:ip4set:zone")
	cmd := exec.Command(bin, args...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := new(dns.Msg).SetQuestion("2.0.0.127.bl.test.", dns.TypeA)
		if r, _, err := c.Exchange(m, addr); err == nil && len(r.Answer) > 0 {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("rbldnsd did not answer: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dnsblConfig(server string, early bool) rules.Config {
	rc := testConfig()
	rc.DNS = dnsbl.ResolverConfig{Servers: []string{server}, Timeout: time.Second, Deadline: 3 * time.Second}
	rc.DNSBL.EarlyReject.Enabled = early
	rc.DNSBL.EarlyReject.Score = 5
	rc.DNSBL.Lists = []dnsbl.List{{
		Name: "bl.test", Zone: "bl.test", Kind: "ip", Checks: []string{"client"},
		Answers: []dnsbl.Answer{{Match: "127.0.0.2", Rule: "TEST_BL", Score: 6, Description: "listed in bl.test"}},
	}}
	return rc
}

const zone = ":127.0.0.2:Listed for spamming, see https://bl.test/q?$\n192.0.2.99\n127.0.0.2\n"

// A listed client is rejected at RCPT when early reject is on: the reply
// names the list's public zone and its TXT reason, and every recipient is
// answered (the sender survives the first rejection).
func TestEarlyRejectAtRcpt(t *testing.T) {
	server := startRbldnsd(t, zone)
	// levee's real resolver (no injected Resolver): start() would set NoDNS
	e, err := rules.NewEngine(dnsblConfig(server, true), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := startWithEngine(t, e)
	s := h.session(t)
	connect(t, s, "192.0.2.99", "[192.0.2.99]", "bot.example")
	a, err := s.Mail("pump@dump.example", nil)
	must(t, a, err)
	for _, rcpt := range []string{"a@example.org", "b@example.org"} {
		a, err := s.Rcpt(rcpt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Code != milter.ActReplyCode || a.SMTPCode != 550 || !strings.Contains(a.SMTPText, "bl.test") ||
			!strings.Contains(a.SMTPText, "Listed for spamming") || !strings.Contains(a.SMTPText, "192.0.2.99") {
			t.Fatalf("rcpt %s: %c %d %q", rcpt, a.Code, a.SMTPCode, a.SMTPText)
		}
	}
	s.Abort()
	h.rec.mu.Lock()
	if h.rec.early != 2 {
		t.Errorf("observer saw %d early rejects, want 2", h.rec.early)
	}
	h.rec.mu.Unlock()

	// a clean client on the same server goes through
	s2 := h.session(t)
	connect(t, s2, "192.0.2.98", "clean.example", "clean.example")
	if _, act := send(t, s2, ham()); act.Code != milter.ActAccept {
		t.Fatalf("clean client: %c", act.Code)
	}
}

// Without early reject, the listing scores at end of message.
func TestDNSBLScoredAtEndOfMessage(t *testing.T) {
	server := startRbldnsd(t, zone)
	e, err := rules.NewEngine(dnsblConfig(server, false), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := startWithEngine(t, e)
	s := h.session(t)
	connect(t, s, "192.0.2.99", "[192.0.2.99]", "bot.example")
	acts, act := send(t, s, ham())
	if act.Code != milter.ActAccept {
		t.Fatalf("%c", act.Code)
	}
	hs := addedHeaders(acts)
	if hs["X-Spam-Flag"] != "YES" || !strings.Contains(hs["X-Spam-Status"], "TEST_BL") {
		t.Errorf("headers %v", hs)
	}
}
