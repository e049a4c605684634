package filter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/dnsbl"
	"github.com/levee-mail/levee/rules/greylist"
	"github.com/levee-mail/levee/rules/ratelimit"
	"github.com/levee-mail/levee/rules/state"
)

// Milter-level tests of greylisting and rate limits on a real bbolt store,
// with an injected clock: the delay passes without sleeping.

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type stateHarness struct {
	*harness
	clock *testClock
	hooks *State
	reg   *prometheus.Registry
}

// startState serves rc with the state hooks on store (a fresh bbolt file
// when nil).
func startState(t *testing.T, rc rules.Config, store state.Store, onError string, extra ...rules.Rule) *stateHarness {
	t.Helper()
	return startStateWith(t, rc, rules.Options{NoDNS: true, ExtraRules: extra}, store, onError)
}

// startStateWith is startState with the engine's options (a resolver).
func startStateWith(t *testing.T, rc rules.Config, opt rules.Options, store state.Store, onError string) *stateHarness {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opt.Logger = log
	e, err := rules.NewEngine(rc, opt)
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		b, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"), state.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		store = b
	}
	reg := prometheus.NewRegistry()
	hooks, err := NewState(store, onError, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	hooks.Clock = clock.now
	fc := Config{Listen: "inet:127.0.0.1:0"}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(fc, e, log)
	rec := &recorder{}
	s.Observer = rec
	s.State = hooks
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		e.Close()
	})
	return &stateHarness{harness: &harness{addr: "inet:" + ln.Addr().String(), srv: s, rec: rec, logs: logs}, clock: clock, hooks: hooks, reg: reg}
}

func greyConfig(when string) rules.Config {
	rc := testConfig()
	rc.Greylist = greylist.Config{Enabled: true, When: when}
	return rc
}

