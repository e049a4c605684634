package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules"
)

// daemon is `levee serve`: the milter server, its engine, the metrics
// listener, and signals.
//
// SIGHUP reloads the config file, the rules and the lists: a new engine is
// built beside the running one and swapped in atomically; each message uses
// the engine current at its MAIL FROM, so messages in flight finish with
// the old version. A bad file keeps the running version (the log names the
// file and line). Keys that belong to the listener (listen, socket_mode,
// on_panic, idle_timeout, shutdown_timeout, the MTA-side limits), log.*
// and metrics.listen need a restart: the log says so.
type daemon struct {
	path string
	cfg  *Config
	log  *slog.Logger
	srv  *filter.Server
	ln   net.Listener
	// hup is subscribed before anything starts (cmdServe): a SIGHUP sent
	// while levee starts is a reload waiting for run.
	hup chan os.Signal

	state    *daemonState         // nil without greylisting and rate limits (state.go)
	reg      *prometheus.Registry // nil when metrics are off
	reloads  *prometheus.CounterVec
	lastOK   prometheus.Gauge
	metrics  *metricsServer
	stopping atomic.Bool

	// retired engines still open: each closes when the last message that
	// started with it is done (or after retireAfter, or at exit).
	retiredMu sync.Mutex
	retired   map[*rules.Engine]*time.Timer
}

// retireAfter bounds how long a replaced engine stays open: it closes as
// soon as its last message is done, and a message that started before the
// reload ends within Postfix's milter_content_timeout (300s), so this is a
// backstop against a message that never ends.
var retireAfter = 10 * time.Minute

func newDaemon(path string, cfg *Config, log *slog.Logger, hup chan os.Signal) (*daemon, error) {
	d := &daemon{path: path, cfg: cfg, log: log, hup: hup, retired: map[*rules.Engine]*time.Timer{}}
	var reg prometheus.Registerer // stays a nil interface when metrics are off
	if cfg.Metrics.Listen != "" {
		d.reg, d.reloads, d.lastOK = newRegistry()
		reg = d.reg
	}
	e, err := rules.NewEngine(cfg.Rules, rules.Options{Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	mode, _ := cfg.Filter.Mode()
	ln, err := filter.Listen(cfg.Filter.Listen, mode)
	if err != nil {
		e.Close()
		return nil, err
	}
	d.ln = ln
	d.srv = filter.NewServer(cfg.Filter, e, log)
	if d.state, err = openDaemonState(cfg, log, reg); err != nil {
		ln.Close()
		e.Close()
		return nil, err
	}
	if d.state != nil {
		d.srv.State = d.state.hooks
	}
	if d.reg != nil {
		m, err := filter.NewMetrics(d.reg)
		if err == nil {
			d.srv.Observer = m
			d.metrics, err = startMetrics(cfg.Metrics.Listen, d.reg, d.health, log)
		}
		if err != nil {
			ln.Close()
			e.Close()
			d.state.close()
			return nil, err
		}
	}
	return d, nil
}

// health is the /healthz answer.
func (d *daemon) health() (int, string) {
	if d.stopping.Load() {
		return http.StatusServiceUnavailable, "shutting down\n"
	}
	var disabled []string
	if c := d.srv.Engine().DNSBL(); c != nil {
		disabled = c.Disabled()
	}
	return http.StatusOK, healthBody(disabled)
}

func (d *daemon) run() int {
	ctx, stop := signalContext()
	defer stop()
	hup := d.hup

	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(d.ln) }()
	d.log.Info("levee listening", "listen", d.cfg.Filter.Listen, "mode", modeName(d.cfg.Rules.Mode),
		"lists", len(d.cfg.Rules.DNSBL.Lists), "metrics", d.cfg.Metrics.Listen, "version", version)
	for {
		select {
		case err := <-errc:
			d.closeAll()
			if err != nil && !errors.Is(err, net.ErrClosed) {
				d.log.Error("listener failed", "err", err)
				return 1
			}
			return 0
		case <-hup:
			d.reload()
		case <-ctx.Done():
			d.stopping.Store(true)
			d.log.Info("shutting down: finishing sessions in flight", "timeout", d.cfg.Filter.ShutdownTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), d.cfg.Filter.ShutdownTimeout)
			err := d.srv.Shutdown(sctx)
			cancel()
			d.closeAll()
			if err != nil {
				d.log.Warn("sessions cut at shutdown timeout", "err", err)
			}
			d.log.Info("stopped")
			return 0
		}
	}
}

