package dnsbl

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/levee-mail/levee/rules/dns"
)

// Defaults filled in by Validate. The resolver's (Timeout ... MaxTTL) are
// rules/dns's.
const (
	DefaultTimeout        = dns.DefaultTimeout
	DefaultDeadline       = dns.DefaultDeadline
	DefaultCacheSize      = dns.DefaultCacheSize
	DefaultMinTTL         = dns.DefaultMinTTL
	DefaultMaxTTL         = dns.DefaultMaxTTL
	DefaultBackoff        = 5 * time.Minute // SpamAssassin dns_block_time 300
	DefaultHealthInterval = time.Hour
	DefaultEarlyScore     = 15
	// MaxURLHosts caps the URL host names looked up per message.
	MaxURLHosts = 20
)

// Config is the top-level `dnsbl:` section.
type Config struct {
	// DQSKey is a Spamhaus Data Query Service key. When set, lists with a
	// DQS name are queried as <key>.<dqs>.dq.spamhaus.net. The key is
	// never logged at info level and never put in replies, hits or errors.
	DQSKey string `yaml:"dqs_key"`
	// Backoff is how long a list is not queried after an error answer
	// (default 5m, SpamAssassin's dns_block_time).
	Backoff time.Duration `yaml:"backoff"`
	// HealthInterval is the period of the RFC 5782 self-test (default 1h;
	// negative: no background checks, Health runs only when called).
	HealthInterval time.Duration `yaml:"health_interval"`
	// AllowlistThreshold: when the allowlist (negative) hits of a message
	// total at or below this, the positive hits are dropped (postscreen's
	// postscreen_dnsbl_allowlist_threshold). 0 turns it off.
	AllowlistThreshold float64 `yaml:"allowlist_threshold"`
	// EarlyReject rejects at RCPT TO when the client-IP DNSBL score alone
	// reaches Score.
	EarlyReject EarlyReject `yaml:"early_reject"`
	Lists       []List      `yaml:"lists"`
}

// EarlyReject is Config.EarlyReject.
type EarlyReject struct {
	Enabled bool    `yaml:"enabled"`
	Score   float64 `yaml:"score"` // default 15
}

// List kinds.
const (
	KindIP     = "ip"
	KindDomain = "domain"
)

// OnError values.
const (
	OnErrorIgnore   = "ignore"
	OnErrorTempfail = "tempfail"
)

// List is one blocklist or allowlist zone.
type List struct {
	// Name is the public name used in logs, replies and metrics.
	Name string `yaml:"name"`
	// Zone is the DNS zone queried.
	Zone string `yaml:"zone"`
	// DQS is the Spamhaus DQS dataset name ("zen", "dbl", ...): with
	// Config.DQSKey set, <key>.<dqs>.dq.spamhaus.net is queried instead of Zone.
	DQS string `yaml:"dqs"`
	// Kind is "ip" or "domain".
	Kind string `yaml:"kind"`
	// Checks are the sources looked up: for ip lists "client" and
	// "received" (the last untrusted relay); for domain lists "helo",
	// "client_name", "mail_from", "from", "reply_to" and "urls".
	// Defaults: ip [client]; domain [helo mail_from from reply_to urls].
	Checks []string `yaml:"checks"`
	// IPv6 says whether the list has IPv6 data; if not, IPv6 addresses are
	// not looked up.
	IPv6 bool `yaml:"ipv6"`
	// OnError is "ignore" (default: fail open; counted and logged) or
	// "tempfail" (the verdict carries a 451 4.4.3 reply).
	OnError string `yaml:"on_error"`
	// SkipAuthenticated: the list is not consulted for authenticated or
	// trusted senders.
	SkipAuthenticated bool `yaml:"skip_authenticated"`
	// RegisteredDomain reduces URL hosts to their registered domain
	// (public suffix + 1 label) before the lookup.
	RegisteredDomain bool `yaml:"registered_domain"`
	// ErrorCodes are extra answers meaning "error, not listed" (same
	// syntax as Answer.Match). See the README for the built-in ones.
	ErrorCodes []string `yaml:"error_codes"`
	// Answers map return codes to rules and scores.
	Answers []Answer `yaml:"answers"`

	// compiled by Validate
	matchers []matcher
	errCodes []matcher
}

