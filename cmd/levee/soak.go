package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/filter/mta/soak"
)

func init() {
	extraCommands["soak"] = cmdSoak
}

const soakUsage = `usage: levee soak [flags] CORPUS

Proves that levee loses no mail: a private Postfix (needs root, postfix and
rbldnsd) in front of this levee binary (levee serve) and an SMTP sink, N
copies of CORPUS (a directory or .tar.gz with ham/, spam/ and
envelope.jsonl, cycled; each copy gets an X-Soak-Id header and its own
Message-ID; recipients are rewritten to soak.levee.test) sent over SMTP by
-c clients at once, most through a Postfix relay service that queues and
retries, every 5th straight to the filtering smtpd. Meanwhile: a SIGHUP
reload with a changed config every --reload-every (the tempfail threshold
toggled), one bad config (must be refused), a SIGTERM restart, a SIGKILL
(Postfix's milter_default_action = accept applies), rbldnsd killed and
started again, the DNS path slowed past dns.timeout. At the end the client
resends what it saw deferred, Postfix's queue is flushed until empty, and
every copy must be exactly one of: delivered once (with levee's headers
unless levee was down), rejected with a 5xx (seen by the client, or a
bounce from the relay), each possibly after deferrals. levee's RSS and
goroutines at the end must be within bounds of their start (after the
warm-up) and its log must hold no panic.

Prints progress on stderr and one summary line on stdout; exits 1 on any
loss, duplicate, unjudged delivery outside a down window, leak or panic,
2 when the run could not be set up.
`

func cmdSoak(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, soakUsage); fs.PrintDefaults() }
	var o soak.Options
	fs.IntVar(&o.N, "n", 20000, "copies to send")
	fs.IntVar(&o.Concurrency, "c", 8, "SMTP client sessions at once")
	fs.IntVar(&o.DirectEvery, "direct-every", 5, "send every Nth copy straight to the filtering smtpd")
	fs.IntVar(&o.Warmup, "warmup", 0, "copies before the start figures are read (default n/10, at most 500)")
	fs.StringVar(&o.Levee, "levee", "", "the levee binary to run as `levee serve` (default: this one)")
	fs.StringVar(&o.Dir, "dir", "", "work directory (default: a new one in $TMPDIR)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory (levee.log, Postfix's maillog, zones, configs)")
	fs.DurationVar(&o.ReloadEvery, "reload-every", 0, "SIGHUP with a changed config this often (default 30s)")
	fs.DurationVar(&o.LeveeDown, "levee-down", 0, "pause between the SIGKILL and the restart (default 2s)")
	fs.DurationVar(&o.RbldnsdDown, "rbldnsd-down", 0, "how long rbldnsd stays dead (default 5s)")
	fs.DurationVar(&o.DNSSlow, "dns-slow", 0, "how long the DNS path is slow (default 10s)")
	fs.Float64Var(&o.TempfailAt, "tempfail-at", 0, "tempfail threshold the reloads toggle (default 10)")
	fs.DurationVar(&o.Drain, "drain", 0, "bound on emptying Postfix's queue at the end (default 3m)")
	fs.Float64Var(&o.MaxRSSGrowth, "max-rss-growth", 0, "MiB levee's RSS may grow from start to end (default 64)")
	fs.IntVar(&o.MaxGoroutineGrowth, "max-goroutine-growth", 0, "goroutines levee may gain from start to end (default 8; a replaced engine closes with its last message, so reloads add none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	o.Corpus = fs.Arg(0)
	o.PostfixMain = string(configs.PostfixMain)
	o.Progress = stderr
	ctx, stop := signalContext()
	defer stop()
	res, err := soak.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "levee soak:", err)
		return 2
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stderr, "soak problem:", p)
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, "soak note:", n)
	}
	if o.Keep {
		fmt.Fprintln(stderr, "soak: kept", res.Dir)
	}
	fmt.Fprintln(stdout, res.Summary())
	if !res.OK() {
		return 1
	}
	return 0
}
