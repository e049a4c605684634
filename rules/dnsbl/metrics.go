package dnsbl

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are registered when Options.Registerer is set; a nil *metrics
// records nothing. Registering twice (a reload) reuses the collectors.
type metrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	hits     prometheus.Counter
	misses   prometheus.Counter
	disabled *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_dnsbl_queries_total",
			Help: "DNSBL lookups by list and outcome (listed, clean, error_answer, unknown_answer, timeout, servfail, refused, dns_error).",
		}, []string{"list", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "levee_dnsbl_query_duration_seconds",
			Help:    "Time to answer a DNSBL lookup (cache hits included).",
			Buckets: []float64{.0005, .002, .01, .05, .1, .25, .5, 1, 2, 5},
		}, []string{"list"}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_dnsbl_cache_hits_total", Help: "DNS answers served from the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_dnsbl_cache_misses_total", Help: "DNS answers not in the cache.",
		}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "levee_dnsbl_lists_disabled", Help: "1 when a list is disabled by its RFC 5782 health check.",
		}, []string{"list"}),
	}
	var err error
	m.queries = register(reg, m.queries, &err)
	m.duration = register(reg, m.duration, &err)
	m.hits = register(reg, m.hits, &err)
	m.misses = register(reg, m.misses, &err)
	m.disabled = register(reg, m.disabled, &err)
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

func (m *metrics) query(list, outcome string, seconds float64) {
	if m == nil {
		return
	}
	m.queries.WithLabelValues(list, outcome).Inc()
	if seconds >= 0 {
		m.duration.WithLabelValues(list).Observe(seconds)
	}
}

func (m *metrics) cacheHit() {
	if m != nil {
		m.hits.Inc()
	}
}

func (m *metrics) cacheMiss() {
	if m != nil {
		m.misses.Inc()
	}
}

func (m *metrics) setDisabled(list string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.disabled.WithLabelValues(list).Set(v)
}
