package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules"
)

// daemon is `levee serve`: the milter server, its engine, and signals.
type daemon struct {
	path   string
	cfg    *Config
	log    *slog.Logger
	engine *rules.Engine
	srv    *filter.Server
	ln     net.Listener
}

func newDaemon(path string, cfg *Config, log *slog.Logger) (*daemon, error) {
	e, err := rules.NewEngine(cfg.Rules, rules.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	mode, _ := cfg.Filter.Mode()
	ln, err := filter.Listen(cfg.Filter.Listen, mode)
	if err != nil {
		e.Close()
		return nil, err
	}
	d := &daemon{path: path, cfg: cfg, log: log, engine: e, ln: ln}
	d.srv = filter.NewServer(cfg.Filter, e, log)
	return d, nil
}

func (d *daemon) run() int {
	ctx, stop := signalContext()
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, 1)
	go func() { errc <- d.srv.Serve(d.ln) }()
	d.log.Info("levee listening", "listen", d.cfg.Filter.Listen, "mode", modeName(d.cfg.Rules.Mode),
		"lists", len(d.cfg.Rules.DNSBL.Lists))
	for {
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				d.log.Error("listener failed", "err", err)
				return 1
			}
			return 0
		case <-hup:
			d.reload()
		case <-ctx.Done():
			d.log.Info("shutting down: finishing sessions in flight", "timeout", d.cfg.Filter.ShutdownTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), d.cfg.Filter.ShutdownTimeout)
			err := d.srv.Shutdown(sctx)
			cancel()
			d.srv.Engine().Close()
			if err != nil {
				d.log.Warn("sessions cut at shutdown timeout", "err", err)
			}
			d.log.Info("stopped")
			return 0
		}
	}
}

// reload re-reads the config file: a bad file keeps the running version.
func (d *daemon) reload() {
	cfg, err := loadConfig(d.path)
	if err != nil {
		d.log.Error("reload failed, keeping the running config", "err", err)
		return
	}
	e, err := rules.NewEngine(cfg.Rules, rules.Options{Logger: d.log})
	if err != nil {
		d.log.Error("reload failed, keeping the running config", "err", err)
		return
	}
	if cfg.Filter.Listen != d.cfg.Filter.Listen {
		d.log.Warn("listen changed: a restart is needed to move the listener", "running", d.cfg.Filter.Listen, "configured", cfg.Filter.Listen)
	}
	old := d.srv.Engine()
	d.srv.SetEngine(e)
	d.cfg.Rules = cfg.Rules
	d.log.Info("config reloaded", "path", d.path)
	old.Close()
}

func modeName(m string) string {
	if m == "" {
		return "enforce"
	}
	return m
}
