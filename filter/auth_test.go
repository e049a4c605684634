package filter

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/filter/mta/bench"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/auth/authtest"
	"github.com/levee-mail/levee/rules/dns"
)

// authEngine is testConfig with sender authentication on, levee's own
// resolver pointed at nsd (no injected Resolver: the real stub resolver).
func authEngine(t *testing.T, n *authtest.NSD, mod func(*rules.Config)) *rules.Engine {
	t.Helper()
	rc := testConfig()
	rc.DNS = dns.ResolverConfig{Servers: []string{n.Addr}, Timeout: 300 * time.Millisecond, Deadline: time.Second}
	rc.Auth = auth.Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test"}
	if mod != nil {
		mod(&rc)
	}
	e, err := rules.NewEngine(rc, rules.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rawMsg is a whole message (CRLF) with its envelope.
type rawMsg struct {
	ip, helo, from string
	macros         []string // MAIL-stage macros
	data           []byte
}

// sendRaw plays one message file to the milter as Postfix hands it over
// (split by bench.NewMessage, as `levee bench` replays a corpus: header
// values without the space after the colon, folding kept; the body in
// 64 KiB chunks) from a client at m.ip.
func sendRaw(t *testing.T, h *harness, m rawMsg) ([]milter.ModifyAction, *milter.Action) {
	t.Helper()
	s := h.session(t)
	connect(t, s, m.ip, "["+m.ip+"]", m.helo)
	bm, err := bench.NewMessage("raw", m.data, rules.Envelope{MailFrom: m.from, Rcpts: []string{"bob@example.org"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	bm.MailMacros = m.macros
	return play(t, s, &bm.Message)
}

func inserted(acts []milter.ModifyAction, name string) []string {
	var out []string
	for _, a := range acts {
		if a.Code == milter.ActInsertHeader && a.HeaderName == name {
			out = append(out, a.HeaderValue)
		}
	}
	return out
}

func testMsg(from string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("From: Alice <" + from + ">\r\nTo: bob@example.org\r\nSubject: the minutes\r\n")
	b.WriteString("Date: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <1@mail.good.test>\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\nHello Bob,\r\n\r\nthe minutes of Tuesday are attached.\r\n")
	return []byte(b.String())
}

func goSign(t *testing.T, raw []byte, selector string, k interface{}) []byte {
	t.Helper()
	keys := authtest.TestKeys()
	o := &dkim.SignOptions{Domain: "good.test", Selector: selector, Signer: keys.RSA,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}
	if selector == "ed" {
		o.Signer = keys.Ed
	}
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), o); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestAuthThroughMilter(t *testing.T) {
	n := authtest.StartNSD(t, authtest.Zones(authtest.TestKeys()))
	e := authEngine(t, n, func(rc *rules.Config) { rc.Auth.DMARCReject = "reject" })
	h := startWithEngine(t, e)

	// SPF fail and a forged From of a p=reject domain: the configured action.
	acts, act := sendRaw(t, h, rawMsg{ip: authtest.BadIP, helo: "bot.example", from: "ceo@good.test", data: testMsg("ceo@good.test")})
	if act.Code != milter.ActReplyCode || act.SMTPCode != 550 || !strings.Contains(act.SMTPText, "DMARC") {
		t.Fatalf("forged p=reject: %c %d %q %v", act.Code, act.SMTPCode, act.SMTPText, acts)
	}
	_, v := h.rec.last(t)
	if !strings.Contains(strings.Join(v.HitNames(), ","), "SPF_FAIL") || v.Auth == nil || v.Auth.SPF.Result != "fail" {
		t.Errorf("hits %v", v.HitNames())
	}

	// A valid aligned DKIM signature passes (SPF fails: the message went
	// through a forwarder), and a forged Authentication-Results with
	// levee's id is removed.
	signed := goSign(t, testMsg("ceo@good.test", "Authentication-Results: mx.levee.test; dkim=pass header.d=good.test"), "rsa", nil)
	acts, act = sendRaw(t, h, rawMsg{ip: authtest.BadIP, helo: "fwd.example", from: "list@bounce.test", data: signed})
	if act.Code != milter.ActAccept {
		t.Fatalf("aligned DKIM: %c %d %q", act.Code, act.SMTPCode, act.SMTPText)
	}
	ar := inserted(acts, "Authentication-Results")
	if len(ar) != 1 || !strings.HasPrefix(ar[0], "mx.levee.test;") || !strings.Contains(ar[0], "dkim=pass") || !strings.Contains(ar[0], "dmarc=pass") {
		t.Errorf("A-R: %q", ar)
	}
	removed := false
	for _, a := range acts {
		removed = removed || a.Code == milter.ActChangeHeader && a.HeaderName == "Authentication-Results" && a.HeaderIndex == 1 && a.HeaderValue == ""
	}
	if !removed {
		t.Errorf("forged Authentication-Results not removed: %+v", acts)
	}
	if st := addedHeaders(acts)["X-Spam-Status"]; !strings.Contains(st, "DKIM_VALID_AU") || !strings.Contains(st, "DMARC_PASS") {
		t.Errorf("X-Spam-Status %q", st)
	}

	// The body changed after signing: DKIM fails, and so does DMARC.
	changed := bytes.Replace(signed, []byte("Tuesday"), []byte("Friday"), 1)
	_, act = sendRaw(t, h, rawMsg{ip: authtest.BadIP, helo: "fwd.example", from: "list@bounce.test", data: changed})
	_, v = h.rec.last(t)
	if act.SMTPCode != 550 || len(v.Auth.DKIM) != 1 || v.Auth.DKIM[0].Result != "fail" || !strings.Contains(strings.Join(v.HitNames(), ","), "DKIM_INVALID") {
		t.Errorf("changed body: %d %+v %v", act.SMTPCode, v.Auth.DKIM, v.HitNames())
	}
}

// The whole body, far past scan_limit, goes into the DKIM hash.
func TestAuthWholeBodyPastScanLimit(t *testing.T) {
	n := authtest.StartNSD(t, authtest.Zones(authtest.TestKeys()))
	e := authEngine(t, n, func(rc *rules.Config) { rc.ScanLimit = 64 << 10 })
	h := startWithEngine(t, e)
	raw := testMsg("ceo@good.test")
	raw = append(raw, bytes.Repeat([]byte("the long appendix of the minutes, line after line after line.\r\n"), 40000)...) // 2.6 MB
	raw = append(raw, []byte("signed, the secretary\r\n")...)
	signed := goSign(t, raw, "ed", nil)
	acts, _ := sendRaw(t, h, rawMsg{ip: authtest.GoodIP, helo: "mta.good.test", from: "ceo@good.test", data: signed})
	if ar := inserted(acts, "Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dkim=pass") {
		t.Fatalf("whole body: %q", ar)
	}
	tail := bytes.Replace(signed, []byte("the secretary"), []byte("the secretarz"), 1)
	acts, _ = sendRaw(t, h, rawMsg{ip: authtest.GoodIP, helo: "mta.good.test", from: "ceo@good.test", data: tail})
	if ar := inserted(acts, "Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dkim=fail") {
		t.Fatalf("changed past the scan limit: %q", ar)
	}
}

// A DNS server that stops answering mid-run: temperror and on_error,
// never a fail.
func TestAuthDNSStopsAnswering(t *testing.T) {
	n := authtest.StartNSD(t, authtest.Zones(authtest.TestKeys()))
	for _, onErr := range []string{"ignore", "tempfail"} {
		e := authEngine(t, n, func(rc *rules.Config) { rc.Auth.OnError = onErr; rc.Auth.DMARCReject = "reject" })
		h := startWithEngine(t, e)
		if _, act := sendRaw(t, h, rawMsg{ip: authtest.GoodIP, helo: "mta.good.test", from: "a@good.test", data: testMsg("a@good.test")}); act.Code != milter.ActAccept {
			t.Fatalf("%s: before: %c", onErr, act.Code)
		}
		n.Pause()
		// a forged p=reject From: only DNS can tell, and DNS is down
		acts, act := sendRaw(t, h, rawMsg{ip: authtest.BadIP, helo: "bot.example", from: "x@quar.test", data: goSign(t, testMsg("ceo@parent.test"), "rsa", nil)})
		n.Resume()
		_, v := h.rec.last(t)
		switch onErr {
		case "ignore":
			ar := inserted(acts, "Authentication-Results")
			if act.Code != milter.ActAccept || len(ar) != 1 || !strings.Contains(ar[0], "spf=temperror") || !strings.Contains(ar[0], "dmarc=temperror") {
				t.Errorf("ignore: %c %q", act.Code, ar)
			}
		case "tempfail":
			if act.Code != milter.ActReplyCode || act.SMTPCode != 451 || !strings.Contains(act.SMTPText, "4.4.3") {
				t.Errorf("tempfail: %c %d %q", act.Code, act.SMTPCode, act.SMTPText)
			}
		}
		for _, hit := range v.Hits {
			if hit.Score != 0 || strings.Contains(hit.Name, "FAIL") || strings.Contains(hit.Name, "REJECT") {
				t.Errorf("%s: hit %s %v with DNS down", onErr, hit.Name, hit.Score)
			}
		}
	}
}

// Outgoing mail is signed: SMTP-authenticated, and from a trusted client
// (Postfix's pickup) without an untrusted hop, skipped or not; dkimpy
// verifies the signatures. Mail that came from outside is not signed.
func TestDKIMSigningThroughMilter(t *testing.T) {
	authtest.NeedDKIMPy(t)
	k := authtest.TestKeys()
	n := authtest.StartNSD(t, authtest.Zones(k))
	dir := t.TempDir()
	e := authEngine(t, n, func(rc *rules.Config) {
		rc.Auth.Sign = []auth.SignKey{
			{Domain: "good.test", Selector: "rsa", Key: authtest.WriteKey(t, dir, "rsa.key", authtest.PEM(k.RSA))},
			{Domain: "good.test", Selector: "ed", Key: authtest.WriteKey(t, dir, "ed.key", authtest.PEM(k.Ed))},
		}
	})
	h := startWithEngine(t, e)
	deliver := func(acts []milter.ModifyAction, raw []byte) []byte {
		var b bytes.Buffer
		for _, v := range inserted(acts, "DKIM-Signature") {
			b.WriteString("DKIM-Signature: " + strings.ReplaceAll(v, "\n", "\r\n") + "\r\n")
		}
		b.Write(raw)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		m    rawMsg
		sign bool
	}{
		{"authenticated", rawMsg{ip: authtest.BadIP, helo: "laptop", from: "ceo@good.test", macros: []string{"{auth_authen}", "ceo"}, data: testMsg("ceo@good.test")}, true},
		{"pickup", rawMsg{ip: "127.0.0.1", helo: "localhost", from: "ceo@good.test", data: testMsg("ceo@sub.good.test", "Received: by mx.good.test (Postfix, from userid 0) id 4X; Mon, 2 Nov 2026 10:00:00 +0100")}, true},
		{"relayed from outside", rawMsg{ip: "127.0.0.1", helo: "localhost", from: "ceo@good.test", data: testMsg("ceo@good.test", "Received: from bot.example (bot.example [198.18.0.66]) by mx.good.test with ESMTP id 5Y; Mon, 2 Nov 2026 10:00:00 +0100")}, false},
		{"unauthenticated", rawMsg{ip: authtest.BadIP, helo: "bot", from: "ceo@good.test", data: testMsg("ceo@good.test")}, false},
		{"other domain", rawMsg{ip: "127.0.0.1", helo: "localhost", from: "a@other.test", macros: []string{"{auth_authen}", "a"}, data: testMsg("a@other.test")}, false},
	} {
		acts, act := sendRaw(t, h, tc.m)
		sigs := inserted(acts, "DKIM-Signature")
		if tc.sign != (len(sigs) == 2) {
			t.Errorf("%s: %d signatures (action %c)", tc.name, len(sigs), act.Code)
			continue
		}
		if !tc.sign {
			continue
		}
		if ok, out := authtest.DKIMPyVerify(t, n.Addr, deliver(acts, tc.m.data)); !ok {
			t.Errorf("%s: dkimpy: %s", tc.name, out)
		}
	}
}

// Several signing domains at once, one RSA (good.test) and one Ed25519
// (strict.test): each signs its own From domain's mail only, whatever the
// envelope sender, and a third domain's mail is not signed. dkimpy verifies
// each signature against the zone's keys.
func TestDKIMSigningSeveralDomains(t *testing.T) {
	authtest.NeedDKIMPy(t)
	k := authtest.TestKeys()
	n := authtest.StartNSD(t, authtest.Zones(k))
	dir := t.TempDir()
	e := authEngine(t, n, func(rc *rules.Config) {
		rc.Auth.Sign = []auth.SignKey{
			{Domain: "good.test", Selector: "rsa", Key: authtest.WriteKey(t, dir, "rsa.key", authtest.PEM(k.RSA))},
			{Domain: "strict.test", Selector: "ed", Key: authtest.WriteKey(t, dir, "ed.key", authtest.PEM(k.Ed))},
		}
	})
	h := startWithEngine(t, e)
	for _, tc := range []struct {
		envFrom, hdrFrom string
		want             string // "d=... a=..." of the one signature; "" for none
	}{
		{"ceo@good.test", "ceo@good.test", "d=good.test a=rsa-sha256"},
		{"ceo@strict.test", "ceo@strict.test", "d=strict.test a=ed25519-sha256"},
		// the From domain chooses the key, not the envelope sender
		{"ceo@good.test", "ceo@strict.test", "d=strict.test a=ed25519-sha256"},
		{"ceo@strict.test", "ceo@good.test", "d=good.test a=rsa-sha256"},
		{"a@other.test", "a@other.test", ""},
		{"ceo@good.test", "a@other.test", ""},
	} {
		m := rawMsg{ip: authtest.BadIP, helo: "laptop", from: tc.envFrom, macros: []string{"{auth_authen}", "ceo"}, data: testMsg(tc.hdrFrom)}
		acts, act := sendRaw(t, h, m)
		sigs := inserted(acts, "DKIM-Signature")
		name := tc.envFrom + " / From " + tc.hdrFrom
		if tc.want == "" {
			if len(sigs) != 0 {
				t.Errorf("%s: signed: %q", name, sigs)
			}
			continue
		}
		if len(sigs) != 1 {
			t.Errorf("%s: %d signatures (action %c), want 1", name, len(sigs), act.Code)
			continue
		}
		tags := map[string]string{}
		for _, tag := range strings.Split(sigs[0], ";") {
			k, v, _ := strings.Cut(tag, "=")
			tags[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if got := "d=" + tags["d"] + " a=" + tags["a"]; got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
		signed := []byte("DKIM-Signature: " + strings.ReplaceAll(sigs[0], "\n", "\r\n") + "\r\n" + string(m.data))
		if ok, out := authtest.DKIMPyVerify(t, n.Addr, signed); !ok {
			t.Errorf("%s: dkimpy: %s", name, out)
		}
	}
}

// SPF starts at MAIL FROM and DMARC at end of header, each in time for end
// of message: a resolver that records its queries sees the SPF record asked
// before any header field is sent, and the DMARC record asked after end of
// header but before the body (and never while the header fields come in).
func TestAuthLookupStages(t *testing.T) {
	res := &dns.MapResolver{TXT: map[string][]string{
		"good.test":        {"v=spf1 ip4:192.0.2.0/25 -all"},
		"_dmarc.good.test": {"v=DMARC1; p=reject"},
	}}
	rc := testConfig()
	rc.DNS = dns.ResolverConfig{Timeout: 300 * time.Millisecond, Deadline: time.Second}
	rc.Auth = auth.Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test"}
	e, err := rules.NewEngine(rc, rules.Options{Resolver: res, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := startWithEngine(t, e)
	const spfQ, dmarcQ = "TXT good.test", "TXT _dmarc.good.test"
	// waitQuery waits (a generous bound: the lookup runs in the background)
	// until q has been asked.
	waitQuery := func(q, stage string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); res.Count(q) == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not asked %s; queries: %q", q, stage, res.Queries())
			}
		}
	}
	s := h.session(t)
	connect(t, s, authtest.GoodIP, "["+authtest.GoodIP+"]", "mta.good.test")
	if n := res.Count(spfQ) + res.Count(dmarcQ); n != 0 {
		t.Fatalf("asked before MAIL FROM: %q", res.Queries())
	}
	a, err := s.Mail("a@good.test", nil)
	must(t, a, err)
	waitQuery(spfQ, "after MAIL FROM, before the header")
	a, err = s.Rcpt("bob@example.org", nil)
	must(t, a, err)
	hdr, body, _ := strings.Cut(string(testMsg("a@good.test")), "\r\n\r\n")
	for _, line := range strings.Split(hdr, "\r\n") {
		name, value, _ := strings.Cut(line, ": ")
		a, err := s.HeaderField(name, value)
		must(t, a, err)
	}
	if res.Count(dmarcQ) != 0 {
		t.Fatalf("DMARC asked before end of header: %q", res.Queries())
	}
	a, err = s.HeaderEnd()
	must(t, a, err)
	waitQuery(dmarcQ, "after end of header, before the body")
	acts, act, err := s.BodyReadFrom(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ar := inserted(acts, "Authentication-Results")
	if act.Code != milter.ActAccept || len(ar) != 1 || !strings.Contains(ar[0], "spf=pass") || !strings.Contains(ar[0], "dmarc=pass") {
		t.Errorf("%c %q", act.Code, ar)
	}
	if n := res.Count(spfQ); n != 1 {
		t.Errorf("SPF record asked %d times", n)
	}
}
