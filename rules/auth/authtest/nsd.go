// Package authtest is test support for sender authentication: Debian's
// nsd serving a test zone on loopback, the zone's SPF, DKIM and DMARC
// records with their keys, and Debian's dkimpy (python3-dkim) as the
// independent DKIM signer and verifier. Tests of rules/auth, filter and
// cmd/levee use it; nothing else does.
package authtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// NSDBin is Debian's nsd.
const NSDBin = "/usr/sbin/nsd"

// InCI says whether tests must run rather than skip (CI set and not 0/false).
func InCI() bool { v := os.Getenv("CI"); return v != "" && v != "0" && v != "false" }

// Need skips the test (or fails it in CI) when a program is missing.
func Need(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if InCI() {
			t.Fatalf("%s is missing (CI: .ci/test.sh installs it)", path)
		}
		t.Skipf("%s is not installed", path)
	}
}

// NSD is a running nsd.
type NSD struct {
	Addr string // 127.0.0.1:PORT, UDP and TCP
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// StartNSD serves zones (origin without trailing dot -> zone file text) on
// a free loopback port from a private directory; it stops at the end of
// the test. It skips (fails in CI) without nsd.
func StartNSD(t testing.TB, zones map[string]string) *NSD {
	t.Helper()
	Need(t, NSDBin)
	n, err := Launch(t.TempDir(), zones)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// Launch is StartNSD for a server that outlives one test (the caller
// stops it): dir holds its configuration, zones and log.
func Launch(dir string, zones map[string]string) (*NSD, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	var conf bytes.Buffer
	var port int
	for range 20 { // a port free for both UDP and TCP
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		pc.Close()
		if err == nil {
			ln.Close()
			break
		}
	}
	fmt.Fprintf(&conf, `server:
	ip-address: 127.0.0.1
	port: %d
	zonesdir: "%s"
	pidfile: "%s/nsd.pid"
	database: ""
	xfrdfile: "%s/xfrd.state"
	zonelistfile: "%s/zone.list"
	logfile: "%s/nsd.log"
	username: ""
	chroot: ""
	server-count: 1
	verbosity: 1
	hide-version: yes
	reuseport: no
remote-control:
	control-enable: no
`, port, dir, dir, dir, dir, dir)
	first := ""
	for origin, text := range zones {
		f := origin + ".zone"
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "zone:\n\tname: \"%s.\"\n\tzonefile: \"%s\"\n", origin, f)
		first = origin
	}
	cf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(cf, conf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	n := &NSD{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, done: make(chan struct{}), log: &bytes.Buffer{}}
	n.cmd = exec.Command(NSDBin, "-d", "-c", cf)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	// nsd forks its server and xfrd processes: signals go to the group
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	c := &mdns.Client{Timeout: 300 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := new(mdns.Msg).SetQuestion(mdns.Fqdn(first), mdns.TypeSOA)
		if r, _, err := c.Exchange(m, n.Addr); err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) > 0 {
			return n, nil
		}
		select {
		case <-n.done:
			lg, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
			return nil, fmt.Errorf("nsd exited: %s %s", n.log.String(), lg)
		default:
		}
		if time.Now().After(deadline) {
			lg, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
			n.Stop()
			return nil, fmt.Errorf("nsd not answering on %s: %s %s", n.Addr, n.log.String(), lg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pause stops nsd answering (SIGSTOP): queries time out, as with a dead
// server. Resume (SIGCONT) brings it back.
func (n *NSD) Pause()  { syscall.Kill(-n.cmd.Process.Pid, syscall.SIGSTOP) }
func (n *NSD) Resume() { syscall.Kill(-n.cmd.Process.Pid, syscall.SIGCONT) }

// Stop ends nsd.
func (n *NSD) Stop() {
	pg := -n.cmd.Process.Pid
	syscall.Kill(pg, syscall.SIGCONT)
	n.cmd.Process.Signal(syscall.SIGTERM) // nsd stops (and reaps) its children
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(pg, syscall.SIGKILL)
		<-n.done
	}
	syscall.Kill(pg, syscall.SIGKILL) // children left behind, if any
}
