package filter

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
)

func TestListenUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "levee.sock")
	ln, err := Listen("unix:"+path, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	// a live socket is not taken over
	if _, err := Listen("unix:"+path, 0o660); err == nil || !strings.Contains(err.Error(), "listening") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	// a stale socket (its process gone) is replaced
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal("stale socket file not left behind for the test")
	}
	ln2, err := Listen("unix:"+path, 0o660)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
	// never a file that is not a socket
	regular := filepath.Join(dir, "data")
	os.WriteFile(regular, []byte("precious"), 0o600)
	if _, err := Listen("unix:"+regular, 0o660); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if b, _ := os.ReadFile(regular); string(b) != "precious" {
		t.Error("regular file touched")
	}
}

// Shutdown lets a session in flight finish its message, refuses new
// connections, and returns.
func TestGracefulShutdown(t *testing.T) {
	rc := testConfig()
	e, err := rules.NewEngine(rc, rules.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fc := Config{}
	fc.Validate()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s := NewServer(fc, e, nil)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := "inet:" + ln.Addr().String()
	cs, err := mta.Dial(addr, 5*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, cs, "192.0.2.1", "x.example", "x.example")
	a, err := cs.Mail("a@x.example", nil)
	must(t, a, err)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	// the listener closes; the session in flight still completes
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a, err = cs.Rcpt("b@y.example", nil)
	must(t, a, err)
	a, err = cs.HeaderField("Subject", "hi")
	must(t, a, err)
	_, act, err := cs.End()
	if err != nil || act.Code != milter.ActAccept {
		t.Fatalf("message in flight: %v %v", act, err)
	}
	cs.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the session ended")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v", err)
	}
}
