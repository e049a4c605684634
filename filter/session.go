package filter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/dnsbl"
)

// connState is everything levee knows about one MTA connection (one SMTP
// session). It lives outside go-milter's backend objects, which go-milter
// replaces after any final response, so client IP, HELO and sender survive
// those replacements.
type connState struct {
	srv  *Server
	log  *slog.Logger
	conn *trackedConn // nil in tests that drive a backend directly

	// connection level
	host     string // client name as the MTA reports it ("[ip]" when unknown)
	addr     netip.Addr
	helo     string
	connMacs map[string]string // macros of the connect and HELO stages
	// connPanicked: a panic at connect or HELO; every message of the
	// connection then gets the on_panic verdict (what is known is not sure)
	connPanicked bool

	// message level; reset at MAIL FROM and at ABORT
	msgMacs   map[string]string // macros of MAIL, RCPT, DATA, EOH, EOM
	from      string
	inMessage bool
	rcpts     []string
	fields    []rules.Field
	// chunks is the body as received, up to the scan limit, in one
	// buffer: a body of one chunk is go-milter's packet itself; from the
	// second chunk on each is copied into a buffer of levee's as it
	// arrives, so that go-milter's packet goes at once and end of message
	// needs no second copy (many messages judged at once, waiting on
	// DNS, would hold both).
	chunks   [][]byte
	kept     int64 // bytes in chunks
	ownBuf   bool  // chunks[0] is levee's buffer, not go-milter's packet
	reserved int64 // bytes of kept taken from the server's body budget
	bodySize int64
	limit    int64
	engine   *rules.Engine
	msg      *rules.Message // built at end of header, completed at end of message
	dns      *dnsbl.Session
	panicked bool
	started  time.Time
	ms       msgState  // greylisting and rate limits (state.go)
	auth     authState // SPF/DKIM/DMARC and DKIM signing (auth.go)

	// lastMacros identifies the macro map go-milter handed us last: it
	// replaces the whole map at every macro packet and keeps a stale one
	// when a stage has none, so only a new map is taken.
	lastMacros uintptr
}

func newConnState(s *Server) *connState {
	return &connState{srv: s, log: s.Logger, connMacs: map[string]string{}, msgMacs: map[string]string{}}
}

// takeMacros merges the macros of the current stage into our own state.
func (st *connState) takeMacros(m *milter.Modifier, connLevel bool) {
	if m == nil || m.Macros == nil {
		return
	}
	p := reflect.ValueOf(m.Macros).Pointer()
	if p == st.lastMacros {
		return // no macro packet for this stage: the map is a stale one
	}
	st.lastMacros = p
	dst := st.msgMacs
	if connLevel {
		dst = st.connMacs
	}
	for k, v := range m.Macros {
		dst[k] = v
	}
}

// macro returns a macro by name (with or without braces), message level first.
func (st *connState) macro(name string) string {
	alt := name
	if strings.HasPrefix(name, "{") {
		alt = strings.Trim(name, "{}")
	} else if len(name) > 1 {
		alt = "{" + name + "}"
	}
	for _, m := range []map[string]string{st.msgMacs, st.connMacs} {
		if v, ok := m[name]; ok {
			return v
		}
		if v, ok := m[alt]; ok {
			return v
		}
	}
	return ""
}

func (st *connState) resetMessage() {
	st.msgMacs = map[string]string{}
	st.from = ""
	st.inMessage = false
	st.rcpts = nil
	st.fields = nil
	st.chunks = nil
	st.ownBuf = false
	st.kept = 0
	st.srv.releaseBody(st.reserved)
	st.reserved = 0
	st.bodySize = 0
	st.dns = nil
	st.authReset()
	st.msg = nil
	st.panicked = false
	if st.engine != nil {
		st.engine.Release() // a retired engine closes with its last message
		st.engine = nil
	}
	st.ms = msgState{}
}

