package auth

import (
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/net/idna"
)

// Config is the top-level `auth:` section of levee.yaml.
type Config struct {
	// Enabled turns verification (SPF, DKIM, DMARC, Authentication-Results)
	// on; SPF, DKIM and DMARC turn each method on. DMARC needs SPF or DKIM
	// results: with both off it reports none. Signing (Sign) works whatever
	// these say.
	Enabled bool `yaml:"enabled"`
	SPF     bool `yaml:"spf"`
	DKIM    bool `yaml:"dkim"`
	DMARC   bool `yaml:"dmarc"`
	// AuthservID names levee in Authentication-Results (RFC 8601 section
	// 2.5); default: the host name. Incoming fields that claim it are
	// removed.
	AuthservID string `yaml:"authserv_id"`
	// OnError is what a temporary DNS failure (timeout, SERVFAIL) of any
	// method does: "ignore" (default: the result is temperror and scores
	// nothing) or "tempfail" (the message gets 451 4.4.3 and is retried).
	OnError string `yaml:"on_error"`
	// DMARCReject is what a message failing DMARC under p=reject gets:
	// "score" (default: DMARC_REJECT's score only), "reject" (550 5.7.1)
	// or "quarantine". DMARCQuarantine is the same under p=quarantine:
	// "score" (default) or "quarantine".
	DMARCReject     string `yaml:"dmarc_reject"`
	DMARCQuarantine string `yaml:"dmarc_quarantine"`
	// MaxSignatures bounds the DKIM signatures verified per message
	// (default 5); the others are ignored.
	MaxSignatures int `yaml:"max_signatures"`
	// TrustedForwarders are hosts (backup MXes, forwarding services) whose
	// own Authentication-Results are taken: mail from their networks is not
	// checked with SPF (the forwarder is not the sender's server); the
	// SPF and DKIM results of their topmost Authentication-Results field
	// with their authserv_id are used instead, DKIM is still verified.
	TrustedForwarders []Forwarder `yaml:"trusted_forwarders"`
	// Sign lists the DKIM keys of the operator's own domains. Mail from
	// SMTP-authenticated users and mail that originates in trusted_networks
	// (the Postfix pickup service included) is signed with every key of
	// its From domain (or of the nearest parent domain that has keys).
	Sign []SignKey `yaml:"sign"`
	// SignHeaders are the header fields signed, in this order (From is
	// listed twice: a From added later breaks the signature). Default:
	// DefaultSignHeaders.
	SignHeaders []string `yaml:"sign_headers"`

	hostname string // for tests; default os.Hostname
}

// Forwarder is one entry of Config.TrustedForwarders.
type Forwarder struct {
	Networks   []string `yaml:"networks"`    // CIDRs or addresses
	AuthservID string   `yaml:"authserv_id"` // the id of their Authentication-Results

	nets []netip.Prefix
}

// SignKey is one DKIM signing key.
type SignKey struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	// Key is a PEM file: PKCS#8 ("PRIVATE KEY", RSA or Ed25519, as
	// `levee dkim keygen` writes it) or PKCS#1 ("RSA PRIVATE KEY"); or a
	// file holding the base64 Ed25519 seed (dkimpy's and rspamd's format).
	Key string `yaml:"key"`

	signer crypto.Signer
	algo   string // rsa or ed25519
}

// DefaultSignHeaders are RFC 6376 section 5.4.1's recommended fields.
var DefaultSignHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
}

// Validate fills defaults, checks the values and loads the signing keys
// (errors name the key file). It may be called more than once.
func (c *Config) Validate() error {
	switch c.OnError {
	case "":
		c.OnError = "ignore"
	case "ignore", "tempfail":
	default:
		return fmt.Errorf("auth: on_error: %q is not ignore or tempfail", c.OnError)
	}
	switch c.DMARCReject {
	case "":
		c.DMARCReject = "score"
	case "score", "reject", "quarantine":
	default:
		return fmt.Errorf("auth: dmarc_reject: %q is not score, reject or quarantine", c.DMARCReject)
	}
	switch c.DMARCQuarantine {
	case "":
		c.DMARCQuarantine = "score"
	case "score", "quarantine":
	default:
		return fmt.Errorf("auth: dmarc_quarantine: %q is not score or quarantine", c.DMARCQuarantine)
	}
	if c.MaxSignatures < 0 {
		return errors.New("auth: max_signatures must not be negative")
	}
	if c.MaxSignatures == 0 {
		c.MaxSignatures = 5
	}
	if c.AuthservID == "" {
		h := c.hostname
		if h == "" {
			h, _ = os.Hostname()
		}
		if h == "" {
			h = "localhost"
		}
		c.AuthservID = h
	}
	if !validAuthservID(c.AuthservID) {
		return fmt.Errorf("auth: authserv_id: %q is not a host name", c.AuthservID)
	}
	for i := range c.TrustedForwarders {
		f := &c.TrustedForwarders[i]
		if f.AuthservID == "" || !validAuthservID(f.AuthservID) {
			return fmt.Errorf("auth: trusted_forwarders[%d]: authserv_id: %q is not a host name", i, f.AuthservID)
		}
		if len(f.Networks) == 0 {
			return fmt.Errorf("auth: trusted_forwarders[%d]: networks: none given", i)
		}
		f.nets = nil
		for _, s := range f.Networks {
			p, err := parsePrefix(s)
			if err != nil {
				return fmt.Errorf("auth: trusted_forwarders[%d]: networks: %v", i, err)
			}
			f.nets = append(f.nets, p)
		}
	}
	for i := range c.Sign {
		k := &c.Sign[i]
		d, err := normDomain(k.Domain)
		if err != nil {
			return fmt.Errorf("auth: sign[%d]: domain: %q: %v", i, k.Domain, err)
		}
		k.Domain = d
		if !validSelector(k.Selector) {
			return fmt.Errorf("auth: sign[%d]: selector: %q is not a DNS label sequence", i, k.Selector)
		}
		if k.Key == "" {
			return fmt.Errorf("auth: sign[%d]: key: no file given", i)
		}
		s, algo, err := LoadKey(k.Key)
		if err != nil {
			return fmt.Errorf("auth: sign[%d]: key %s: %v", i, k.Key, err)
		}
		k.signer, k.algo = s, algo
	}
	for _, h := range c.SignHeaders {
		if h == "" || strings.ContainsAny(h, ": \t\r\n") {
			return fmt.Errorf("auth: sign_headers: %q is not a field name", h)
		}
	}
	if len(c.SignHeaders) > 0 {
		from := false
		for _, h := range c.SignHeaders {
			from = from || strings.EqualFold(h, "From")
		}
		if !from {
			return errors.New("auth: sign_headers: From must be signed (RFC 6376 section 5.4)")
		}
	}
	return nil
}

// Verifying reports whether any verification method is on.
func (c *Config) Verifying() bool { return c.Enabled && (c.SPF || c.DKIM || c.DMARC) }

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// normDomain lower-cases a domain and turns an IDN into A-labels.
func normDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	if d == "" {
		return "", errors.New("empty")
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", err
	}
	a = strings.ToLower(a)
	if !validDomain(a) {
		return "", errors.New("not a domain name")
	}
	return a, nil
}

func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(isAlpha(c) || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validSelector(s string) bool { return validDomain(strings.ToLower(s)) }

// validAuthservID: a host name (RFC 8601 section 2.5 recommends one), as a
// token that needs no quoting.
func validAuthservID(s string) bool {
	return validDomain(strings.ToLower(strings.TrimSuffix(s, ".")))
}
