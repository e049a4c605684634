package soak

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/levee-mail/levee/filter/mta/rbldnsd"
)

// Fault kinds, as the summary names them.
const (
	FaultReload    = "reload"       // SIGHUP with a changed config (the tempfail threshold toggled)
	FaultBadConfig = "bad_config"   // SIGHUP with a config levee must refuse
	FaultSIGTERM   = "sigterm"      // SIGTERM, then levee started again
	FaultSIGKILL   = "sigkill"      // SIGKILL, a pause, then levee started again
	FaultRbldnsd   = "rbldnsd_kill" // rbldnsd SIGKILLed, started again after a pause
	FaultDNSSlow   = "dns_slow"     // the DNS path answers after more than dns.timeout
)

// FaultKinds in the order of the schedule (reloads run all along).
var FaultKinds = []string{FaultReload, FaultBadConfig, FaultSIGTERM, FaultSIGKILL, FaultRbldnsd, FaultDNSSlow}

// scheduled are the one-off faults, each when this share of the copies has
// been sent. Restarts come early, so that the last levee process (the one
// whose RSS and goroutines are read at the end) carries most of the run and
// the other faults.
var scheduled = []struct {
	at   float64
	kind string
}{
	{0.15, FaultSIGTERM},
	{0.30, FaultSIGKILL},
	{0.45, FaultBadConfig},
	{0.60, FaultRbldnsd},
	{0.75, FaultDNSSlow},
}

// faults injects the faults and keeps what the reconciliation needs: the
// windows when levee was down, the count by kind, what went wrong.
type faults struct {
	o   *Options
	lv  *levee
	rb  *rbldnsd.Server
	px  *dnsProxy
	log *leveeLog
	// writeConfig writes levee's config file: tempfail on or off, or bad.
	writeConfig func(tempfail, bad bool) error

	mu       sync.Mutex
	windows  []window
	counts   map[string]int
	problems []string

	next       atomic.Int32 // the next of the scheduled faults
	reloads    []time.Time  // successful reloads
	tempfail   bool         // the running config tempfails the band
	rbldnsdEnd time.Time    // rbldnsd is down until then
	slowEnd    time.Time    // the DNS path is slow until then
	// the DNS proxy's counters when they began: the fault must have
	// reached levee (queries answered SERVFAIL, or slowed)
	servfails0, delayed0 int64
}

func (f *faults) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
	f.log.mark("PROBLEM: %s", msg)
}

func (f *faults) count(kind string) {
	f.mu.Lock()
	f.counts[kind]++
	f.mu.Unlock()
}

// schedule runs the faults as copies are sent (sent() of total, counted
// from the end of the warm-up) until ctx ends; reloads every
// o.ReloadEvery.
func (f *faults) schedule(ctx context.Context, sent func() int, total int) {
	lastReload := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		f.endTimed(now, false)
		if next := int(f.next.Load()); next < len(scheduled) && float64(sent()) >= scheduled[next].at*float64(total) && !f.lasting() {
			f.run(ctx, scheduled[next].kind)
			f.next.Add(1)
			continue
		}
		if f.o.ReloadEvery > 0 && now.Sub(lastReload) >= f.o.ReloadEvery {
			f.reload(!f.tempfail)
			lastReload = time.Now()
		}
	}
}