func (st *connState) envelope() rules.Envelope {
	return rules.Envelope{
		ClientIP:   st.addr,
		ClientName: st.host,
		Helo:       st.helo,
		MailFrom:   st.from,
		Rcpts:      st.rcpts,
		AuthUser:   st.macro("{auth_authen}"),
		QueueID:    st.macro("i"),
		DaemonName: st.macro("{daemon_name}"),
		Time:       time.Now(),
	}
}

// recoverPanic turns a panic in levee's own code into a logged error and a
// "continue" (the MTA may not even read a reply to this event); the message
// then gets the on_panic verdict at end of message.
func (st *connState) recoverPanic(stage string, resp *milter.Response) {
	if v := recover(); v != nil {
		*resp = milter.RespContinue
		st.panicked = true
		if stage == "connect" || stage == "helo" {
			st.connPanicked = true
		}
		st.srv.Observer.Panic()
		st.log.Error("panic while handling message", "stage", stage, "panic", fmt.Sprint(v),
			"queue_id", st.macro("i"), "client_ip", st.addr.String(), "stack", string(debug.Stack()))
	}
}

// testHook, when a test sets it, runs at the start of each event handler
// (after its panic recovery is in place).
var testHook func(stage string)

// backend is the object go-milter calls; it only forwards to connState.
type backend struct{ st *connState }

var _ milter.Milter = (*backend)(nil)

// pass is the answer to an event levee always lets pass: "continue", or
// nothing when the MTA agreed not to wait for it. go-milter then writes no
// packet (it allocates a 4 KiB buffer for every packet it writes).
func (st *connState) pass(code milter.Code) milter.Response {
	if st.conn != nil && st.conn.got&noReplyFlag[code] != 0 {
		return nil
	}
	return milter.RespContinue
}

func (b *backend) Connect(host, family string, port uint16, addr net.IP, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("connect", &resp)
	if testHook != nil {
		testHook("connect")
	}
	st.takeMacros(m, true)
	st.host = host
	if a, ok := netip.AddrFromSlice(addr); ok {
		st.addr = a.Unmap()
	}
	if e := st.srv.Engine(); e != nil && st.addr.IsValid() && e.DNSBL() != nil {
		e.DNSBL().Prefetch(st.addr) // IP lookups start now, are collected at the verdict
	}
	return st.pass(milter.CodeConn), nil
}

func (b *backend) Helo(name string, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("helo", &resp)
	if testHook != nil {
		testHook("helo")
	}
	st.takeMacros(m, true)
	st.helo = name
	return st.pass(milter.CodeHelo), nil
}

func (b *backend) MailFrom(from string, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	// A new message starts here even when the MTA sent no ABORT after the
	// last one (Sendmail): drop everything of the previous message.
	st.resetMessage()
	defer st.recoverPanic("mail", &resp)
	if testHook != nil {
		testHook("mail")
	}
	st.takeMacros(m, false)
	st.from = from
	st.inMessage = true
	st.started = time.Now()
	st.engine = st.srv.acquireEngine()
	st.limit = st.engine.ScanLimit()
	env := st.envelope()
	if st.engine.Skip(&env) == "" {
		st.dns = st.engine.StartDNS(&env)
		st.authMail(&env)
	}
	return st.pass(milter.CodeMail), nil
}

func (b *backend) RcptTo(rcpt string, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("rcpt", &resp)
	if testHook != nil {
		testHook("rcpt")
	}
	st.takeMacros(m, false)
	if st.dns != nil {
		ctx, cancel := context.WithTimeout(context.Background(), st.engine.Config().DNS.Deadline+time.Second)
		reject, reply := st.dns.EarlyReject(ctx)
		cancel()
		if reject && st.engine.Config().Mode != "monitor" {
			st.log.Info("early reject", "queue_id", st.macro("i"), "client_ip", st.addr.String(),
				"helo", st.helo, "from", st.from, "rcpt", rcpt, "reply", reply)
			st.srv.Observer.EarlyReject()
			// A reply-code response keeps go-milter's session (and the next
			// recipient's sender) in place.
			return milter.NewResponseStr(byte(milter.ActReplyCode), reply), nil
		}
	}
	if r := st.stateRcpt(rcpt); r != nil { // greylisting, rate limits (state.go)
		return r, nil
	}
	st.rcpts = append(st.rcpts, rcpt)
	return milter.RespContinue, nil
}

