package rbldnsd

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

func lookup(addr, name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return r.LookupHost(ctx, name)
}

// TestKillRestart: zones are served, a killed rbldnsd answers nothing,
// and Restart serves the same zones on the same port.
func TestKillRestart(t *testing.T) {
	if _, err := os.Stat(Bin); err != nil {
		if v := os.Getenv("CI"); v != "" && v != "0" && v != "false" {
			t.Fatalf("%s is missing", Bin)
		}
		t.Skip("rbldnsd is not installed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // rbldnsd drops to nobody when started as root
	s, err := Start(dir, Options{TTL: 5}, []Zone{
		{Name: "bl.levee.test", Type: "ip4set", Data: ":127.0.0.2:listed\n192.0.2.64/27\n127.0.0.2\n"},
		{Name: "dbl.levee.test", Type: "dnset", Data: ":127.0.1.2:listed\ntest\nspam.example\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	check := func(name, want string) {
		t.Helper()
		a, err := lookup(s.Addr(), name)
		if err != nil || len(a) != 1 || a[0] != want {
			t.Errorf("%s: %v %v, want %s", name, a, err, want)
		}
	}
	check("66.2.0.192.bl.levee.test", "127.0.0.2")
	check("spam.example.dbl.levee.test", "127.0.1.2")
	if _, err := lookup(s.Addr(), "1.1.0.192.bl.levee.test"); err == nil {
		t.Error("an unlisted address resolved")
	}
	pid := s.PID()
	s.Kill()
	if s.PID() != 0 {
		t.Fatal("still running after Kill")
	}
	if _, err := lookup(s.Addr(), "66.2.0.192.bl.levee.test"); err == nil {
		t.Error("a killed rbldnsd answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.PID() == 0 || s.PID() == pid {
		t.Errorf("pid %d after restart (was %d)", s.PID(), pid)
	}
	check("66.2.0.192.bl.levee.test", "127.0.0.2")
}
