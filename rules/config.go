package rules

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/dnsbl"
	"github.com/levee-mail/levee/rules/greylist"
	"github.com/levee-mail/levee/rules/ratelimit"
	"github.com/levee-mail/levee/rules/sa"
)

// Config is the judgement part of levee's configuration. Its YAML keys sit
// at the top level of levee.yaml.
type Config struct {
	// Mode is "enforce" (default) or "monitor": in monitor mode levee
	// computes and logs everything and adds its headers, but never rejects,
	// tempfails, quarantines, discards or rewrites the Subject.
	Mode       string     `yaml:"mode"`
	Thresholds Thresholds `yaml:"thresholds"`
	// SubjectPrefix is put before the Subject by the rewrite_subject action.
	SubjectPrefix string `yaml:"subject_prefix"`
	// RejectText follows "550 5.7.1 " in the reply to a rejected message.
	RejectText string `yaml:"reject_text"`
	// TempfailText follows "451 4.7.1 " in the reply to a tempfailed message.
	TempfailText string `yaml:"tempfail_text"`
	// QuarantineReason is the reason given with SMFIR_QUARANTINE.
	QuarantineReason string `yaml:"quarantine_reason"`
	// Report sets when X-Spam-Report is added: "off", "spam" (default) or "always".
	Report string `yaml:"report"`
	// TrustedNetworks: mail from these client networks is accepted without
	// scoring when SkipTrusted is set. They are also the trusted boundary of
	// the Received chain.
	TrustedNetworks []string `yaml:"trusted_networks"`
	// InternalNetworks: relays of your own (a subset of trusted) in the
	// Received chain.
	InternalNetworks []string `yaml:"internal_networks"`
	SkipTrusted      bool     `yaml:"skip_trusted"`
	// SkipAuthenticated: mail from SMTP-authenticated clients is accepted
	// without scoring.
	SkipAuthenticated bool `yaml:"skip_authenticated"`
	// ScanLimit is how many body bytes are kept for judgement; a larger
	// message is judged on its first bytes.
	ScanLimit Size `yaml:"scan_limit"`
	// Scores overrides the default score of any check by name; 0 turns it off.
	Scores map[string]float64 `yaml:"scores"`
	// DNS is the resolver used by the blocklists.
	DNS dnsbl.ResolverConfig `yaml:"dns"`
	// DNSBL are the DNS blocklists and allowlists.
	DNSBL dnsbl.Config `yaml:"dnsbl"`
	// Greylist is greylisting (rules/greylist); it needs the state store.
	Greylist greylist.Config `yaml:"greylist"`
	// RateLimit limits sending rates (rules/ratelimit); it needs the state store.
	RateLimit ratelimit.Config `yaml:"ratelimit"`
	// Auth is sender authentication (SPF, DKIM, DMARC,
	// Authentication-Results) and DKIM signing (rules/auth).
	Auth auth.Config `yaml:"auth"`
	// SA is SpamAssassin rule files (rules/sa): sa_rules, sa_score_set.
	SA sa.Config `yaml:",inline"`

	trusted, internal []netip.Prefix
}

// Thresholds map the total score to actions. A threshold set to "off" (or
// null) disables that action. The strongest action whose threshold the
// score reaches wins: discard > reject > quarantine > tempfail >
// rewrite_subject > add_header.
type Thresholds struct {
	AddHeader      Threshold `yaml:"add_header"`
	RewriteSubject Threshold `yaml:"rewrite_subject"`
	Tempfail       Threshold `yaml:"tempfail"`
	Quarantine     Threshold `yaml:"quarantine"`
	Reject         Threshold `yaml:"reject"`
	Discard        Threshold `yaml:"discard"`
	// Greylist: at end of message, a score at or over it (with an action
	// weaker than tempfail) tempfails the message when one of its triplets
	// is new to the greylist (needs greylist.enabled).
	Greylist Threshold `yaml:"greylist"`
}

// Threshold is a score, or Off.
type Threshold struct {
	Value float64
	On    bool
}

// At returns an enabled threshold at v.
func At(v float64) Threshold { return Threshold{Value: v, On: true} }

// Off is a disabled threshold.
var Off = Threshold{}

