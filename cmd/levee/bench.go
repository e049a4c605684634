package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/filter/mta/bench"
	"github.com/levee-mail/levee/rules"
)

func init() {
	extraCommands["bench"] = cmdBench
}

const benchUsage = `usage: levee bench --addr inet:HOST:PORT|unix:PATH [flags] CORPUS
       levee bench --baseline [flags] CORPUS
       levee bench --addr ADDR --compare [flags] CORPUS
       levee bench --hold N [--addr ADDR --cpu-pid PID | --baseline]
       levee bench --serve-baseline inet:127.0.0.1:PORT

Plays Postfix's side of the milter protocol against any milter (levee,
rspamd, spamass-milter...): per message a connection (or --reuse K messages
per connection), negotiation as Postfix does it (version 6 offering all of
its event flags; the milter picks which events it gets and which it
answers), Postfix's default macros, CONNECT with the envelope's client IP
and name, HELO, MAIL, RCPT, DATA, the header, the body in 64 KiB chunks,
end of message; what the milter need not answer is sent without waiting,
as Postfix does. --plain offers no flags: every event is answered.

Reports msgs/s, latency p50/p90/p99/max (dial to the end-of-message
reply), the verdicts (accept, tagged = X-Spam-Flag: YES added, quarantine,
reject = 5xx, tempfail = 4xx, discard) and errors; with --cpu-pid the CPU
seconds of that process and its children (/proc/PID/stat) and msgs per
CPU-second.

CORPUS: a directory or .tar.gz with ham/, spam/ and envelope.jsonl, a
directory of .eml files or one message file; it is loaded into memory first.
Without an envelope line a message's envelope comes from its topmost
Received field.

--baseline measures go-milter v0.5.0's own server with a no-op backend that
reads everything and accepts, in this process on a loopback port: the
protocol's cost on this machine. Its CPU is this process's (load generator
and server together). --compare runs the baseline first, then --addr, and
prints them side by side. --serve-baseline runs that baseline milter alone
(until SIGTERM), so that --cpu-pid can measure it as a separate process.

--hold N opens N sessions at once, sends each the header and half of a
--hold-size body, then reads the target's VmRSS and VmHWM (/proc/PID/status
of --cpu-pid) and aborts them. With --finish, each session comes from its
own client IP (198.18.0.0/15), and instead of aborting every session sends
the rest of its body and end of message at once: the verdicts, the
latency from end of message to verdict, and the RSS and VmHWM after are
reported (a session without a verdict is an error).
`

