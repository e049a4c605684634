package filter

// The load generator behind `levee bench`: it plays Postfix's side of the
// milter protocol (version 2, as go-milter speaks it) against any milter and
// measures throughput, latency, verdicts and the target's CPU and memory.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-milter"

	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
)

// BenchMessage is one message ready to be replayed to a milter.
type BenchMessage struct {
	Name   string
	Env    rules.Envelope
	Fields []rules.Field // values with LF line folding, as Postfix sends them
	Body   []byte        // CRLF line endings, as Postfix sends a body to a milter
}

// maxBenchMessage bounds one message file read into memory.
const maxBenchMessage = 64 << 20

// LoadBenchCorpus reads every message of a corpus into memory: a directory
// or .tar.gz holding ham/, spam/ and envelope.jsonl (the envelope of each
// message), a plain directory of .eml files, or one message file. Messages
// without an envelope line get one from their topmost Received field
// (rules.FillEnvelope) and a recipient from To. envelopeFile, when not
// empty, is an envelope.jsonl whose lines (keyed by the message's path
// inside the corpus, e.g. "ham/x.eml") replace the corpus's own. The order
// is fixed (sorted names; archive order for a tar.gz).
func LoadBenchCorpus(p, envelopeFile string) ([]BenchMessage, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var override map[string]rules.Envelope
	if envelopeFile != "" {
		if override, err = readEnvelopeFile(envelopeFile); err != nil {
			return nil, err
		}
	}
	var out []BenchMessage
	add := func(name string, data []byte, env rules.Envelope, hasEnv bool) error {
		if e, ok := override[name]; ok {
			env, hasEnv = e, true
		}
		m, err := NewBenchMessage(name, data, env, hasEnv)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, name, err)
		}
		out = append(out, m)
		return nil
	}
	// Corpora are read by rules/eval, as `levee eval` reads them.
	var corpus eval.Corpus
	switch {
	case !st.IsDir() && !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".tgz"):
		data, err := readBenchFile(p)
		if err != nil {
			return nil, err
		}
		return out, add(filepath.Base(p), data, rules.Envelope{}, false)
	case !st.IsDir() || hasCorpusLayout(p):
		corpus = eval.Corpus{Dir: p}
	default:
		corpus = eval.Corpus{Ham: p} // a plain folder of .eml files
	}
	err = eval.Walk(context.Background(), corpus, nil, func(it eval.Item) error {
		name := it.Name
		if corpus.Ham != "" { // a plain folder: its .eml files, by their own names
			if !strings.HasSuffix(strings.ToLower(name), ".eml") {
				return nil
			}
			name = strings.TrimPrefix(name, "ham/")
		}
		return add(name, it.Data, it.Env, it.HasEnv)
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages (want ham/ and spam/, or .eml files)", p)
	}
	return out, nil
}

func hasCorpusLayout(dir string) bool {
	for _, sub := range []string{"ham", "spam"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// readEnvelopeFile reads an envelope.jsonl given with --envelope.
func readEnvelopeFile(name string) (map[string]rules.Envelope, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]rules.Envelope{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		l, env, err := eval.ParseEnvelope(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		out[path.Clean(l.File)] = env
	}
	return out, sc.Err()
}

// NewBenchMessage splits a message file for replay. When hasEnv is false the
// envelope is completed from the message (topmost Received field, To).
func NewBenchMessage(name string, data []byte, env rules.Envelope, hasEnv bool) (BenchMessage, error) {
	m, err := rules.ReadMessage(bytes.NewReader(data), env, maxBenchMessage)
	if err != nil {
		return BenchMessage{}, err
	}
	if !hasEnv {
		rules.FillEnvelope(m)
	}
	if len(m.Env.Rcpts) == 0 {
		rcpt := "postmaster@example.org"
		if l, err := mail.ParseAddressList(m.Header("To")); err == nil && len(l) > 0 && strings.Contains(l[0].Address, "@") {
			rcpt = l[0].Address
		}
		m.Env.Rcpts = []string{rcpt}
	}
	fields := make([]rules.Field, len(m.Fields))
	for i, f := range m.Fields {
		fields[i] = rules.Field{Name: f.Name, Value: strings.ReplaceAll(f.Value, "\r\n", "\n")}
	}
	return BenchMessage{Name: name, Env: m.Env, Fields: fields, Body: toCRLF(m.Body)}, nil
}

// toCRLF turns every bare LF into CRLF.
func toCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte{'\n'}) - bytes.Count(b, []byte("\r\n"))
	if n <= 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func readBenchFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxBenchMessage))
}

