package main

import (
	"os"
	"strings"
	"testing"

	"github.com/levee-mail/levee/filter/mta/rbldnsd"
)

// `levee lookup` against a real rbldnsd: listed (exit 1) with the rule name,
// score and TXT; not listed (exit 0); the health check passes for a good
// list and fails for one that lists 127.0.0.1.
func TestLookupCommand(t *testing.T) {
	needTool(t, rbldnsd.Bin)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	r, err := rbldnsd.Start(dir, rbldnsd.Options{}, []rbldnsd.Zone{
		{Name: "bl.lookup.test", Type: "ip4set", Data: ":127.0.0.2:Listed: see https://bl.lookup.test/$\n192.0.2.66\n127.0.0.2\n"},
		{Name: "bad.lookup.test", Type: "ip4set", Data: ":127.0.0.2:always\n127.0.0.1\n127.0.0.2\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	cfg := writeFile(t, "lookup.yaml", `dns:
  servers: ["`+r.Addr()+`"]
dnsbl:
  lists:
    - name: bl.lookup.test
      zone: bl.lookup.test
      kind: ip
      checks: [client]
      answers:
        - {match: 127.0.0.2, rule: LOOKUP_TEST_BL, score: 4.5, description: "test list"}
    - name: bad.lookup.test
      zone: bad.lookup.test
      kind: ip
      checks: [client]
      answers:
        - {match: 127.0.0.2, rule: LOOKUP_BAD_BL, score: 1}
`)
	code, out, errs := runCmd(t, "", "lookup", "--config", cfg, "192.0.2.66")
	if code != 1 || !strings.Contains(out, "LOOKUP_TEST_BL") || !strings.Contains(out, "4.5") || !strings.Contains(out, "Listed: see https://bl.lookup.test/192.0.2.66") {
		t.Errorf("listed: code %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCmd(t, "", "lookup", "--config", cfg, "192.0.2.67")
	if code != 0 || strings.Contains(out, "LOOKUP_TEST_BL") {
		t.Errorf("not listed: code %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "lookup", "--config", cfg, "--health")
	if code != 1 || !strings.Contains(out, "bl.lookup.test") || !strings.Contains(out, "bad.lookup.test") {
		t.Errorf("health: code %d\n%s", code, out)
	}
	t.Logf("health output:\n%s", out)
}
