package filter

// Greylisting and rate limits in the milter session (rules/greylist,
// rules/ratelimit, on the store of rules/state). Both answer at RCPT TO,
// the only event before end of message that the MTA waits on (levee's
// no-reply negotiation): "451 4.7.1" for a greylisted or rate-limited
// recipient, as a reply-code response, which keeps go-milter's session and
// the sender in place for the next recipient. The end-of-message greylist
// action (thresholds.greylist) answers at end of message.

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/ratelimit"
	"github.com/levee-mail/levee/rules/state"
)

// StoreErrorReply answers a recipient when the store fails and
// state.on_error is tempfail.
const StoreErrorReply = "451 4.3.0 Temporary local problem, try again later"

// State is what the milter needs for greylisting and rate limits: the
// store, opened once by the daemon and kept across reloads (the policy,
// greylist: and ratelimit:, comes with each engine).
type State struct {
	Store   state.Store
	OnError string           // "accept" or "tempfail" (state.on_error)
	Clock   func() time.Time // default time.Now
	Log     *slog.Logger

	m *stateMetrics

	alarmMu sync.Mutex
	alarms  map[string]time.Time // rate-limit alarms already logged, until the end of their window
}

// NewState builds the milter's state hooks; reg (may be nil) gets the
// greylist and rate-limit metrics.
func NewState(store state.Store, onError string, log *slog.Logger, reg prometheus.Registerer) (*State, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newStateMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &State{Store: store, OnError: onError, Log: log, m: m, alarms: map[string]time.Time{}}, nil
}

func (s *State) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// msgState is a message's greylist and rate-limit state.
type msgState struct {
	connect  *rules.Connect // judged at the first recipient
	accepted int            // recipients accepted so far
	// passed are the triplets the store accepted at RCPT: the end of
	// message does not ask about them again.
	passed map[string]bool
}

func trustedAddr(cfg *rules.Config, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range cfg.Trusted() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// stateRcpt greylists or rate-limits one recipient: a response refuses
// it, nil lets it pass. One store call at most.
func (st *connState) stateRcpt(rcpt string) milter.Response {
	s := st.srv.State
	e := st.engine
	if s == nil || e == nil || st.panicked || st.connPanicked {
		return nil
	}
	cfg := e.Config()
	gl, rl := &cfg.Greylist, &cfg.RateLimit
	if !gl.Enabled && !rl.Active() {
		return nil
	}
	env := st.envelope()
	b := state.Batch{Now: s.now(), Policy: gl.Policy()}
	if gl.Enabled {
		if st.ms.connect == nil {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.DNS.Deadline+time.Second)
			c := e.ConnectScore(ctx, &env, st.dns)
			cancel()
			st.ms.connect = &c
		}
		if want, why := gl.Wanted(st.ms.connect.GreylistSignals(&env)); want {
			b.Grey = []state.GreyOp{gl.Op(env.ClientIP, env.MailFrom, rcpt)}
		} else {
			s.m.skip(why)
		}
	}
	var subj ratelimit.Subject
	var lim ratelimit.Limit
	if rl.Active() {
		var ok bool
		if subj, lim, ok = rl.SubjectOf(env.AuthUser, env.ClientIP, trustedAddr(cfg, env.ClientIP)); ok {
			b.Counts = rl.Ops(subj, lim, st.ms.accepted == 0)
		}
	}
	if len(b.Grey) == 0 && len(b.Counts) == 0 {
		st.ms.accepted++
		return nil
	}
	monitor := cfg.Mode == "monitor"
	if err := s.Store.Apply(context.Background(), &b); err != nil {
		s.m.greyOutcome("rcpt", "error", len(b.Grey))
		if s.OnError == "tempfail" && !monitor {
			return milter.NewResponseStr(byte(milter.ActReplyCode), StoreErrorReply)
		}
		st.ms.accepted++
		return nil
	}
	for i := range b.Grey {
		op := &b.Grey[i]
		s.m.greyOutcome("rcpt", op.Outcome.String(), 1)
		if !op.Outcome.Refused() {
			if st.ms.passed == nil {
				st.ms.passed = map[string]bool{}
			}
			st.ms.passed[op.Triplet] = true
		}
		if op.Outcome.Refused() || op.Outcome == state.GreyPassed {
			st.log.Info("greylist", "outcome", op.Outcome.String(), "queue_id", st.macro("i"), "client_ip", env.ClientIP.String(),
				"helo", env.Helo, "from", env.MailFrom, "rcpt", rcpt, "connect_score", rules.FormatScore(st.ms.connect.Score),
				"first_seen", op.FirstSeen.UTC().Format(time.RFC3339), "monitor", monitor)
		}
	}
	if b.Refused() {
		if monitor {
			st.ms.accepted++
			return nil
		}
		return milter.NewResponseStr(byte(milter.ActReplyCode), gl.Reply())
	}
	if b.Over() {
		for i := range b.Counts {
			if op := &b.Counts[i]; op.Over {
				s.rateAlarm(st, subj, ratelimit.What(op), op, b.Now)
			}
		}
		if !monitor {
			return milter.NewResponseStr(byte(milter.ActReplyCode), rl.Reply())
		}
	}
	st.ms.accepted++
	return nil
}