func cmdBench(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "", "the milter to load, in Postfix notation")
	baseline := fs.Bool("baseline", false, "load an in-process go-milter no-op server instead of --addr")
	compare := fs.Bool("compare", false, "measure the baseline, then --addr, in one run")
	conc := fs.Int("c", 1, "connections at once")
	n := fs.Int("n", 0, "messages to send (default: the corpus once; wraps around)")
	reuse := fs.Int("reuse", 1, "messages per connection")
	warmup := fs.Int("warmup", 0, "messages sent first and not counted (fills DNS caches)")
	envFile := fs.String("envelope", "", "envelope.jsonl to use instead of the corpus's own")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	cpuPID := fs.String("cpu-pid", "", "PID[,PID...] of the target: its CPU (with children) and, for --hold, its RSS")
	timeout := fs.Duration("timeout", 60*time.Second, "per read and write")
	tls := fs.Bool("tls", false, "send Postfix's TLS macros at HELO")
	slowest := fs.Int("slowest", 0, "list this many of the slowest messages of each run")
	plain := fs.Bool("plain", false, "offer no protocol flags (the milter answers every event) instead of Postfix's")
	order := fs.String("order", "mixed", "message order: mixed (interleaved: any -n samples the whole corpus) or corpus")
	hold := fs.Int("hold", 0, "open this many sessions mid-message and read the target's RSS")
	holdSize := fs.String("hold-size", "10MiB", "with --hold: the body size (half of it is sent)")
	finish := fs.Bool("finish", false, "with --hold: then every session finishes its message at once; report verdicts and their latency")
	serve := fs.String("serve-baseline", "", "run the baseline milter at this address until SIGTERM")

	// Flags may follow the corpus: parse, take one positional, parse again.
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

	if *serve != "" {
		return serveBaseline(*serve, stderr)
	}
	var pids []int
	for _, p := range strings.Split(*cpuPID, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		v, err := strconv.Atoi(p)
		if err != nil || v <= 0 {
			fmt.Fprintf(stderr, "levee: --cpu-pid %q is not a process id\n", p)
			return 2
		}
		pids = append(pids, v)
	}
	if *order != "mixed" && *order != "corpus" {
		fmt.Fprintf(stderr, "levee: --order %q is not mixed or corpus\n", *order)
		return 2
	}
	if *compare && *addr == "" {
		fmt.Fprintln(stderr, "levee: --compare needs --addr")
		return 2
	}
	if !*baseline && !*compare && *addr == "" {
		fs.Usage()
		return 2
	}
	if *addr != "" {
		if _, _, err := mta.ParseAddr(*addr); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
	}
	ctx, cancel := signalContext()
	defer cancel()

	if *hold > 0 {
		size, err := rules.ParseSize(*holdSize)
		if err != nil {
			fmt.Fprintln(stderr, "levee: --hold-size:", err)
			return 2
		}
		return benchHold(ctx, bench.HoldOptions{Sessions: *hold, Size: size, Timeout: *timeout, Finish: *finish, Clients: *finish},
			*addr, *baseline || *compare, pids, *asJSON, stdout, stderr)
	}

	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	t0 := time.Now()
	msgs, err := bench.Load(rest[0], *envFile)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintf(stderr, "loaded %d messages in %s\n", len(msgs), time.Since(t0).Round(time.Millisecond))
	}
	opt := bench.Options{Concurrency: *conc, N: *n, Reuse: *reuse, Warmup: *warmup, Timeout: *timeout, TLS: *tls, Plain: *plain, Slowest: *slowest, Mixed: *order == "mixed"}

	type row struct {
		Name string        `json:"name"`
		R    *bench.Result `json:"result"`
	}
	var rows []row
	if *baseline || *compare {
		a, stop, err := bench.StartBaseline()
		if err != nil {
			fmt.Fprintln(stderr, "levee: baseline:", err)
			return 1
		}
		o := opt
		o.Addr = a
		r, err := bench.Run(ctx, msgs, o)
		stop()
		if err != nil {
			fmt.Fprintln(stderr, "levee: baseline:", err)
			return 1
		}
		// The in-process baseline's CPU is this process's: client and server.
		r.CPUSeconds, r.CPUSource = r.ClientCPUSeconds, "bench process (client and server)"
		if r.CPUSeconds > 0 {
			r.MsgsPerCPUSec = float64(r.Messages) / r.CPUSeconds
		}
		rows = append(rows, row{"baseline", r})
	}
	if *addr != "" && (!*baseline || *compare) {
		o := opt
		o.Addr, o.CPUPIDs = *addr, pids
		r, err := bench.Run(ctx, msgs, o)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		rows = append(rows, row{*addr, r})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "%d messages, c=%d, %d per connection\n", rows[0].R.Messages+rows[0].R.Errors, opt.Concurrency, max(opt.Reuse, 1))
		fmt.Fprintf(stdout, "%-28s %8s %7s %7s %7s %7s %7s %7s %9s %6s %6s %6s %6s %6s %6s %6s\n",
			"TARGET", "MSGS/S", "P50ms", "P90ms", "P99ms", "MAXms", "CPU-s", "CLI-s", "MSGS/CPUs",
			"ACCEPT", "TAGGED", "QUAR", "REJECT", "TEMPF", "DISC", "ERRORS")
		for _, x := range rows {
			r := x.R
			fmt.Fprintf(stdout, "%-28s %8.1f %7.2f %7.2f %7.2f %7.2f %7.2f %7.2f %9.0f %6d %6d %6d %6d %6d %6d %6d\n",
				x.Name, r.MsgsPerSec, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.CPUSeconds, r.ClientCPUSeconds, r.MsgsPerCPUSec,
				r.Verdicts.Accept, r.Verdicts.Tagged, r.Verdicts.Quarantine, r.Verdicts.Reject, r.Verdicts.Tempfail,
				r.Verdicts.Discard, r.Errors)
		}
		for _, x := range rows {
			if x.R.CPUSource != "" {
				fmt.Fprintf(stdout, "CPU-s of %s: %s\n", x.Name, x.R.CPUSource)
			}
			for _, e := range x.R.ErrorSample {
				fmt.Fprintf(stdout, "error (%s): %s\n", x.Name, e)
			}
			for _, m := range x.R.Slowest {
				fmt.Fprintf(stdout, "slow (%s): %7.2f ms %s\n", x.Name, m.Ms, m.Name)
			}
		}
		if len(rows) == 2 && rows[0].R.MsgsPerSec > 0 {
			fmt.Fprintf(stdout, "%s / baseline: throughput %.0f%%, p50 %+.2f ms, p99 x%.2f\n", rows[1].Name,
				100*rows[1].R.MsgsPerSec/rows[0].R.MsgsPerSec, rows[1].R.P50ms-rows[0].R.P50ms,
				rows[1].R.P99ms/max(rows[0].R.P99ms, 0.001))
		}
	}
	for _, x := range rows {
		if x.R.Errors > 0 {
			return 1
		}
	}
	return 0
}

