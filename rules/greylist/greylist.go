// Package greylist is levee's greylisting policy, with the semantics of
// milter-greylist and postgrey and rspamd's idea of greylisting only what
// looks doubtful.
//
// A triplet is the client network (/24 for IPv4, /64 for IPv6: a sender's
// pool of outbound servers usually sits in one), the envelope sender and
// one recipient. The first attempt of a triplet gets "451 4.7.1 <text>" at
// RCPT; a retry after Delay (default 5m) and within Window (default 2d) is
// accepted, and the triplet is remembered for TTL (default 35d, renewed as
// it is used). A client network whose retries passed AutoAllow times
// (default 5 distinct triplets) skips greylisting for TTL.
//
// Which attempts are greylisted (When):
//
//   - "doubtful" (default): only when the client looks like a bot at RCPT
//     time: the score of what is known then (the client's DNSBL listings
//     below the early-reject score, no or dynamic rDNS, HELO heuristics:
//     rules.Engine.ConnectScore) reaches Score;
//   - "always": every attempt.
//
// Never greylisted: trusted networks, authenticated clients, clients on a
// DNS allowlist (any DNSWL hit) and the null sender (bounces, DSNs).
//
// The store (rules/state) keeps the records; this package builds the keys
// and decides whom to ask about. It knows nothing of milters.
package greylist

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/levee-mail/levee/rules/state"
)

// Config is the `greylist:` section of levee.yaml.
type Config struct {
	// Enabled turns greylisting on (RCPT-time, and the end-of-message
	// `thresholds.greylist` action). It needs the state store.
	Enabled bool `yaml:"enabled"`
	// When is "doubtful" (default) or "always".
	When string `yaml:"when"`
	// Score: with when: doubtful, a client whose connect-time score
	// reaches it is greylisted (default 1: a DNSBL listing, no or dynamic
	// reverse DNS, or HELO signs together).
	Score float64 `yaml:"score"`
	// RDNSScore is added to the connect-time score of a client without
	// reverse DNS or with a dynamic-looking name (default 1: enough on its
	// own; negative: nothing).
	RDNSScore float64 `yaml:"rdns_score"`
	// Delay, Window, TTL: see the package doc (defaults 5m, 2d, 35d).
	Delay  state.Duration `yaml:"delay"`
	Window state.Duration `yaml:"window"`
	TTL    state.Duration `yaml:"ttl"`
	// AutoAllow: passed triplets after which a network skips greylisting
	// (default 5; 0: never).
	AutoAllow *int `yaml:"auto_allow"`
	// Text follows "451 4.7.1 " in the reply.
	Text string `yaml:"text"`
	// IPv4Prefix and IPv6Prefix are the client network's size (24, 64).
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
}

// Defaults.
const (
	DefaultDelay     = 5 * time.Minute
	DefaultWindow    = 48 * time.Hour
	DefaultTTL       = 35 * 24 * time.Hour
	DefaultAutoAllow = 5
	DefaultScore     = 1
	DefaultRDNSScore = 1
	DefaultText      = "Greylisted, please try again later"
)

