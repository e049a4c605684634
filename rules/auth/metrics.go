package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics: levee_auth_results_total{method,result}. A nil *metrics
// records nothing; registering again (a reload) reuses the collector.
type metrics struct {
	results *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "levee_auth_results_total",
		Help: "Sender authentication results by method (spf, dkim per signature, dmarc) and result (RFC 8601 values).",
	}, []string{"method", "result"})
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return &metrics{results: old}, nil
			}
		}
		return nil, err
	}
	return &metrics{results: cv}, nil
}

func (m *metrics) count(method, result string) {
	if m == nil || result == "" {
		return
	}
	m.results.WithLabelValues(method, result).Inc()
}
