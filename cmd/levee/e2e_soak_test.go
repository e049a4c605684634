package main

// The short soak (issue 12): `levee soak -n 2000` through a private
// Postfix, the real levee binary, rbldnsd and an SMTP sink, with one of
// each fault, must account for every copy and print a PASS summary. The
// full run (20000 copies) is `levee soak CORPUS`; its figures are in the
// README.

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/levee-mail/levee/filter/mta/postfix"
	"github.com/levee-mail/levee/filter/mta/rbldnsd"
	"github.com/levee-mail/levee/rules/eval/evaltest"
)

func TestE2ESoakShort(t *testing.T) {
	needRoot(t)
	needTool(t, postfix.Bin)
	needTool(t, rbldnsd.Bin)
	corpus := evaltest.Corpus(t)
	bin := leveeBinary(t)
	// One of each fault within about 2000 copies: reloads every 4s instead
	// of 30s, shorter outages.
	cmd := exec.Command(bin, "soak", "-n", "2000", "-c", "8", "--reload-every", "4s",
		"--rbldnsd-down", "3s", "--dns-slow", "4s", "--levee-down", "1s", corpus)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	summary := strings.TrimSpace(string(out))
	t.Logf("%s", summary)
	if err != nil {
		t.Fatalf("levee soak: %v\nsummary: %s\nstderr (tail):\n%s", err, summary, tail(stderr.String(), 40))
	}
	if !strings.HasPrefix(summary, "soak PASS: sent=2000 ") {
		t.Fatalf("summary %q, want a PASS of 2000 copies", summary)
	}
	num := func(key string) int {
		m := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `=(\d+)`).FindStringSubmatch(summary)
		if m == nil {
			t.Fatalf("summary has no %s=", key)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, k := range []string{"lost", "duplicates", "unjudged-outside-down-windows", "unsent", "panics"} {
		if n := num(k); n != 0 {
			t.Errorf("%s=%d, want 0", k, n)
		}
	}
	for _, k := range []string{"reload", "bad_config", "sigterm", "sigkill", "rbldnsd_kill", "dns_slow"} {
		if num(k) < 1 {
			t.Errorf("fault %s was not injected", k)
		}
	}
	// The corpus and the soak's config yield every kind of outcome.
	if num("delivered")+num("rejected") != 2000 {
		t.Errorf("delivered + rejected != 2000")
	}
	for _, k := range []string{"tagged", "rejected", "deferred-then-delivered"} {
		if num(k) == 0 {
			t.Errorf("no copy %s", k)
		}
	}
}