func (b *backend) Header(name, value string, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("header", &resp)
	if testHook != nil {
		testHook("header")
	}
	st.takeMacros(m, false)
	// Collected here, in arrival order; go-milter's own map loses the order
	// and piles up across messages without ABORT.
	st.fields = append(st.fields, rules.Field{Name: name, Value: value})
	return st.pass(milter.CodeHeader), nil
}

func (b *backend) Headers(_ textproto.MIMEHeader, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("eoh", &resp)
	if testHook != nil {
		testHook("eoh")
	}
	st.takeMacros(m, false)
	// The header is complete: the message is built once, here, and gets
	// its body at end of message, so the header views (field index,
	// Received hops) are not parsed twice.
	st.msg = rules.NewMessage(st.envelope(), st.fields, nil, 0)
	if st.dns != nil {
		// From and Reply-To domains and the last untrusted relay are known
		// now: look them up while the body arrives.
		st.engine.StartHeaderDNS(st.msg, st.dns)
	}
	st.authHeader()
	return st.pass(milter.CodeEOH), nil
}

func (b *backend) BodyChunk(chunk []byte, m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	defer st.recoverPanic("body", &resp)
	if testHook != nil {
		testHook("body")
	}
	st.takeMacros(m, false)
	st.authBody(chunk)
	st.bodySize += int64(len(chunk))
	room := st.limit - st.kept
	if room <= 0 {
		return st.pass(milter.CodeBody), nil
	}
	take := int64(len(chunk))
	if take > room {
		take = room
	}
	// The first freeBody bytes of every message are always kept; beyond
	// that a message draws on the server-wide body budget, so a burst of
	// huge messages cannot take unbounded memory.
	if over := st.kept + take - freeBody; over > 0 {
		if st.kept > freeBody {
			over = take
		}
		got := st.srv.reserveBody(over)
		st.reserved += got
		if got < over {
			take -= over - got
			st.limit = st.kept + take // the budget is spent: keep no gap-ridden body
		}
	}
	if take <= 0 {
		return st.pass(milter.CodeBody), nil
	}
	switch {
	case len(st.chunks) == 0 && take == int64(len(chunk)):
		// go-milter allocates every packet afresh: keeping it copies nothing
		st.chunks = append(st.chunks, chunk)
	case len(st.chunks) == 0 || !st.ownBuf:
		var first []byte
		if len(st.chunks) > 0 {
			first = st.chunks[0]
		}
		st.chunks = append(st.chunks[:0], append(append([]byte(nil), first...), chunk[:take]...))
		st.ownBuf = true
	default:
		st.chunks[0] = append(st.chunks[0], chunk[:take]...)
	}
	st.kept += take
	return st.pass(milter.CodeBody), nil
}

func (b *backend) Abort(m *milter.Modifier) error {
	b.st.resetMessage()
	return nil
}

// Body is the end of the message: judge it and act.
func (b *backend) Body(m *milter.Modifier) (resp milter.Response, err error) {
	st := b.st
	st.takeMacros(m, false)
	defer st.resetMessage()
	defer func() {
		if v := recover(); v != nil {
			st.panicked = true
			st.srv.Observer.Panic()
			st.log.Error("panic while judging message", "panic", fmt.Sprint(v), "queue_id", st.macro("i"),
				"client_ip", st.addr.String(), "stack", string(debug.Stack()))
			resp, err = st.panicResponse(), nil
		}
	}()
	if st.panicked || st.connPanicked || st.engine == nil {
		return st.panicResponse(), nil
	}
	env := st.envelope()
	msg := st.msg
	if msg == nil { // no end-of-header event
		msg = rules.NewMessage(env, st.fields, nil, 0)
	}
	msg.Env = env // EOM macros (queue id) arrive late
	msg.SetBody(st.joinBody(), st.bodySize)
	ctx, cancel := context.WithTimeout(context.Background(), st.engine.Config().DNS.Deadline+time.Second)
	defer cancel()
	v := st.engine.Judge(ctx, msg, st.dns)
	st.stateEOM(&env, &v) // the greylist action (state.go)
	st.authFinish(&v)
	st.srv.Observer.Verdict(msg, &v)
	st.logVerdict(&env, &v)
	return apply(m, &v, st.fields)
}

