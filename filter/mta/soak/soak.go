// Package soak is `levee soak`: proof under load that levee loses no mail.
// It builds a private Postfix (filter/mta/postfix) in front of the real
// levee binary and an in-process SMTP sink, serves DNSBL zones with a real
// rbldnsd (filter/mta/rbldnsd) behind a DNS forwarder it can slow down,
// feeds N copies of a corpus through SMTP from many clients (filter/mta's
// SMTP client, every reply kept), injects faults on a schedule (SIGHUP
// reloads, a bad config, a SIGTERM restart, a SIGKILL, rbldnsd killed, slow
// DNS), and at the end accounts for every copy: delivered once (judged,
// unless levee was down then), rejected with a 5xx (seen by the client, or
// by the relay, which bounced it), or deferred and then one of those. It
// also compares levee's RSS and goroutines at the end with their start and
// looks for panics in levee's log.
//
//	res, err := soak.Run(ctx, soak.Options{Corpus: "/tmp/corpus", N: 20000, Levee: "/usr/bin/levee"})
//	fmt.Println(res.Summary())
//	if !res.OK() { os.Exit(1) }
//
// The path of a copy:
//
//	soak client --SMTP--> relay smtpd (no milter; Postfix's queue, retried every second or so)
//	            \                 --relayb smtp--> filter smtpd (levee as milter, configs/postfix/main.cf) --> sink
//	             `-- every DirectEvery-th copy straight to the filter smtpd (the client sees levee's 5xx and 4xx)
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
	"github.com/levee-mail/levee/filter/mta/rbldnsd"
)

// Options of a run. The zero value of each field is its default.
type Options struct {
	Corpus      string // directory or .tar.gz with ham/, spam/, envelope.jsonl (rules/eval's reader)
	N           int    // copies to send (default 20000; the corpus is cycled)
	Concurrency int    // SMTP client sessions at once (default 8)
	// DirectEvery sends every DirectEvery-th copy straight to the
	// filtering smtpd instead of through the relay (default 5).
	DirectEvery int
	Warmup      int    // copies sent before the start figures are read (default N/10, at most 500)
	Levee       string // the levee binary (default: this executable)
	PostfixMain string // configs/postfix/main.cf (its milter address is replaced by levee's)
	Dir         string // work directory (default: a new one under os.TempDir)
	Keep        bool   // keep Dir (levee.log, maillog, zones, configs)

	ReloadEvery time.Duration // SIGHUP with a changed config this often (default 30s)
	LeveeDown   time.Duration // time between SIGKILL and the restart (default 2s)
	RbldnsdDown time.Duration // how long rbldnsd stays dead (default 5s)
	DNSSlow     time.Duration // how long the DNS path is slow (default 10s)
	DNSTimeout  time.Duration // levee's dns.timeout (default 1s); slow answers take 1s more
	DNSDeadline time.Duration // levee's dns.deadline (default 2s)
	DNSTTL      int           // seconds answers (and NXDOMAIN) are cached (default 10)
	// TempfailAt is the tempfail threshold the reloads toggle on and off:
	// copies scoring from it up to the reject threshold (15) are deferred
	// while it is on (default 10).
	TempfailAt float64

	Drain time.Duration // bound on emptying Postfix's queue at the end (default 3m)
	// The leak bounds: levee's RSS at the end may exceed its start by
	// MaxRSSGrowth MiB (default 64: under memory_limit 128MiB levee
	// collects at GOGC=400, so its heap swings to five times what is
	// live, and the current engine's DNS caches may fill to
	// dns.cache_size), its goroutines by MaxGoroutineGrowth (default 8).
	// A reload adds nothing to either for long: the engine it replaced
	// closes, with its health checks and DNS caches, once its last
	// message is done (cmd/levee/daemon.go).
	MaxRSSGrowth       float64
	MaxGoroutineGrowth int

	Progress io.Writer // progress lines (default: none)
	RunID    string    // X-Soak-Id prefix (default: from the time)
}

