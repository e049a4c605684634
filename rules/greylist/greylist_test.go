package greylist

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/rules/state"
)

func valid(t *testing.T, c Config) Config {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := valid(t, Config{})
	p := c.Policy()
	if p.Delay != 5*time.Minute || p.Window != 48*time.Hour || p.TTL != 35*24*time.Hour || p.AutoAllow != 5 ||
		c.When != "doubtful" || c.Score != 1 || c.IPv4Prefix != 24 || c.IPv6Prefix != 64 {
		t.Fatalf("%+v %+v", c, p)
	}
	if c.Reply() != "451 4.7.1 Greylisted, please try again later" {
		t.Fatal(c.Reply())
	}
	zero := 0
	z := valid(t, Config{AutoAllow: &zero})
	if p := z.Policy(); p.AutoAllow != 0 {
		t.Fatalf("auto_allow 0 became %d", p.AutoAllow)
	}
	// validating twice changes nothing (loadConfig, then NewEngine)
	c2 := c
	if valid(t, c2); c2.Score != c.Score || c2.RDNSScore != c.RDNSScore {
		t.Fatal("second Validate changed the config")
	}
}

func TestValidateErrors(t *testing.T) {
	neg := -1
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{When: "sometimes"}, "greylist.when"},
		{Config{Delay: state.Duration(time.Hour), Window: state.Duration(time.Minute)}, "greylist.window"},
		{Config{TTL: state.Duration(time.Hour)}, "greylist.ttl"},
		{Config{AutoAllow: &neg}, "greylist.auto_allow"},
		{Config{Text: "two\nlines"}, "greylist.text"},
		{Config{IPv4Prefix: 33}, "greylist.ipv4_prefix"},
		{Config{Delay: state.Duration(-time.Second)}, "greylist.delay"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %s", c.cfg, err, c.want)
		}
	}
}

func TestTriplet(t *testing.T) {
	c := valid(t, Config{})
	for _, x := range []struct {
		ip, from, rcpt, want string
	}{
		{"192.0.2.77", "Alice@Example.COM", "<Bob@example.org>", "192.0.2.0/24 alice@example.com bob@example.org"},
		{"::ffff:192.0.2.77", "", "bob@example.org", "192.0.2.0/24 <> bob@example.org"},
		{"2001:db8:1:2:3:4:5:6", "a b@x", "r@y", "2001:db8:1:2::/64 ab@x r@y"},
	} {
		op := c.Op(netip.MustParseAddr(x.ip), x.from, x.rcpt)
		if op.Triplet != x.want {
			t.Errorf("%s %s %s: %q, want %q", x.ip, x.from, x.rcpt, op.Triplet, x.want)
		}
		n, s, r, ok := SplitTriplet(op.Triplet)
		if !ok || n != op.Network || !strings.HasPrefix(op.Triplet, n+" "+s+" "+r) {
			t.Errorf("split %q: %q %q %q", op.Triplet, n, s, r)
		}
	}
	long := strings.Repeat("x", 1000) + "@example.com"
	if op := c.Op(netip.MustParseAddr("192.0.2.1"), long, long); len(op.Triplet) > 600 {
		t.Errorf("triplet of %d bytes", len(op.Triplet))
	}
}

func TestWanted(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.9")
	doubtful := valid(t, Config{})
	always := valid(t, Config{When: "always"})
	for _, x := range []struct {
		c    Config
		s    Signals
		want bool
		why  string
	}{
		{doubtful, Signals{ClientIP: ip, Score: 0.5}, false, SkipNotDoubtful},
		{doubtful, Signals{ClientIP: ip, Score: 1}, true, ""},
		{always, Signals{ClientIP: ip}, true, ""},
		{always, Signals{ClientIP: ip, Trusted: true}, false, SkipTrusted},
		{always, Signals{ClientIP: ip, Authenticated: true}, false, SkipAuthenticated},
		{always, Signals{ClientIP: ip, Allowlisted: true, Score: 5}, false, SkipAllowlisted},
		{always, Signals{ClientIP: ip, NullSender: true}, false, SkipBounce},
		{always, Signals{}, false, SkipNoClient},
	} {
		got, why := x.c.Wanted(x.s)
		if got != x.want || why != x.why {
			t.Errorf("%s %+v: %v %q, want %v %q", x.c.When, x.s, got, why, x.want, x.why)
		}
	}
}
