// Package rbldnsd runs Debian's real rbldnsd (the DNSBL server most lists
// publish with) on a loopback UDP port, serving zones written from Go, and
// kills and restarts it on the same port. `levee soak` serves its lists with
// it, and so do the tests of cmd/levee and filter.
//
//	s, err := rbldnsd.Start(dir, rbldnsd.Options{TTL: 60}, []rbldnsd.Zone{
//		{Name: "bl.levee.test", Type: "ip4set", Data: ":127.0.0.2:Listed\n192.0.2.64/27\n127.0.0.2\n"},
//	})
//	defer s.Stop()
//	s.Addr() // 127.0.0.1:PORT, for dns.servers
package rbldnsd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Bin is Debian's rbldnsd.
var Bin = "/usr/sbin/rbldnsd"

// Zone is one zone: its name, rbldnsd's dataset type (ip4set, ip4tset,
// dnset, ...; see rbldnsd(8)) and the dataset's text.
type Zone struct {
	Name, Type, Data string
	// Probe is a name in the zone that must resolve once rbldnsd is ready
	// (default: 2.0.0.127.NAME for ip4 sets, test.NAME for dnset: the
	// RFC 5782 test entries). Only the first zone is probed.
	Probe string
}

// Options of Start.
type Options struct {
	Addr string // "127.0.0.1:PORT"; empty: a free port
	TTL  int    // seconds (default 60)
}

// Server is a running rbldnsd.
type Server struct {
	dir   string
	addr  string
	args  []string
	probe string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

// Start writes the zones into dir (which must be readable by user nobody:
// rbldnsd started as root drops to it) and starts rbldnsd.
func Start(dir string, opt Options, zones []Zone) (*Server, error) {
	if _, err := os.Stat(Bin); err != nil {
		return nil, fmt.Errorf("rbldnsd: %w (apt-get install rbldnsd)", err)
	}
	if len(zones) == 0 {
		return nil, errors.New("rbldnsd: no zones")
	}
	if opt.TTL == 0 {
		opt.TTL = 60
	}
	if opt.Addr == "" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		opt.Addr = pc.LocalAddr().String()
		pc.Close()
	}
	host, port, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("rbldnsd: %v", err)
	}
	s := &Server{dir: dir, addr: opt.Addr}
	s.args = []string{"-n", "-t", fmt.Sprint(opt.TTL), "-b", host + "/" + port, "-w", dir}
	if os.Geteuid() == 0 {
		s.args = append([]string{"-u", "nobody"}, s.args...)
	}
	for i, z := range zones {
		f := fmt.Sprintf("zone%d.%s", i, z.Type)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(z.Data), 0o644); err != nil {
			return nil, err
		}
		s.args = append(s.args, z.Name+":"+z.Type+":"+f)
	}
	s.probe = zones[0].Probe
	if s.probe == "" {
		if zones[0].Type == "dnset" {
			s.probe = "test." + zones[0].Name
		} else {
			s.probe = "2.0.0.127." + zones[0].Name
		}
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the UDP address rbldnsd answers on.
func (s *Server) Addr() string { return s.addr }

func (s *Server) start() error {
	s.mu.Lock()
	cmd := exec.Command(Bin, s.args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &s.mu, b: out}, &lockedWriter{mu: &s.mu, b: out}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()

	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		addrs, err := res.LookupHost(ctx, s.probe)
		cancel()
		if err == nil && len(addrs) > 0 {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("rbldnsd exited: %s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("rbldnsd not answering %s on %s: %v %s", s.probe, s.addr, err, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// PID is the running rbldnsd's process id (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	select {
	case <-s.done:
		return 0
	default:
	}
	return s.cmd.Process.Pid
}

func (s *Server) signal(sig syscall.Signal, wait time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
	}
}

// Kill ends rbldnsd with SIGKILL (a crash): queries go unanswered.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 5*time.Second) }

// Stop ends rbldnsd (SIGTERM, SIGKILL after 5s).
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 5*time.Second) }

// Restart starts rbldnsd again on the same address, with the same zones,
// once it has stopped (Kill or Stop first).
func (s *Server) Restart() error {
	if s.PID() != 0 {
		return errors.New("rbldnsd: still running")
	}
	return s.start()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
