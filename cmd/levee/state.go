package main

// The state store in the daemon (opened once, kept across reloads), its
// control socket (the bbolt file is locked while the daemon runs, so
// `levee greylist` asks the daemon), and the `levee greylist` command.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules/greylist"
	"github.com/levee-mail/levee/rules/state"
)

func init() {
	extraCommands["greylist"] = cmdGreylist
}

// needsStore: greylisting or a rate limit is on.
func needsStore(c *Config) bool { return c.Rules.Greylist.Enabled || c.Rules.RateLimit.Active() }

// daemonState is the daemon's open store and its control socket.
type daemonState struct {
	store *state.Guarded
	hooks *filter.State
	ctl   *controlServer
}

// openDaemonState opens the store when the config needs one. With the
// default bbolt path in a directory levee cannot write (a user running
// `levee serve` by hand), it warns and returns nil: levee runs without
// greylisting and rate limits. Redis not answering is no error: the store
// starts down (logged once, on_error applies) and comes up when Redis
// answers. Any other failure (a locked or corrupt file, an explicit path
// that does not work, an unreadable Redis password file) is an error.
func openDaemonState(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (*daemonState, error) {
	if !needsStore(cfg) {
		return nil, nil
	}
	g, err := state.Open(context.Background(), cfg.State, state.OpenOptions{Logger: log, Registerer: reg})
	if state.IsUnavailableDefault(err) {
		log.Warn("no state store: greylisting and rate limits are off", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ds := &daemonState{store: g}
	if ds.hooks, err = filter.NewState(g, cfg.State.OnError, log, reg); err != nil {
		g.Close()
		return nil, err
	}
	if b, ok := g.Unwrap().(*state.Bolt); ok {
		if ds.ctl, err = startControl(state.ControlSocket(b.Path()), g.Unwrap(), log); err != nil {
			g.Close()
			return nil, err
		}
	}
	where := cfg.State.Redis.Address
	if b, ok := g.Unwrap().(*state.Bolt); ok {
		where = b.Path()
	}
	log.Info("state store open", "store", g.Name(), "at", where, "greylist", cfg.Rules.Greylist.Enabled,
		"ratelimit", cfg.Rules.RateLimit.Active(), "on_error", cfg.State.OnError)
	return ds, nil
}

func (ds *daemonState) close() {
	if ds == nil {
		return
	}
	if ds.ctl != nil {
		ds.ctl.close()
	}
	ds.store.Close()
}

// The control protocol: one JSON request per line, answered by JSON lines:
// entries (list), then {"done":true,"n":N} or {"error":"..."}.
type controlRequest struct {
	Op     string        `json:"op"` // list, allow, pass, drop
	Kind   string        `json:"kind,omitempty"`
	Key    string        `json:"key,omitempty"`
	Prefix bool          `json:"prefix,omitempty"`
	TTL    time.Duration `json:"ttl,omitempty"`
}

type controlReply struct {
	Entry *state.Entry `json:"entry,omitempty"`
	Done  bool         `json:"done,omitempty"`
	N     int          `json:"n,omitempty"`
	Error string       `json:"error,omitempty"`
}

type controlServer struct {
	ln   net.Listener
	path string
	wg   sync.WaitGroup
}

// startControl listens on a unix socket beside the bbolt file, mode 0600:
// only levee's user (and root) may edit the greylist.
func startControl(path string, s state.Store, log *slog.Logger) (*controlServer, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s exists and is not a socket", path)
		}
		os.Remove(path) // the bbolt lock is ours: no other daemon uses it
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	c := &controlServer{ln: ln, path: path}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				serveControl(conn, s, log)
			}()
		}
	}()
	return c, nil
}

func (c *controlServer) close() {
	c.ln.Close()
	c.wg.Wait()
	os.Remove(c.path)
}