// Validate checks the section and fills defaults. Errors name the key.
func (c *Config) Validate() error {
	switch c.When {
	case "":
		c.When = "doubtful"
	case "doubtful", "always":
	default:
		return fmt.Errorf("greylist.when: %q is not doubtful or always", c.When)
	}
	if c.Score == 0 {
		c.Score = DefaultScore
	}
	if c.RDNSScore == 0 {
		c.RDNSScore = DefaultRDNSScore
	}
	for _, d := range []struct {
		name string
		v    *state.Duration
		def  time.Duration
	}{{"delay", &c.Delay, DefaultDelay}, {"window", &c.Window, DefaultWindow}, {"ttl", &c.TTL, DefaultTTL}} {
		if *d.v < 0 {
			return fmt.Errorf("greylist.%s: must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = state.Duration(d.def)
		}
	}
	if c.Window.D() <= c.Delay.D() {
		return fmt.Errorf("greylist.window (%v) must be longer than greylist.delay (%v)", c.Window, c.Delay)
	}
	if c.TTL.D() < c.Window.D() {
		return fmt.Errorf("greylist.ttl (%v) must not be shorter than greylist.window (%v)", c.TTL, c.Window)
	}
	if c.AutoAllow == nil {
		n := DefaultAutoAllow
		c.AutoAllow = &n
	} else if *c.AutoAllow < 0 {
		return fmt.Errorf("greylist.auto_allow: must not be negative")
	}
	if c.Text == "" {
		c.Text = DefaultText
	}
	if strings.ContainsAny(c.Text, "\r\n\x00") || len(c.Text) > 400 {
		return fmt.Errorf("greylist.text: must be one line of at most 400 characters")
	}
	if c.IPv4Prefix == 0 {
		c.IPv4Prefix = 24
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = 64
	}
	if c.IPv4Prefix < 8 || c.IPv4Prefix > 32 {
		return fmt.Errorf("greylist.ipv4_prefix: %d is not between 8 and 32", c.IPv4Prefix)
	}
	if c.IPv6Prefix < 16 || c.IPv6Prefix > 128 {
		return fmt.Errorf("greylist.ipv6_prefix: %d is not between 16 and 128", c.IPv6Prefix)
	}
	return nil
}

// Policy is the store's view of the times.
func (c *Config) Policy() state.GreyPolicy {
	p := state.GreyPolicy{Delay: c.Delay.D(), Window: c.Window.D(), TTL: c.TTL.D(), AutoAllow: DefaultAutoAllow}
	if c.AutoAllow != nil {
		p.AutoAllow = *c.AutoAllow
	}
	return p
}

// Reply is the SMTP reply to a greylisted attempt.
func (c *Config) Reply() string { return "451 4.7.1 " + sanitize(c.Text) }

// sanitize makes text safe for a milter reply: printable ASCII, '%' doubled.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '%':
			b.WriteString("%%")
		case r < ' ' || r > '~':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// Network is the client's network: addr masked to the configured prefix
// (an IPv4-mapped address counts as IPv4).
func (c *Config) Network(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := c.IPv6Prefix
	if addr.Is4() {
		bits = c.IPv4Prefix
	}
	if bits == 0 {
		bits = map[bool]int{true: 24, false: 64}[addr.Is4()]
	}
	p, _ := addr.Prefix(bits)
	return p
}

// NetworkKey is the store key of a network.
func NetworkKey(p netip.Prefix) string { return p.String() }

// Triplet is the store key of (network, sender, recipient): the network,
// then the addresses lower-cased, space-separated (addresses lose any
// space or control character). The null sender is "<>".
func Triplet(network netip.Prefix, sender, rcpt string) string {
	s := cleanAddr(sender)
	if s == "" {
		s = "<>"
	}
	return network.String() + " " + s + " " + cleanAddr(rcpt)
}

// maxAddr bounds one address in a key (SMTP's path limit is 256).
const maxAddr = 256

func cleanAddr(a string) string {
	a = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>"))
	if len(a) > maxAddr {
		a = a[:maxAddr]
	}
	a = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, a)
	// Lower-casing and Map write each invalid byte as U+FFFD (three
	// bytes): the result may have grown past the bound again.
	if len(a) > maxAddr {
		a = a[:maxAddr]
		for len(a) > 0 && !utf8.ValidString(a) {
			a = a[:len(a)-1]
		}
	}
	return a
}

// SplitTriplet splits a triplet key into its parts.
func SplitTriplet(key string) (network, sender, rcpt string, ok bool) {
	f := strings.Split(key, " ")
	if len(f) != 3 {
		return "", "", "", false
	}
	return f[0], f[1], f[2], true
}

// Skip reasons (the `skipped` outcome of the metrics, by reason).
const (
	SkipTrusted       = "trusted"
	SkipAuthenticated = "authenticated"
	SkipAllowlisted   = "allowlisted"
	SkipBounce        = "null_sender"
	SkipNotDoubtful   = "not_doubtful"
	SkipNoClient      = "no_client_ip"
)

// Signals are what levee knows about an attempt at RCPT.
type Signals struct {
	ClientIP      netip.Addr
	Trusted       bool
	Authenticated bool
	// Allowlisted: the client is on a DNS allowlist (any DNSWL hit).
	Allowlisted bool
	NullSender  bool
	// Score is the connect-time score (rules.Engine.ConnectScore).
	Score float64
}

// Wanted says whether an attempt is greylisted, or why not.
func (c *Config) Wanted(s Signals) (bool, string) {
	switch {
	case !s.ClientIP.IsValid():
		return false, SkipNoClient
	case s.Trusted:
		return false, SkipTrusted
	case s.Authenticated:
		return false, SkipAuthenticated
	case s.NullSender:
		return false, SkipBounce
	case s.Allowlisted:
		return false, SkipAllowlisted
	case c.When == "always":
		return true, ""
	case s.Score >= c.Score:
		return true, ""
	}
	return false, SkipNotDoubtful
}

// Op is the store operation of one recipient.
func (c *Config) Op(client netip.Addr, sender, rcpt string) state.GreyOp {
	n := c.Network(client)
	return state.GreyOp{Triplet: Triplet(n, sender, rcpt), Network: NetworkKey(n)}
}