// rcpt plays MAIL (with macros) and RCPT and returns the RCPT answer.
func rcptAnswer(t *testing.T, s *mta.Session, from, rcpt string, macros ...string) *milter.Action {
	t.Helper()
	if len(macros) > 0 {
		if err := s.Macros(milter.CodeMail, macros...); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Mail(from, nil)
	must(t, a, err)
	a, err = s.Rcpt(rcpt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantCode(t *testing.T, what string, a *milter.Action, code int, text string) {
	t.Helper()
	if code == 0 {
		if a.Code != milter.ActContinue && a.Code != milter.ActAccept {
			t.Fatalf("%s: %c %d %q, want it to pass", what, a.Code, a.SMTPCode, a.SMTPText)
		}
		return
	}
	if a.Code != milter.ActReplyCode || a.SMTPCode != code || !strings.Contains(a.SMTPText, text) {
		t.Fatalf("%s: %c %d %q, want %d %s", what, a.Code, a.SMTPCode, a.SMTPText, code, text)
	}
}

func TestGreylistAtRcpt(t *testing.T) {
	h := startState(t, greyConfig("always"), nil, "accept")
	s := h.session(t)
	connect(t, s, "192.0.2.50", "mail.example.net", "mail.example.net")
	wantCode(t, "first attempt", rcptAnswer(t, s, "alice@example.net", "bob@example.org"), 451, "4.7.1 Greylisted")
	// the same session goes on: a second recipient, the sender kept
	a, err := s.Rcpt("carol@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "second recipient", a, 451, "4.7.1 Greylisted")
	s.Abort()

	h.clock.add(2 * time.Minute)
	s = h.session(t)
	connect(t, s, "192.0.2.51", "mail2.example.net", "mail2.example.net") // another host of the same /24
	wantCode(t, "early retry", rcptAnswer(t, s, "alice@example.net", "bob@example.org"), 451, "Greylisted")
	s.Abort()

	h.clock.add(4 * time.Minute)
	s = h.session(t)
	connect(t, s, "192.0.2.50", "mail.example.net", "mail.example.net")
	m := ham()
	m.from, m.rcpts = "alice@example.net", []string{"bob@example.org", "carol@example.org"}
	if _, act := send(t, s, m); act.Code != milter.ActAccept {
		t.Fatalf("retry after the delay: %c", act.Code)
	}
	for outcome, want := range map[string]float64{"new": 2, "early_retry": 1, "passed": 2} {
		if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", outcome)); got != want {
			t.Errorf("levee_greylist_total{stage=rcpt,outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	if !strings.Contains(h.logs.String(), `msg=greylist outcome=new`) {
		t.Errorf("no greylist log line:\n%s", h.logs.String())
	}
}

// A client network whose retries passed auto_allow times skips
// greylisting: a new triplet from it passes at the first attempt
// (outcome auto_allowed); another network is still greylisted.
func TestGreylistAutoAllow(t *testing.T) {
	rc := greyConfig("always")
	two := 2
	rc.Greylist.AutoAllow = &two
	h := startState(t, rc, nil, "accept")
	attempt := func(ip, from string) *milter.Action {
		s := h.session(t)
		defer s.Abort()
		connect(t, s, ip, "mail.example.net", "mail.example.net")
		return rcptAnswer(t, s, from, "bob@example.org")
	}
	for i, from := range []string{"a@example.net", "b@example.net"} {
		wantCode(t, from+" first", attempt("192.0.2.10", from), 451, "4.7.1 Greylisted")
		h.clock.add(6 * time.Minute)
		wantCode(t, from+" retry", attempt("192.0.2.11", from), 0, "")
		if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "auto_allowed")); got != 0 {
			t.Fatalf("auto_allowed after %d passes = %v", i+1, got)
		}
	}
	wantCode(t, "new sender, allowed network", attempt("192.0.2.12", "c@example.net"), 0, "")
	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "auto_allowed")); got != 1 {
		t.Errorf("levee_greylist_total{stage=rcpt,outcome=auto_allowed} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "passed")); got != 2 {
		t.Errorf("passed = %v, want 2", got)
	}
	wantCode(t, "another network", attempt("192.0.3.12", "c@example.net"), 451, "4.7.1 Greylisted")
}

// when: doubtful greylists the client without reverse DNS, not the one
// with a good name; the null sender and authenticated clients never.
func TestGreylistDoubtful(t *testing.T) {
	h := startState(t, greyConfig("doubtful"), nil, "accept")
	for _, c := range []struct {
		name, ip, client, from string
		macros                 []string
		code                   int
	}{
		{"good rDNS", "198.51.100.10", "mail.example.net", "a@example.net", nil, 0},
		{"no rDNS", "198.51.100.20", "unknown", "a@example.net", nil, 451},
		{"null sender", "198.51.100.30", "unknown", "", nil, 0},
		{"authenticated", "198.51.100.40", "unknown", "a@example.net", []string{"{auth_authen}", "alice"}, 0},
	} {
		s := h.session(t)
		connect(t, s, c.ip, c.client, "mail.example.net")
		wantCode(t, c.name, rcptAnswer(t, s, c.from, "bob@example.org", c.macros...), c.code, "Greylisted")
		s.Abort()
	}
	if got := testutil.ToFloat64(h.hooks.m.skipped.WithLabelValues(greylist.SkipNotDoubtful)); got != 1 {
		t.Errorf("skipped not_doubtful = %v", got)
	}
	if got := testutil.ToFloat64(h.hooks.m.skipped.WithLabelValues(greylist.SkipBounce)); got != 1 {
		t.Errorf("skipped null_sender = %v", got)
	}
}

// An authenticated user past its limit gets 451 4.7.1 at RCPT, the account
// is logged once per window and counted by name; the next window lets it
// send again.
func TestRateLimitUser(t *testing.T) {
	rc := testConfig()
	rc.RateLimit = ratelimit.Config{Mode: "fixed", User: ratelimit.Limit{Messages: 100, Recipients: 3, Window: state.Duration(time.Hour)}}
	h := startState(t, rc, nil, "accept")
	auth := []string{"{auth_authen}", "mallory@example.org"}
	s := h.session(t)
	connect(t, s, "203.0.113.7", "home.example.net", "laptop")
	wantCode(t, "rcpt 1", rcptAnswer(t, s, "mallory@example.org", "r1@example.com", auth...), 0, "")
	for i, r := range []string{"r2@example.com", "r3@example.com"} {
		a, err := s.Rcpt(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "rcpt "+string(rune('2'+i)), a, 0, "")
	}
	for _, r := range []string{"r4@example.com", "r5@example.com", "r6@example.com"} {
		a, err := s.Rcpt(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, r, a, 451, "4.7.1 Sending rate limit exceeded")
	}
	s.Abort()
	logs := h.logs.String()
	if n := strings.Count(logs, "rate limit exceeded"); n != 1 || !strings.Contains(logs, "account=mallory@example.org") {
		t.Errorf("alarm logged %d times (want once, naming the account):\n%s", n, logs)
	}
	if got := testutil.ToFloat64(h.hooks.m.users.WithLabelValues("mallory@example.org")); got != 3 {
		t.Errorf("levee_ratelimit_user_over_total{user=mallory} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(h.hooks.m.rate.WithLabelValues("user", "recipients")); got != 3 {
		t.Errorf("levee_ratelimit_hits_total = %v", got)
	}
	// another user is not affected; the next window starts afresh
	s = h.session(t)
	connect(t, s, "203.0.113.7", "home.example.net", "laptop")
	wantCode(t, "other user", rcptAnswer(t, s, "bob@example.org", "r1@example.com", "{auth_authen}", "bob"), 0, "")
	s.Abort()
	h.clock.add(time.Hour)
	s = h.session(t)
	connect(t, s, "203.0.113.7", "home.example.net", "laptop")
	wantCode(t, "next window", rcptAnswer(t, s, "mallory@example.org", "r7@example.com", auth...), 0, "")
	s.Abort()
}

// An unauthenticated client network past its limit gets 451 4.7.1 at
// RCPT, whichever of its hosts sends; the hit is counted and logged with
// the network; another /24 is not limited.
func TestRateLimitNetwork(t *testing.T) {
	rc := testConfig()
	rc.RateLimit = ratelimit.Config{Network: ratelimit.Limit{Recipients: 3, Window: state.Duration(time.Hour)}} // sliding (default)
	h := startState(t, rc, nil, "accept")
	s := h.session(t)
	connect(t, s, "198.51.100.7", "mx1.example.net", "mx1.example.net")
	wantCode(t, "rcpt 1", rcptAnswer(t, s, "a@example.net", "r1@example.com"), 0, "")
	a, err := s.Rcpt("r2@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "rcpt 2", a, 0, "")
	s.Abort()
	// another host of the same /24 shares the count
	s = h.session(t)
	connect(t, s, "198.51.100.8", "mx2.example.net", "mx2.example.net")
	wantCode(t, "rcpt 3", rcptAnswer(t, s, "b@example.net", "r3@example.com"), 0, "")
	for _, r := range []string{"r4@example.com", "r5@example.com"} {
		a, err := s.Rcpt(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, r, a, 451, "4.7.1 Sending rate limit exceeded")
	}
	s.Abort()
	if got := testutil.ToFloat64(h.hooks.m.rate.WithLabelValues("network", "recipients")); got != 2 {
		t.Errorf("levee_ratelimit_hits_total{kind=network,limit=recipients} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.hooks.m.rate.WithLabelValues("user", "recipients")); got != 0 {
		t.Errorf("levee_ratelimit_hits_total{kind=user} = %v, want 0", got)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "rate limit exceeded"); n != 1 || !strings.Contains(logs, "kind=network account=198.51.100.0/24") {
		t.Errorf("alarm logged %d times (want once, naming the network):\n%s", n, logs)
	}
	// another /24 is not limited
	s = h.session(t)
	connect(t, s, "198.51.101.7", "mx.example.com", "mx.example.com")
	wantCode(t, "other network", rcptAnswer(t, s, "c@example.com", "r6@example.com"), 0, "")
	s.Abort()
}

// thresholds.greylist: a message that scores over it is tempfailed at end
// of message while its triplet is new, and accepted once it retried.
func TestGreylistAtEndOfMessage(t *testing.T) {
	rc := greyConfig("doubtful")
	rc.Thresholds.Greylist = rules.At(4)
	doubtfulBody := rules.Rule{Name: "TEST_DOUBTFUL", Score: 4.5, Kind: rules.KindMIME, Desc: "test",
		Test: func(m *rules.Message) bool { return strings.Contains(string(m.Body), "doubtful") }}
	h := startState(t, rc, nil, "accept", doubtfulBody)
	m := ham()
	m.body = "a doubtful offer\r\n"
	send1 := func() *milter.Action {
		s := h.session(t)
		connect(t, s, "198.51.100.77", "mail.example.net", "mail.example.net") // not doubtful at RCPT
		_, act := send(t, s, m)
		return act
	}
	wantCode(t, "first", send1(), 451, "4.7.1 Greylisted")
	_, v := h.rec.last(t)
	if v.Action != rules.Tempfail || !v.Greylist {
		t.Fatalf("verdict %+v", v)
	}
	h.clock.add(6 * time.Minute)
	if act := send1(); act.Code != milter.ActAccept {
		t.Fatalf("retry: %c %d %s", act.Code, act.SMTPCode, act.SMTPText)
	}
	// a clean message is not greylisted at all
	m.body = "hello\r\n"
	m.rcpts = []string{"zed@example.org"}
	if act := send1(); act.Code != milter.ActAccept {
		t.Fatalf("clean: %c", act.Code)
	}
	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("eom", "new")); got != 1 {
		t.Errorf("eom new = %v", got)
	}
}

// The end-of-message greylist action spares a client on a DNS allowlist,
// as greylisting at RCPT does: the same doubtful body from a client that
// is not listed is tempfailed.
func TestGreylistAtEndOfMessageAllowlisted(t *testing.T) {
	rc := greyConfig("doubtful")
	rc.Thresholds.Greylist = rules.At(4)
	rc.DNSBL.Lists = []dnsbl.List{{Name: "wl.test", Zone: "wl.test", Kind: "ip",
		Answers: []dnsbl.Answer{{Match: "127.0.5.2", Rule: "TEST_DNSWL", Score: -0.1, Description: "on wl.test"}}}}
	res := &dnsbl.MapResolver{A: map[string][]netip.Addr{"77.100.51.198.wl.test": {netip.MustParseAddr("127.0.5.2")}}}
	doubtfulBody := rules.Rule{Name: "TEST_DOUBTFUL", Score: 4.8, Kind: rules.KindMIME, Desc: "test",
		Test: func(m *rules.Message) bool { return strings.Contains(string(m.Body), "doubtful") }}
	h := startStateWith(t, rc, rules.Options{Resolver: res, ExtraRules: []rules.Rule{doubtfulBody}}, nil, "accept")
	m := ham()
	m.body = "a doubtful offer\r\n"
	for _, c := range []struct {
		name, ip string
		code     int
	}{
		{"on the allowlist", "198.51.100.77", 0},
		{"not listed", "198.51.100.10", 451},
	} {
		s := h.session(t)
		connect(t, s, c.ip, "mail.example.net", "mail.example.net")
		_, act := send(t, s, m)
		_, v := h.rec.last(t)
		if !v.Greylist {
			t.Fatalf("%s: the score %v does not reach thresholds.greylist: the test proves nothing", c.name, v.Score)
		}
		if c.code == 0 {
			if act.Code != milter.ActAccept {
				t.Fatalf("%s: %c %d %s, want it accepted", c.name, act.Code, act.SMTPCode, act.SMTPText)
			}
			continue
		}
		wantCode(t, c.name, act, c.code, "4.7.1 Greylisted")
	}
	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("eom", "new")); got != 1 {
		t.Errorf("eom new = %v, want 1 (the client not listed)", got)
	}
}

// failingStore is down.
type failingStore struct{ state.Store }

func (failingStore) Apply(context.Context, *state.Batch) error {
	return errors.New("connection refused")
}
func (failingStore) Name() string { return "fake" }

func TestStoreDownOnError(t *testing.T) {
	for _, c := range []struct {
		onError string
		code    int
	}{{"accept", 0}, {"tempfail", 451}} {
		t.Run(c.onError, func(t *testing.T) {
			g, err := state.Guard(failingStore{}, time.Second, c.onError, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := startState(t, greyConfig("always"), g, c.onError)
			s := h.session(t)
			connect(t, s, "192.0.2.99", "unknown", "bot")
			wantCode(t, "store down", rcptAnswer(t, s, "a@example.net", "b@example.org"), c.code, "4.3.0")
			s.Abort()
			if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "error")); got != 1 {
				t.Errorf("error outcome = %v", got)
			}
		})
	}
}

// monitor mode records and counts but refuses nothing.
func TestGreylistMonitor(t *testing.T) {
	rc := greyConfig("always")
	rc.Mode = "monitor"
	h := startState(t, rc, nil, "accept")
	s := h.session(t)
	connect(t, s, "192.0.2.50", "mail.example.net", "mail.example.net")
	wantCode(t, "monitor", rcptAnswer(t, s, "alice@example.net", "bob@example.org"), 0, "")
	s.Abort()
	if got := testutil.ToFloat64(h.hooks.m.grey.WithLabelValues("rcpt", "new")); got != 1 {
		t.Errorf("new = %v", got)
	}
}
