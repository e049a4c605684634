package main

// The levee binary as a daemon: SIGHUP reloads, SIGTERM drains, /metrics
// and /healthz. These play the MTA's side of the milter protocol with
// levee's own client, so they need no Postfix and no root.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

const daemonConfig = `listen: inet:%s
skip_trusted: false
reject_text: "%s"
shutdown_timeout: 20s
dnsbl:
  lists: []
auth:
  enabled: false
metrics:
  listen: %s
`

// milterSession opens a milter session to levee as an MTA that offers no
// protocol flags (every event answered) and plays connect and HELO.
func milterSession(t *testing.T, addr string) *mta.Session {
	t.Helper()
	s, err := mta.Dial("inet:"+addr, 20*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := s.Connect(&mta.Client{IP: netip.MustParseAddr("203.0.113.9"), Name: "mail.example.com", Helo: "mail.example.com",
		Macros: []string{"j", "mx.levee.test", "{daemon_name}", "e2e"}})
	mustContinue(t, "connect")(r.Action, err)
	return s
}

func mustContinue(t *testing.T, stage string) func(*milter.Action, error) {
	return func(a *milter.Action, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if a.Code != milter.ActContinue {
			t.Fatalf("%s: action %c %d %s, want continue", stage, a.Code, a.SMTPCode, a.SMTPText)
		}
	}
}

// milterMail plays MAIL FROM.
func milterMail(t *testing.T, s *mta.Session) {
	t.Helper()
	mustContinue(t, "mail")(s.Mail("alice@example.com", nil))
}

// milterRest plays RCPT, headers and a GTUBE body, and returns the final action.
func milterRest(t *testing.T, s *mta.Session) *milter.Action {
	t.Helper()
	mustContinue(t, "rcpt")(s.Rcpt("bob@example.org", nil))
	for _, h := range [][2]string{{"From", "Alice <alice@example.com>"}, {"To", "bob@example.org"},
		{"Subject", "test"}, {"Date", time.Now().Format(time.RFC1123Z)}, {"Message-ID", "<e2e@mail.example.com>"}} {
		mustContinue(t, "header")(s.HeaderField(h[0], h[1]))
	}
	mustContinue(t, "eoh")(s.HeaderEnd())
	_, act, err := s.BodyReadFrom(strings.NewReader("Hello\r\n" + rules.GTUBE + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return act
}

func wantReject(t *testing.T, act *milter.Action, text string) {
	t.Helper()
	if act.Code != milter.ActReplyCode || act.SMTPCode != 550 || act.SMTPText != "5.7.1 "+text {
		t.Fatalf("got %c %d %q, want 550 5.7.1 %s", act.Code, act.SMTPCode, act.SMTPText, text)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// metricLine returns the value of one sample of a /metrics text, or -1.
func metricLine(text, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

type daemonHarness struct {
	dir, cfg, addr, metrics string
	p                       *leveeProc
}

func startDaemon(t *testing.T, rejectText string) *daemonHarness {
	t.Helper()
	h := &daemonHarness{dir: t.TempDir()}
	h.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.cfg = writeLeveeConfig(t, h.dir, fmt.Sprintf(daemonConfig, h.addr, rejectText, h.metrics))
	h.p = startLevee(t, leveeBinary(t), h.cfg, h.addr)
	t.Cleanup(func() {
		h.p.stop()
		if t.Failed() {
			t.Logf("levee log:\n%s", h.p.log.String())
		}
	})
	return h
}

func (h *daemonHarness) writeConfig(t *testing.T, body string) {
	t.Helper()
	if err := os.WriteFile(h.cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hup sends SIGHUP and waits for the n-th reload outcome in the log.
func (h *daemonHarness) hup(t *testing.T, outcome string, n int) {
	t.Helper()
	h.p.signal(syscall.SIGHUP)
	waitFor(t, fmt.Sprintf("%d× %q in levee's log", n, outcome), 10*time.Second, func() bool {
		return strings.Count(h.p.log.String(), outcome) >= n
	})
}

func TestE2EDaemonReload(t *testing.T) {
	h := startDaemon(t, "first text")

	// A message whose MAIL FROM came before the reload...
	inFlight := milterSession(t, h.addr)
	milterMail(t, inFlight)
	open := []*mta.Session{inFlight}

	h.writeConfig(t, fmt.Sprintf(daemonConfig, h.addr, "second text", h.metrics))
	h.hup(t, "config reloaded", 1)

	// ...a new one gets the new config...
	s := milterSession(t, h.addr)
	open = append(open, s)
	milterMail(t, s)
	wantReject(t, milterRest(t, s), "second text")
	// ...and the one in flight finishes with the old version.
	wantReject(t, milterRest(t, inFlight), "first text")
	// Its next message, in the same session, gets the new one.
	milterMail(t, inFlight)
	wantReject(t, milterRest(t, inFlight), "second text")

	// A broken file: the error names the file and the line; the running
	// config stays.
	h.writeConfig(t, "skip_trusted: false\nthresholds:\n  reject: banana\n")
	h.hup(t, "reload failed, keeping the running config", 1)
	if log := h.p.log.String(); !strings.Contains(log, h.cfg) || !strings.Contains(log, "line 3") {
		t.Errorf("the reload error does not name %s and line 3:\n%s", h.cfg, tail(log, 5))
	}
	s = milterSession(t, h.addr)
	open = append(open, s)
	milterMail(t, s)
	wantReject(t, milterRest(t, s), "second text")

	// A new listen address needs a restart: said, and the old one serves on.
	other := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.writeConfig(t, fmt.Sprintf(daemonConfig, other, "third text", h.metrics))
	h.hup(t, "config reloaded", 2)
	if !strings.Contains(h.p.log.String(), "listen changed: a restart is needed") {
		t.Errorf("no restart warning for a new listen address")
	}
	s = milterSession(t, h.addr)
	open = append(open, s)
	milterMail(t, s)
	wantReject(t, milterRest(t, s), "third text")

	// The metrics saw all of it.
	code, body := httpGet(t, "http://"+h.metrics+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for sample, want := range map[string]float64{
		`levee_config_reloads_total{result="success"}`: 2,
		`levee_config_reloads_total{result="failure"}`: 1,
		`levee_messages_total{action="reject"}`:        5,
		`levee_messages_total{action="accept"}`:        0,
		`levee_rule_hits_total{rule="GTUBE"}`:          5,
		`levee_score_count`:                            5,
		`levee_panics_total`:                           0,
		`levee_sessions_in_flight`:                     float64(len(open)),
	} {
		if got := metricLine(body, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if v := metricLine(body, "levee_config_last_reload_success_timestamp_seconds"); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last reload timestamp %v", v)
	}
	if code, body := httpGet(t, "http://"+h.metrics+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	for _, s := range open {
		s.Close()
	}
	if code := h.p.stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// TestE2EDaemonSIGTERM: SIGTERM stops accepting, the session in flight
// finishes and gets its verdict, and levee exits 0.
func TestE2EDaemonSIGTERM(t *testing.T) {
	h := startDaemon(t, "bye text")
	s := milterSession(t, h.addr)
	milterMail(t, s)
	h.p.signal(syscall.SIGTERM)
	h.p.waitLog("shutting down", 10*time.Second)
	if code, _ := httpGet(t, "http://"+h.metrics+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz while shutting down: %d, want 503", code)
	}
	waitFor(t, "the milter port to close", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", h.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	wantReject(t, milterRest(t, s), "bye text")
	s.Close()
	select {
	case <-h.p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("levee did not exit after its last session closed")
	}
	if h.p.exit != 0 {
		t.Errorf("exit code %d", h.p.exit)
	}
	if log := h.p.log.String(); !strings.Contains(log, "stopped") || strings.Contains(log, "sessions cut") {
		t.Errorf("log:\n%s", log)
	}
}

// TestE2EDaemonMetricsBusyPort: a busy metrics port stops levee at start.
func TestE2EDaemonMetricsBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := writeLeveeConfig(t, dir, fmt.Sprintf(daemonConfig, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "x", busy.Addr().String()))
	out, err := runTool(t, 20*time.Second, leveeBinary(t), "serve", "--config", cfg)
	if err == nil || !strings.Contains(out, "metrics.listen") {
		t.Fatalf("levee started with a busy metrics port: %v\n%s", err, out)
	}
}

// A SIGHUP sent the moment levee's socket answers (systemd's reload right
// after a start, a logrotate) is a reload, not the end of levee: the
// signal is taken from the start of serve, before the listener opens, and
// not only once the daemon loop runs (the metrics listener and the state
// file open in between). Five starts, each signalled at its first answer.
func TestE2EDaemonHupAtStart(t *testing.T) {
	bin := leveeBinary(t)
	for i := 0; i < 5; i++ {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := writeLeveeConfig(t, dir, fmt.Sprintf(daemonConfig, addr, "text", metrics))
		log := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--config", cfg)
		cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				cmd.Process.Signal(syscall.SIGHUP)
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("levee not listening:\n%s", log.String())
			}
			time.Sleep(time.Millisecond)
		}
		waitFor(t, "the reload", 10*time.Second, func() bool {
			select {
			case <-done:
				return true
			default:
			}
			return strings.Contains(log.String(), "config reloaded")
		})
		select {
		case <-done:
			t.Fatalf("start %d: levee ended on a SIGHUP right after it began listening:\n%s", i, log.String())
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}
}
