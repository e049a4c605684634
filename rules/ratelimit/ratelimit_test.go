package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/rules/state"
)

func TestSubjectAndOps(t *testing.T) {
	c := Config{User: Limit{Messages: 10, Recipients: 100}, Network: Limit{Recipients: 50, Window: state.Duration(24 * time.Hour)}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.7")
	for _, x := range []struct {
		user    string
		trusted bool
		first   bool
		want    []string
		ok      bool
	}{
		{"Alice@Example.com", false, true, []string{"user:alice@example.com:msgs", "user:alice@example.com:rcpts"}, true},
		{"alice", false, false, []string{"user:alice:rcpts"}, true},
		{"", false, true, []string{"network:198.51.100.0/24:rcpts"}, true},
		{"", true, true, nil, false},
		{"we:ird name", false, true, []string{"user:we_ird_name:msgs", "user:we_ird_name:rcpts"}, true},
	} {
		s, l, ok := c.SubjectOf(x.user, ip, x.trusted)
		if ok != x.ok {
			t.Errorf("%q: ok %v", x.user, ok)
			continue
		}
		if !ok {
			continue
		}
		ops := c.Ops(s, l, x.first)
		var keys []string
		for _, o := range ops {
			keys = append(keys, o.Key)
			if !o.Sliding || o.Add != 1 || o.Window != l.Window.D() {
				t.Errorf("%+v", o)
			}
		}
		if strings.Join(keys, " ") != strings.Join(x.want, " ") {
			t.Errorf("%q: %v, want %v", x.user, keys, x.want)
		}
	}
	if w := c.User.Window.D(); w != time.Hour {
		t.Errorf("default window %v", w)
	}
	if c.Reply() != "451 4.7.1 Sending rate limit exceeded, please try again later" {
		t.Error(c.Reply())
	}
	fixed := Config{Mode: "fixed", User: Limit{Messages: 1}}
	fixed.Validate()
	s, l, _ := fixed.SubjectOf("bob", ip, false)
	if ops := fixed.Ops(s, l, true); len(ops) != 1 || ops[0].Sliding || What(&ops[0]) != "messages" {
		t.Errorf("fixed: %+v", ops)
	}
	if (&Config{}).Active() {
		t.Error("an empty config limits something")
	}
}

func TestValidateErrors(t *testing.T) {
	for _, x := range []struct {
		c    Config
		want string
	}{
		{Config{Mode: "leaky"}, "ratelimit.mode"},
		{Config{User: Limit{Messages: -1}}, "ratelimit.user"},
		{Config{Network: Limit{Window: state.Duration(time.Millisecond)}}, "ratelimit.network.window"},
		{Config{Text: "a\r\nb"}, "ratelimit.text"},
	} {
		if err := x.c.Validate(); err == nil || !strings.Contains(err.Error(), x.want) {
			t.Errorf("%+v: %v, want %s", x.c, err, x.want)
		}
	}
}