// rateAlarm counts a rate-limit hit and logs it once per subject, limit
// and window: the compromised-account alarm.
func (s *State) rateAlarm(st *connState, subj ratelimit.Subject, what string, op *state.CountOp, now time.Time) {
	s.m.rateHit(subj, what)
	key := subj.Kind + "\x00" + subj.Name + "\x00" + what
	s.alarmMu.Lock()
	until, seen := s.alarms[key]
	fresh := !seen || !now.Before(until)
	if fresh {
		if len(s.alarms) >= 100000 {
			for k, u := range s.alarms {
				if !now.Before(u) {
					delete(s.alarms, k)
				}
			}
			if len(s.alarms) >= 100000 {
				s.alarms = map[string]time.Time{}
			}
		}
		s.alarms[key] = now.Add(op.Window)
	}
	s.alarmMu.Unlock()
	if !fresh {
		return
	}
	st.log.Warn("rate limit exceeded: further attempts get 451 until the count drops (logged once per window)",
		"kind", subj.Kind, "account", subj.Name, "limit", what, "max", op.Limit, "window", state.Duration(op.Window).String(),
		"count", int64(op.Count), "client_ip", addrString(st.addr), "queue_id", st.macro("i"))
}

// stateEOM applies the end-of-message greylist action: a message whose
// score reached thresholds.greylist is tempfailed when one of its
// triplets is new to the store. Never for the clients greylisting spares
// at RCPT: trusted, authenticated, DNS-allowlisted, the null sender.
func (st *connState) stateEOM(env *rules.Envelope, v *rules.Verdict) {
	s := st.srv.State
	if s == nil || !v.Greylist || v.Skipped != "" || env.MailFrom == "" || !env.ClientIP.IsValid() || len(env.Rcpts) == 0 {
		return
	}
	cfg := st.engine.Config()
	if trustedAddr(cfg, env.ClientIP) || env.AuthUser != "" {
		return
	}
	// A client on a DNS allowlist is never greylisted, here as at RCPT
	// (where stateRcpt judged the client; its DNS answers are cached, so
	// judging it here when it was not is cheap).
	if st.ms.connect == nil {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DNS.Deadline+time.Second)
		c := st.engine.ConnectScore(ctx, env, st.dns)
		cancel()
		st.ms.connect = &c
	}
	if st.ms.connect.Allowlisted {
		return
	}
	gl := &cfg.Greylist
	b := state.Batch{Now: s.now(), Policy: gl.Policy()}
	seen := map[string]bool{}
	for _, r := range env.Rcpts {
		op := gl.Op(env.ClientIP, env.MailFrom, r)
		if !seen[op.Triplet] && !st.ms.passed[op.Triplet] {
			seen[op.Triplet] = true
			b.Grey = append(b.Grey, op)
		}
	}
	if len(b.Grey) == 0 {
		return // every triplet passed at RCPT already
	}
	monitor := cfg.Mode == "monitor"
	tempfail := false
	if err := s.Store.Apply(context.Background(), &b); err != nil {
		s.m.greyOutcome("eom", "error", len(b.Grey))
		tempfail = s.OnError == "tempfail"
		if tempfail && !monitor {
			v.Action, v.WouldBe, v.Reply, v.Headers = rules.Tempfail, rules.Tempfail, StoreErrorReply, nil
		}
		return
	}
	var outcomes []string
	for i := range b.Grey {
		s.m.greyOutcome("eom", b.Grey[i].Outcome.String(), 1)
		outcomes = append(outcomes, b.Grey[i].Outcome.String())
	}
	if !b.Refused() {
		return
	}
	st.log.Info("greylist at end of message", "queue_id", env.QueueID, "client_ip", env.ClientIP.String(), "from", env.MailFrom,
		"rcpts", len(env.Rcpts), "score", rules.FormatScore(v.Score), "outcomes", strings.Join(outcomes, ","), "monitor", monitor)
	if v.WouldBe < rules.Tempfail {
		v.WouldBe = rules.Tempfail
	}
	if !monitor {
		v.Action, v.Reply, v.Headers = rules.Tempfail, gl.Reply(), nil
	}
}

