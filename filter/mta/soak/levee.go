package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// leveeLog is the log of every levee process of the run, in one file, with
// the lines that the run checks counted as they come.
type leveeLog struct {
	mu      sync.Mutex
	f       *os.File
	partial []byte
	counts  map[string]int
	panics  []string
}

// watched are the substrings counted in levee's log.
var watched = []string{
	"levee listening",
	"config reloaded",
	"reload failed, keeping the running config",
	"level=INFO msg=stopped",
	"msg=message ",
}

func newLeveeLog(path string) (*leveeLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &leveeLog{f: f, counts: map[string]int{}}, nil
}

func (l *leveeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) == 0 {
		l.partial = nil // let the buffer go
	}
	return len(p), nil
}

func (l *leveeLog) line(s string) {
	for _, w := range watched {
		if strings.Contains(s, w) {
			l.counts[w]++
		}
	}
	// A caught panic (filter logs msg="panic while ...") or a crash of the
	// runtime ("panic: ...", "fatal error: ..."). Not any "panic": a
	// sender address may hold the word.
	if strings.Contains(s, `msg="panic`) || strings.HasPrefix(s, "panic:") || strings.HasPrefix(s, "fatal error:") {
		if len(l.panics) < 20 {
			l.panics = append(l.panics, s)
		} else {
			l.panics = append(l.panics[:20], "...")
		}
	}
}

func (l *leveeLog) count(w string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[w]
}

func (l *leveeLog) panicLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.panics...)
}

// mark writes a line of the soak's own into the log (fault boundaries).
func (l *leveeLog) mark(format string, args ...any) {
	fmt.Fprintf(l, "# soak %s: %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

func (l *leveeLog) close() { l.f.Close() }

// levee is the `levee serve` process of the run, restarted by faults.
type levee struct {
	bin, cfg    string
	milter      string // 127.0.0.1:PORT
	metricsAddr string
	log         *leveeLog
	env         []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exit     int
	expected bool // the coming exit is the soak's doing
	starts   int
	started  time.Time // when the running process listened
	// unexpected is called (on its own goroutine) when levee exits
	// without the soak asking.
	unexpected func(code int)
}

// start runs levee and waits until its milter port accepts connections
// and /healthz answers 200.
func (l *levee) start(ctx context.Context) error {
	cmd := exec.Command(l.bin, "serve", "--config", l.cfg)
	cmd.Stdout, cmd.Stderr = l.log, l.log
	cmd.Env = append(os.Environ(), l.env...)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	l.mu.Lock()
	l.cmd, l.done, l.expected = cmd, done, false
	l.starts++
	l.mu.Unlock()
	go func() {
		cmd.Wait()
		l.mu.Lock()
		l.exit = cmd.ProcessState.ExitCode()
		expected, code, cb := l.expected, l.exit, l.unexpected
		l.mu.Unlock()
		close(done)
		if !expected && cb != nil {
			cb(code)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case <-done:
			return fmt.Errorf("levee exited with %d before listening (see its log)", l.exitCode())
		default:
		}
		if c, err := net.DialTimeout("tcp", l.milter, time.Second); err == nil {
			c.Close()
			if code, _, err := httpGet(l.metricsAddr, "/healthz"); err == nil && code == 200 {
				l.mu.Lock()
				l.started = time.Now()
				l.mu.Unlock()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			l.kill()
			return fmt.Errorf("levee not ready on %s: %v", l.milter, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (l *levee) startedAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started
}

func (l *levee) exitCode() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exit
}

func (l *levee) pid() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil || l.cmd.Process == nil {
		return 0
	}
	return l.cmd.Process.Pid
}

// signal sends sig; stopping says that levee will exit because of it.
func (l *levee) signal(sig syscall.Signal, stopping bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil {
		return fmt.Errorf("levee is not running")
	}
	if stopping {
		l.expected = true
	}
	return l.cmd.Process.Signal(sig)
}

// wait waits for levee to exit (at most d) and returns its exit code.
func (l *levee) wait(d time.Duration) (int, error) {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	select {
	case <-done:
		return l.exitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("levee did not exit within %v", d)
	}
}

// kill ends levee at once (SIGKILL) and waits for it.
func (l *levee) kill() {
	if l.signal(syscall.SIGKILL, true) == nil {
		l.wait(10 * time.Second)
	}
}

// stop ends levee with SIGTERM (SIGKILL after 30s).
func (l *levee) stop() {
	if l.signal(syscall.SIGTERM, true) != nil {
		return
	}
	if _, err := l.wait(30 * time.Second); err != nil {
		l.kill()
	}
}

func (l *levee) running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		return false
	}
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// metrics reads levee's /metrics: the samples without labels by name, and
// levee_messages_total summed over its labels.
func (l *levee) metrics() (map[string]float64, error) {
	code, body, err := httpGet(l.metricsAddr, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/metrics: HTTP %d", code)
	}
	return parseMetrics(body), nil
}

// parseMetrics reads the Prometheus text format: a sample with labels is
// also added to its name's sum.
func parseMetrics(body string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			out[name[:j]+"{*}"] += v
			out[name] = v
			continue
		}
		out[name] = v
	}
	return out
}

func httpGet(addr, path string) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(b), err
}

// leveeConfig is the soak's levee.yaml: levee's embedded default but for
// what the run needs. tempfail is the tempfail threshold ("off" or a
// score); the reloads toggle it. Loopback clients are judged (the relay
// hands mail to the filtering smtpd from 127.0.0.1; levee then reads the
// client from the Received chain). DNS answers are kept briefly so that the
// lists are asked all through the run and the DNS faults reach levee.
// Greylisting runs as by default (doubtful clients at RCPT, the
// end-of-message greylist action) but with a delay of one second, so that
// a greylisted copy is one more deferral that Postfix's retry (or the
// client's re-send) must turn into a delivery; its store is in the run's
// directory and lives through the restarts and the SIGKILL.
func leveeConfig(o *Options, milter, metrics, dns string, tempfail string, version int, bad bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# levee soak config, version %d\n", version)
	fmt.Fprintf(&b, "listen: inet:%s\n", milter)
	b.WriteString("skip_trusted: false\nshutdown_timeout: 10s\n")
	fmt.Fprintf(&b, "reject_text: %q\ntempfail_text: %q\n", RejectText, TempfailText)
	fmt.Fprintf(&b, "thresholds:\n  tempfail: %s\n", tempfail)
	fmt.Fprintf(&b, "metrics:\n  listen: %s\n", metrics)
	fmt.Fprintf(&b, "dns:\n  servers: [%q]\n  timeout: %s\n  deadline: %s\n  min_ttl: 1s\n  max_ttl: %ds\n",
		dns, o.DNSTimeout, o.DNSDeadline, o.DNSTTL)
	b.WriteString("dnsbl:\n  health_interval: 30s\n  backoff: 30s\n")
	fmt.Fprintf(&b, "greylist:\n  delay: 1s\nstate:\n  path: %s\n", filepath.Join(o.Dir, "state.db"))
	if bad {
		// refused by the strict loader: an unknown key, naming file and line
		b.WriteString("soak_not_a_key: true\n")
	}
	return b.String()
}

// RejectText and TempfailText are levee's replies in the soak, so that
// the run tells levee's verdicts from Postfix's own refusals.
const (
	RejectText   = "soak: rejected as spam"
	TempfailText = "soak: deferred, try again later"
)
