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

	"github.com/levee-mail/levee/filter/mta"
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

// startListed serves the bl.test config (early reject on or off) from a
// real rbldnsd with levee's real resolver (no injected Resolver: start
// would set NoDNS), and connects the listed client 192.0.2.99.
func startListed(t *testing.T, early bool) (*harness, *mta.Session) {
	t.Helper()
	e, err := rules.NewEngine(dnsblConfig(startRbldnsd(t, zone), early), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := startWithEngine(t, e) // closes e when the test ends
	s := h.session(t)
	connect(t, s, "192.0.2.99", "[192.0.2.99]", "bot.example")
	return h, s
}

// A listed client is rejected at RCPT when early reject is on: the reply
// names the list's public zone and its TXT reason, and every recipient is
// answered (the sender survives the first rejection).
func TestEarlyRejectAtRcpt(t *testing.T) {
	h, s := startListed(t, true)
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
	s2 := h.connected(t, "192.0.2.98", "clean.example")
	if _, act := send(t, s2, ham()); act.Code != milter.ActAccept {
		t.Fatalf("clean client: %c", act.Code)
	}
}

// Without early reject, the listing scores at end of message.
func TestDNSBLScoredAtEndOfMessage(t *testing.T) {
	_, s := startListed(t, false)
	acts, act := send(t, s, ham())
	if act.Code != milter.ActAccept {
		t.Fatalf("%c", act.Code)
	}
	hs := addedHeaders(acts)
	if hs["X-Spam-Flag"] != "YES" || !strings.Contains(hs["X-Spam-Status"], "TEST_BL") {
		t.Errorf("headers %v", hs)
	}
}
