package soak

import (
	"fmt"
	"strings"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
)

// window is a stretch of time during which levee was not judging (from
// the signal that stopped it until the new process listened): Postfix's
// milter_default_action (accept) applied, and a message filtered then
// reaches the sink without levee's headers.
type window struct {
	kind     string
	from, to time.Time
	// before widens the window back: how long before the signal a
	// message's MAIL FROM may be and still lose its verdict. A SIGTERM
	// cuts no session levee has accepted, only those still in the
	// listener's backlog; a SIGKILL cuts every verdict in the making.
	before time.Duration
}

// Outcome counts, by what became of each copy.
type Outcome struct {
	Sent      int
	Delivered int // delivered exactly once (deferred first or not)
	Tagged    int // of Delivered: X-Spam-Flag: YES
	// Unjudged are delivered without levee's headers while levee was down
	// (within a window); UnjudgedOutside outside any window: a fault.
	Unjudged, UnjudgedOutside int
	Rejected                  int // a 5xx the client saw, or (relayed copies) a bounce
	RejectedClient            int // of Rejected: the 5xx was the soak client's
	RejectedBounce            int // of Rejected: the filtering smtpd refused the relay (its bounce reached the sender, unless null)
	RejectedNotLevee          int // of Rejected: Postfix's own refusal, not levee's reject_text
	DeferredDelivered         int // deferred (a 4xx seen, or held in the relay's queue) then delivered
	DeferredRejected          int // deferred, then rejected or bounced
	Lost                      int // no delivery, no 5xx, no bounce
	Duplicates                int // delivered (or bounced) more than once, or delivered after a 5xx
	JudgedTwice               int // more than one X-Spam-Status field
	Other                     int // sink deliveries that are no copy of this run
	Unsent                    int // the soak client could not open a session for it (a refused XCLIENT, ...)
}

// reconcile accounts for every copy: exactly one of delivered, rejected
// (5xx seen by the client or a bounce), each possibly after deferrals;
// otherwise lost or duplicated. statuses are the maillog's delivery
// attempts (the relay's deferrals). The Received date has whole seconds;
// after widens each window forward (a session whose milter connection
// went before the restart).
//
// problems explain the counts that fail a run (lost, duplicates, unjudged
// outside a window, judged twice); notes are worth a look but fail nothing.
func reconcile(l *ledger, statuses []postfix.Status, windows []window, after time.Duration) (o Outcome, problems, notes []string) {
	deferrals := map[string]int{}
	refused := map[string]string{} // queue id: the 5xx the relay's smtp client got
	for _, s := range statuses {
		switch s.Status {
		case "deferred":
			deferrals[s.QueueID]++
		case "bounced":
			refused[s.QueueID] = s.Text
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	o = Outcome{Sent: len(l.rec), Other: l.other}
	problem := func(n int, r *record, format string, args ...any) {
		if len(problems) < 30 {
			var as []string
			for _, a := range r.attempts {
				as = append(as, a.String())
			}
			problems = append(problems, fmt.Sprintf("%s (%s): %s; attempts: %s", copyID(l.run, n), map[bool]string{true: "direct", false: "relayed"}[r.direct],
				fmt.Sprintf(format, args...), strings.Join(as, " | ")))
		}
	}
	inWindow := func(t time.Time) bool {
		if t.IsZero() {
			return false
		}
		for _, w := range windows {
			// t has whole seconds: the message was filtered in [t, t+1s)
			if !t.Add(time.Second).Before(w.from.Add(-w.before)) && !t.After(w.to.Add(after)) {
				return true
			}
		}
		return false
	}
	for n := range l.rec {
		r := &l.rec[n]
		if len(r.attempts) == 0 {
			o.Lost++
			problem(n, r, "never sent")
			continue
		}
		final := r.attempts[len(r.attempts)-1]
		deferred := false
		for _, a := range r.attempts[:len(r.attempts)-1] {
			deferred = deferred || a.err != "" || a.code/100 == 4
		}
		if final.queueID != "" && deferrals[final.queueID] > 0 && !r.direct {
			deferred = true
		}
		nd, nb := len(r.deliveries), len(r.bounces)
		switch {
		case final.session && nd+nb == 0:
			o.Unsent++
			problem(n, r, "never offered: the session was refused before MAIL FROM")
		case final.code/100 == 2 && nd == 1 && nb == 0:
			o.Delivered++
			if deferred {
				o.DeferredDelivered++
			}
			d := r.deliveries[0]
			if d.flagged {
				o.Tagged++
			}
			switch {
			case d.verdicts > 1:
				o.JudgedTwice++
				problem(n, r, "delivered with %d X-Spam-Status fields", d.verdicts)
			case d.verdicts == 0 && inWindow(d.filtered):
				o.Unjudged++
			case d.verdicts == 0:
				o.UnjudgedOutside++
				problem(n, r, "delivered without levee's headers outside levee's down windows (filtered at %s)", d.filtered.Format(time.RFC3339))
			}
			if len(d.rcpts) != 1 {
				problem(n, r, "delivered to %v", d.rcpts)
			}
		case final.code/100 == 2 && nd == 0 && !r.direct && refused[final.queueID] != "":
			// the filtering smtpd refused the relay (maillog:
			// status=bounced); the relay told the sender, unless the
			// sender is null (no bounce of a bounce, RFC 5321 4.5.5)
			o.Rejected++
			o.RejectedBounce++
			if !strings.Contains(refused[final.queueID], RejectText) {
				o.RejectedNotLevee++
			}
			if deferred {
				o.DeferredRejected++
			}
			if want := map[bool]int{true: 0, false: 1}[r.nullSender]; nb != want {
				o.Duplicates += max(0, nb-want)
				o.Lost += max(0, want-nb)
				problem(n, r, "refused at the filtering smtpd (%s) and %d bounces reached the sender, want %d", refused[final.queueID], nb, want)
			}
		case final.code/100 == 5 && nd == 0 && nb == 0:
			o.Rejected++
			o.RejectedClient++
			if !strings.Contains(final.text, RejectText) {
				o.RejectedNotLevee++
			}
			if deferred {
				o.DeferredRejected++
			}
		case nd+nb > 1 || (final.code/100 == 5 && nd+nb > 0):
			o.Duplicates++
			problem(n, r, "%d deliveries and %d bounces", nd, nb)
		case nd+nb == 1 && final.code/100 != 2:
			// the client never saw a 250 but the message went through
			// (a reply lost to an I/O error): delivered, once
			o.Delivered++
			o.DeferredDelivered++
			notes = append(notes, copyID(l.run, n)+": delivered though the client's last attempt was not accepted")
		default:
			o.Lost++
			problem(n, r, "lost: %d deliveries, %d bounces, relay queue id %q, %d deferrals in the maillog", nd, nb, final.queueID, deferrals[final.queueID])
		}
	}
	if l.other > 0 {
		notes = append(notes, fmt.Sprintf("%d deliveries that are no copy of this run, e.g. %s", l.other, strings.Join(l.otherSeen, "; ")))
	}
	return o, problems, notes
}
