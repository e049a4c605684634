package dnsbl

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testDQSKey = "abcdefghijklmnopqrstuvwxyz" // 26 characters, like a real key

// rbldnsd zone files (see rbldnsd(8)). ZEN-style: one zone built from
// several datasets, so one IP can carry several codes.
var rbldnsdZones = map[string]string{
	"sbl": ":127.0.0.2:Listed by SBL, see https://check.example/sbl?$\n127.0.0.2\n192.0.2.2\n192.0.2.10\n",
	"xbl": ":127.0.0.4:Listed by XBL, see https://check.example/xbl?$\n127.0.0.2\n192.0.2.2\n",
	"pbl": ":127.0.0.10:Listed by PBL\n192.0.2.20\n",
	"err": ":127.255.255.254:Error: open resolver; https://check.example/returnc/pub\n192.0.2.66\n" +
		"192.0.2.67 :127.255.255.255:Error: over quota\n",
	"v6":    "::ffff:7f00:2 :127.0.0.2:test\n2001:db8:1::/48 :127.0.0.3:Listed by CSS\n",
	"dbl":   ":127.0.1.2:Spam domain $\ntest\n.spam.example\nxn--bcher-kva.example\nphish.example :127.0.1.4:Phishing domain\n",
	"dnswl": ":127.0.10.3:\n127.0.0.2\n192.0.2.10\n192.0.2.11 :127.0.10.1:\n",
	"surbl": ":127.0.0.24:\ntest\n.bad.example\n",
	// broken: lists everything (127.0.0.1 included)
	"broken": "127.0.0.0/24\n192.0.2.0/24\n",
	"fixed":  "127.0.0.2\n",
}

type rbldnsd struct {
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startRbldnsd(t *testing.T) *rbldnsd {
	t.Helper()
	bin, err := exec.LookPath("rbldnsd")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("rbldnsd not installed (apt-get install rbldnsd); set CI=true to make this a failure")
		}
		t.Fatal("rbldnsd not on PATH and CI is set: install the rbldnsd package")
	}
	dir := t.TempDir()
	// rbldnsd drops root privileges to its own user: let it read the files.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	for name, data := range rbldnsdZones {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dqs := testDQSKey + ".zen.dq.spamhaus.net"
	zones := []string{
		"zen.test:ip4set:sbl", "zen.test:ip4set:xbl", "zen.test:ip4set:pbl", "zen.test:ip4set:err", "zen.test:ip6trie:v6",
		dqs + ":ip4set:sbl", dqs + ":ip4set:xbl", dqs + ":ip4set:err",
		"dbl.test:dnset:dbl", "wl.test:ip4set:dnswl", "surbl.test:dnset:surbl", "broken.test:ip4set:broken",
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		host, port, _ := net.SplitHostPort(addr)
		args := append([]string{"-n", "-c", "0", "-t", "60", "-b", host + "/" + port, "-w", dir}, zones...)
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		r := &rbldnsd{addr: addr, dir: dir, cmd: cmd}
		if r.waitReady(exited) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return r
		}
		cmd.Process.Kill()
		<-exited
		if attempt == 3 {
			t.Fatalf("rbldnsd did not start: %s", out.String())
		}
	}
}

