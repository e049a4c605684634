package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkConfig turns DNS off and makes a missing Date decisive, so the
// outcomes below do not depend on the fitted default scores.
const checkConfig = "dnsbl:\n  lists: []\nscores:\n  MISSING_DATE: 6\n"

func TestCheckFiles(t *testing.T) {
	cfg := writeFile(t, "levee.yaml", checkConfig)
	code, out, errs := runCmd(t, "", "check", "--config", cfg, "testdata/check/ham.eml")
	if code != 0 || !strings.Contains(out, "action=accept") {
		t.Errorf("ham: code %d out %q err %q", code, out, errs)
	}
	code, out, _ = runCmd(t, "", "check", "--config", cfg, "--explain", "testdata/check/gtube.eml")
	if code != 1 || !strings.Contains(out, "GTUBE") || !strings.Contains(out, "Action: reject") || !strings.Contains(out, "1000.0") {
		t.Errorf("gtube: code %d out %q", code, out)
	}
	code, out, _ = runCmd(t, "", "check", "--config", cfg, "--explain", "testdata/check/spam.eml")
	if code != 1 || !strings.Contains(out, "MISSING_DATE") || !strings.Contains(out, "Missing Date") {
		t.Errorf("spam: code %d out %q", code, out)
	}
	// the envelope came from the topmost Received field
	code, out, _ = runCmd(t, "", "check", "--config", cfg, "--json", "testdata/check/spam.eml")
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("json: %v %q", err, out)
	}
	if j["client_ip"] != "203.0.113.77" || j["helo"] != "[203.0.113.77]" || j["spam"] != true {
		t.Errorf("json %v", j)
	}
	// envelope flags win over the Received field
	_, out, _ = runCmd(t, "", "check", "--config", cfg, "--json", "--ip", "198.51.100.1", "--helo", "h.example", "testdata/check/spam.eml")
	if !strings.Contains(out, `"client_ip":"198.51.100.1"`) || !strings.Contains(out, `"helo":"h.example"`) {
		t.Errorf("flags ignored: %q", out)
	}
	// a directory: one line per message and a summary
	code, out, _ = runCmd(t, "", "check", "--config", cfg, "testdata/check")
	if code != 1 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "3 messages: 2 spam") {
		t.Errorf("dir: code %d out %q", code, out)
	}
	// stdin
	ham, _ := os.ReadFile("testdata/check/ham.eml")
	if code, _, _ := runCmd(t, string(ham), "check", "--config", cfg, "-"); code != 0 {
		t.Errorf("stdin: code %d", code)
	}
	// errors: exit 2
	if code, _, _ := runCmd(t, "", "check", "--config", cfg, "testdata/check/nope.eml"); code != 2 {
		t.Errorf("missing file: code %d", code)
	}
	if code, _, _ := runCmd(t, "", "check", "--config", cfg, "--ip", "not-an-ip", "testdata/check/ham.eml"); code != 2 {
		t.Errorf("bad ip: code %d", code)
	}
}

func TestConfigStrict(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "listen: inet:127.0.0.1:1\nlisen: x\n", []string{"line 2", "lisen"}},
		{"bad threshold", "thresholds:\n  reject: lots\n", []string{"line 2", "lots"}},
		{"bad address", "listen: tcp-ish\n", []string{"listen"}},
		{"bad mode", "mode: maybe\n", []string{"mode"}},
		{"bad duration", "idle_timeout: soon\n", []string{"line 1", "soon"}},
		{"unknown score", "scores:\n  NO_SUCH: 1\n", []string{"NO_SUCH"}},
		{"bad cidr", "trusted_networks: [10.0.0.0/33]\n", []string{"trusted_networks"}},
		{"bad socket mode", "socket_mode: \"999\"\n", []string{"socket_mode"}},
		{"bad dns timeout", "dns:\n  timeout: -1s\n", []string{"dns: timeout"}},
		{"bad list kind", "dnsbl:\n  lists:\n    - {name: x, zone: x.test, kind: ipp, answers: [{match: 127.0.0.2, rule: X, score: 1}]}\n", []string{"list x", "kind"}},
		{"bad answer match", "dnsbl:\n  lists:\n    - {name: x, zone: x.test, kind: ip, answers: [{match: \"bitmask:zz\", rule: X, score: 1}]}\n", []string{"answers[0].match"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "bad.yaml", tc.body)
			code, _, errs := runCmd(t, "", "config", "check", p)
			if code != 2 {
				t.Fatalf("code %d", code)
			}
			if !strings.Contains(errs, p) {
				t.Errorf("error does not name the file: %q", errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("error %q lacks %q", errs, w)
				}
			}
		})
	}
}

func TestConfigPartialKeepsDefaults(t *testing.T) {
	p := writeFile(t, "one.yaml", "listen: unix:/run/levee/levee.sock\n")
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Filter.Listen != "unix:/run/levee/levee.sock" {
		t.Errorf("listen %q", c.Filter.Listen)
	}
	if !c.Rules.Thresholds.Reject.On || c.Rules.Thresholds.Reject.Value != 15 || c.Rules.Thresholds.AddHeader.Value != 5 {
		t.Errorf("thresholds lost: %+v", c.Rules.Thresholds)
	}
	if len(c.Rules.DNSBL.Lists) != len(d.Rules.DNSBL.Lists) || c.Rules.SubjectPrefix != "[SPAM] " {
		t.Error("defaults lost")
	}
	// an empty file is a whole config too
	if _, err := loadConfig(writeFile(t, "empty.yaml", "")); err != nil {
		t.Error(err)
	}
}

// `levee config check` prints the effective config; fed back, it gives the
// same config. The embedded default is configs/levee.yaml itself.
func TestConfigCheckRoundTrip(t *testing.T) {
	code, out, errs := runCmd(t, "", "config", "check")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	p := writeFile(t, "effective.yaml", out)
	c1, err := loadConfig(p)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	c0, _ := loadConfig("")
	b0, _ := yaml.Marshal(c0)
	b1, _ := yaml.Marshal(c1)
	if !bytes.Equal(b0, b1) {
		t.Errorf("round trip differs:\n%s\n---\n%s", b0, b1)
	}
	sample, err := os.ReadFile("../../configs/levee.yaml")
	if err != nil || !bytes.Equal(sample, configs.Default) {
		t.Error("configs/levee.yaml is not the embedded default")
	}
}

func TestRulesList(t *testing.T) {
	code, out, _ := runCmd(t, "", "rules", "list")
	if code != 0 || !strings.Contains(out, "MISSING_DATE") || !strings.Contains(out, "GTUBE") {
		t.Errorf("code %d out %q", code, out)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCmd(t, ""); code != 2 {
		t.Error("no args")
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Error("unknown command")
	}
}

// A reload names the settings it cannot apply.
func TestRestartChanges(t *testing.T) {
	running, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	next, _ := loadConfig("")
	if got := restartChanges(next, running); len(got) != 0 {
		t.Fatalf("same config: %v", got)
	}
	next.Filter.AlwaysReply = true
	next.MemoryLimit *= 2
	next.Filter.MaxConnections = 7
	next.Rules.Mode = "monitor" // applied by a reload
	if got := strings.Join(restartChanges(next, running), ","); got != "always_reply,memory_limit,max_connections" {
		t.Fatalf("changed: %s", got)
	}
}