// Reached reports whether score reaches an enabled threshold.
func (t Threshold) Reached(score float64) bool { return t.On && score >= t.Value }

func (t Threshold) String() string {
	if !t.On {
		return "off"
	}
	return strconv.FormatFloat(t.Value, 'f', -1, 64)
}

// UnmarshalYAML takes a number, or off/false/null.
func (t *Threshold) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a threshold is a number or off", n.Line)
	}
	switch strings.ToLower(n.Value) {
	case "off", "false", "no", "null", "~", "":
		*t = Off
		return nil
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("line %d: threshold %q is not a number or off", n.Line, n.Value)
	}
	*t = At(v)
	return nil
}

// MarshalYAML prints a number or off.
func (t Threshold) MarshalYAML() (any, error) {
	if !t.On {
		return "off", nil
	}
	return t.Value, nil
}

// Size is a byte count that YAML may write as 1048576, 1MiB, 512KiB, 10MB.
type Size int64

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*s = Size(v)
	return nil
}

// MarshalYAML prints the size with a unit when it is exact.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

func (s Size) String() string {
	v := int64(s)
	for _, u := range []struct {
		n string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.m && v%u.m == 0 {
			return strconv.FormatInt(v/u.m, 10) + u.n
		}
	}
	return strconv.FormatInt(v, 10)
}

// ParseSize parses "1048576", "1MiB", "64KiB", "10MB", "1G".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q is not a number of bytes (like 1MiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %v", s, err)
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1000 * 1000, "mib": 1 << 20, "g": 1 << 30, "gb": 1000 * 1000 * 1000, "gib": 1 << 30}
	m, ok := mult[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("size %q has an unknown unit", s)
	}
	if n > math.MaxInt64/m {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * m, nil
}

// Validate checks the config and fills derived fields. Errors name the key.
func (c *Config) Validate() error {
	switch c.Mode {
	case "", "enforce", "monitor":
	default:
		return fmt.Errorf("mode: %q is not enforce or monitor", c.Mode)
	}
	switch c.Report {
	case "", "off", "spam", "always":
	default:
		return fmt.Errorf("report: %q is not off, spam or always", c.Report)
	}
	var err error
	if c.trusted, err = parsePrefixes("trusted_networks", c.TrustedNetworks); err != nil {
		return err
	}
	if c.internal, err = parsePrefixes("internal_networks", c.InternalNetworks); err != nil {
		return err
	}
	if c.ScanLimit < 0 {
		return fmt.Errorf("scan_limit: must not be negative")
	}
	for name, s := range c.Scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("scores: %s: not a number", name)
		}
		if !knownRule(name) && len(c.SA.Rules) == 0 {
			// with sa_rules, NewEngine checks the name once they are loaded
			return fmt.Errorf("scores: %s: no such check (levee rules list shows them)", name)
		}
	}
	for _, t := range []struct {
		name string
		text string
	}{{"reject_text", c.RejectText}, {"tempfail_text", c.TempfailText}, {"quarantine_reason", c.QuarantineReason}, {"subject_prefix", c.SubjectPrefix}} {
		if strings.ContainsAny(t.text, "\r\n\x00") {
			return fmt.Errorf("%s: must be one line", t.name)
		}
		if len(t.text) > 400 {
			return fmt.Errorf("%s: longer than 400 characters", t.name)
		}
	}
	if err := c.DNS.Validate(); err != nil {
		return err // already says dns:
	}
	if err := c.DNSBL.Validate(); err != nil {
		return fmt.Errorf("dnsbl: %w", err)
	}
	if err := c.Greylist.Validate(); err != nil {
		return err // already says greylist.
	}
	if err := c.RateLimit.Validate(); err != nil {
		return err // already says ratelimit.
	}
	if err := c.Auth.Validate(); err != nil {
		return err // already says auth:
	}
	if err := c.SA.Validate(); err != nil {
		return err // already says sa_
	}
	return nil
}

func parsePrefixes(key string, ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%s: %q is not an address or CIDR", key, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Trusted returns the parsed trusted networks (after Validate).
func (c *Config) Trusted() []netip.Prefix { return c.trusted }

// Internal returns the parsed internal networks (after Validate).
func (c *Config) Internal() []netip.Prefix { return c.internal }
