package soak

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
)

func TestSource(t *testing.T) {
	raw := "From x@y Mon Jan  1 00:00:00 2024\nReceived: from a\n\tby b\nX-Spam-Status: Yes, forged\n  continued\nMessage-ID: <abc@example.com>\nSubject: hi\n\nbody\n"
	s, err := newSource(eval.Item{Name: "spam/x.eml", Class: eval.Spam, HasEnv: true,
		Env: rules.Envelope{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "a@example.com"}, Data: []byte(raw)})
	if err != nil {
		t.Fatal(err)
	}
	got := string(s.data("run", 7))
	want := "X-Soak-Id: run-7\r\nMessage-ID: <abc.run-7@example.com>\r\nReceived: from a\r\n\tby b\r\nSubject: hi\r\n\r\nbody\r\n"
	if got != want {
		t.Errorf("copy:\n%q\nwant\n%q", got, want)
	}
	// without a Message-ID none is added (its absence is part of the message)
	s, _ = newSource(eval.Item{Name: "ham/y.eml", HasEnv: true, Data: []byte("Subject: x\r\n\r\nb")})
	if got := string(s.data("run", 1)); got != "X-Soak-Id: run-1\r\nSubject: x\r\n\r\nb" {
		t.Errorf("copy %q", got)
	}
}

func FuzzSource(f *testing.F) {
	f.Add([]byte("Message-ID: <a@b>\r\nX-Spam-Flag: YES\r\n\r\nbody"))
	f.Add([]byte("\n\n"))
	f.Add([]byte(" Message-ID:\n\tx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := newSource(eval.Item{Name: "ham/f.eml", HasEnv: true, Data: b})
		if err != nil {
			return
		}
		d := s.data("r", 3)
		h := postfix.HeaderOf(d)
		if ids := postfix.Get(h, IDHeader); len(ids) != 1 || ids[0] != "r-3" {
			t.Fatalf("copy header %q: ids %q", d, ids)
		}
		if len(postfix.Get(h, "X-Spam-Flag")) != 0 {
			t.Fatalf("X-Spam-* kept: %q", d)
		}
	})
}

func TestCopyID(t *testing.T) {
	for id, want := range map[string]int{"r-0": 0, "r-12": 12, " r-3 ": 3, "q-1": -1, "r-": -1, "r-x": -1, "r--1": -1} {
		n, ok := parseCopyID("r", id)
		if (want < 0) == ok || (ok && n != want) {
			t.Errorf("parseCopyID(%q) = %d, %v", id, n, ok)
		}
	}
}

func query(name string, edns bool) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	if edns {
		q[11] = 1
	}
	for _, l := range strings.Split(name, ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0, 0, 1, 0, 1)
	if edns {
		q = append(q, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0)
	}
	return q
}

func TestServfail(t *testing.T) {
	q := query("2.0.0.127.zen.spamhaus.org", true)
	a := servfail(q)
	if a[0] != 0x12 || a[1] != 0x34 || a[2] != 0x81 || a[3] != 0x82 {
		t.Errorf("header % x", a[:4])
	}
	if qd, rest := binary.BigEndian.Uint16(a[4:]), binary.BigEndian.Uint16(a[10:]); qd != 1 || rest != 0 {
		t.Errorf("counts %d %d", qd, rest)
	}
	if want := len(query("2.0.0.127.zen.spamhaus.org", false)); len(a) != want || !bytes.Equal(a[12:], q[12:want]) {
		t.Errorf("question section % x", a[12:])
	}
}

func FuzzServfail(f *testing.F) {
	f.Add(query("test.dbl.spamhaus.org", true))
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	f.Fuzz(func(t *testing.T, q []byte) {
		if len(q) < 12 {
			return // the proxy drops those
		}
		a := servfail(q)
		if len(a) < 12 || len(a) > len(q) || a[3]&0x0f != 2 || a[2]&0x80 == 0 {
			t.Fatalf("servfail(% x) = % x", q, a)
		}
	})
}

func TestXtext(t *testing.T) {
	if got := xtext("a+b=c d\x01é"); got != "a+2Bb+3Dc+20d+01+C3+A9" {
		t.Errorf("xtext = %q", got)
	}
}

func TestParseMetrics(t *testing.T) {
	m := parseMetrics("# HELP go_goroutines x\ngo_goroutines 12\nprocess_resident_memory_bytes 3.3554432e+07\nlevee_messages_total{action=\"accept\"} 3\nlevee_messages_total{action=\"reject\"} 2\n")
	if m["go_goroutines"] != 12 || m["process_resident_memory_bytes"] != 32<<20 || m["levee_messages_total{*}"] != 5 {
		t.Errorf("%v", m)
	}
}

func TestLeveeLogPanics(t *testing.T) {
	l, err := newLeveeLog(t.TempDir() + "/levee.log")
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.Write([]byte("time=x level=INFO msg=message from=panic@example.com action=accept\ntime=x level=INFO msg=\"config rel"))
	l.Write([]byte("oaded\"\ntime=x level=ERROR msg=\"panic while judging message\" panic=boom\npanic: runtime error\n"))
	if n := len(l.panicLines()); n != 2 {
		t.Errorf("%d panic lines, want 2 (a sender named panic is none): %q", n, l.panicLines())
	}
	if l.count("config reloaded") != 1 || l.count("msg=message ") != 1 {
		t.Errorf("counts %v", l.counts)
	}
}

