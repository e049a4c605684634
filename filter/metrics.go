package filter

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/rules"
)

// Metrics is an Observer that counts into Prometheus. Set it as
// Server.Observer; the DNSBL metrics come from rules/dnsbl when the same
// Registerer is passed to rules.Options.Registerer.
//
//	levee_messages_total{action}          verdicts at end of message, by action taken
//	levee_messages_skipped_total{reason}  accepted without scoring (trusted, authenticated)
//	levee_rule_hits_total{rule}           hits by check name (DNSBL rules included)
//	levee_score                           histogram of the scores of judged messages
//	levee_sessions_in_flight              MTA connections open now
//	levee_sessions_total                  MTA connections accepted
//	levee_panics_total                    panics caught while handling a message
//	levee_connections_closed_total{reason} MTA connections closed by a bound (limits.go)
type Metrics struct {
	messages *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	hits     *prometheus.CounterVec
	score    prometheus.Histogram
	inFlight prometheus.Gauge
	sessions prometheus.Counter
	panics   prometheus.Counter
	closed   *prometheus.CounterVec
}

var (
	_ Observer     = (*Metrics)(nil)
	_ ConnObserver = (*Metrics)(nil)
)

// ScoreBuckets are the bounds of levee_score: around the usual thresholds
// (5 tag, 15 reject) and the GTUBE's 1000.
var ScoreBuckets = []float64{-5, 0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 50, 100, 1000}

// NewMetrics registers levee's milter metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_messages_total",
			Help: "Messages judged at end of message, by the action taken (accept, add_header, rewrite_subject, tempfail, quarantine, reject, discard).",
		}, []string{"action"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_messages_skipped_total",
			Help: "Messages accepted without scoring, by reason (trusted, authenticated); also counted in levee_messages_total.",
		}, []string{"reason"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_rule_hits_total",
			Help: "Rule hits by rule name.",
		}, []string{"rule"}),
		score: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "levee_score",
			Help:    "Scores of the messages judged (skipped ones excluded).",
			Buckets: ScoreBuckets,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "levee_sessions_in_flight",
			Help: "MTA connections (milter sessions) open now.",
		}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_sessions_total",
			Help: "MTA connections (milter sessions) accepted.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_panics_total",
			Help: "Panics caught while handling a message (the message got on_panic).",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_connections_closed_total",
			Help: "MTA connections levee closed because of a bound, by reason (evicted_*, refused at max_connections; *_timeout; oversized_packet, bad_length, header_limit).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.skipped, m.hits, m.score, m.inFlight, m.sessions, m.panics, m.closed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every action shows from the start, at 0, so rate() and alerts work
	// before the first message of a kind.
	for a := rules.Accept; a <= rules.Discard; a++ {
		m.messages.WithLabelValues(a.String())
	}
	for _, r := range CloseReasons {
		m.closed.WithLabelValues(r)
	}
	return m, nil
}

// Verdict counts one judged message.
func (m *Metrics) Verdict(_ *rules.Message, v *rules.Verdict) {
	m.messages.WithLabelValues(v.Action.String()).Inc()
	if v.Skipped != "" {
		m.skipped.WithLabelValues(strings.ToLower(v.Skipped)).Inc()
		return
	}
	m.score.Observe(v.Score)
	for _, h := range v.Hits {
		m.hits.WithLabelValues(h.Name).Inc()
	}
}

// EarlyReject counts a recipient refused at RCPT by the DNS blocklists
// as a message with action "early_reject".
func (m *Metrics) EarlyReject() { m.messages.WithLabelValues("early_reject").Inc() }

// SessionStart counts an MTA connection.
func (m *Metrics) SessionStart() { m.inFlight.Inc(); m.sessions.Inc() }

// SessionEnd counts the end of an MTA connection.
func (m *Metrics) SessionEnd() { m.inFlight.Dec() }

// Panic counts a caught panic.
func (m *Metrics) Panic() { m.panics.Inc() }

// ConnClosed counts an MTA connection closed because of a bound.
func (m *Metrics) ConnClosed(reason string) { m.closed.WithLabelValues(reason).Inc() }