// stateMetrics; a nil *stateMetrics records nothing.
//
//	levee_greylist_total{stage,outcome}     greylist decisions: stage rcpt or eom; outcome new,
//	                                        early_retry, passed, known, auto_allowed, error
//	levee_greylist_skipped_total{reason}    recipients not greylisted: not_doubtful, trusted,
//	                                        authenticated, allowlisted, null_sender, no_client_ip
//	levee_ratelimit_hits_total{kind,limit}  attempts refused past a limit (kind user or network)
//	levee_ratelimit_user_over_total{user}   the same for authenticated users, by account
type stateMetrics struct {
	grey    *prometheus.CounterVec
	skipped *prometheus.CounterVec
	rate    *prometheus.CounterVec
	users   *prometheus.CounterVec
}

func newStateMetrics(reg prometheus.Registerer) (*stateMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &stateMetrics{
		grey: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_greylist_total",
			Help: "Greylist decisions by stage (rcpt, eom) and outcome (new, early_retry, passed, known, auto_allowed, error).",
		}, []string{"stage", "outcome"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_greylist_skipped_total",
			Help: "Recipients not greylisted, by reason (not_doubtful, trusted, authenticated, allowlisted, null_sender, no_client_ip).",
		}, []string{"reason"}),
		rate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_ratelimit_hits_total",
			Help: "Recipients refused past a rate limit, by kind (user, network) and limit (messages, recipients).",
		}, []string{"kind", "limit"}),
		users: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_ratelimit_user_over_total",
			Help: "Recipients refused past a rate limit, by authenticated user: the compromised-account alarm.",
		}, []string{"user"}),
	}
	for _, c := range []prometheus.Collector{m.grey, m.skipped, m.rate, m.users} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, st := range []string{"rcpt", "eom"} {
		for _, o := range []string{"new", "early_retry", "passed", "known", "auto_allowed", "error"} {
			m.grey.WithLabelValues(st, o)
		}
	}
	for _, k := range []string{ratelimit.KindUser, ratelimit.KindNetwork} {
		for _, l := range []string{"messages", "recipients"} {
			m.rate.WithLabelValues(k, l)
		}
	}
	return m, nil
}

func (m *stateMetrics) greyOutcome(stage, outcome string, n int) {
	if m != nil && n > 0 {
		m.grey.WithLabelValues(stage, outcome).Add(float64(n))
	}
}

func (m *stateMetrics) skip(reason string) {
	if m != nil {
		m.skipped.WithLabelValues(reason).Inc()
	}
}

func (m *stateMetrics) rateHit(s ratelimit.Subject, what string) {
	if m == nil {
		return
	}
	m.rate.WithLabelValues(s.Kind, what).Inc()
	if s.Kind == ratelimit.KindUser {
		m.users.WithLabelValues(s.Name).Inc()
	}
}