func (o *Options) defaults() error {
	if o.Corpus == "" {
		return errors.New("soak: no corpus")
	}
	if o.N <= 0 {
		o.N = 20000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.DirectEvery <= 0 {
		o.DirectEvery = 5
	}
	if o.Warmup <= 0 {
		o.Warmup = min(o.N/10, 500)
	}
	if o.Levee == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Levee = exe
	}
	if o.PostfixMain == "" {
		return errors.New("soak: no Postfix snippet (configs/postfix/main.cf)")
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&o.ReloadEvery, 30 * time.Second}, {&o.LeveeDown, 2 * time.Second}, {&o.RbldnsdDown, 5 * time.Second},
		{&o.DNSSlow, 10 * time.Second}, {&o.DNSTimeout, time.Second}, {&o.DNSDeadline, 2 * time.Second}, {&o.Drain, 3 * time.Minute}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	if o.DNSTTL <= 0 {
		o.DNSTTL = 10
	}
	if o.TempfailAt == 0 {
		o.TempfailAt = 10
	}
	if o.MaxRSSGrowth == 0 {
		o.MaxRSSGrowth = 64
	}
	if o.MaxGoroutineGrowth == 0 {
		o.MaxGoroutineGrowth = 8
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.RunID == "" {
		o.RunID = "soak" + time.Now().UTC().Format("20060102T150405")
	}
	return nil
}

// Result is the outcome of a run.
type Result struct {
	Outcome
	Faults   map[string]int
	Windows  int     // levee down windows (restarts)
	RSSStart float64 // MiB, after the warm-up
	RSSEnd   float64
	// HeapStart, HeapEnd (MiB) estimate the live heap: the heap goal
	// after the last collection over 1+GOGC/100. RSS swings with the
	// garbage collector (GOGC=400 under memory_limit); this does less.
	HeapStart, HeapEnd float64
	GoroutinesStart    int
	GoroutinesEnd      int
	Panics             []string
	Problems           []string // what fails the run, explained
	Notes              []string // worth a look, fails nothing
	Duration           time.Duration
	Dir                string
	DNSQueries         int64
}

// OK says whether the run proved what it should: nothing lost, nothing
// twice, every delivery judged unless levee was down, every fault
// injected and handled, no leak, no panic.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// Summary is the one line a run prints.
func (r *Result) Summary() string {
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	var fs []string
	for _, k := range FaultKinds {
		fs = append(fs, fmt.Sprintf("%s=%d", k, r.Faults[k]))
	}
	return fmt.Sprintf("soak %s: sent=%d delivered=%d (tagged=%d, unjudged while levee was down=%d) rejected=%d (5xx to the client=%d, 5xx to the relay=%d) "+
		"deferred-then-delivered=%d deferred-then-rejected=%d lost=%d duplicates=%d unjudged-outside-down-windows=%d unsent=%d "+
		"faults: %s rss_mib=%.1f->%.1f heap_live_mib=%.1f->%.1f goroutines=%d->%d panics=%d time=%s",
		verdict, r.Sent, r.Delivered, r.Tagged, r.Unjudged, r.Rejected, r.RejectedClient, r.RejectedBounce,
		r.DeferredDelivered, r.DeferredRejected, r.Lost, r.Duplicates, r.UnjudgedOutside, r.Unsent,
		strings.Join(fs, " "), r.RSSStart, r.RSSEnd, r.HeapStart, r.HeapEnd, r.GoroutinesStart, r.GoroutinesEnd, len(r.Panics), r.Duration.Round(time.Second))
}

// Run runs the whole soak. An error means it could not be set up or run
// (a missing program, a port); what it found is in the Result.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	start := time.Now()
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res = &Result{Faults: map[string]int{}}
	progress := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "soak %5.0fs: %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	// Postfix's daemons reach the queue as user postfix: every directory
	// on the way must be searchable, so no 0700 temporary directory.
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "levee-soak-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	res.Dir = o.Dir
	os.Chmod(o.Dir, 0o755)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		if !o.Keep {
			os.RemoveAll(o.Dir)
		}
	}()

	srcs, err := loadCorpus(ctx, o.Corpus)
	if err != nil {
		return nil, err
	}
	progress("corpus %s: %d messages; %d copies, %d at once, every %dth straight to the filtering smtpd", o.Corpus, len(srcs), o.N, o.Concurrency, o.DirectEvery)

	// The lists: rbldnsd behind the forwarder levee asks.
	zdir := filepath.Join(o.Dir, "rbldnsd")
	if err := os.MkdirAll(zdir, 0o755); err != nil {
		return nil, err
	}
	rb, err := rbldnsd.Start(zdir, rbldnsd.Options{TTL: o.DNSTTL}, zones(srcs, o.DNSTTL))
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, rb.Stop)
	px, err := startDNSProxy(rb.Addr())
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, px.close)

	// levee.
	milterPort, err := postfix.FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := postfix.FreePort()
	if err != nil {
		return nil, err
	}
	milter, metrics := fmt.Sprintf("127.0.0.1:%d", milterPort), fmt.Sprintf("127.0.0.1:%d", metricsPort)
	cfgPath := filepath.Join(o.Dir, "levee.yaml")
	version := 0
	writeConfig := func(tempfail, bad bool) error {
		version++
		t := "off"
		if tempfail {
			t = fmt.Sprint(o.TempfailAt)
		}
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(leveeConfig(&o, milter, metrics, px.addr(), t, version, bad)), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, cfgPath) // levee never reads half a file
	}
	if err := writeConfig(false, false); err != nil {
		return nil, err
	}
	llog, err := newLeveeLog(filepath.Join(o.Dir, "levee.log"))
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, llog.close)
	lv := &levee{bin: o.Levee, cfg: cfgPath, milter: milter, metricsAddr: metrics, log: llog}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	f := &faults{o: &o, lv: lv, rb: rb, px: px, log: llog, writeConfig: writeConfig, counts: res.Faults}
	lv.unexpected = func(code int) { f.onUnexpectedExit(runCtx, code) }
	if err := lv.start(ctx); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, tailFile(filepath.Join(o.Dir, "levee.log"), 20))
	}
	cleanups = append(cleanups, func() { cancelRun(); lv.stop() })

	// The sink and Postfix.
	led := newLedger(o.RunID, o.N)
	sink, err := postfix.StartSink("127.0.0.1:0", led.deliver)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, sink.Close)
	pf, err := postfix.Start(postfix.Config{
		Dir:          filepath.Join(o.Dir, "postfix"),
		Keep:         true, // under o.Dir, which goes unless Keep
		Relayhost:    sink.Addr(),
		RelayDomains: []string{RcptDomain},
		Params: map[string]string{
			// the relay's deferred mail is retried within seconds
			"minimal_backoff_time": "1s",
			"maximal_backoff_time": "4s",
			"queue_run_delay":      "1s",
			// unique for the whole run (short ids come from inode numbers)
			"enable_long_queue_ids": "yes",
			// the milter sees the header as the client sent it
			"local_header_rewrite_clients": "",
			"message_size_limit":           "67108864",
			"smtpd_timeout":                "120s",
			// XCLIENT takes IPv6 client addresses only then (the
			// services still listen on 127.0.0.1 alone)
			"inet_protocols": "ipv4, ipv6",
		},
		Extra: strings.ReplaceAll(o.PostfixMain, "inet:127.0.0.1:8895", "inet:"+milter),
		Services: []postfix.Service{
			{Name: "filter"}, // main.cf's milters: levee
			{Name: "relay", Args: []string{"-o", "smtpd_milters=", "-o", "content_filter=relayb:[127.0.0.1]:{filter}"}},
		},
		Transports: []postfix.Transport{{Name: "relayb", Command: "smtp", Args: []string{
			"-o", "smtp_helo_name=relay.levee.test",
			// one message per SMTP session, so one milter connection each:
			// a verdict lost to a SIGKILL belongs to a message filtered
			// then, not to one of a cached session minutes later
			"-o", "smtp_connection_cache_on_demand=no",
		}}},
	})
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { pf.Stop() })
	if !strings.Contains(o.PostfixMain, "inet:127.0.0.1:8895") {
		return nil, errors.New("soak: the Postfix snippet does not name inet:127.0.0.1:8895")
	}

	// Sending.
	order := rand.New(rand.NewSource(1)).Perm(len(srcs)) // any prefix samples the whole corpus
	var sent atomic.Int64
	sendN := func(n int) {
		i := order[n%len(order)]
		s := srcs[i]
		direct := n%o.DirectEvery == 0
		led.mu.Lock()
		led.rec[n].src, led.rec[n].direct, led.rec[n].nullSender = i, direct, s.from == ""
		led.mu.Unlock()
		service := "relay"
		if direct {
			service = "filter"
		}
		led.addAttempt(n, sendCopy(pf.Addr(service), service, s, s.data(o.RunID, n), rcpt(i), 2*time.Minute))
	}
	pool := func(ns []int, gate func(n int)) {
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < o.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					sendN(n)
					sent.Add(1)
				}
			}()
		}
	loop:
		for _, n := range ns {
			if gate != nil {
				gate(n)
			}
			select {
			case work <- n:
			case <-ctx.Done():
				break loop
			}
		}
		close(work)
		wg.Wait()
	}
	span := func(a, b int) []int {
		out := make([]int, 0, b-a)
		for n := a; n < b; n++ {
			out = append(out, n)
		}
		return out
	}
	stopProgress := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Add(1)
	go func() {
		defer progressWG.Done()
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				d, b := led.progress()
				progress("sent %d/%d, delivered %d, bounced %d, DNS queries %d", sent.Load(), o.N, d, b, px.queries.Load())
			}
		}
	}()
	defer func() { close(stopProgress); progressWG.Wait() }()

	// 1. Warm-up, then the start figures with nothing in flight.
	pool(span(0, o.Warmup), nil)
	if q, err := drain(ctx, pf, time.Minute, 5*time.Second); err != nil || len(q) > 0 {
		progress("warm-up: %d messages still queued after a minute (%v)", len(q), err)
	}
	m, err := quiet(ctx, lv)
	if err != nil {
		return nil, err
	}
	res.RSSStart, res.GoroutinesStart, res.HeapStart = m["process_resident_memory_bytes"]/(1<<20), int(m["go_goroutines"]), heapLive(m)
	progress("warm-up done (%d copies): levee RSS %.1f MiB, %d goroutines", o.Warmup, res.RSSStart, res.GoroutinesStart)

	// 2. The run, with the faults.
	schedCtx, stopSched := context.WithCancel(ctx)
	var schedWG sync.WaitGroup
	schedWG.Add(1)
	base := int(sent.Load())
	go func() {
		defer schedWG.Done()
		f.schedule(schedCtx, func() int { return int(sent.Load()) - base }, o.N-base)
	}()
	pool(span(o.Warmup, o.N), func(n int) { f.hold(ctx, n-base, o.N-base, 2*o.Concurrency) })
	stopSched()
	schedWG.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted after %d copies: %w", sent.Load(), err)
	}
	f.finish()
	progress("all %d copies sent; faults: %v", o.N, res.Faults)

	// 3. What a client saw deferred (4xx, or no reply) it sends again, as
	// an MTA would; then Postfix's queue is flushed until it is empty.
	for round := 0; round < 5; round++ {
		var again []int
		for n := 0; n < o.N; n++ {
			if a, ok := led.lastAttempt(n); ok && (a.err != "" || a.code/100 == 4) {
				again = append(again, n)
			}
		}
		if len(again) == 0 {
			break
		}
		progress("retry round %d: %d copies the client saw deferred", round+1, len(again))
		if round > 0 {
			time.Sleep(2 * time.Second)
		}
		pool(again, nil)
	}
	left, err := drain(ctx, pf, o.Drain, 3*time.Second)
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d messages still in Postfix's queue after %v, e.g. %+v", len(left), o.Drain, left[0]))
	}

	// 4. The end figures, the log, the reconciliation.
	m, err = quiet(ctx, lv)
	if err != nil {
		res.Problems = append(res.Problems, "end figures: "+err.Error())
	}
	res.RSSEnd, res.GoroutinesEnd, res.HeapEnd = m["process_resident_memory_bytes"]/(1<<20), int(m["go_goroutines"]), heapLive(m)
	if v := m["levee_panics_total"]; v > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("levee_panics_total = %v", v))
	}
	statuses, err := pf.Statuses()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	windows := append([]window(nil), f.windows...)
	f.mu.Unlock()
	res.Windows = len(windows)
	out, problems, notes := reconcile(led, statuses, windows, 2*time.Second)
	res.Outcome = out
	if err := led.writeTSV(filepath.Join(o.Dir, "copies.tsv"), srcs); err != nil {
		return nil, err
	}
	res.Problems = append(res.Problems, problems...)
	res.Notes = append(res.Notes, notes...)
	f.mu.Lock()
	res.Problems = append(res.Problems, f.problems...)
	f.mu.Unlock()
	for _, k := range FaultKinds {
		if res.Faults[k] == 0 {
			res.Problems = append(res.Problems, "fault "+k+" was never injected")
		}
	}
	// An engine a reload replaced is closed with its last message, so
	// the reloads leave nothing behind: the bound is the bound.
	if g := res.GoroutinesEnd - res.GoroutinesStart; g > o.MaxGoroutineGrowth {
		res.Problems = append(res.Problems, fmt.Sprintf("levee's goroutines grew by %d (bound %d): a leak", g, o.MaxGoroutineGrowth))
	}
	if g := res.RSSEnd - res.RSSStart; g > o.MaxRSSGrowth {
		res.Problems = append(res.Problems, fmt.Sprintf("levee's RSS grew by %.1f MiB (bound %.0f MiB): a leak", g, o.MaxRSSGrowth))
	}
	res.Panics = llog.panicLines()
	if len(res.Panics) > 0 {
		res.Problems = append(res.Problems, "panic in levee's log: "+res.Panics[0])
	}
	res.DNSQueries = px.queries.Load()
	res.Duration = time.Since(start)
	progress("levee log: %d verdicts, %d starts, %d reloads, %d refused; DNS proxy: %d queries, %d SERVFAIL, %d slowed",
		llog.count("msg=message "), llog.count("levee listening"), llog.count("config reloaded"),
		llog.count("reload failed, keeping the running config"), px.queries.Load(), px.servfails.Load(), px.delayed.Load())
	return res, nil
}

// heapLive estimates the live heap (MiB) from Go's metrics: the heap goal
// set at the last collection is the live heap times 1+GOGC/100.
func heapLive(m map[string]float64) float64 {
	gogc := m["go_gc_gogc_percent"]
	if gogc <= 0 {
		gogc = 100
	}
	return m["go_memstats_next_gc_bytes"] / (1 + gogc/100) / (1 << 20)
}

// quiet waits (at most a minute) until levee has no MTA session in flight,
// then a second more, and reads its metrics.
func quiet(ctx context.Context, lv *levee) (map[string]float64, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := lv.metrics()
		if err == nil && m["levee_sessions_in_flight"] == 0 {
			time.Sleep(time.Second)
			return lv.metrics()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("levee still has %v sessions in flight", m["levee_sessions_in_flight"])
			}
			return m, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drain flushes Postfix's queue until it is empty, for at most d.
func drain(ctx context.Context, pf *postfix.Instance, d, every time.Duration) ([]postfix.QueueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return pf.Drain(ctx, every)
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