// Answer maps return codes of a list to a rule.
type Answer struct {
	// Match is "127.0.0.2" (exact), "127.0.0.4/30" (CIDR),
	// "127.0.*.3" (any value in the starred octets) or "bitmask:8"
	// (SURBL/URIBL style: last octet & 8 != 0).
	Match string `yaml:"match"`
	// Rule is the UPPER_SNAKE rule name, e.g. RCVD_IN_SBL.
	Rule string `yaml:"rule"`
	// Score is added per hit; negative means allowlist.
	Score float64 `yaml:"score"`
	// RejectText is the optional reject reason; %{txt}, %{ip} (the IP or
	// domain looked up) and %{zone} (the public list name) are expanded.
	RejectText string `yaml:"reject_text"`
	// Received says whether the code counts when the IP is a Received hop
	// rather than the connecting client (default true; false for PBL).
	Received *bool `yaml:"received"`
	// SkipAuthenticated: the code does not count for authenticated or
	// trusted senders (PBL).
	SkipAuthenticated bool `yaml:"skip_authenticated"`
	// Description is a human explanation for reports.
	Description string `yaml:"description"`
}

func (a *Answer) countsOnReceived() bool { return a.Received == nil || *a.Received }

var ipSources = map[Source]bool{SourceClient: true, SourceReceived: true}
var domainSources = map[Source]bool{SourceHelo: true, SourceClientName: true, SourceMailFrom: true, SourceFrom: true, SourceReplyTo: true, SourceURLs: true}

// Validate fills in defaults and compiles the answer tables. Errors name
// the list and the field. It may be called more than once.
func (c *Config) Validate() error {
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.EarlyReject.Score == 0 {
		c.EarlyReject.Score = DefaultEarlyScore
	}
	switch {
	case c.Backoff < 0:
		return errors.New("backoff must be positive")
	case math.IsNaN(c.AllowlistThreshold) || c.AllowlistThreshold > 0:
		return errors.New("allowlist_threshold must be negative (or 0: off)")
	case math.IsNaN(c.EarlyReject.Score) || math.IsInf(c.EarlyReject.Score, 0) || c.EarlyReject.Score <= 0:
		return errors.New("early_reject: score must be positive")
	}
	if c.DQSKey != "" && !validLabel(c.DQSKey) {
		return errors.New("dqs_key: not a valid DNS label")
	}
	names := map[string]bool{}
	for i := range c.Lists {
		l := &c.Lists[i]
		if err := l.validate(); err != nil {
			name := l.Name
			if name == "" {
				name = "#" + strconv.Itoa(i+1)
			}
			return fmt.Errorf("list %s: %w", name, err)
		}
		if names[l.Name] {
			return fmt.Errorf("list %s: name used twice", l.Name)
		}
		names[l.Name] = true
	}
	return nil
}

func (l *List) validate() error {
	l.Zone = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(l.Zone), "."))
	l.DQS = strings.ToLower(strings.TrimSpace(l.DQS))
	if l.Name == "" {
		l.Name = l.Zone
	}
	if l.Zone == "" {
		return errors.New("zone: missing")
	}
	if !validName(l.Zone) {
		return fmt.Errorf("zone: %q is not a valid domain name", l.Zone)
	}
	if strings.ContainsAny(l.Name, "\r\n\x00%") || len(l.Name) > 100 {
		return errors.New("name: must be one line of at most 100 characters without %")
	}
	if l.DQS != "" && !validLabel(l.DQS) {
		return fmt.Errorf("dqs: %q is not a valid DNS label", l.DQS)
	}
	l.Kind = strings.ToLower(l.Kind)
	var allowed map[Source]bool
	switch l.Kind {
	case KindIP:
		allowed = ipSources
		if len(l.Checks) == 0 {
			l.Checks = []string{string(SourceClient)}
		}
	case KindDomain:
		allowed = domainSources
		if len(l.Checks) == 0 {
			l.Checks = []string{string(SourceHelo), string(SourceMailFrom), string(SourceFrom), string(SourceReplyTo), string(SourceURLs)}
		}
		if l.IPv6 {
			return errors.New("ipv6: only for ip lists")
		}
	default:
		return fmt.Errorf("kind: %q, want ip or domain", l.Kind)
	}
	for _, s := range l.Checks {
		if !allowed[Source(s)] {
			return fmt.Errorf("checks: %q is not valid for a %s list", s, l.Kind)
		}
	}
	switch l.OnError {
	case "":
		l.OnError = OnErrorIgnore
	case OnErrorIgnore, OnErrorTempfail:
	default:
		return fmt.Errorf("on_error: %q, want ignore or tempfail", l.OnError)
	}
	if len(l.Answers) == 0 {
		return errors.New("answers: at least one needed")
	}
	l.matchers = l.matchers[:0]
	bitmask := false
	for j := range l.Answers {
		a := &l.Answers[j]
		m, err := parseMatch(a.Match)
		if err != nil {
			return fmt.Errorf("answers[%d].match: %v", j, err)
		}
		bitmask = bitmask || m.kind == matchBitmask
		if !validRule(a.Rule) {
			return fmt.Errorf("answers[%d].rule: %q, want UPPER_SNAKE_CASE", j, a.Rule)
		}
		if math.IsNaN(a.Score) || math.IsInf(a.Score, 0) {
			return fmt.Errorf("answers[%d].score: not a number", j)
		}
		if len(a.RejectText) > maxReply || strings.ContainsAny(a.RejectText, "\r\n\x00") {
			return fmt.Errorf("answers[%d].reject_text: must be one line of at most %d characters", j, maxReply)
		}
		m.answer = j
		l.matchers = append(l.matchers, m)
	}
	l.errCodes = l.errCodes[:0]
	for j, s := range l.ErrorCodes {
		m, err := parseMatch(s)
		if err != nil {
			return fmt.Errorf("error_codes[%d]: %v", j, err)
		}
		l.errCodes = append(l.errCodes, m)
	}
	l.errCodes = append(l.errCodes, builtinErrorCodes(l, bitmask)...)
	return nil
}