// hold waits before copy n (counted like sent) is handed to a sender
// while a scheduled fault due more than slack copies earlier has not been
// injected yet: one that lasts a while (rbldnsd down) delays the next, and
// on a fast machine the short run would otherwise end before it.
func (f *faults) hold(ctx context.Context, n, total, slack int) {
	for {
		next := int(f.next.Load())
		if next >= len(scheduled) || float64(n) < scheduled[next].at*float64(total)+float64(slack) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (f *faults) run(ctx context.Context, kind string) {
	f.log.mark("fault %s", kind)
	switch kind {
	case FaultBadConfig:
		f.badConfig()
	case FaultSIGTERM:
		f.restart(ctx, syscall.SIGTERM)
	case FaultSIGKILL:
		f.restart(ctx, syscall.SIGKILL)
	case FaultRbldnsd:
		f.rb.Kill()
		f.mu.Lock()
		f.rbldnsdEnd = time.Now().Add(f.o.RbldnsdDown)
		f.servfails0 = f.px.servfails.Load()
		f.mu.Unlock()
	case FaultDNSSlow:
		f.mu.Lock()
		f.slowEnd = time.Now().Add(f.o.DNSSlow)
		f.delayed0 = f.px.delayed.Load()
		f.mu.Unlock()
		f.px.setDelay(f.o.DNSTimeout + time.Second)
	}
	f.count(kind)
}

// lasting says whether a fault that lasts a while is still in effect:
// the one-off faults wait for it, so that each is seen on its own.
func (f *faults) lasting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.rbldnsdEnd.IsZero() || !f.slowEnd.IsZero()
}

// endTimed ends the faults that last a while once their time is up (all
// of them when force).
func (f *faults) endTimed(now time.Time, force bool) {
	f.mu.Lock()
	rb := !f.rbldnsdEnd.IsZero() && (force || now.After(f.rbldnsdEnd))
	if rb {
		f.rbldnsdEnd = time.Time{}
	}
	slow := !f.slowEnd.IsZero() && (force || now.After(f.slowEnd))
	if slow {
		f.slowEnd = time.Time{}
	}
	f.mu.Unlock()
	if rb {
		n := f.px.servfails.Load() - f.servfails0
		if err := f.rb.Restart(); err != nil {
			f.problem("rbldnsd restart: %v", err)
		}
		if n == 0 {
			f.problem("rbldnsd was down but levee asked nothing meanwhile")
		}
		f.log.mark("rbldnsd back (%d queries answered SERVFAIL meanwhile)", n)
	}
	if slow {
		f.px.setDelay(0)
		n := f.px.delayed.Load() - f.delayed0
		if n == 0 {
			f.problem("the DNS path was slow but levee asked nothing meanwhile")
		}
		f.log.mark("DNS path fast again (%d answers slowed)", n)
	}
}

// waitLog waits until the count of a watched log line passes n.
func (f *faults) waitLog(line string, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for f.log.count(line) <= n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// reload writes the config with the tempfail band on or off and sends
// SIGHUP; levee must log "config reloaded".
func (f *faults) reload(tempfail bool) {
	if err := f.writeConfig(tempfail, false); err != nil {
		f.problem("writing the config: %v", err)
		return
	}
	n := f.log.count("config reloaded")
	f.log.mark("fault reload (tempfail band %v)", tempfail)
	if err := f.lv.signal(syscall.SIGHUP, false); err != nil {
		f.problem("SIGHUP: %v", err)
		return
	}
	if !f.waitLog("config reloaded", n, 15*time.Second) {
		f.problem("reload: levee did not log \"config reloaded\" within 15s")
		return
	}
	f.tempfail = tempfail
	f.mu.Lock()
	f.reloads = append(f.reloads, time.Now())
	f.mu.Unlock()
	f.count(FaultReload)
}

// badConfig sends SIGHUP with a config that must be refused: levee logs
// the refusal, keeps the running config and goes on judging.
func (f *faults) badConfig() {
	if err := f.writeConfig(f.tempfail, true); err != nil {
		f.problem("writing the bad config: %v", err)
		return
	}
	refused, ok0 := f.log.count("reload failed, keeping the running config"), f.log.count("config reloaded")
	verdicts := f.log.count("msg=message ")
	if err := f.lv.signal(syscall.SIGHUP, false); err != nil {
		f.problem("SIGHUP: %v", err)
		return
	}
	if !f.waitLog("reload failed, keeping the running config", refused, 15*time.Second) {
		f.problem("bad config: levee did not log \"reload failed, keeping the running config\" within 15s")
	}
	if f.log.count("config reloaded") != ok0 {
		f.problem("bad config: levee reloaded it")
	}
	if err := f.writeConfig(f.tempfail, false); err != nil { // the good one back, for later reloads and restarts
		f.problem("writing the config: %v", err)
	}
	if !f.waitLog("msg=message ", verdicts+10, 30*time.Second) {
		f.problem("bad config: levee gave no verdicts in the 30s after refusing it")
	}
	if !f.lv.running() {
		f.problem("bad config: levee exited")
	}
}

// restart stops levee with sig and starts it again; the time between is a
// down window.
func (f *faults) restart(ctx context.Context, sig syscall.Signal) {
	from := time.Now()
	stopped := f.log.count("level=INFO msg=stopped")
	if err := f.lv.signal(sig, true); err != nil {
		f.problem("%v: %v", sig, err)
		return
	}
	wait := 30 * time.Second
	if sig == syscall.SIGTERM {
		wait = 40 * time.Second // shutdown_timeout 10s, and a slow machine
	}
	code, err := f.lv.wait(wait)
	if err != nil {
		f.problem("%v: %v", sig, err)
		f.lv.kill()
	}
	if sig == syscall.SIGTERM {
		if code != 0 {
			f.problem("SIGTERM: levee exited with %d, want 0", code)
		}
		if f.log.count("level=INFO msg=stopped") == stopped {
			f.problem("SIGTERM: levee did not log \"stopped\"")
		}
	} else {
		time.Sleep(f.o.LeveeDown)
	}
	if err := f.lv.start(ctx); err != nil {
		f.problem("restart after %v: %v", sig, err)
	}
	before := time.Second // the Received date's resolution
	if sig == syscall.SIGKILL {
		before += f.o.DNSDeadline + 2*time.Second // a verdict in the making
	}
	f.mu.Lock()
	f.windows = append(f.windows, window{kind: sig.String(), from: from, to: time.Now(), before: before})
	f.mu.Unlock()
	f.log.mark("levee back after %v", sig)
}

// finish ends every fault still in effect and leaves levee on the config
// without the tempfail band, so that what was deferred can go through.
func (f *faults) finish() {
	f.endTimed(time.Now(), true)
	if f.tempfail {
		f.reload(false)
	}
	if !f.lv.running() {
		f.problem("levee was not running at the end")
	}
}

// onUnexpectedExit is called when levee exits without the soak asking:
// a crash. The time until it is back is a down window of its own.
func (f *faults) onUnexpectedExit(ctx context.Context, code int) {
	from := time.Now()
	f.problem("levee exited on its own with %d", code)
	if ctx.Err() != nil {
		return
	}
	if err := f.lv.start(ctx); err != nil {
		f.problem("restart after a crash: %v", err)
		fmt.Fprintln(os.Stderr, "soak: levee does not start again:", err)
	}
	f.mu.Lock()
	f.windows = append(f.windows, window{kind: "crash", from: from, to: time.Now(), before: f.o.DNSDeadline + 3*time.Second})
	f.mu.Unlock()
}
