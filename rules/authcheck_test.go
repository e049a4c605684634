package rules

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/dns"
)

func authEngine(t *testing.T, mod func(*Config)) *Engine {
	t.Helper()
	res := &dns.MapResolver{TXT: map[string][]string{
		"bank.example":        {"v=spf1 ip4:192.0.2.0/24 -all"},
		"_dmarc.bank.example": {"v=DMARC1; p=reject"},
	}}
	cfg := Config{Thresholds: Thresholds{AddHeader: At(5), Reject: At(15)}, RejectText: "spam", Scores: map[string]float64{},
		TrustedNetworks: []string{"127.0.0.0/8"}, SkipTrusted: true, SkipAuthenticated: true,
		Auth: auth.Config{Enabled: true, SPF: true, DKIM: true, DMARC: true, AuthservID: "mx.levee.test"}}
	for _, r := range Builtin() {
		cfg.Scores[r.Name] = 0
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg, Options{Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

const forged = "From: Bank <security@bank.example>\r\nAuthentication-Results: mx.levee.test; dmarc=pass\r\nSubject: verify\r\n\r\nclick\r\n"

func judgeAuth(t *testing.T, e *Engine, env Envelope) Verdict {
	t.Helper()
	m, err := ReadMessage(strings.NewReader(forged), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	return e.Judge(context.Background(), m, nil)
}

var botEnv = Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), Helo: "bot.example", MailFrom: "security@bank.example"}

func TestJudgeAuth(t *testing.T) {
	// default: the hits score, no action of their own; the forged field goes
	v := judgeAuth(t, authEngine(t, nil), botEnv)
	if got := strings.Join(v.HitNames(), ","); got != "DKIM_NONE,DMARC_REJECT,SPF_FAIL" || v.Score != 5 || v.Action != AddHeader {
		t.Errorf("hits %s score %v action %v", got, v.Score, v.Action)
	}
	if len(v.Insert) != 1 || v.Insert[0].Name != "Authentication-Results" || !strings.Contains(v.Insert[0].Value, "dmarc=fail") {
		t.Errorf("insert %+v", v.Insert)
	}
	if len(v.Remove) != 1 || v.Remove[0] != (FieldRef{"Authentication-Results", 1}) {
		t.Errorf("remove %+v", v.Remove)
	}
	// scores: overrides; dmarc_reject: reject takes the action with its reply
	v = judgeAuth(t, authEngine(t, func(c *Config) { c.Scores["SPF_FAIL"] = 0.5; c.Auth.DMARCReject = "reject" }), botEnv)
	if v.Score != 4.5 || v.Action != Reject || !strings.Contains(v.Reply, "DMARC policy") {
		t.Errorf("reject: score %v action %v reply %q", v.Score, v.Action, v.Reply)
	}
	// monitor mode caps it
	v = judgeAuth(t, authEngine(t, func(c *Config) { c.Auth.DMARCReject = "reject"; c.Mode = "monitor" }), botEnv)
	if v.Action != AddHeader || v.WouldBe != Reject {
		t.Errorf("monitor: %v would %v", v.Action, v.WouldBe)
	}
	// quarantine
	v = judgeAuth(t, authEngine(t, func(c *Config) { c.Auth.DMARCReject = "quarantine" }), botEnv)
	if v.Action != Quarantine || !strings.Contains(v.QuarantineReason, "DMARC") {
		t.Errorf("quarantine: %v %q", v.Action, v.QuarantineReason)
	}
	// a skipped (authenticated) message: nothing verified, the forged field still removed
	env := botEnv
	env.AuthUser = "alice"
	v = judgeAuth(t, authEngine(t, nil), env)
	if v.Skipped == "" || v.Auth != nil || len(v.Insert) != 0 || len(v.Remove) != 1 {
		t.Errorf("skipped: %+v", v)
	}
	// NoDNS: no verification at all
	e, err := NewEngine(Config{Auth: auth.Config{Enabled: true, SPF: true}}, Options{NoDNS: true})
	if err != nil || e.Auth() != nil {
		t.Errorf("NoDNS: %v %v", err, e.Auth())
	}
}

func TestShouldSign(t *testing.T) {
	e := authEngine(t, func(c *Config) {
		_, p, err := auth.GenerateKey("ed25519", 0)
		if err != nil {
			t.Fatal(err)
		}
		f := t.TempDir() + "/k"
		if err := writeFileT(f, p); err != nil {
			t.Fatal(err)
		}
		c.Auth.Sign = []auth.SignKey{{Domain: "bank.example", Selector: "s", Key: f}}
	})
	msg := func(env Envelope, received string) *Message {
		m, _ := ReadMessage(strings.NewReader(received+"From: a@bank.example\r\n\r\nx\r\n"), env, 0)
		return m
	}
	local := Envelope{ClientIP: netip.MustParseAddr("127.0.0.1")}
	for _, tc := range []struct {
		name string
		m    *Message
		want bool
	}{
		{"authenticated", msg(Envelope{ClientIP: netip.MustParseAddr("198.51.100.7"), AuthUser: "a"}, ""), true},
		{"pickup", msg(local, "Received: by mx.bank.example (Postfix, from userid 0) id 1; Mon, 2 Nov 2026 10:00:00 +0100\r\n"), true},
		{"unix socket", msg(Envelope{}, ""), true},
		{"relayed from outside", msg(local, "Received: from bot (bot [198.51.100.7]) by mx.bank.example with ESMTP id 2; Mon, 2 Nov 2026 10:00:00 +0100\r\n"), false},
		{"outside", msg(botEnv, ""), false},
	} {
		if got := e.ShouldSign(tc.m); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func writeFileT(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