func serveControl(conn net.Conn, s state.Store, log *slog.Logger) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(io.LimitReader(conn, 1<<16))
	line, err := r.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	w := bufio.NewWriter(conn)
	enc := json.NewEncoder(w)
	defer w.Flush()
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		enc.Encode(controlReply{Error: "bad request: " + err.Error()})
		return
	}
	n, err := runAdmin(context.Background(), s, req, func(e state.Entry) error { return enc.Encode(controlReply{Entry: &e}) })
	if err != nil {
		enc.Encode(controlReply{Error: err.Error()})
		return
	}
	if req.Op != "list" {
		log.Info("greylist edited through the control socket", "op", req.Op, "kind", req.Kind, "key", req.Key, "prefix", req.Prefix, "n", n)
	}
	enc.Encode(controlReply{Done: true, N: n})
}

// runAdmin performs one operator request on a store.
func runAdmin(ctx context.Context, s state.Store, req controlRequest, each func(state.Entry) error) (int, error) {
	now := time.Now()
	switch req.Op {
	case "list":
		n := 0
		err := s.List(ctx, now, req.Kind, req.Key, func(e state.Entry) error { n++; return each(e) })
		return n, err
	case "allow":
		return 1, s.AllowNetwork(ctx, now, req.Key, req.TTL)
	case "pass":
		return 1, s.PassTriplet(ctx, now, req.Key, req.TTL)
	case "drop":
		return s.Delete(ctx, req.Kind, req.Key, req.Prefix)
	}
	return 0, fmt.Errorf("unknown op %q", req.Op)
}

// controlClient sends one request to a running daemon.
func controlClient(path string, req controlRequest, each func(state.Entry) error) (int, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return 0, err
	}
	dec := json.NewDecoder(bufio.NewReader(c))
	for {
		var rep controlReply
		if err := dec.Decode(&rep); err != nil {
			return 0, fmt.Errorf("control socket %s: %w", path, err)
		}
		switch {
		case rep.Error != "":
			return 0, errors.New(rep.Error)
		case rep.Done:
			return rep.N, nil
		case rep.Entry != nil:
			if err := each(*rep.Entry); err != nil {
				return 0, err
			}
		}
	}
}

const greylistUsage = `usage: levee greylist list  [--config FILE] [--json] [--counters] [PREFIX]
       levee greylist allow [--config FILE] [--ttl D] IP|CIDR
       levee greylist allow [--config FILE] [--ttl D] IP SENDER RCPT
       levee greylist drop  [--config FILE] IP|CIDR
       levee greylist drop  [--config FILE] IP SENDER RCPT

list: the triplets (pending or passed) and client networks (their count of
passed triplets, or "allowed"), with PREFIX only those whose key starts with
it (e.g. 192.0.2.0/24); --counters adds the rate-limit counters.
allow IP|CIDR: the network (an IP stands for its greylist.ipv4_prefix or
ipv6_prefix network) skips greylisting for --ttl (default greylist.ttl),
renewed as it sends. allow IP SENDER RCPT: that triplet counts as passed.
drop: forget a network and all its triplets, or one triplet.

With the embedded store, a running levee holds the file: the command then
goes through the daemon's control socket (state.path + ".sock"); with
Redis it talks to Redis.
`

