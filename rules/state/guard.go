package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Guarded wraps a Store for the daemon: every call gets a deadline, is
// timed and counted, and a store that stops answering is logged once (at
// error level, with what on_error does meanwhile) and once more when it
// answers again, not on every message. The caller applies on_error to the
// errors it returns.
type Guarded struct {
	Store
	timeout time.Duration
	onError string
	log     *slog.Logger
	m       *metrics

	down      atomic.Bool
	downSince atomic.Int64
	pending   atomic.Int64 // bbolt calls still running after their deadline
}

// maxPending bounds the bbolt calls left running past their deadline
// (a hung disk): beyond it calls fail at once.
const maxPending = 64

// Guard wraps s; timeout bounds each call; onError is only logged.
func Guard(s Store, timeout time.Duration, onError string, log *slog.Logger, reg prometheus.Registerer) (*Guarded, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	m, err := newMetrics(reg, s.Name())
	if err != nil {
		return nil, err
	}
	return &Guarded{Store: s, timeout: timeout, onError: onError, log: log, m: m}, nil
}

// Unwrap returns the wrapped store.
func (g *Guarded) Unwrap() Store { return g.Store }

// Down reports whether the last call failed.
func (g *Guarded) Down() bool { return g.down.Load() }

// Apply makes one decision within the deadline.
func (g *Guarded) Apply(ctx context.Context, b *Batch) error {
	return g.call(ctx, "apply", func(ctx context.Context) error { return g.Store.Apply(ctx, b) })
}

func (g *Guarded) call(ctx context.Context, op string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	start := time.Now()
	var err error
	if _, ok := g.Store.(*Bolt); ok {
		err = g.async(ctx, f)
	} else {
		err = f(ctx)
	}
	if timedOut(ctx, err) {
		err = fmt.Errorf("%w (%v)", ErrTimeout, g.timeout)
	}
	g.m.observe(op, err, time.Since(start))
	g.note(err)
	return err
}

// timedOut: the call failed because the store did not answer in time.
// go-redis reports its deadline (the context's, or its own read timeout)
// as a network timeout ("i/o timeout"), not as context.DeadlineExceeded.
func timedOut(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// async runs a bbolt call (which does not watch a context) in a goroutine
// and gives up waiting at the deadline.
func (g *Guarded) async(ctx context.Context, f func(context.Context) error) error {
	if g.pending.Load() >= maxPending {
		return fmt.Errorf("%w: %d calls still running", ErrTimeout, maxPending)
	}
	done := make(chan error, 1)
	g.pending.Add(1)
	go func() {
		defer g.pending.Add(-1)
		done <- f(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// note logs the transitions between answering and not answering.
func (g *Guarded) note(err error) {
	if err != nil {
		if g.down.CompareAndSwap(false, true) {
			g.downSince.Store(time.Now().UnixNano())
			g.m.setUp(false)
			g.log.Error("state store not answering: greylisting and rate limits follow on_error until it is back (logged once)",
				"store", g.Store.Name(), "on_error", g.onError, "err", err)
		}
		return
	}
	if g.down.Load() && g.down.CompareAndSwap(true, false) {
		g.m.setUp(true)
		g.log.Info("state store answering again", "store", g.Store.Name(),
			"down_for", time.Since(time.Unix(0, g.downSince.Load())).Round(time.Millisecond).String())
	}
}

// List, AllowNetwork, PassTriplet and Delete (operator commands) go to
// the wrapped store as they are: no deadline of the guard (List and Delete
// may walk the whole store), not timed, not counted; only the caller's
// context bounds them, and with Redis each round trip its client timeout.
// `levee greylist` uses the unguarded store anyway (OpenRaw, or the
// daemon's control socket, which serves Guarded.Unwrap()).
func (g *Guarded) List(ctx context.Context, now time.Time, kind, prefix string, fn func(Entry) error) error {
	return g.Store.List(ctx, now, kind, prefix, fn)
}

var _ Store = (*Guarded)(nil)

// metrics of the store; a nil *metrics records nothing.
type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	up       *prometheus.GaugeVec
	store    string
}

func newMetrics(reg prometheus.Registerer, store string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		store: store,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_state_calls_total",
			Help: "Calls to the state store (greylist and rate-limit decisions) by store and result (ok, error, timeout).",
		}, []string{"store", "op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "levee_state_call_duration_seconds",
			Help:    "Time of one state store call (one round trip to Redis, one bbolt transaction).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"store"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "levee_state_up",
			Help: "1 while the state store answers, 0 after a failed call (until one succeeds).",
		}, []string{"store"}),
	}
	var err error
	m.calls = register(reg, m.calls, &err)
	m.duration = register(reg, m.duration, &err)
	m.up = register(reg, m.up, &err)
	if err == nil {
		for _, r := range []string{"ok", "error", "timeout"} {
			m.calls.WithLabelValues(store, "apply", r)
		}
		m.up.WithLabelValues(store).Set(1)
	}
	return m, err
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T, errp *error) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(T); ok {
				return old
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

func (m *metrics) observe(op string, err error, d time.Duration) {
	if m == nil {
		return
	}
	r := "ok"
	switch {
	case errors.Is(err, ErrTimeout):
		r = "timeout"
	case err != nil:
		r = "error"
	}
	m.calls.WithLabelValues(m.store, op, r).Inc()
	m.duration.WithLabelValues(m.store).Observe(d.Seconds())
}

func (m *metrics) setUp(up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(m.store).Set(v)
}