// waitReady polls until rbldnsd answers the RFC 5782 test entry.
func (r *rbldnsd) waitReady(exited chan struct{}) bool {
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	q := new(dns.Msg).SetQuestion("2.0.0.127.zen.test.", dns.TypeA)
	for range 50 {
		select {
		case <-exited:
			return false
		default:
		}
		if m, _, err := c.Exchange(q, r.addr); err == nil && len(m.Answer) > 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// reload rewrites a data file and makes rbldnsd reload it (SIGHUP).
func (r *rbldnsd) reload(t *testing.T, file, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, file), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func rbldnsdConfig() Config {
	zen := List{Name: "zen.spamhaus.org", Zone: "zen.test", DQS: "zen", Kind: "ip", Checks: []string{"client", "received"}, IPv6: true,
		ErrorCodes: []string{"127.255.255.0/24"}, Answers: []Answer{
			{Match: "127.0.0.2", Rule: "RCVD_IN_SBL", Score: 4},
			{Match: "127.0.0.3", Rule: "RCVD_IN_SBL_CSS", Score: 2},
			{Match: "127.0.0.4/30", Rule: "RCVD_IN_XBL", Score: 4},
			{Match: "127.0.0.10/31", Rule: "RCVD_IN_PBL", Score: 2, Received: new(false), SkipAuthenticated: true},
		}}
	dbl := List{Name: "dbl.spamhaus.org", Zone: "dbl.test", Kind: "domain", ErrorCodes: []string{"127.0.1.255"}, Answers: []Answer{
		{Match: "127.0.1.2", Rule: "URIBL_DBL_SPAM", Score: 3}, {Match: "127.0.1.4", Rule: "URIBL_DBL_PHISH", Score: 4}}}
	wl := List{Name: "list.dnswl.org", Zone: "wl.test", Kind: "ip", ErrorCodes: []string{"127.0.*.255"}, Answers: []Answer{
		{Match: "127.0.*.1", Rule: "RCVD_IN_DNSWL_LOW", Score: -1}, {Match: "127.0.*.3", Rule: "RCVD_IN_DNSWL_HI", Score: -5}}}
	surbl := List{Name: "multi.surbl.org", Zone: "surbl.test", Kind: "domain", Checks: []string{"urls"}, RegisteredDomain: true,
		Answers: []Answer{{Match: "bitmask:8", Rule: "URIBL_PH_SURBL", Score: 3}, {Match: "bitmask:16", Rule: "URIBL_MW_SURBL", Score: 2}}}
	return Config{AllowlistThreshold: -5, HealthInterval: -1, Lists: []List{zen, dbl, wl, surbl}}
}

func TestRbldnsd(t *testing.T) {
	r := startRbldnsd(t)
	dnsCfg := ResolverConfig{Servers: []string{r.addr}, Timeout: time.Second, Deadline: 3 * time.Second}
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &fakeClock{t: time.Now()}
	cfg := rbldnsdConfig()
	cfg.EarlyReject = EarlyReject{Enabled: true, Score: 8}
	c, err := New(cfg, dnsCfg, Options{Logger: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	check := func(auth bool, f func(s *Session)) Result {
		s := c.NewSession(auth)
		f(s)
		return s.Result(ctx)
	}
	ip := netip.MustParseAddr
	rules := func(r Result) string {
		var s []string
		for _, h := range r.Hits {
			s = append(s, h.Rule)
		}
		return strings.Join(s, ",")
	}

	t.Run("health", func(t *testing.T) {
		for _, h := range c.Health(ctx) {
			if !h.OK {
				t.Errorf("%s", h)
			}
		}
	})
	t.Run("listed with two codes", func(t *testing.T) {
		res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.2")) })
		if rules(res) != "RCVD_IN_SBL,RCVD_IN_XBL" || res.Score != 8 {
			t.Fatalf("%+v", res)
		}
		if !strings.Contains(res.Hits[0].TXT, "https://check.example/") {
			t.Errorf("txt %q", res.Hits[0].TXT)
		}
	})
	t.Run("not listed", func(t *testing.T) {
		res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.99")) })
		if len(res.Hits) != 0 || len(res.Errors) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("pbl", func(t *testing.T) {
		if res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.20")) }); rules(res) != "RCVD_IN_PBL" {
			t.Errorf("client: %+v", res)
		}
		if res := check(false, func(s *Session) { s.CheckIP(SourceReceived, ip("192.0.2.20")) }); len(res.Hits) != 0 {
			t.Errorf("received hop: %+v", res)
		}
		if res := check(true, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.20")) }); len(res.Hits) != 0 {
			t.Errorf("authenticated: %+v", res)
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("2001:db8:1::25")) })
		if rules(res) != "RCVD_IN_SBL_CSS" || res.Hits[0].Query != "2001:db8:1::25" {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("domains", func(t *testing.T) {
		res := check(false, func(s *Session) {
			s.CheckDomain(SourceHelo, "mx.spam.example")
			s.CheckDomain(SourceFrom, "phish.example")
			s.CheckDomain(SourceMailFrom, "bücher.example") // also URIBL_DBL_SPAM: counted once
			s.CheckDomain(SourceURLs, "www.bad.example")
			s.CheckDomain(SourceReplyTo, "clean.example")
		})
		if rules(res) != "URIBL_DBL_SPAM,URIBL_DBL_PHISH,URIBL_PH_SURBL,URIBL_MW_SURBL" || res.Score != 12 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("allowlist", func(t *testing.T) {
		res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.10")) })
		if !res.Allowlisted || rules(res) != "RCVD_IN_DNSWL_HI" || res.Score != -5 {
			t.Fatalf("%+v", res)
		}
		res = check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.11")) })
		if res.Allowlisted || rules(res) != "RCVD_IN_DNSWL_LOW" {
			t.Fatalf("low: %+v", res)
		}
	})
	t.Run("early reject", func(t *testing.T) {
		s := c.NewSession(false)
		s.CheckIP(SourceClient, ip("192.0.2.2"))
		s.CheckDomain(SourceHelo, "slow.unrelated.example")
		rej, reply := s.EarlyReject(ctx)
		if !rej || !strings.HasPrefix(reply, "550 5.7.1 Service unavailable; client [192.0.2.2] blocked using zen.spamhaus.org; Listed by") {
			t.Errorf("%v %q", rej, reply)
		}
	})
	t.Run("error codes and backoff", func(t *testing.T) {
		res := check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.66")) })
		if len(res.Hits) != 0 || res.Score != 0 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "127.255.255.254") {
			t.Fatalf("%+v", res)
		}
		// Paused: the next query is not sent; the cache cannot explain it
		// since 192.0.2.67 was never asked.
		res = check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.67")) })
		if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "not queried") {
			t.Fatalf("during backoff: %+v", res)
		}
		clk.Add(DefaultBackoff + time.Second)
		res = check(false, func(s *Session) { s.CheckIP(SourceClient, ip("192.0.2.67")) })
		if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "over quota") || res.Score != 0 {
			t.Fatalf("after backoff: %+v", res)
		}
		if n := strings.Count(logs.String(), "list paused"); n != 2 {
			t.Errorf("logged %d times", n)
		}
		clk.Add(DefaultBackoff + time.Second)
	})
	t.Run("lookup", func(t *testing.T) {
		var buf bytes.Buffer
		FormatReports(&buf, c.Lookup(ctx, "192.0.2.2"))
		if !strings.Contains(buf.String(), "127.0.0.4 RCVD_IN_XBL (+4)") {
			t.Error(buf.String())
		}
	})
}

func TestRbldnsdDQS(t *testing.T) {
	r := startRbldnsd(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := rbldnsdConfig()
	cfg.DQSKey = testDQSKey
	cfg.EarlyReject = EarlyReject{Enabled: true, Score: 4}
	cfg.Lists[0].Answers[0].RejectText = "Blocked using %{zone} for %{ip}: %{txt}"
	c, err := New(cfg, ResolverConfig{Servers: []string{r.addr}, Deadline: 3 * time.Second}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	s := c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.2"))
	rej, reply := s.EarlyReject(ctx)
	res := s.Result(ctx)
	if !rej || !strings.HasPrefix(reply, "550 5.7.1 Blocked using zen.spamhaus.org for 192.0.2.2: Listed by SBL") || res.Score != 8 {
		t.Fatalf("%v %q %+v", rej, reply, res)
	}
	s = c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.66"))
	res2 := s.Result(ctx)
	var buf bytes.Buffer
	FormatReports(&buf, c.Lookup(ctx, "192.0.2.2"))
	hs := fmt.Sprint(c.Health(ctx))
	all := fmt.Sprintf("%s %+v %+v %s %s %s", reply, res, res2, buf.String(), hs, logs.String())
	if strings.Contains(all, testDQSKey) {
		t.Errorf("DQS key leaked:\n%s", all)
	}
	if len(res2.Errors) != 1 || !strings.Contains(res2.Errors[0], "zen.spamhaus.org") {
		t.Errorf("%+v", res2)
	}
}

func TestRbldnsdHealthDisable(t *testing.T) {
	r := startRbldnsd(t)
	cfg := Config{HealthInterval: -1, Lists: []List{{Name: "broken.test", Zone: "broken.test", Kind: "ip",
		Answers: []Answer{{Match: "127.0.0.2", Rule: "RCVD_IN_BROKEN", Score: 5}}}}}
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	c, err := New(cfg, ResolverConfig{Servers: []string{r.addr}, Deadline: 3 * time.Second}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	h := c.Health(ctx)
	if h[0].OK || !h[0].Disabled || !strings.Contains(h[0].Err.Error(), "127.0.0.1 is listed") || len(c.Disabled()) != 1 {
		t.Fatalf("%+v %v", h, c.Disabled())
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Error("not logged at error level")
	}
	s := c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.5"))
	if res := s.Result(ctx); len(res.Hits) != 0 || len(res.Errors) != 1 {
		t.Errorf("disabled list used: %+v", res)
	}
	// Empty zone: 127.0.0.2 not listed, still failing.
	r.reload(t, "broken", "192.0.2.5\n")
	if !waitHealth(c, func(h []HealthReport) bool {
		return h[0].Err != nil && strings.Contains(h[0].Err.Error(), "127.0.0.2 is not listed")
	}) {
		t.Fatalf("%v", c.Health(ctx))
	}
	r.reload(t, "broken", "127.0.0.2\n192.0.2.5\n")
	if !waitHealth(c, func(h []HealthReport) bool { return h[0].OK }) {
		t.Fatalf("not re-enabled: %v", c.Health(ctx))
	}
	if len(c.Disabled()) != 0 {
		t.Error(c.Disabled())
	}
	s = c.NewSession(false)
	s.CheckIP(SourceClient, netip.MustParseAddr("192.0.2.5"))
	if res := s.Result(ctx); res.Score != 5 {
		t.Errorf("re-enabled list: %+v", res)
	}
}

// waitHealth runs Health until ok says so (rbldnsd reloads asynchronously).
func waitHealth(c *Checker, ok func([]HealthReport) bool) bool {
	for range 50 {
		if ok(c.Health(context.Background())) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
