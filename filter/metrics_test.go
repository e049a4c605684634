package filter

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/levee-mail/levee/rules"
)

// metricValue gathers reg and returns the value of the counter or gauge
// name with the given label pairs (-1 when absent).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	m := findMetric(t, reg, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", name)
	return 0
}

func findMetric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func TestMetricsObserver(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice on one registry: no error")
	}
	verdicts := []rules.Verdict{
		{Action: rules.Reject, Score: 1000, Hits: []rules.Hit{{Name: "GTUBE", Score: 1000}}},
		{Action: rules.AddHeader, Score: 6.5, Hits: []rules.Hit{{Name: "MISSING_DATE", Score: 3}, {Name: "HELO_BARE_IP", Score: 3.5}}},
		{Action: rules.Accept, Score: 0.5, Hits: []rules.Hit{{Name: "MISSING_DATE", Score: 0.5}}},
		{Action: rules.Accept, Skipped: "authenticated"},
	}
	for i := range verdicts {
		m.Verdict(nil, &verdicts[i])
	}
	m.SessionStart()
	m.SessionStart()
	m.SessionEnd()
	m.Panic()

	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"levee_messages_total", []string{"action", "reject"}, 1},
		{"levee_messages_total", []string{"action", "add_header"}, 1},
		{"levee_messages_total", []string{"action", "accept"}, 2},  // the skipped one included
		{"levee_messages_total", []string{"action", "discard"}, 0}, // shown before the first one
		{"levee_messages_skipped_total", []string{"reason", "authenticated"}, 1},
		{"levee_rule_hits_total", []string{"rule", "MISSING_DATE"}, 2},
		{"levee_rule_hits_total", []string{"rule", "GTUBE"}, 1},
		{"levee_sessions_in_flight", nil, 1},
		{"levee_sessions_total", nil, 2},
		{"levee_panics_total", nil, 1},
	}
	for _, tt := range tests {
		if got := metricValue(t, reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v: %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// The histogram saw the three judged messages, not the skipped one.
	h := findMetric(t, reg, "levee_score").GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 1007 {
		t.Errorf("levee_score: count %d sum %v, want 3 and 1007", h.GetSampleCount(), h.GetSampleSum())
	}
	wantCum := map[float64]uint64{0: 0, 1: 1, 6: 1, 8: 2, 100: 2, 1000: 3}
	for _, b := range h.Bucket {
		if w, ok := wantCum[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("levee_score bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
}

// TestMetricsThroughMilter: the Server calls its Observer for a real milter
// session (connect, message, close).
func TestMetricsThroughMilter(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := rules.NewEngine(testConfig(), rules.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(fc, e, nil)
	srv.Observer = m // before Serve: the server reads it per connection
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		e.Close()
	})
	h := &harness{addr: "inet:" + ln.Addr().String(), srv: srv}
	s := h.connected(t, "192.0.2.80", "e.example.com")
	msg := ham()
	msg.body = "Hello\r\n" + rules.GTUBE + "\r\n"
	if _, act := send(t, s, msg); act.SMTPCode != 550 {
		t.Fatalf("GTUBE: %d %q", act.SMTPCode, act.SMTPText)
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, reg, "levee_sessions_in_flight") != 0 || metricValue(t, reg, "levee_sessions_total") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions: in flight %v, total %v", metricValue(t, reg, "levee_sessions_in_flight"), metricValue(t, reg, "levee_sessions_total"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := metricValue(t, reg, "levee_messages_total", "action", "reject"); got != 1 {
		t.Errorf("reject counter %v", got)
	}
	if got := metricValue(t, reg, "levee_rule_hits_total", "rule", "GTUBE"); got != 1 {
		t.Errorf("GTUBE hits %v", got)
	}
}
