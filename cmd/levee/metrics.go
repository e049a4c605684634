package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer is the HTTP listener of metrics.listen:
//
//	/metrics  Prometheus text format: levee_* (filter.Metrics, the DNSBL
//	          metrics of rules/dnsbl, reloads, build info), go_* and process_*
//	/healthz  200 "ok" while levee listens with a loaded config; lists that
//	          their RFC 5782 health check disabled are named, still with 200:
//	          levee judges on without them (fail open), and restarting levee
//	          would not fix a list. 503 once shutdown has begun.
type metricsServer struct {
	http *http.Server
	ln   net.Listener
}

// newRegistry is levee's Prometheus registry with the process-level
// collectors and the reload metrics.
func newRegistry() (*prometheus.Registry, *prometheus.CounterVec, prometheus.Gauge) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "levee_config_reloads_total",
		Help: "Config reloads (SIGHUP) by result: success or failure (the running config was kept).",
	}, []string{"result"})
	reloads.WithLabelValues("success")
	reloads.WithLabelValues("failure")
	lastOK := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "levee_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful config load (start or reload).",
	})
	lastOK.SetToCurrentTime()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "levee_build_info",
		Help:        "Always 1; the version label is levee's version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	reg.MustRegister(reloads, lastOK, build)
	return reg, reloads, lastOK
}

// startMetrics listens on addr (host:port) now, so a busy port stops levee
// at start, and serves in the background.
func startMetrics(addr string, reg *prometheus.Registry, health func() (int, string), log *slog.Logger) (*metricsServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %q: %v (want HOST:PORT, e.g. 127.0.0.1:9095)", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Warn("metrics.listen is not a loopback address: /metrics and /healthz are open to the network; firewall them", "listen", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		code, body := health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	})
	m := &metricsServer{
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second},
		ln:   ln,
	}
	go func() {
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	return m, nil
}

func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.http.Shutdown(ctx)
}

// healthBody is the /healthz answer for a running daemon.
func healthBody(disabled []string) string {
	if len(disabled) == 0 {
		return "ok\n"
	}
	return "ok\ndisabled lists: " + strings.Join(disabled, ", ") + "\n"
}