func (o *BenchOptions) offer() milter.OptProtocol {
	if o.Plain {
		return 0
	}
	return PostfixProtocol
}

// BenchOptions say how to load a milter.
type BenchOptions struct {
	// Addr is the milter, in Postfix notation (inet:HOST:PORT, unix:/PATH).
	Addr string
	// Concurrency is the number of connections at once (default 1).
	Concurrency int
	// N is the number of messages to send (default: the corpus once);
	// messages are taken in corpus order, wrapping around.
	N int
	// Reuse is the number of messages per connection (default 1: one
	// connection per message, as Postfix does for most inbound mail).
	Reuse int
	// Warmup messages are sent first and not counted (fills DNS caches).
	Warmup int
	// Timeout bounds each read and write (default 60s).
	Timeout time.Duration
	// TLS sends Postfix's TLS macros at HELO, as for a STARTTLS session.
	TLS bool
	// Mixed takes the messages in a fixed interleaved order (a stride
	// coprime with the corpus size, about 0.618 of it) instead of corpus
	// order, so that any N samples ham and spam of every source.
	Mixed bool
	// Slowest lists this many of the slowest messages in the result.
	Slowest int
	// Plain offers no event flags in the option negotiation (as go-milter's
	// client does), so that the milter answers every event. By default the
	// bench offers what Postfix offers (PostfixProtocol: all of protocol
	// version 6), and the milter picks.
	Plain bool
	// CPUPIDs are processes whose CPU time (with their descendants) is the
	// target's; empty: none is measured.
	CPUPIDs []int
}

// Verdicts counts the outcome of each message. Categories are exclusive.
type Verdicts struct {
	Accept     int `json:"accept"`     // accepted without X-Spam-Flag: YES
	Tagged     int `json:"tagged"`     // accepted with X-Spam-Flag: YES (or rspamd's X-Spam: Yes) added
	Quarantine int `json:"quarantine"` // accepted into the hold queue
	Reject     int `json:"reject"`     // 5xx
	Tempfail   int `json:"tempfail"`   // 4xx
	Discard    int `json:"discard"`
}

// SlowMessage is one of a run's slowest messages.
type SlowMessage struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

