package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the `state:` section of levee.yaml.
type Config struct {
	// Type is "bolt" (default: an embedded file, one levee) or "redis"
	// (several levee instances share one state).
	Type string `yaml:"type"`
	// Path is the bbolt file. Empty: $STATE_DIRECTORY/state.db (systemd's
	// StateDirectory=levee), else /var/lib/levee/state.db; when that
	// directory cannot be made or written (levee run by hand as a user),
	// levee runs without state: no greylisting, no rate limits (a warning
	// at start). A path set here must work, or levee does not start.
	Path string `yaml:"path"`
	// Timeout bounds one call (default 500ms).
	Timeout time.Duration `yaml:"timeout"`
	// OnError is what a recipient gets when the store fails or is slow:
	// "accept" (default: no greylisting, no rate limit) or "tempfail"
	// (451 4.3.0: the sender retries later).
	OnError string `yaml:"on_error"`
	// SweepInterval: how often the bbolt store deletes expired records
	// (default 1h). Redis expires its keys itself.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	Redis         RedisConfig   `yaml:"redis"`
}

// RedisConfig is `state.redis:`.
type RedisConfig struct {
	// Address is host:port or unix:/path/to/redis.sock.
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (first line); empty: none.
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"`
	// Prefix starts every key (default "levee:").
	Prefix string `yaml:"prefix"`
}

// Defaults.
const (
	DefaultTimeout       = 500 * time.Millisecond
	DefaultSweepInterval = time.Hour
	DefaultDir           = "/var/lib/levee"
)

// Validate checks the section and fills defaults. Errors name the key.
func (c *Config) Validate() error {
	switch c.Type {
	case "":
		c.Type = "bolt"
	case "bolt", "redis":
	default:
		return fmt.Errorf("state.type: %q is not bolt or redis", c.Type)
	}
	switch c.OnError {
	case "":
		c.OnError = "accept"
	case "accept", "tempfail":
	default:
		return fmt.Errorf("state.on_error: %q is not accept or tempfail", c.OnError)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("state.timeout: must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.SweepInterval < 0 {
		return fmt.Errorf("state.sweep_interval: must not be negative")
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Path != "" && !filepath.IsAbs(c.Path) {
		return fmt.Errorf("state.path: %q must be absolute", c.Path)
	}
	if c.Type == "redis" {
		if c.Redis.Address == "" {
			return fmt.Errorf("state.redis.address: needed with state.type: redis")
		}
		if c.Redis.DB < 0 {
			return fmt.Errorf("state.redis.db: must not be negative")
		}
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = "levee:"
	}
	return nil
}

// BoltPath is the bbolt file Open uses, and whether it is the default.
func (c *Config) BoltPath() (path string, implicit bool) {
	if c.Path != "" {
		return c.Path, false
	}
	dir := DefaultDir
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		dir, _, _ = strings.Cut(d, ":")
	}
	return filepath.Join(dir, "state.db"), true
}

// OpenOptions are Open's runtime dependencies.
type OpenOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	Clock      func() time.Time      // background sweeps; default time.Now
	// NoSweep keeps the bbolt sweeper off (the CLI's short-lived opens).
	NoSweep bool
}

// Open opens the configured store (c must be validated) and wraps it in a
// Guarded. With the default bbolt path in a directory that cannot be made
// or written, the error is ErrNoDefaultDir.
//
// A Redis that does not answer at start is no error: levee starts, the
// store counts as down (logged once, on_error applies) until Redis answers.
func Open(ctx context.Context, c Config, o OpenOptions) (*Guarded, error) {
	var s Store
	var down error
	if c.Type == "redis" {
		ro, err := c.redisOptions()
		if err != nil {
			return nil, err
		}
		r := NewRedis(ro)
		down = r.Ping(ctx)
		s = r
	} else {
		var err error
		if s, err = OpenRaw(ctx, c, o); err != nil {
			return nil, err
		}
	}
	g, err := Guard(s, c.Timeout, c.OnError, o.Logger, o.Registerer)
	if err != nil {
		s.Close()
		return nil, err
	}
	if down != nil {
		g.note(down)
	}
	return g, nil
}

func (c *Config) redisOptions() (RedisOptions, error) {
	ro := RedisOptions{Addr: c.Redis.Address, Username: c.Redis.Username, DB: c.Redis.DB, Prefix: c.Redis.Prefix,
		Timeout: max(c.Timeout, time.Second)}
	if p, ok := strings.CutPrefix(c.Redis.Address, "unix:"); ok {
		ro.Network, ro.Addr = "unix", p
	}
	if c.Redis.PasswordFile != "" {
		b, err := os.ReadFile(c.Redis.PasswordFile)
		if err != nil {
			return ro, fmt.Errorf("state.redis.password_file: %w", err)
		}
		ro.Password, _, _ = strings.Cut(strings.TrimRight(string(b), "\r\n"), "\n")
	}
	return ro, nil
}

// OpenRaw opens the configured store without the guard.
func OpenRaw(ctx context.Context, c Config, o OpenOptions) (Store, error) {
	switch c.Type {
	case "redis":
		ro, err := c.redisOptions()
		if err != nil {
			return nil, err
		}
		return OpenRedis(ctx, ro)
	}
	path, implicit := c.BoltPath()
	if implicit {
		if err := writableDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("%w: %v (set state.path, or run under systemd with StateDirectory=levee)", ErrNoDefaultDir, err)
		}
	}
	sweep := c.SweepInterval
	if o.NoSweep {
		sweep = 0
	}
	return OpenBolt(path, BoltOptions{SweepInterval: sweep, Clock: o.Clock, Logger: o.Logger})
}

// writableDir makes dir (0750) when it is missing and checks that a file
// can be made in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".levee-write-test-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// IsUnavailableDefault reports the one open error that lets levee run on
// without state: the implicit default directory is not usable.
func IsUnavailableDefault(err error) bool { return errors.Is(err, ErrNoDefaultDir) }