func benchHold(ctx context.Context, o bench.HoldOptions, addr string, baseline bool, pids []int,
	asJSON bool, stdout, stderr io.Writer) int {
	var results []*bench.HoldResult
	if baseline {
		a, stop, err := bench.StartBaseline()
		if err != nil {
			fmt.Fprintln(stderr, "levee: baseline:", err)
			return 1
		}
		bo := o
		bo.Addr = a
		r, err := bench.Hold(ctx, bo)
		stop()
		if err != nil {
			fmt.Fprintln(stderr, "levee: baseline:", err)
			return 1
		}
		r.Target = "baseline"
		results = append(results, r)
	}
	if addr != "" {
		if len(pids) != 1 {
			fmt.Fprintln(stderr, "levee: --hold with --addr needs --cpu-pid PID (whose RSS is read)")
			return 2
		}
		lo := o
		lo.Addr, lo.PID = addr, pids[0]
		r, err := bench.Hold(ctx, lo)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		results = append(results, r)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(results)
	} else {
		fmt.Fprintf(stdout, "%-28s %8s %9s %10s %9s %9s %6s  %s\n", "TARGET", "SESSIONS", "SENT MiB", "RSS0 MiB", "RSS MiB", "HWM MiB", "ERRORS", "RSS OF")
		for _, r := range results {
			fmt.Fprintf(stdout, "%-28s %8d %9.1f %10.1f %9.1f %9.1f %6d  %s\n", r.Target, r.Sessions, r.SentMiB, r.RSSMiB0, r.RSSMiB, r.HWMMiB, r.Errors, r.Source)
			if r.ErrorMsg != "" {
				fmt.Fprintf(stdout, "error (%s): %s\n", r.Target, r.ErrorMsg)
			}
		}
		for _, r := range results {
			if f := r.Finish; f != nil {
				v := f.Verdicts
				fmt.Fprintf(stdout, "finish (%s): %d sessions in %.1fs: accept %d, tagged %d, quarantine %d, reject %d, tempfail %d, discard %d, no verdict %d\n",
					r.Target, f.Sessions, f.Seconds, v.Accept, v.Tagged, v.Quarantine, v.Reject, v.Tempfail, v.Discard, f.Errors)
				fmt.Fprintf(stdout, "finish (%s): end of message to verdict p50 %.0f ms, p99 %.0f ms, max %.0f ms; whole rest of message max %.0f ms; RSS %.1f MiB, VmHWM %.1f MiB\n",
					r.Target, f.EOMP50ms, f.EOMP99ms, f.EOMMaxMs, f.MessageMaxMs, f.RSSMiB, f.HWMMiB)
				if f.ErrorMsg != "" {
					fmt.Fprintf(stdout, "finish error (%s): %s\n", r.Target, f.ErrorMsg)
				}
			}
		}
	}
	for _, r := range results {
		if r.Errors > 0 || r.Finish != nil && r.Finish.Errors > 0 {
			return 1
		}
	}
	return 0
}

// serveBaseline runs the baseline milter as its own process.
func serveBaseline(addr string, stderr io.Writer) int {
	network, address, err := mta.ParseAddr(addr)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 1
	}
	ctx, cancel := signalContext()
	defer cancel()
	stop := bench.ServeBaseline(ln)
	fmt.Fprintf(stderr, "baseline milter (go-milter no-op) on %s\n", addr)
	<-ctx.Done()
	stop()
	return 0
}