// BenchResult is what a run measured.
type BenchResult struct {
	Target      string   `json:"target"`
	Concurrency int      `json:"concurrency"`
	Reuse       int      `json:"reuse"`
	Messages    int      `json:"messages"` // answered at end of message or earlier
	Errors      int      `json:"errors"`
	ErrorSample []string `json:"error_sample,omitempty"`
	Verdicts    Verdicts `json:"verdicts"`

	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// Latency of one message: from the dial (or, on a reused connection,
	// from MAIL) to the end-of-message reply, in milliseconds.
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Slowest are the slowest messages, slowest first (Slowest option).
	Slowest []SlowMessage `json:"slowest,omitempty"`

	// CPUSeconds is the target's user+system CPU time during the run;
	// CPUSource says whose it is ("pid 123 (+2 children)", or "bench
	// process (client and server)" for the in-process baseline).
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	MsgsPerCPUSec float64 `json:"msgs_per_cpu_sec,omitempty"`
	CPUSource     string  `json:"cpu_source,omitempty"`
	// ClientCPUSeconds is the bench process's own CPU time (the load
	// generator, plus the server for the in-process baseline).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}

// Bench sends messages to the milter at o.Addr and measures.
func Bench(ctx context.Context, msgs []BenchMessage, o BenchOptions) (*BenchResult, error) {
	if len(msgs) == 0 {
		return nil, errors.New("bench: no messages")
	}
	if _, _, err := ParseAddr(o.Addr); err != nil {
		return nil, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.N <= 0 {
		o.N = len(msgs)
	}
	if o.Reuse <= 0 {
		o.Reuse = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Warmup > 0 {
		w := o
		w.N, w.Warmup, w.CPUPIDs = o.Warmup, 0, nil
		if _, err := runBench(ctx, msgs, w, 0); err != nil {
			return nil, err
		}
	}
	// Warm-up messages came first in corpus order; the run goes on from there.
	return runBench(ctx, msgs, o, o.Warmup)
}

type benchOutcome struct {
	name    string
	latency time.Duration
	verdict string // accept, tagged, quarantine, reject, tempfail, discard
	err     error
}

func runBench(ctx context.Context, msgs []BenchMessage, o BenchOptions, offset int) (*BenchResult, error) {
	pids, err := withDescendants(o.CPUPIDs)
	if err != nil {
		return nil, err
	}
	cpu0, err := cpuOf(pids)
	if err != nil {
		return nil, err
	}
	self0 := selfCPU()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		results = make([]benchOutcome, 0, o.N)
		wg      sync.WaitGroup
	)
	stride := 1
	if o.Mixed {
		stride = mixedStride(len(msgs))
	}
	take := func() (int, bool) {
		i := int(next.Add(1) - 1)
		if i >= o.N || ctx.Err() != nil {
			return 0, false
		}
		return int(int64(offset+i) * int64(stride) % int64(len(msgs))), true
	}
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := &benchClient{opt: &o, worker: w}
			var local []benchOutcome
			for {
				i, ok := take()
				if !ok {
					break
				}
				out := cl.send(&msgs[i])
				out.name = msgs[i].Name
				local = append(local, out)
			}
			cl.close()
			mu.Lock()
			results = append(results, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := cpuOf(pids)
	self1 := selfCPU()

	r := &BenchResult{Target: o.Addr, Concurrency: o.Concurrency, Reuse: o.Reuse, Seconds: elapsed.Seconds()}
	var lat []time.Duration
	for _, x := range results {
		if x.err != nil {
			r.Errors++
			if len(r.ErrorSample) < 5 {
				r.ErrorSample = append(r.ErrorSample, x.err.Error())
			}
			continue
		}
		r.Messages++
		lat = append(lat, x.latency)
		switch x.verdict {
		case "accept":
			r.Verdicts.Accept++
		case "tagged":
			r.Verdicts.Tagged++
		case "quarantine":
			r.Verdicts.Quarantine++
		case "reject":
			r.Verdicts.Reject++
		case "tempfail":
			r.Verdicts.Tempfail++
		case "discard":
			r.Verdicts.Discard++
		}
	}
	if elapsed > 0 {
		r.MsgsPerSec = float64(r.Messages) / elapsed.Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if o.Slowest > 0 {
		ok := make([]benchOutcome, 0, len(results))
		for _, x := range results {
			if x.err == nil {
				ok = append(ok, x)
			}
		}
		sort.SliceStable(ok, func(i, j int) bool { return ok[i].latency > ok[j].latency })
		for _, x := range ok[:min(o.Slowest, len(ok))] {
			r.Slowest = append(r.Slowest, SlowMessage{Name: x.name, Ms: ms(x.latency)})
		}
	}
	r.P50ms, r.P90ms, r.P99ms = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	r.ClientCPUSeconds = (self1 - self0).Seconds()
	if len(pids) > 0 {
		r.CPUSeconds = (cpu1 - cpu0).Seconds()
		r.CPUSource = fmt.Sprintf("pid %v", o.CPUPIDs)
		if n := len(pids) - len(o.CPUPIDs); n > 0 {
			r.CPUSource = fmt.Sprintf("pid %v with %d descendants", o.CPUPIDs, n)
		}
		if r.CPUSeconds > 0 {
			r.MsgsPerCPUSec = float64(r.Messages) / r.CPUSeconds
		}
	}
	return r, nil
}

// mixedStride returns a step near 0.618 n that is coprime with n, so that
// i*step mod n visits every message once per n.
func mixedStride(n int) int {
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	s := max(n*618/1000, 1)
	for gcd(s, n) != 1 {
		s++
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

// benchClient is one worker's connection to the milter.
type benchClient struct {
	opt    *BenchOptions
	worker int
	s      *mtaSession
	used   int // messages sent on s
	qid    int
}

func (c *benchClient) close() {
	if c.s != nil {
		c.s.Close()
		c.s = nil
	}
}

// Postfix-like fixed values of the connect macros.
const (
	benchMyHostname = "mx.bench.example"
	benchMailName   = "Postfix 3.7.11"
)

// queueID makes a Postfix-style short queue ID, unique per worker.
func (c *benchClient) queueID() string {
	c.qid++
	return strings.ToUpper(strconv.FormatInt(int64(c.worker)<<32|int64(c.qid), 16))
}

// connect opens a session and plays CONNECT and HELO with Postfix's
// default milter_connect_macros and milter_helo_macros.
func (c *benchClient) connect(m *BenchMessage) (*milter.Action, error) {
	s, err := dialMTA(c.opt.Addr, c.opt.Timeout, c.opt.offer())
	if err != nil {
		return nil, err
	}
	c.s, c.used = s, 0
	ip := m.Env.ClientIP
	name := m.Env.ClientName
	if name == "" {
		name = "unknown" // what Postfix reports for a client without (verified) rDNS
	}
	fam, addr := milter.FamilyUnknown, ""
	if ip.IsValid() {
		fam, addr = milter.FamilyInet, ip.String()
		if ip.Is6() {
			fam = milter.FamilyInet6
		}
	}
	if err := s.Macros(milter.CodeConn, "j", benchMyHostname, "{daemon_name}", benchMyHostname,
		"{daemon_addr}", "192.0.2.25", "v", benchMailName, "_", name+" ["+addr+"]"); err != nil {
		return nil, err
	}
	act, err := s.Conn(name, fam, 25, addr)
	if err != nil || act.Code != milter.ActContinue {
		return act, err
	}
	if c.opt.TLS {
		if err := s.Macros(milter.CodeHelo, "{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384",
			"{cipher_bits}", "256"); err != nil {
			return nil, err
		}
	}
	helo := m.Env.Helo
	if helo == "" {
		helo = "[" + addr + "]"
	}
	return s.Helo(helo)
}

// send plays one message and returns its outcome. A connection is opened
// when there is none; it is closed after Reuse messages or an error.
func (c *benchClient) send(m *BenchMessage) (out benchOutcome) {
	start := time.Now()
	defer func() {
		out.latency = time.Since(start)
		if out.err != nil {
			if c.s != nil {
				c.s.Close()
			}
			c.s = nil
		} else if c.s != nil && c.used >= c.opt.Reuse {
			c.close()
		}
	}()
	if c.s == nil {
		act, err := c.connect(m)
		if err != nil {
			return benchOutcome{err: fmt.Errorf("%s: connect: %w", m.Name, err)}
		}
		if act.Code != milter.ActContinue {
			// The milter refused the connection: that is this message's verdict.
			v := verdictOf(act, nil)
			c.close()
			return benchOutcome{verdict: v}
		}
	}
	c.used++
	v, err := c.transaction(m)
	if err != nil {
		return benchOutcome{err: fmt.Errorf("%s: %w", m.Name, err)}
	}
	return benchOutcome{verdict: v}
}

// transaction plays MAIL, RCPT, the header, the body and end of message.
func (c *benchClient) transaction(m *BenchMessage) (string, error) {
	s := c.s
	qid := c.queueID()
	early := func(act *milter.Action) (string, error) {
		// A final answer before end of message ends this transaction;
		// Postfix then sends ABORT before the next one.
		if act.Code != milter.ActAccept {
			if err := s.Abort(); err != nil {
				return "", err
			}
		}
		return verdictOf(act, nil), nil
	}
	// Postfix opens the queue file at the first accepted RCPT
	// (smtpd_delay_open_until_valid_rcpt), so i is not known at MAIL yet.
	if err := s.Macros(milter.CodeMail, "{mail_addr}", m.Env.MailFrom); err != nil {
		return "", err
	}
	act, err := s.Mail(m.Env.MailFrom)
	if err != nil {
		return "", err
	}
	if act.Code != milter.ActContinue {
		return early(act)
	}
	for _, r := range m.Env.Rcpts {
		if err := s.Macros(milter.CodeRcpt, "i", qid, "{rcpt_addr}", r, "{rcpt_host}", benchMyHostname, "{rcpt_mailer}", "local"); err != nil {
			return "", err
		}
		if act, err = s.Rcpt(r); err != nil {
			return "", err
		}
		if act.Code != milter.ActContinue {
			return early(act)
		}
	}
	// Postfix sends SMFIC_DATA (with milter_data_macros) at the SMTP DATA
	// command unless the milter asked not to get it.
	if err := s.Macros(cmdData, "i", qid); err != nil {
		return "", err
	}
	if act, err = s.Data(); err != nil {
		return "", err
	}
	if act.Code != milter.ActContinue {
		return early(act)
	}
	for _, f := range m.Fields {
		if act, err = s.HeaderField(f.Name, f.Value); err != nil {
			return "", err
		}
		if act.Code != milter.ActContinue {
			return early(act)
		}
	}
	if err := s.Macros(milter.CodeEOH, "i", qid); err != nil {
		return "", err
	}
	if act, err = s.HeaderEnd(); err != nil {
		return "", err
	}
	if act.Code != milter.ActContinue {
		return early(act)
	}
	for b := m.Body; len(b) > 0; {
		n := min(len(b), milter.MaxBodyChunk)
		if act, err = s.BodyChunk(b[:n]); err != nil {
			return "", err
		}
		b = b[n:]
		if act.Code == milter.ActSkip {
			break
		}
		if act.Code != milter.ActContinue {
			return early(act)
		}
	}
	if err := s.Macros(milter.CodeEOB, "i", qid); err != nil {
		return "", err
	}
	mods, act, err := s.End()
	if err != nil {
		return "", err
	}
	return verdictOf(act, mods), nil
}

// verdictOf names the outcome of a final milter answer.
func verdictOf(act *milter.Action, mods []milter.ModifyAction) string {
	switch act.Code {
	case milter.ActReject:
		return "reject"
	case milter.ActTempFail:
		return "tempfail"
	case milter.ActDiscard:
		return "discard"
	case milter.ActReplyCode:
		if act.SMTPCode >= 400 && act.SMTPCode < 500 {
			return "tempfail"
		}
		return "reject"
	}
	v := "accept"
	for _, m := range mods {
		switch m.Code {
		case milter.ActQuarantine:
			return "quarantine"
		case milter.ActAddHeader, milter.ActInsertHeader, milter.ActChangeHeader:
			val := strings.TrimSpace(m.HeaderValue)
			if (strings.EqualFold(m.HeaderName, "X-Spam-Flag") && strings.EqualFold(val, "YES")) ||
				(strings.EqualFold(m.HeaderName, "X-Spam") && strings.EqualFold(val, "Yes")) {
				v = "tagged"
			}
		}
	}
	return v
}

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// procCPU reads a process's user+system CPU time from /proc/PID/stat
// (proc(5): fields 14 and 15).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// procPPID reads the parent of a process (field 4 of /proc/PID/stat).
func procPPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// withDescendants returns pids and every live descendant (rspamd's
// workers are children of its main process).
func withDescendants(pids []int) ([]int, error) {
	if len(pids) == 0 {
		return nil, nil
	}
	want := map[int]bool{}
	for _, p := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err != nil {
			return nil, fmt.Errorf("cpu pid %d: %w", p, err)
		}
		want[p] = true
	}
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			parent[n] = procPPID(n)
		}
	}
	for changed := true; changed; {
		changed = false
		for p, pp := range parent {
			if !want[p] && want[pp] {
				want[p], changed = true, true
			}
		}
	}
	out := make([]int, 0, len(want))
	for p := range want {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

// cpuOf sums the CPU time of live processes; one that has gone counts 0.
func cpuOf(pids []int) (time.Duration, error) {
	var t time.Duration
	for _, p := range pids {
		d, err := procCPU(p)
		if err != nil {
			continue
		}
		t += d
	}
	return t, nil
}

// selfCPU is this process's user+system CPU time (getrusage(2)).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StartBaseline starts go-milter v0.5.0's own server with a backend that
// reads everything and accepts, on a loopback port: the protocol's own cost,
// the floor any go-milter based filter sits on. It returns the address in
// Postfix notation and a stop function.
func StartBaseline() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return "inet:" + ln.Addr().String(), ServeBaseline(ln), nil
}

// ServeBaseline serves the baseline milter on ln until the returned stop
// function is called.
func ServeBaseline(ln net.Listener) func() {
	s := &milter.Server{
		NewMilter: func() milter.Milter { return milter.NoOpMilter{} },
		Actions:   actions,
		Protocol:  protocol,
	}
	go s.Serve(ln)
	return func() { s.Close() }
}

// HoldOptions say how to test a milter's memory under many large messages.
type HoldOptions struct {
	Addr     string
	Sessions int   // at once (default 200)
	Size     int64 // message body size (default 10 MiB); half of it is sent
	PID      int   // the target, whose RSS is read; 0: this process
	Timeout  time.Duration
	// Finish: once the RSS is read, every session sends the rest of its
	// body and end of message, all at once, instead of aborting; each
	// verdict and its latency are recorded (hold_finish.go).
	Finish bool
	// Clients gives each session its own client IP (198.18.0.0/15) and a
	// link to its own host in its body, so that no two sessions share a
	// DNS lookup and each looks one up at end of message.
	Clients bool
}

// HoldResult is the target's memory with every session mid-message.
type HoldResult struct {
	Target   string  `json:"target"`
	Sessions int     `json:"sessions"` // open, each mid-message
	SentMiB  float64 `json:"sent_mib_each"`
	RSSMiB0  float64 `json:"rss_mib_before"`
	RSSMiB   float64 `json:"rss_mib"` // VmRSS with every session open
	HWMMiB   float64 `json:"hwm_mib"` // VmHWM: the peak so far
	Errors   int     `json:"errors"`
	Source   string  `json:"source"`
	ErrorMsg string  `json:"error,omitempty"`
	// Finish is what the Finish option measured.
	Finish *FinishResult `json:"finish,omitempty"`
}

// Hold opens o.Sessions sessions, sends each the header and half of an
// o.Size body, reads the target's VmRSS and VmHWM (/proc/PID/status), then
// aborts them all.
func Hold(ctx context.Context, o HoldOptions) (*HoldResult, error) {
	if o.Sessions <= 0 {
		o.Sessions = 200
	}
	if o.Size <= 0 {
		o.Size = 10 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	pid, source := o.PID, fmt.Sprintf("pid %d", o.PID)
	if pid == 0 {
		pid, source = os.Getpid(), "bench process (client and server)"
	}
	r := &HoldResult{Target: o.Addr, Source: source}
	var err error
	if r.RSSMiB0, _, err = procRSS(pid); err != nil {
		return nil, err
	}
	// One chunk of text lines, shared by every session.
	var chunk []byte
	for len(chunk)+80 <= milter.MaxBodyChunk {
		chunk = append(chunk, strings.Repeat("lorem ipsum dolor sit amet ", 3)[:78]+"\r\n"...)
	}
	half := o.Size / 2
	m := &BenchMessage{
		Name: "hold",
		Env: rules.Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), ClientName: "unknown", Helo: "hold.example",
			MailFrom: "sender@example.com", Rcpts: []string{"rcpt@example.org"}},
		Fields: []rules.Field{{Name: "From", Value: "<sender@example.com>"}, {Name: "To", Value: "<rcpt@example.org>"},
			{Name: "Subject", Value: "big"}, {Name: "Message-ID", Value: "<hold@example.com>"},
			{Name: "Date", Value: "Mon, 2 Nov 2026 10:00:00 +0100"}},
	}
	// Every event answered: when the last chunk's answer is in, the milter
	// holds half of each body, whatever it keeps.
	opt := &BenchOptions{Addr: o.Addr, Timeout: o.Timeout, Reuse: 1, Plain: true}
	clients := make([]*benchClient, o.Sessions)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  int
		first error
		next  atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		errs++
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Sessions || ctx.Err() != nil {
					return
				}
				c := &benchClient{opt: opt, worker: i}
				clients[i] = c
				if err := c.openMidMessage(holdMessage(m, i, o.Clients), holdChunk(chunk, i, o.Clients), half); err != nil {
					fail(err)
				}
			}
		}()
	}
	wg.Wait()
	r.Sessions = o.Sessions - errs
	r.Errors = errs
	r.SentMiB = float64(half) / (1 << 20)
	if first != nil {
		r.ErrorMsg = first.Error()
	}
	r.RSSMiB, r.HWMMiB, err = procRSS(pid)
	if o.Finish {
		r.Finish = finishHeld(clients, chunk, o.Size-half, pid)
		return r, err
	}
	for _, c := range clients {
		if c != nil && c.s != nil {
			c.s.Abort()
			c.close()
		}
	}
	return r, err
}

