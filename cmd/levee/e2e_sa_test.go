package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
)

// saMessage plays a plain message with this Subject on a new session and
// returns levee's header changes and final action.
func saMessage(t *testing.T, addr, subject string) ([]milter.ModifyAction, *milter.Action) {
	t.Helper()
	s := milterSession(t, addr)
	milterMail(t, s)
	mustContinue(t, "rcpt")(s.Rcpt("bob@example.org", nil))
	for _, h := range [][2]string{{"From", "Alice <alice@example.com>"}, {"To", "bob@example.org"},
		{"Subject", subject}, {"Date", time.Now().Format(time.RFC1123Z)}, {"Message-ID", "<sa-e2e@mail.example.com>"}} {
		mustContinue(t, "header")(s.HeaderField(h[0], h[1]))
	}
	mustContinue(t, "eoh")(s.HeaderEnd())
	mods, act, err := s.BodyReadFrom(strings.NewReader("Hello Bob,\r\n\r\nsee you at noon.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return mods, act
}

func spamStatus(mods []milter.ModifyAction) string {
	for _, m := range mods {
		if (m.Code == milter.ActAddHeader || m.Code == milter.ActInsertHeader) && m.HeaderName == "X-Spam-Status" {
			return m.HeaderValue
		}
	}
	return ""
}

// SpamAssassin rule files through the daemon: a local.cf rule scores and
// names itself in X-Spam-Status; a reload with a file that does not parse
// is refused naming the file and line, and the old rules keep judging; a
// good file replaces them at the next reload.
func TestE2EDaemonSARules(t *testing.T) {
	h := startDaemon(t, "text")
	local := filepath.Join(h.dir, "local.cf")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(local, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`
header   LOCAL_SA_ONE   Subject =~ /\bquarterly\s+bonus\b/i
describe LOCAL_SA_ONE   Subject talks of a quarterly bonus
score    LOCAL_SA_ONE   20
`)
	h.writeConfig(t, fmt.Sprintf(daemonConfig, h.addr, "text", h.metrics)+"sa_rules: ["+local+"]\n")
	h.hup(t, "config reloaded", 1)
	if !strings.Contains(h.p.log.String(), "SpamAssassin rules loaded") {
		t.Errorf("no load line in the log:\n%s", tail(h.p.log.String(), 5))
	}
	_, act := saMessage(t, h.addr, "Your QUARTERLY  bonus")
	wantReject(t, act, "text")
	mods, act := saMessage(t, h.addr, "lunch")
	if act.Code != milter.ActAccept || strings.Contains(spamStatus(mods), "LOCAL_SA_ONE") {
		t.Fatalf("a message without the phrase: %c, %q", act.Code, spamStatus(mods))
	}

	// A file that does not parse: refused, named with its line; the old
	// rules stay.
	write("header LOCAL_SA_TWO Subject =~ /x/\nendif\n")
	h.hup(t, "reload failed, keeping the running config", 1)
	if log := h.p.log.String(); !strings.Contains(log, local+":2") {
		t.Errorf("the refusal does not name %s:2:\n%s", local, tail(log, 5))
	}
	_, act = saMessage(t, h.addr, "quarterly bonus")
	wantReject(t, act, "text")

	// A good file again: its rules replace the old ones.
	write(`
body     LOCAL_SA_TWO   /\bnoon\b/
score    LOCAL_SA_TWO   0.5
`)
	h.hup(t, "config reloaded", 2)
	mods, act = saMessage(t, h.addr, "quarterly bonus")
	if act.Code != milter.ActAccept {
		t.Fatalf("after the new rules: %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
	}
	if st := spamStatus(mods); !strings.Contains(st, "LOCAL_SA_TWO") || strings.Contains(st, "LOCAL_SA_ONE") {
		t.Errorf("X-Spam-Status %q: want LOCAL_SA_TWO and not LOCAL_SA_ONE", st)
	}
}
