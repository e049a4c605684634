// Command levee is an anti-spam milter for Postfix and Sendmail.
//
//	levee serve   [--config FILE]            run the milter daemon
//	levee check   [flags] FILE|DIR|-...       judge message files offline
//	levee lookup  [--config FILE] [--health] IP|DOMAIN...
//	levee config check [FILE]                 validate and print the effective config
//	levee rules list                          list the checks
//	levee sa lint FILE|DIR...                 load SpamAssassin rule files, say what was skipped
//	levee dkim keygen|sign                    DKIM keys and signing
//	levee eval, levee bench                   corpus evaluation, load generator
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `levee: an anti-spam milter for Postfix and Sendmail

usage:
  levee serve [--config FILE]                 run the milter (default inet:127.0.0.1:8895)
  levee check [--config FILE] [--explain] [--json] [--dns]
              [--ip A --client-name N --helo H --from S --rcpt R] FILE|DIR|-...
  levee lookup [--config FILE] [--health] [--ip A] [--selector S] IP|DOMAIN...
  levee config check [FILE]                   validate a config and print the effective one
  levee rules list [--config FILE]            list every check with its score
  levee sa lint [--all] FILE|DIR...           load SpamAssassin rule files: what loaded, what was skipped
  levee dkim keygen|sign ...                  DKIM keys and signing (levee dkim for usage)
  levee version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stderr)
	case "check":
		return cmdCheck(rest, stdin, stdout, stderr)
	case "lookup":
		return cmdLookup(rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprintln(stderr, "usage: levee config check [FILE]")
			return 2
		}
		return cmdConfigCheck(rest[1:], stdout, stderr)
	case "sa":
		return cmdSA(rest, stdout, stderr)
	case "rules":
		if len(rest) == 0 || rest[0] != "list" {
			fmt.Fprintln(stderr, "usage: levee rules list [--config FILE]")
			return 2
		}
		return cmdRulesList(rest[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "levee", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if f, ok := extraCommands[cmd]; ok {
		return f(rest, stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "levee: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// extraCommands are added by other files (eval, bench).
var extraCommands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) int{}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveGCPercent is the GOGC of `levee serve` under a memory limit.
const serveGCPercent = 400

func cmdServe(args []string, stderr io.Writer) int {
	// SIGHUP is taken from the start: one that comes while levee starts
	// (systemd's reload right after start, a logrotate) is a reload once
	// the daemon runs, never the signal's default action, the exit.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the embedded default config)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for `go tool pprof`)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	filter.RouteStdLog(log)
	if cfg.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
		if os.Getenv("GOGC") == "" {
			// With the limit bounding the heap, collect when it has grown
			// to five times what survived the last collection instead of
			// twice: a verdict allocates ~100 KB that dies at once, and
			// GOGC=100 spent a fifth of the daemon's CPU collecting it.
			debug.SetGCPercent(serveGCPercent)
		}
	}
	d, err := newDaemon(*cfgPath, cfg, log, hup)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	return d.run()
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	path := ""
	if len(args) > 0 {
		path = args[0]
	}
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	if _, err := rules.NewEngine(cfg.Rules, rules.Options{NoDNS: true}); err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	fmt.Fprintf(stdout, "# effective configuration (%s)\n", map[bool]string{true: "embedded default", false: path}[path == ""])
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	enc.Close()
	return 0
}

func cmdRulesList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rules list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (scores: overrides are shown)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	fmt.Fprintf(stdout, "%-28s %7s  %-9s %s\n", "NAME", "SCORE", "KIND", "DESCRIPTION")
	for _, r := range rules.Builtin() {
		s := r.Score
		if o, ok := cfg.Rules.Scores[r.Name]; ok {
			s = o
		}
		fmt.Fprintf(stdout, "%-28s %7.2f  %-9s %s\n", r.Name, s, r.Kind, r.Desc)
	}
	fmt.Fprintf(stdout, "%-28s %7.2f  %-9s %s\n", rules.RuleGTUBE, 1000.0, rules.KindSpecial, "Generic Test for Unsolicited Bulk Email")
	for _, l := range cfg.Rules.DNSBL.Lists {
		for _, a := range l.Answers {
			fmt.Fprintf(stdout, "%-28s %7.2f  %-9s %s %s (%s)\n", a.Rule, a.Score, rules.KindDNSBL, l.Name, a.Match, a.Description)
		}
	}
	listAuthRules(stdout, cfg)
	if len(cfg.Rules.SA.Rules) > 0 {
		set, err := cfg.Rules.SA.Load()
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		for _, r := range set.Rules {
			if r.Sub() {
				continue // sub-rules feed metas and score nothing
			}
			s := r.Score
			if o, ok := cfg.Rules.Scores[r.Name]; ok {
				s = o
			}
			fmt.Fprintf(stdout, "%-28s %7.2f  %-9s %s\n", r.Name, s, rules.SARuleKind(r), r.Desc)
		}
	}
	return 0
}

func cmdLookup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	health := fs.Bool("health", false, "run the RFC 5782 health checks of every list")
	spfIP := fs.String("ip", "", "with a DOMAIN: run SPF check_host for this client address")
	var selectors multiFlag
	fs.Var(&selectors, "selector", "with a DOMAIN: fetch and check its DKIM key record for this selector (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var checkIP netip.Addr
	if *spfIP != "" {
		a, err := netip.ParseAddr(*spfIP)
		if err != nil {
			fmt.Fprintf(stderr, "levee: --ip %q is not an IP address\n", *spfIP)
			return 2
		}
		checkIP = a
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	log := newLogger(LogConfig{Level: "error"}, stderr)
	e, err := rules.NewEngine(cfg.Rules, rules.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	defer e.Close()
	c := e.DNSBL()
	if c == nil && (e.Auth() == nil || !e.Auth().Verifying()) {
		fmt.Fprintln(stderr, "levee: no DNS blocklists are configured and sender authentication is off")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Rules.DNS.Deadline+5*time.Second)
	defer cancel()
	if *health && c != nil {
		bad := 0
		for _, h := range c.Health(ctx) {
			fmt.Fprintln(stdout, h.String())
			if !h.OK {
				bad++
			}
		}
		if bad > 0 {
			return 1
		}
		return 0
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: levee lookup [--config FILE] [--health] IP|DOMAIN...")
		return 2
	}
	listed := false
	for _, t := range fs.Args() {
		fmt.Fprintf(stdout, "%s:\n", t)
		if c != nil {
			reps := c.Lookup(ctx, t)
			c.FormatReports(stdout, reps)
			for _, r := range reps {
				listed = listed || r.Listed
			}
		}
		if _, err := netip.ParseAddr(strings.Trim(t, "[]")); err != nil {
			lookupAuth(ctx, stdout, e, t, checkIP, selectors)
		}
	}
	if listed {
		return 1
	}
	return 0
}

// signalContext is cancelled on SIGTERM or SIGINT.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

var errUsage = errors.New("usage")