// TestLedgerDeliver: the sink's messages are filed by their own X-Soak-Id;
// a bounce (null sender, the copy quoted in its body) by the quoted one.
func TestLedgerDeliver(t *testing.T) {
	l := newLedger("r", 3)
	l.deliver(&postfix.Delivery{From: "a@b", Rcpts: []string{"x@y"}, Data: []byte(
		"Received: from relay by mx; Wed, 3 Dec 2025 07:10:11 +0000 (UTC)\r\nX-Soak-Id: r-0\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=9\r\n\r\nbody\r\n")})
	// a copy whose corpus message has the null sender is a delivery
	l.deliver(&postfix.Delivery{From: "", Rcpts: []string{"x@y"}, Data: []byte("X-Soak-Id: r-1\r\n\r\nX-Soak-Id: r-2\r\n")})
	l.deliver(&postfix.Delivery{From: "", Rcpts: []string{"a@b"}, Data: []byte(
		"From: MAILER-DAEMON\r\nSubject: Undelivered Mail\r\n\r\n550 5.7.1 " + RejectText + "\r\n\r\nReceived: x\r\nX-Soak-Id: r-2\r\n")})
	l.deliver(&postfix.Delivery{From: "root@x", Data: []byte("Subject: other\r\n\r\n")})
	d0 := l.rec[0].deliveries
	if len(d0) != 1 || !d0[0].flagged || d0[0].verdicts != 1 || !d0[0].filtered.Equal(time.Date(2025, 12, 3, 7, 10, 11, 0, time.UTC)) {
		t.Errorf("copy 0: %+v", d0)
	}
	if len(l.rec[1].deliveries) != 1 || len(l.rec[1].bounces) != 0 {
		t.Errorf("copy 1: %+v", l.rec[1])
	}
	if b := l.rec[2].bounces; len(b) != 1 || !b[0].levee || len(l.rec[2].deliveries) != 0 {
		t.Errorf("copy 2: %+v", l.rec[2])
	}
	if l.other != 1 {
		t.Errorf("other = %d", l.other)
	}
}

func TestReconcile(t *testing.T) {
	t0 := time.Date(2025, 12, 3, 7, 0, 0, 0, time.UTC)
	ok := func(code int, text string) attempt { return attempt{code: code, text: text} }
	judged := delivery{verdicts: 1, filtered: t0, rcpts: []string{"r"}}
	unjudged := func(at time.Time) delivery { return delivery{filtered: at, rcpts: []string{"r"}} }
	win := []window{{kind: "killed", from: t0.Add(10 * time.Second), to: t0.Add(12 * time.Second), before: 3 * time.Second}}
	l := newLedger("r", 0)
	add := func(direct bool, as []attempt, ds []delivery, bs []bounce) {
		l.rec = append(l.rec, record{direct: direct, attempts: as, deliveries: ds, bounces: bs})
	}
	add(false, []attempt{ok(250, "queued as A")}, []delivery{judged}, nil)                          // delivered
	add(false, []attempt{{code: 250, text: "queued as B", queueID: "B"}}, []delivery{judged}, nil)  // deferred in the relay's queue, then delivered
	add(true, []attempt{ok(451, TempfailText), ok(250, "ok")}, []delivery{judged}, nil)             // deferred by the client, then delivered
	add(true, []attempt{ok(550, "5.7.1 "+RejectText)}, nil, nil)                                    // rejected
	add(false, []attempt{{code: 250, queueID: "C"}}, nil, []bounce{{levee: true}})                  // refused at the filtering smtpd, bounced
	add(false, []attempt{ok(250, "ok")}, []delivery{unjudged(t0.Add(8 * time.Second))}, nil)        // unjudged, just before the SIGKILL
	add(false, []attempt{ok(250, "ok")}, []delivery{unjudged(t0.Add(30 * time.Second))}, nil)       // unjudged outside
	add(false, []attempt{ok(250, "ok")}, nil, nil)                                                  // lost
	add(false, []attempt{ok(250, "ok")}, []delivery{judged, judged}, nil)                           // duplicate
	add(true, []attempt{ok(550, "no")}, []delivery{judged}, nil)                                    // delivered though rejected
	add(true, []attempt{ok(451, TempfailText)}, nil, nil)                                           // still deferred: lost
	add(true, []attempt{{code: 501, text: "XCLIENT: bad", session: true}}, nil, nil)                // never offered
	add(false, []attempt{ok(250, "ok")}, []delivery{{verdicts: 2, rcpts: []string{"r"}}}, nil)      // judged twice
	l.rec = append(l.rec, record{nullSender: true, attempts: []attempt{{code: 250, queueID: "D"}}}) // refused, null sender: no bounce
	add(false, []attempt{{code: 250, queueID: "E"}}, nil, nil)                                      // refused, the bounce missing
	st := []postfix.Status{{QueueID: "B", Status: "deferred"}, {QueueID: "B", Status: "sent"},
		{QueueID: "C", Status: "bounced", Text: "host said: 550 5.7.1 " + RejectText}, {QueueID: "D", Status: "bounced", Text: RejectText},
		{QueueID: "E", Status: "bounced", Text: "550 5.1.1 unknown"}}
	o, problems, _ := reconcile(l, st, win, 2*time.Second)
	want := Outcome{Sent: 15, Delivered: 6, Tagged: 0, Unjudged: 1, UnjudgedOutside: 1, Rejected: 4, RejectedClient: 1, RejectedBounce: 3,
		RejectedNotLevee: 1, DeferredDelivered: 2, Lost: 3, Duplicates: 2, JudgedTwice: 1, Unsent: 1}
	if o != want {
		t.Errorf("outcome\n%+v\nwant\n%+v", o, want)
	}
	if len(problems) != 8 {
		t.Errorf("%d problems, want 8:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
