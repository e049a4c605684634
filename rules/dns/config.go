package dns

import (
	"errors"
	"fmt"
	"time"
)

// Defaults filled in by ResolverConfig.Validate.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultDeadline  = 5 * time.Second // well below Postfix's milter_command_timeout (30s)
	DefaultCacheSize = 50000
	DefaultMinTTL    = time.Minute
	DefaultMaxTTL    = time.Hour
)

// ResolverConfig is the top-level `dns:` section of levee.yaml: the resolver
// of the DNS blocklists and of sender authentication (SPF, DKIM, DMARC).
type ResolverConfig struct {
	// Servers are host:port (port 53 if omitted); empty means the
	// nameservers of /etc/resolv.conf. Use a local recursive resolver:
	// Spamhaus refuses queries from public resolvers (127.255.255.254).
	Servers []string `yaml:"servers"`
	// Timeout bounds one query to one server (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// Deadline bounds all lookups of one verdict (default 5s).
	Deadline time.Duration `yaml:"deadline"`
	// CacheSize is the number of cached answers (default 50000, about 12 MB
	// at most; negative: no cache).
	CacheSize int `yaml:"cache_size"`
	// MinTTL and MaxTTL clamp the TTL of cached answers, negative
	// answers included (defaults 1m and 1h).
	MinTTL time.Duration `yaml:"min_ttl"`
	MaxTTL time.Duration `yaml:"max_ttl"`
}

// Validate fills in defaults and checks the values.
func (c *ResolverConfig) Validate() error {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Deadline == 0 {
		c.Deadline = DefaultDeadline
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MinTTL == 0 {
		c.MinTTL = DefaultMinTTL
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	switch {
	case c.Timeout < 0:
		return errors.New("dns: timeout must be positive")
	case c.Deadline < 0:
		return errors.New("dns: deadline must be positive")
	case c.MinTTL < 0 || c.MaxTTL < 0 || c.MinTTL > c.MaxTTL:
		return errors.New("dns: need 0 <= min_ttl <= max_ttl")
	}
	for i, s := range c.Servers {
		if _, err := serverAddr(s); err != nil {
			return fmt.Errorf("dns: servers[%d]: %v", i, err)
		}
	}
	return nil
}
