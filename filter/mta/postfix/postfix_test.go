package postfix

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta"
)

func inCI() bool { v := os.Getenv("CI"); return v != "" && v != "0" && v != "false" }

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Status
		ok   bool
	}{
		{`Dec 03 07:14:04 mx postfix/smtp[29928]: 4jg5TS1m3qz1STXh: to=<rcpt6689@soak.levee.test>, relay=127.0.0.1[127.0.0.1]:41589, conn_use=12, delay=0.2, delays=0.02/0.18/0/0, dsn=2.0.0, status=sent (250 2.0.0 queued)`,
			Status{Program: "postfix/smtp", QueueID: "4jg5TS1m3qz1STXh", To: "rcpt6689@soak.levee.test", Relay: "127.0.0.1[127.0.0.1]:41589", Status: "sent", Text: "250 2.0.0 queued"}, true},
		{`Dec 03 07:14:04 mx postfix/relayb/smtp[1]: 3F2A1: to=<b@example.org>, orig_to=<c@example.org>, relay=127.0.0.1[127.0.0.1]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.7.1 later (in reply to end of DATA command))`,
			Status{Program: "postfix/relayb/smtp", QueueID: "3F2A1", To: "b@example.org", Relay: "127.0.0.1[127.0.0.1]:25", Status: "deferred", Text: "host 127.0.0.1[127.0.0.1] said: 451 4.7.1 later (in reply to end of DATA command)"}, true},
		{`Dec 03 07:14:04 mx postfix/qmgr[29889]: 4jg5TS1m3qz1STXh: removed`, Status{}, false},
		{`status=sent`, Status{}, false},
	} {
		got, ok := ParseStatus(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseStatus(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestQueuedAs(t *testing.T) {
	if got := QueuedAs("2.0.0 Ok: queued as 4jg5TS1m3qz1STXh"); got != "4jg5TS1m3qz1STXh" {
		t.Errorf("QueuedAs = %q", got)
	}
	if got := QueuedAs("2.0.0 queued"); got != "" {
		t.Errorf("QueuedAs = %q, want none", got)
	}
}

func TestHeaderOf(t *testing.T) {
	msg := "Received: from a\r\n\tby b; Wed, 3 Dec 2025 07:10:11 +0000\r\nnot a field\r\n continued\r\nX-Soak-Id: r-1\r\nbad\r\n folded\r\nx-soak-id:  r-2 \r\n\r\nX-Soak-Id: body\r\n"
	h := HeaderOf([]byte(msg))
	if got := Get(h, "X-Soak-Id"); len(got) != 2 || got[0] != "r-1" || got[1] != "r-2" {
		t.Errorf("X-Soak-Id = %q (the body's does not count)", got)
	}
	if got := Get(h, "received"); len(got) != 1 || got[0] != "from a by b; Wed, 3 Dec 2025 07:10:11 +0000" {
		t.Errorf("Received = %q", got)
	}
}

func FuzzHeaderOf(f *testing.F) {
	f.Add([]byte("A: b\r\n c\r\n\r\nbody"))
	f.Add([]byte(" lead\r\n:\r\nx\ny: z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fl := range HeaderOf(b) {
			if fl.Name == "" || strings.ContainsAny(fl.Name, " \t:\r\n") {
				t.Fatalf("bad field name %q", fl.Name)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add(`Dec 03 07:14:04 mx postfix/smtp[1]: ABC: to=<a@b>, relay=none, delay=1, status=bounced (x)`)
	f.Fuzz(func(t *testing.T, line string) {
		if s, ok := ParseStatus(line); ok && (s.QueueID == "" || s.Status == "") {
			t.Fatalf("%q: %+v", line, s)
		}
	})
}

func TestMainCf(t *testing.T) {
	cf := MainCf(Config{Dir: "/x", Relayhost: "127.0.0.1:2525", RelayDomains: []string{"a.test"},
		Params: map[string]string{"queue_run_delay": "1s"}, Extra: "smtpd_milters = inet:127.0.0.1:1"})
	for _, want := range []string{"relayhost = [127.0.0.1]:2525\n", "queue_run_delay = 1s\n", "relay_domains = a.test\n",
		"queue_directory = /x/queue\n", "smtpd_milters = inet:127.0.0.1:1\n"} {
		if !strings.Contains(cf, want) {
			t.Errorf("main.cf lacks %q:\n%s", want, cf)
		}
	}
	if strings.Count(cf, "queue_run_delay") != 1 {
		t.Errorf("Params must replace the base value, not add a second one:\n%s", cf)
	}
}

// sinkRecorder keeps what a Sink got.
type sinkRecorder struct {
	mu sync.Mutex
	d  []*Delivery
}

func (r *sinkRecorder) deliver(d *Delivery) { r.mu.Lock(); r.d = append(r.d, d); r.mu.Unlock() }

func (r *sinkRecorder) wait(t *testing.T, n int) []*Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		got := append([]*Delivery(nil), r.d...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSink(t *testing.T) {
	var rec sinkRecorder
	s, err := StartSink("127.0.0.1:0", rec.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := mta.DialSMTP(s.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Cmd("EHLO test")
	tr, err := c.Send("", []string{"a@example.org", "b@example.org"}, "Subject: x\r\n\r\n.leading dot\r\nbody\r\n")
	if err != nil || tr.Final().Code != 250 {
		t.Fatalf("send: %v %v", tr, err)
	}
	c.Quit()
	d := rec.wait(t, 1)[0] // recorded before the 250
	if d.From != "" || len(d.Rcpts) != 2 || string(d.Data) != "Subject: x\r\n\r\n.leading dot\r\nbody\r\n" {
		t.Errorf("delivery %+v %q", d, d.Data)
	}
}

// TestInstance starts a private Postfix with one service and a sink,
// sends a message through it and reads the maillog's status for it.
func TestInstance(t *testing.T) {
	if os.Geteuid() != 0 {
		if inCI() {
			t.Fatal("needs root (Postfix's master starts as root)")
		}
		t.Skip("needs root")
	}
	if _, err := os.Stat(Bin); err != nil {
		if inCI() {
			t.Fatalf("%s is missing", Bin)
		}
		t.Skip("postfix is not installed")
	}
	var rec sinkRecorder
	sink, err := StartSink("127.0.0.1:0", rec.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	dir, err := os.MkdirTemp("", "levee-postfix-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // Postfix's daemons (user postfix) go through it
	p, err := Start(Config{Dir: filepath.Join(dir, "pf"), Relayhost: sink.Addr(), Services: []Service{{Name: "in"}}})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	defer p.Stop()
	c, err := mta.DialSMTP(p.Addr("in"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Cmd("EHLO test.example")
	tr, err := c.Send("a@example.com", []string{"b@example.org"}, "Subject: hi\r\nX-Test: instance\r\n\r\nhello\r\n")
	if err != nil || tr.Final().Code != 250 {
		t.Fatalf("send: %v %v", tr, err)
	}
	c.Quit()
	id := QueuedAs(tr.Final().Text)
	d := rec.wait(t, 1)[0]
	if got := Get(HeaderOf(d.Data), "X-Test"); len(got) != 1 || got[0] != "instance" {
		t.Errorf("delivered header %q", d.Data)
	}
	if q, err := p.Drain(t.Context(), time.Second); err != nil || len(q) != 0 {
		t.Errorf("queue not empty: %v %v", q, err)
	}
	var st []Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ = p.Statuses()
		if len(st) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(st) != 1 || st[0].QueueID != id || st[0].Status != "sent" || st[0].To != "b@example.org" {
		t.Errorf("statuses %+v, want one sent for %s", st, id)
	}
}
