package soak

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
)

// ledger is what happened to every copy: the client's attempts, the
// deliveries the sink saw and the bounces that came back.
type ledger struct {
	run string
	mu  sync.Mutex
	rec []record
	// deliveries the sink saw that are no copy of this run
	other     int
	otherSeen []string
	delivered int // deliveries of copies so far (progress)
	bounced   int
}

type record struct {
	src        int
	direct     bool
	nullSender bool // MAIL FROM:<>: a refusal at the relay bounces to nobody
	attempts   []attempt
	deliveries []delivery
	bounces    []bounce
}

// delivery is one copy as the sink received it.
type delivery struct {
	at       time.Time
	filtered time.Time // date of the topmost Received field: the filtering smtpd's
	verdicts int       // X-Spam-Status fields (levee adds one per judged message)
	flagged  bool      // X-Spam-Flag: YES
	rcpts    []string
}

// bounce is a delivery status notification about a copy (the relay's
// smtp client was refused by the filtering smtpd, and Postfix told the
// sender).
type bounce struct {
	at    time.Time
	levee bool // the notice quotes levee's reject_text
}

func newLedger(run string, n int) *ledger {
	return &ledger{run: run, rec: make([]record, n)}
}

func (l *ledger) addAttempt(n int, a attempt) {
	l.mu.Lock()
	l.rec[n].attempts = append(l.rec[n].attempts, a)
	l.mu.Unlock()
}

// deliver is the sink's callback: it files a message under its copy.
func (l *ledger) deliver(d *postfix.Delivery) {
	h := postfix.HeaderOf(d.Data)
	ids := postfix.Get(h, IDHeader)
	if len(ids) == 0 {
		// A bounce (null sender; some copies have one too, but those
		// carry the id in their own header) quotes the copy or its
		// header below its own header.
		if n, ok := l.quotedID(d.Data); ok && d.From == "" {
			l.mu.Lock()
			l.rec[n].bounces = append(l.rec[n].bounces, bounce{at: d.At, levee: bytes.Contains(d.Data, []byte(RejectText))})
			l.bounced++
			l.mu.Unlock()
			return
		}
		l.addOther(d, h)
		return
	}
	n, ok := parseCopyID(l.run, ids[0])
	if !ok || n >= len(l.rec) || len(ids) != 1 {
		l.addOther(d, h)
		return
	}
	dv := delivery{at: d.At, verdicts: len(postfix.Get(h, "X-Spam-Status")), rcpts: d.Rcpts}
	for _, f := range postfix.Get(h, "X-Spam-Flag") {
		dv.flagged = dv.flagged || strings.EqualFold(strings.TrimSpace(f), "YES")
	}
	if rcv := postfix.Get(h, "Received"); len(rcv) > 0 {
		if i := strings.LastIndexByte(rcv[0], ';'); i >= 0 {
			if t, err := mail.ParseDate(strings.TrimSpace(rcv[0][i+1:])); err == nil {
				dv.filtered = t
			}
		}
	}
	l.mu.Lock()
	l.rec[n].deliveries = append(l.rec[n].deliveries, dv)
	l.delivered++
	l.mu.Unlock()
}

// quotedID finds "X-Soak-Id: RUN-N" in a bounce's body.
func (l *ledger) quotedID(data []byte) (int, bool) {
	key := []byte(IDHeader + ": " + l.run + "-")
	i := bytes.Index(data, key)
	if i < 0 {
		return 0, false
	}
	rest := data[i+len(IDHeader)+2:]
	if j := bytes.IndexAny(rest, "\r\n"); j >= 0 {
		rest = rest[:j]
	}
	n, ok := parseCopyID(l.run, string(rest))
	return n, ok && n < len(l.rec)
}

func (l *ledger) addOther(d *postfix.Delivery, h []postfix.Field) {
	subj := postfix.Get(h, "Subject")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.other++
	if len(l.otherSeen) < 5 {
		l.otherSeen = append(l.otherSeen, fmt.Sprintf("from <%s> to %v subject %q", d.From, d.Rcpts, subj))
	}
}

func (l *ledger) progress() (delivered, bounced int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered, l.bounced
}

// lastAttempt returns the last attempt of copy n.
func (l *ledger) lastAttempt(n int) (attempt, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.rec[n].attempts
	if len(a) == 0 {
		return attempt{}, false
	}
	return a[len(a)-1], true
}

// writeTSV writes one line per copy (id, corpus file, route, the client's
// attempts, deliveries and bounces) to path: the run's record, kept with
// --keep.
func (l *ledger) writeTSV(path string, srcs []*source) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.WriteString("id\tfile\troute\tattempts\tdeliveries\tbounces\n")
	for n, r := range l.rec {
		route := "relay"
		if r.direct {
			route = "direct"
		}
		var as, ds []string
		for _, a := range r.attempts {
			as = append(as, strings.ReplaceAll(a.String(), "\t", " "))
		}
		for _, d := range r.deliveries {
			ds = append(ds, fmt.Sprintf("%s filtered=%s verdicts=%d flag=%v", d.at.Format("15:04:05.000"), d.filtered.Format("15:04:05"), d.verdicts, d.flagged))
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\t%d\n", copyID(l.run, n), srcs[r.src].name, route, strings.Join(as, " | "), strings.Join(ds, " | "), len(r.bounces))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
