package main

// The DNSBL end to end: Debian's rbldnsd serves a test zone on loopback,
// levee (behind the package's Postfix) queries it, and a listed client is
// rejected at RCPT TO with the list's public name in the reply.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	rbldnsdBin  = "/usr/sbin/rbldnsd"
	e2eListName = "E2E-Blocklist"
	e2eZone     = "bl.levee.test"
	e2eListedIP = "192.0.2.66" // in the zone

	e2eBrokenName = "E2E-Broken"
	e2eBrokenZone = "broken.levee.test"
)

// rbldnsd is a running rbldnsd.
type rbldnsd struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func (r *rbldnsd) stop() {
	r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// startRbldnsd serves zones (name: ip4set data; the first one must list
// 127.0.0.2) on a loopback UDP port.
func startRbldnsd(dir string, zones [][2]string) (*rbldnsd, error) {
	var specs []string
	for i, z := range zones {
		f := fmt.Sprintf("zone%d.ip4set", i)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(z[1]), 0o644); err != nil {
			return nil, err
		}
		specs = append(specs, z[0]+":ip4set:"+f)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	r := &rbldnsd{addr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	r.cmd = exec.Command(rbldnsdBin, append([]string{"-n", "-t", "60", "-b", fmt.Sprintf("127.0.0.1/%d", port), "-w", dir}, specs...)...)
	if os.Geteuid() == 0 {
		r.cmd.Args = append(r.cmd.Args[:1], append([]string{"-u", "nobody"}, r.cmd.Args[1:]...)...)
	}
	out := &syncBuffer{}
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	// Ready when it answers for the RFC 5782 test entry.
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", r.addr)
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		addrs, err := res.LookupHost(ctx, "2.0.0.127."+zones[0][0])
		cancel()
		if err == nil && len(addrs) > 0 {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("rbldnsd exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("rbldnsd not answering on %s: %v %s", r.addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startE2EDNSBL starts rbldnsd for the package's Postfix instance and
// returns the dns:/dnsbl: part of levee's config. Without rbldnsd (and
// outside CI) it returns no list: only TestE2EPostfixDNSBL skips.
func startE2EDNSBL(t *testing.T, dir string) (*rbldnsd, string, error) {
	if _, err := os.Stat(rbldnsdBin); err != nil {
		if inCI() {
			return nil, "", fmt.Errorf("%s is missing", rbldnsdBin)
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
	r, err := startRbldnsd(zdir, [][2]string{{e2eZone, zone}, {e2eBrokenZone, broken}})
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
`, r.addr, e2eListName, e2eZone, e2eBrokenName, e2eBrokenZone)
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
	if st, _ := m.header("X-Spam-Status"); strings.Contains(st, "RCVD_IN_E2E") {
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
