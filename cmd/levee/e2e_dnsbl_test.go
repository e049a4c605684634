package main

// The DNSBL end to end: Debian's rbldnsd serves a test zone on loopback,
// levee (behind the package's Postfix) queries it, and a listed client is
// rejected at RCPT TO with the list's public name in the reply.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/rbldnsd"
)

const (
	e2eListName = "E2E-Blocklist"
	e2eZone     = "bl.levee.test"
	e2eListedIP = "192.0.2.66" // in the zone

	e2eBrokenName = "E2E-Broken"
	e2eBrokenZone = "broken.levee.test"
)

// startE2EDNSBL starts rbldnsd for the package's Postfix instance and
// returns the dns:/dnsbl: part of levee's config. Without rbldnsd (and
// outside CI) it returns no list: only TestE2EPostfixDNSBL skips.
func startE2EDNSBL(dir string) (*rbldnsd.Server, string, error) {
	if _, err := os.Stat(rbldnsd.Bin); err != nil {
		if inCI() {
			return nil, "", fmt.Errorf("%s is missing", rbldnsd.Bin)
		}
		return nil, "dnsbl:\n  lists: []\n", nil
	}
	zdir := filepath.Join(dir, "rbldnsd")
	if err := os.MkdirAll(zdir, 0o755); err != nil {
		return nil, "", err
	}
	// ip4set: a default answer, then the listed ranges. 127.0.0.2 is the
	// RFC 5782 test entry levee's health check expects listed.
	zone := ":127.0.0.2:Listed by " + e2eListName + " (test)\n192.0.2.64/27\n127.0.0.2\n"
	// A list without the test entry: its health check fails and disables it.
	broken := ":127.0.0.2:broken\n192.0.2.1\n"
	r, err := rbldnsd.Start(zdir, rbldnsd.Options{}, []rbldnsd.Zone{
		{Name: e2eZone, Type: "ip4set", Data: zone}, {Name: e2eBrokenZone, Type: "ip4set", Data: broken}})
	if err != nil {
		return nil, "", err
	}
	y := fmt.Sprintf(`dns:
  servers: ["%s"]
  timeout: 1s
  deadline: 3s
dnsbl:
  early_reject:
    enabled: true
    score: 10
  lists:
    - name: %s
      zone: %s
      kind: ip
      checks: [client]
      answers:
        - match: 127.0.0.2
          rule: RCVD_IN_E2E
          score: 10
          description: listed in the e2e test list
    - name: %s
      zone: %s
      kind: ip
      answers:
        - match: 127.0.0.2
          rule: RCVD_IN_E2E_BROKEN
          score: 1
`, r.Addr(), e2eListName, e2eZone, e2eBrokenName, e2eBrokenZone)
	return r, y, nil
}

func TestE2EPostfixDNSBL(t *testing.T) {
	p := e2ePostfix(t)
	if p.rbl == nil {
		t.Skip("rbldnsd is not installed")
	}
	tok := newToken("dnsbl")
	c := p.client(t, "main", "ADDR="+e2eListedIP+" NAME=mail.example.com", "mail.example.com")
	if code, text := c.cmd("MAIL FROM:<alice@example.com>"); code != 250 {
		t.Fatalf("MAIL: %d %s", code, text)
	}
	code, text := c.cmd("RCPT TO:<bob@example.org>")
	if code != 550 || !strings.Contains(text, e2eListName) {
		t.Fatalf("RCPT from a listed client: %d %q, want 550 naming %s", code, text, e2eListName)
	}
	c.quit()

	// A client not listed goes through, and the lookup was made (cached
	// negative or not, the list is healthy).
	c = p.client(t, "main", "ADDR=192.0.2.200 NAME=mail.example.com", "mail.example.com")
	if code, text := c.send("alice@example.com", []string{"bob@example.org"}, testMessage(tok, "alice@example.com", "", "", "")); code != 250 {
		t.Fatalf("unlisted client: %d %s", code, text)
	}
	c.quit()
	m := p.sink.waitMsg(t, tok, 30*time.Second)
	if st, _ := header(m, "X-Spam-Status"); strings.Contains(st, "RCVD_IN_E2E") {
		t.Errorf("unlisted client hit the list: %s", st)
	}

	// The DNSBL metrics of rules/dnsbl are on levee's /metrics, and the
	// list its health check disabled is named by /healthz (still 200).
	// The health check runs in the background from levee's start.
	var body string
	waitFor(t, "the broken list to be disabled", 10*time.Second, func() bool {
		_, body = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", p.metrics))
		return metricLine(body, `levee_dnsbl_lists_disabled{list="`+e2eBrokenName+`"}`) == 1
	})
	if v := metricLine(body, `levee_dnsbl_queries_total{list="`+e2eListName+`",outcome="listed"}`); v < 1 {
		t.Errorf("levee_dnsbl_queries_total listed: %v", v)
	}
	code, hz := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.metrics))
	if code != 200 || hz != "ok\ndisabled lists: "+e2eBrokenName+"\n" {
		t.Errorf("/healthz: %d %q", code, hz)
	}
}