// joinBody is the kept body (one buffer; see chunks).
func (st *connState) joinBody() []byte {
	if len(st.chunks) == 1 {
		return st.chunks[0]
	}
	b := make([]byte, 0, st.kept)
	for _, c := range st.chunks {
		b = append(b, c...)
	}
	return b
}

func (st *connState) panicResponse() milter.Response {
	if st.srv.Config.OnPanic == "accept" {
		return milter.RespAccept
	}
	return milter.NewResponseStr(byte(milter.ActReplyCode), "451 4.3.0 Temporary local problem, try again later")
}

func (st *connState) logVerdict(env *rules.Envelope, v *rules.Verdict) {
	attrs := []any{
		"queue_id", env.QueueID, "client_ip", addrString(env.ClientIP), "client_name", env.ClientName,
		"helo", env.Helo, "from", env.MailFrom, "rcpts", len(env.Rcpts),
		"score", rules.FormatScore(v.Score), "hits", strings.Join(v.HitNames(), ","),
		"action", v.Action.String(), "took", time.Since(st.started).Round(time.Microsecond).String(),
	}
	if v.WouldBe != v.Action {
		attrs = append(attrs, "would_be", v.WouldBe.String())
	}
	if v.Skipped != "" {
		attrs = append(attrs, "skipped", v.Skipped)
	}
	if len(v.Errors) > 0 {
		attrs = append(attrs, "errors", strings.Join(v.Errors, "; "))
	}
	st.log.Info("message", attrs...)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// apply turns a verdict into milter actions at end of message.
func apply(m *milter.Modifier, v *rules.Verdict, fields []rules.Field) (milter.Response, error) {
	switch v.Action {
	case rules.Reject, rules.Tempfail:
		return milter.NewResponseStr(byte(milter.ActReplyCode), v.Reply), nil
	case rules.Discard:
		return milter.RespDiscard, nil
	}
	if err := applyAuthFields(m, v); err != nil {
		return nil, err
	}
	if v.Skipped != "" {
		return milter.RespAccept, nil
	}
	// A spammer must not forge a verdict: remove every X-Spam-* field that
	// came with the message, highest index first so positions stay valid.
	counts := map[string]int{}
	var names []string
	for _, f := range fields {
		k := strings.ToLower(f.Name)
		if !strings.HasPrefix(k, "x-spam-") && k != "x-spam" {
			counts[k]++
			continue
		}
		if counts[k] == 0 {
			names = append(names, f.Name)
		}
		counts[k]++
	}
	for _, n := range names {
		k := strings.ToLower(n)
		for i := counts[k]; i >= 1; i-- {
			if err := m.ChangeHeader(i, n, ""); err != nil {
				return nil, err
			}
		}
	}
	if v.Action == rules.RewriteSubject && v.SubjectPrefix != "" {
		subj, found := "", false
		for _, f := range fields {
			if strings.EqualFold(f.Name, "Subject") {
				subj, found = f.Value, true
				break
			}
		}
		if !found {
			if err := m.AddHeader("Subject", strings.TrimSpace(v.SubjectPrefix)); err != nil {
				return nil, err
			}
		} else if !strings.HasPrefix(subj, v.SubjectPrefix) {
			if err := m.ChangeHeader(1, "Subject", v.SubjectPrefix+subj); err != nil {
				return nil, err
			}
		}
	}
	for _, h := range v.Headers {
		if err := m.AddHeader(h.Name, h.Value); err != nil {
			return nil, err
		}
	}
	if v.Action == rules.Quarantine {
		if err := m.Quarantine(v.QuarantineReason); err != nil {
			return nil, err
		}
	}
	return milter.RespAccept, nil
}
