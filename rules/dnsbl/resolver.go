package dnsbl

import (
	"github.com/levee-mail/levee/rules/dns"
)

// The resolver, its configuration and its test fake live in rules/dns,
// shared with sender authentication; these names keep the package's API.

// Sentinel errors of a Resolver (see rules/dns).
var (
	ErrNotFound = dns.ErrNotFound // NXDOMAIN or NODATA: not listed
	ErrDNS      = dns.ErrDNS
	ErrTimeout  = dns.ErrTimeout
	ErrServFail = dns.ErrServFail
	ErrRefused  = dns.ErrRefused
)

// Resolver is levee's resolver interface (rules/dns.Resolver).
type Resolver = dns.Resolver

// ResolverConfig is the top-level `dns:` section (rules/dns.ResolverConfig).
type ResolverConfig = dns.ResolverConfig

// MapResolver is the map-based test resolver (rules/dns.MapResolver).
type MapResolver = dns.MapResolver

// NewResolver returns levee's stub resolver (rules/dns.NewResolver).
func NewResolver(cfg ResolverConfig) (Resolver, error) { return dns.NewResolver(cfg) }

// What a blocklist's TXT answer may hold: the first maxTXT records, each
// cut at maxTXTBytes (the resolver itself keeps more, for SPF and DKIM).
const (
	maxTXT      = 4
	maxTXTBytes = 1024
)

func trimTXT(t []string) []string {
	if len(t) > maxTXT {
		t = t[:maxTXT]
	}
	var out []string
	for _, s := range t {
		if len(s) > maxTXTBytes {
			if out == nil {
				out = append([]string(nil), t...)
			}
		}
	}
	if out == nil {
		return t
	}
	for i, s := range out {
		if len(s) > maxTXTBytes {
			out[i] = s[:maxTXTBytes]
		}
	}
	return out
}
