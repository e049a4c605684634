// Package ratelimit is levee's sending-rate limits: messages and recipients
// per time window, per SMTP-authenticated user and per client network,
// counted in the state store (rules/state) so that several levee instances
// share them. Past a limit the recipient gets "451 4.7.1 <text>" at RCPT.
//
// A per-user limit is the compromised-account alarm: a stolen password
// shows up as an account that suddenly sends thousands of messages. The
// filter logs the account once per window when it goes over, and counts it
// in levee_ratelimit_user_over_total{user}.
//
// Counters are fixed windows (aligned on multiples of the window) or
// sliding ones (the current fixed window plus the previous one weighted by
// the share of it still inside the window): mode: fixed|sliding. A message
// is counted at its first accepted recipient, every accepted recipient
// once; attempts refused (greylisted, over a limit) cost nothing.
package ratelimit

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/levee-mail/levee/rules/state"
)

// Limit is one set of limits; 0 means none.
type Limit struct {
	Messages   int64          `yaml:"messages"`
	Recipients int64          `yaml:"recipients"`
	Window     state.Duration `yaml:"window"`
}

// Active reports whether the limit limits anything.
func (l Limit) Active() bool { return l.Messages > 0 || l.Recipients > 0 }

// Config is the `ratelimit:` section of levee.yaml.
type Config struct {
	// Mode is "sliding" (default) or "fixed".
	Mode string `yaml:"mode"`
	// User limits each SMTP-authenticated user ({auth_authen}).
	User Limit `yaml:"user"`
	// Network limits each unauthenticated client network (/24, /64), trusted
	// networks excepted.
	Network Limit `yaml:"network"`
	// Text follows "451 4.7.1 " in the reply.
	Text string `yaml:"text"`
	// IPv4Prefix and IPv6Prefix size the client network (24, 64).
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
}

// DefaultText is the reply text past a limit.
const DefaultText = "Sending rate limit exceeded, please try again later"

// Validate checks the section and fills defaults.
func (c *Config) Validate() error {
	switch c.Mode {
	case "":
		c.Mode = "sliding"
	case "sliding", "fixed":
	default:
		return fmt.Errorf("ratelimit.mode: %q is not sliding or fixed", c.Mode)
	}
	for _, l := range []struct {
		name string
		l    *Limit
	}{{"user", &c.User}, {"network", &c.Network}} {
		if l.l.Messages < 0 || l.l.Recipients < 0 {
			return fmt.Errorf("ratelimit.%s: limits must not be negative", l.name)
		}
		if l.l.Window < 0 {
			return fmt.Errorf("ratelimit.%s.window: must not be negative", l.name)
		}
		if l.l.Window == 0 {
			l.l.Window = state.Duration(time.Hour)
		}
		if l.l.Window.D() < time.Second {
			return fmt.Errorf("ratelimit.%s.window: at least 1s", l.name)
		}
	}
	if c.Text == "" {
		c.Text = DefaultText
	}
	if strings.ContainsAny(c.Text, "\r\n\x00") || len(c.Text) > 400 {
		return fmt.Errorf("ratelimit.text: must be one line of at most 400 characters")
	}
	if c.IPv4Prefix == 0 {
		c.IPv4Prefix = 24
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = 64
	}
	if c.IPv4Prefix < 8 || c.IPv4Prefix > 32 || c.IPv6Prefix < 16 || c.IPv6Prefix > 128 {
		return fmt.Errorf("ratelimit.ipv4_prefix/ipv6_prefix: out of range (8-32, 16-128)")
	}
	return nil
}

// Active reports whether any limit is set.
func (c *Config) Active() bool { return c.User.Active() || c.Network.Active() }

// Reply is the SMTP reply past a limit.
func (c *Config) Reply() string {
	t := strings.ReplaceAll(c.Text, "%", "%%")
	return "451 4.7.1 " + strings.TrimSpace(t)
}

// Subject kinds.
const (
	KindUser    = "user"
	KindNetwork = "network"
)

// Subject is who is counted: an authenticated user, or a client network.
type Subject struct {
	Kind string // KindUser or KindNetwork
	Name string // the user name, or the network ("192.0.2.0/24")
}

// SubjectOf picks whom an attempt counts against: the authenticated user
// when there is one and user limits are set, else the client network when
// network limits are set and the client is not trusted. ok is false when
// nothing is limited.
func (c *Config) SubjectOf(authUser string, client netip.Addr, trusted bool) (Subject, Limit, bool) {
	if authUser != "" {
		if !c.User.Active() {
			return Subject{}, Limit{}, false
		}
		return Subject{KindUser, cleanName(authUser)}, c.User, true
	}
	if trusted || !client.IsValid() || !c.Network.Active() {
		return Subject{}, Limit{}, false
	}
	client = client.Unmap()
	bits := c.IPv6Prefix
	if client.Is4() {
		bits = c.IPv4Prefix
	}
	p, _ := client.Prefix(bits)
	return Subject{KindNetwork, p.String()}, c.Network, true
}

func cleanName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// Ops returns the counters one recipient touches: the recipient, and the
// message when firstRcpt (the message's first accepted recipient).
// Counter keys are "<kind>:<name>:msgs" and "<kind>:<name>:rcpts".
func (c *Config) Ops(s Subject, l Limit, firstRcpt bool) []state.CountOp {
	var ops []state.CountOp
	sliding := c.Mode != "fixed"
	base := s.Kind + ":" + s.Name + ":"
	if l.Messages > 0 && firstRcpt {
		ops = append(ops, state.CountOp{Key: base + "msgs", Add: 1, Limit: l.Messages, Window: l.Window.D(), Sliding: sliding})
	}
	if l.Recipients > 0 {
		ops = append(ops, state.CountOp{Key: base + "rcpts", Add: 1, Limit: l.Recipients, Window: l.Window.D(), Sliding: sliding})
	}
	return ops
}

// What names the limit a counter op stands for: "messages" or "recipients".
func What(op *state.CountOp) string {
	if strings.HasSuffix(op.Key, ":msgs") {
		return "messages"
	}
	return "recipients"
}
