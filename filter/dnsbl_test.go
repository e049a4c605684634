package filter

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/filter/mta/rbldnsd"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/dnsbl"
)

// startRbldnsd serves zone bl.test from the given ip4set data on Debian's
// rbldnsd (filter/mta/rbldnsd) and returns "127.0.0.1:PORT".
func startRbldnsd(t *testing.T, data string) string {
	t.Helper()
	if _, err := os.Stat(rbldnsd.Bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rbldnsd is not installed (the test command installs it)")
		}
		t.Skip("rbldnsd not installed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // rbldnsd started as root drops to nobody
	r, err := rbldnsd.Start(dir, rbldnsd.Options{}, []rbldnsd.Zone{{Name: "bl.test", Type: "ip4set", Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r.Addr()
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