// openMidMessage connects and sends everything up to half of the body.
func (c *benchClient) openMidMessage(m *BenchMessage, chunk []byte, n int64) error {
	act, err := c.connect(m)
	if err == nil && act.Code != milter.ActContinue {
		err = fmt.Errorf("connect answered %c", act.Code)
	}
	if err != nil {
		return err
	}
	s := c.s
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) { return s.Mail(m.Env.MailFrom) },
		func() (*milter.Action, error) { return s.Rcpt(m.Env.Rcpts[0]) },
	}
	for _, f := range m.Fields {
		steps = append(steps, func() (*milter.Action, error) { return s.HeaderField(f.Name, f.Value) })
	}
	steps = append(steps, s.HeaderEnd)
	for _, step := range steps {
		act, err := step()
		if err == nil && act.Code != milter.ActContinue {
			err = fmt.Errorf("answered %c before the body", act.Code)
		}
		if err != nil {
			return err
		}
	}
	for sent := int64(0); sent < n; {
		b := chunk[:min(int64(len(chunk)), n-sent)]
		act, err := s.BodyChunk(b)
		if err == nil && act.Code != milter.ActContinue {
			err = fmt.Errorf("answered %c mid-body", act.Code)
		}
		if err != nil {
			return err
		}
		sent += int64(len(b))
	}
	return nil
}

// procRSS reads VmRSS and VmHWM of a process, in MiB.
func procRSS(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}