// closeAll closes the engines and the metrics listener.
func (d *daemon) closeAll() {
	if d.metrics != nil {
		d.metrics.close()
	}
	d.retiredMu.Lock()
	for e, t := range d.retired {
		t.Stop()
		e.Close()
	}
	d.retired = map[*rules.Engine]*time.Timer{}
	d.retiredMu.Unlock()
	d.srv.Engine().Close()
	d.state.close()
}

// reload re-reads the config file: a bad file keeps the running version.
func (d *daemon) reload() {
	d.log.Info("SIGHUP: reloading the config", "path", d.pathName())
	if err := d.tryReload(); err != nil {
		d.log.Error("reload failed, keeping the running config", "err", err)
		if d.reloads != nil {
			d.reloads.WithLabelValues("failure").Inc()
		}
		return
	}
	if d.reloads != nil {
		d.reloads.WithLabelValues("success").Inc()
		d.lastOK.SetToCurrentTime()
	}
}

func (d *daemon) tryReload() error {
	cfg, err := loadConfig(d.path) // errors name the file, line and key
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	if d.reg != nil {
		reg = d.reg // rules/dnsbl reuses its collectors already registered
	}
	e, err := rules.NewEngine(cfg.Rules, rules.Options{Logger: d.log, Registerer: reg})
	if err != nil {
		return fmt.Errorf("%s: %w", d.pathName(), err)
	}
	if cfg.Filter.Listen != d.cfg.Filter.Listen {
		d.log.Warn("listen changed: a restart is needed to move the listener; still listening on the old address",
			"running", d.cfg.Filter.Listen, "configured", cfg.Filter.Listen)
	}
	if needsStore(cfg) && d.state == nil {
		d.log.Warn("greylisting or rate limits are configured but no state store is open: they start with the next restart")
	}
	if changed := restartChanges(cfg, d.cfg); len(changed) > 0 {
		d.log.Warn("a restart is needed to apply these changes: "+strings.Join(changed, ", "), "keys", changed)
	}
	old := d.srv.Engine()
	d.srv.SetEngine(e)
	d.cfg.Rules = cfg.Rules
	d.retire(old)
	d.log.Info("config reloaded", "path", d.pathName(), "mode", modeName(cfg.Rules.Mode), "lists", len(cfg.Rules.DNSBL.Lists))
	return nil
}

// restartChanges names the settings that differ between two configs and
// that a reload does not apply (listen aside: it has its own warning).
func restartChanges(c, running *Config) []string {
	keys := func(c *Config) []any {
		return []any{c.Filter.SocketMode, c.Filter.OnPanic, c.Filter.IdleTimeout, c.Filter.ShutdownTimeout,
			c.Filter.BodyMemory, c.Filter.AlwaysReply, c.MemoryLimit, c.Log, c.Metrics, c.State,
			c.Filter.MaxConnections, c.Filter.MaxPacket, c.Filter.NegotiationTimeout, c.Filter.PacketTimeout}
	}
	names := []string{"socket_mode", "on_panic", "idle_timeout", "shutdown_timeout", "body_memory", "always_reply",
		"memory_limit", "log", "metrics", "state",
		"max_connections", "max_packet", "negotiation_timeout", "packet_timeout"}
	a, b := keys(c), keys(running)
	var changed []string
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			changed = append(changed, names[i])
		}
	}
	return changed
}

// retire hands a replaced engine over to its messages: it is closed when
// the last message that started with it is done (rules.Engine.Retire), or
// at exit. retireAfter is a backstop only.
func (d *daemon) retire(e *rules.Engine) {
	d.retiredMu.Lock()
	d.retired[e] = time.AfterFunc(retireAfter, func() { d.forget(e, true) })
	d.retiredMu.Unlock()
	e.Retire(func() { d.forget(e, false) })
}

// forget drops a retired engine from the list of those still open; with
// force (the backstop), it closes it too.
func (d *daemon) forget(e *rules.Engine, force bool) {
	d.retiredMu.Lock()
	t, ok := d.retired[e]
	delete(d.retired, e)
	d.retiredMu.Unlock()
	if !ok {
		return
	}
	t.Stop()
	if force {
		d.log.Warn("a replaced engine was still in use after the backstop time: closed", "users", e.Users(), "after", retireAfter.String())
		e.Close()
	}
}

func (d *daemon) pathName() string {
	if d.path == "" {
		return "default config"
	}
	return d.path
}

func modeName(m string) string {
	if m == "" {
		return "enforce"
	}
	return m
}
