package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/rules/greylist"
	"github.com/levee-mail/levee/rules/state"
)

// The offline commands never open the state store, not even the default one.
func TestOfflineCommandsDoNotOpenTheStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", dir)
	for _, args := range [][]string{
		{"check", "testdata/check/ham.eml"},
		{"config", "check"},
		{"rules", "list"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errb); code > 1 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("an offline command made %v in the state directory", ents)
	}
}

func TestGreylistUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"greylist", "allow", "not-an-ip"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not an IP address") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run([]string{"greylist", "frobnicate"}, nil, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
}

// `levee greylist list|allow|drop` straight on the store, no daemon
// running: on a bbolt file (the command opens it itself; no control
// socket) and on a real redis-server. What the command did is read back
// through the store.
func TestGreylistCommand(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		cfg := greylistCommandConfig(t, "state:\n  path: "+path+"\n")
		// list on a file that does not exist yet: empty, and no file made
		if out := greylistCmd(t, 0, cfg, "list"); strings.Count(out, "\n") != 1 {
			t.Fatalf("list of no file:\n%s", out)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("list made the file: %v", err)
		}
		// each step opens the file between the commands (one process at a time holds it)
		withStore := func(f func(s state.Store)) {
			b, err := state.OpenBolt(path, state.BoltOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			f(b)
		}
		greylistCommandSteps(t, cfg, withStore)
		if _, err := os.Stat(state.ControlSocket(path)); !os.IsNotExist(err) {
			t.Fatalf("a control socket with no daemon: %v", err)
		}
	})
	t.Run("redis", func(t *testing.T) {
		r := startRedisServer(t)
		section := fmt.Sprintf("state:\n  type: redis\n  redis:\n    address: %s\n    prefix: \"cmd:\"\n", r.addr)
		cfg := greylistCommandConfig(t, section)
		s, err := state.OpenRedis(context.Background(), state.RedisOptions{Addr: r.addr, Prefix: "cmd:"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		greylistCommandSteps(t, cfg, func(f func(state.Store)) { f(s) })
	})
}

func greylistCommandConfig(t *testing.T, stateSection string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "levee.yaml")
	if err := os.WriteFile(p, []byte("greylist:\n  enabled: true\n"+stateSection), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// greylistCmd runs `levee greylist ARGS --config cfg` in process and
// returns its output; the exit code must be code.
func greylistCmd(t *testing.T, code int, cfg string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"greylist", args[0], "--config", cfg}, args[1:]...)
	if got := run(full, nil, &out, &errb); got != code {
		t.Fatalf("levee %s: exit %d, want %d: %s", strings.Join(full, " "), got, code, errb.String())
	}
	return out.String()
}

func greylistCommandSteps(t *testing.T, cfg string, withStore func(func(state.Store))) {
	gl := greylist.Config{Enabled: true}
	if err := gl.Validate(); err != nil {
		t.Fatal(err)
	}
	// attempt asks the store about a triplet, as levee serve does at RCPT
	attempt := func(ip, from string) state.GreyOutcome {
		t.Helper()
		var o state.GreyOutcome
		withStore(func(s state.Store) {
			b := &state.Batch{Now: time.Now(), Policy: gl.Policy(), Grey: []state.GreyOp{gl.Op(netip.MustParseAddr(ip), from, "bob@example.org")}}
			if err := s.Apply(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			o = b.Grey[0].Outcome
		})
		return o
	}
	if o := attempt("203.0.113.5", "alice@example.com"); o != state.GreyNew {
		t.Fatalf("seed: %v", o)
	}
	out := greylistCmd(t, 0, cfg, "list")
	if !strings.Contains(out, "triplet  pending  203.0.113.0/24 alice@example.com bob@example.org") {
		t.Fatalf("list:\n%s", out)
	}
	if out := greylistCmd(t, 0, cfg, "list", "--json", "198.51.100.0/24"); out != "" {
		t.Fatalf("list of another prefix: %q", out)
	}

	// allow a network: a new sender from it passes at once, and list says so
	if out := greylistCmd(t, 0, cfg, "allow", "198.51.100.9"); !strings.Contains(out, "allowed 198.51.100.0/24 for 35d") {
		t.Fatalf("allow: %q", out)
	}
	if o := attempt("198.51.100.20", "carol@example.com"); o != state.GreyAllowed {
		t.Fatalf("after allow: %v, want auto_allowed", o)
	}
	if out := greylistCmd(t, 0, cfg, "list", "198.51.100.0/24"); !strings.Contains(out, "network  allowed  198.51.100.0/24") {
		t.Fatalf("list of the allowed network:\n%s", out)
	}

	// allow a triplet: it counts as passed
	greylistCmd(t, 0, cfg, "allow", "203.0.113.5", "alice@example.com", "bob@example.org")
	if o := attempt("203.0.113.77", "alice@example.com"); o != state.GreyKnown {
		t.Fatalf("after allowing the triplet: %v, want known", o)
	}

	// drop a network: its triplets go too; greylisting starts over
	if out := greylistCmd(t, 0, cfg, "drop", "203.0.113.0/24"); !strings.Contains(out, "dropped 1 records") {
		t.Fatalf("drop 203.0.113.0/24: %q", out)
	}
	if o := attempt("203.0.113.5", "alice@example.com"); o != state.GreyNew {
		t.Fatalf("after drop: %v, want new", o)
	}
	if out := greylistCmd(t, 0, cfg, "drop", "198.51.100.1"); !strings.Contains(out, "dropped 1 records") {
		t.Fatalf("drop 198.51.100.1: %q", out)
	}
	if o := attempt("198.51.100.20", "dave@example.com"); o != state.GreyNew {
		t.Fatalf("after dropping the allowed network: %v, want new", o)
	}
	// drop one triplet
	if out := greylistCmd(t, 0, cfg, "drop", "198.51.100.20", "dave@example.com", "bob@example.org"); !strings.Contains(out, "dropped 1 records") {
		t.Fatalf("drop a triplet: %q", out)
	}
	if out := greylistCmd(t, 0, cfg, "list", "198.51.100.0/24"); strings.Contains(out, "dave@") {
		t.Fatalf("the dropped triplet is still listed:\n%s", out)
	}
}