func cmdGreylist(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, greylistUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("greylist "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, greylistUsage) }
	cfgPath := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "list: JSON lines")
	counters := fs.Bool("counters", false, "list: rate-limit counters too")
	ttlFlag := fs.String("ttl", "", "allow: how long (default greylist.ttl)")
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	gl := &cfg.Rules.Greylist
	ttl := gl.TTL.D()
	if *ttlFlag != "" {
		if ttl, err = state.ParseDuration(*ttlFlag); err != nil || ttl <= 0 {
			fmt.Fprintln(stderr, "levee: --ttl:", *ttlFlag, "is not a duration like 35d")
			return 2
		}
	}
	var reqs []controlRequest
	switch sub {
	case "list":
		if len(rest) > 1 {
			fs.Usage()
			return 2
		}
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		kinds := []string{state.KindTriplet, state.KindNetwork}
		if *counters {
			kinds = append(kinds, state.KindCounter)
		}
		for _, k := range kinds {
			reqs = append(reqs, controlRequest{Op: "list", Kind: k, Key: prefix})
		}
	case "allow", "drop":
		switch len(rest) {
		case 1:
			n, err := parseNetwork(gl, rest[0])
			if err != nil {
				fmt.Fprintln(stderr, "levee:", err)
				return 2
			}
			if sub == "allow" {
				reqs = []controlRequest{{Op: "allow", Key: greylist.NetworkKey(n), TTL: ttl}}
			} else {
				reqs = []controlRequest{{Op: "drop", Kind: state.KindNetwork, Key: greylist.NetworkKey(n)},
					{Op: "drop", Kind: state.KindTriplet, Key: greylist.NetworkKey(n) + " ", Prefix: true}}
			}
		case 3:
			a, err := netip.ParseAddr(rest[0])
			if err != nil {
				fmt.Fprintf(stderr, "levee: %q is not an IP address\n", rest[0])
				return 2
			}
			key := greylist.Triplet(gl.Network(a), rest[1], rest[2])
			if sub == "allow" {
				reqs = []controlRequest{{Op: "pass", Key: key, TTL: ttl}}
			} else {
				reqs = []controlRequest{{Op: "drop", Kind: state.KindTriplet, Key: key}}
			}
		default:
			fs.Usage()
			return 2
		}
	default:
		fmt.Fprint(stderr, greylistUsage)
		return 2
	}

	do, closeFn, err := adminBackend(cfg, sub == "list")
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 1
	}
	defer closeFn()
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	if !*asJSON && sub == "list" {
		fmt.Fprintln(tw, "KIND\tSTATE\tKEY\tFIRST SEEN\tCOUNT\tEXPIRES")
	}
	enc := json.NewEncoder(stdout)
	total := 0
	for _, req := range reqs {
		n, err := do(req, func(e state.Entry) error {
			if *asJSON {
				return enc.Encode(e)
			}
			first := ""
			if !e.First.IsZero() {
				first = e.First.UTC().Format(time.RFC3339)
			}
			count := ""
			if e.Kind != state.KindTriplet {
				count = fmt.Sprint(e.Count)
				if e.Count >= state.Allowed {
					count = "-"
				}
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.State, e.Key, first, count, e.Expires.UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			tw.Flush()
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		total += n
	}
	tw.Flush()
	switch sub {
	case "allow":
		fmt.Fprintf(stdout, "allowed %s for %s\n", reqs[0].Key, state.Duration(ttl))
	case "drop":
		fmt.Fprintf(stdout, "dropped %d records\n", total)
	}
	return 0
}

func parseNetwork(gl *greylist.Config, s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	return gl.Network(a), nil
}

// adminBackend reaches the store: Redis directly; the bbolt file directly
// when no daemon holds it, else through the daemon's control socket.
func adminBackend(cfg *Config, readOnly bool) (func(controlRequest, func(state.Entry) error) (int, error), func(), error) {
	ctx := context.Background()
	direct := func(s state.Store) func(controlRequest, func(state.Entry) error) (int, error) {
		return func(req controlRequest, each func(state.Entry) error) (int, error) {
			return runAdmin(ctx, s, req, each)
		}
	}
	if cfg.State.Type == "redis" {
		s, err := state.OpenRaw(ctx, cfg.State, state.OpenOptions{NoSweep: true})
		if err != nil {
			return nil, nil, err
		}
		return direct(s), func() { s.Close() }, nil
	}
	path, _ := cfg.State.BoltPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && readOnly {
		return func(controlRequest, func(state.Entry) error) (int, error) { return 0, nil }, func() {}, nil
	}
	b, err := state.OpenBolt(path, state.BoltOptions{LockTimeout: 300 * time.Millisecond, NoCheck: true})
	if err == nil {
		return direct(b), func() { b.Close() }, nil
	}
	if !errors.Is(err, state.ErrLocked) {
		return nil, nil, err
	}
	sock := state.ControlSocket(path)
	if _, serr := os.Stat(sock); serr != nil {
		return nil, nil, fmt.Errorf("%v; and no control socket at %s (a levee older than this command, or another program, holds the file)", err, sock)
	}
	return func(req controlRequest, each func(state.Entry) error) (int, error) {
		return controlClient(sock, req, each)
	}, func() {}, nil
}