// builtinErrorCodes are the answers that mean "error" whatever the config
// says: Spamhaus' 127.255.255.0/24 and DBL's 127.0.1.255, 127.0.0.1 on
// bitmask lists (URIBL_BLOCKED), DNSWL's 127.0.X.255.
func builtinErrorCodes(l *List, bitmask bool) []matcher {
	var out []matcher
	add := func(s string) {
		m, err := parseMatch(s)
		if err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	if l.DQS != "" || hasSuffixZone(l.Zone, "spamhaus.org") || hasSuffixZone(l.Zone, "spamhaus.net") {
		add("127.255.255.0/24")
		if l.Kind == KindDomain {
			add("127.0.1.255")
		}
	}
	if bitmask {
		add("127.0.0.1")
	}
	if hasSuffixZone(l.Zone, "dnswl.org") {
		add("127.0.*.255")
	}
	return out
}

func hasSuffixZone(zone, suffix string) bool {
	return zone == suffix || strings.HasSuffix(zone, "."+suffix)
}

func validRule(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// match kinds
const (
	matchPrefix  = iota // exact or CIDR
	matchPattern        // 127.0.*.3
	matchBitmask        // bitmask:N on the last octet
)

type matcher struct {
	kind   int
	prefix netip.Prefix
	octets [4]int16 // matchPattern: -1 = any
	mask   byte
	answer int // index into List.Answers
}

var loopback8 = netip.MustParsePrefix("127.0.0.0/8")

// parseMatch parses an Answer.Match or ErrorCodes entry.
func parseMatch(s string) (matcher, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "bitmask:"); ok {
		n, err := strconv.ParseUint(rest, 10, 8)
		if err != nil || n == 0 {
			return matcher{}, fmt.Errorf("%q: bitmask wants a number 1-255", s)
		}
		return matcher{kind: matchBitmask, mask: byte(n)}, nil
	}
	if strings.Contains(s, "*") {
		parts := strings.Split(s, ".")
		if len(parts) != 4 {
			return matcher{}, fmt.Errorf("%q: want four octets", s)
		}
		var m matcher
		m.kind = matchPattern
		for i, p := range parts {
			if p == "*" {
				m.octets[i] = -1
				continue
			}
			n, err := strconv.ParseUint(p, 10, 8)
			if err != nil || (len(p) > 1 && p[0] == '0') {
				return matcher{}, fmt.Errorf("%q: bad octet %q", s, p)
			}
			m.octets[i] = int16(n)
		}
		if m.octets[0] != 127 {
			return matcher{}, fmt.Errorf("%q: answers are in 127.0.0.0/8", s)
		}
		return m, nil
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return matcher{}, fmt.Errorf("%q: %v", s, err)
		}
		p = p.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return matcher{}, fmt.Errorf("%q: not an address, CIDR, pattern or bitmask:N", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if !p.Addr().Is4() || p.Bits() < 8 || !loopback8.Contains(p.Addr()) {
		return matcher{}, fmt.Errorf("%q: answers are IPv4 in 127.0.0.0/8", s)
	}
	return matcher{kind: matchPrefix, prefix: p}, nil
}

func (m *matcher) match(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	switch m.kind {
	case matchPrefix:
		return m.prefix.Contains(a)
	case matchPattern:
		b := a.As4()
		for i, o := range m.octets {
			if o >= 0 && int16(b[i]) != o {
				return false
			}
		}
		return true
	case matchBitmask:
		b := a.As4()
		return b[3]&m.mask != 0
	}
	return false
}
