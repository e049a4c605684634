package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/levee-mail/levee/configs"
	"github.com/levee-mail/levee/filter"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/state"
)

// Config is the whole of levee.yaml. Each part lives beside its code; here
// they are only put together.
type Config struct {
	Filter  filter.Config `yaml:",inline"`
	Rules   rules.Config  `yaml:",inline"`
	Log     LogConfig     `yaml:"log"`
	Metrics MetricsConfig `yaml:"metrics"`
	// State is the store of greylisting and rate limits (rules/state).
	State state.Config `yaml:"state"`
	// MemoryLimit is the Go runtime's soft memory limit for `levee serve`
	// (debug.SetMemoryLimit): near it the garbage collector works harder.
	// It is not a hard cap. 0 turns it off; the GOMEMLIMIT environment
	// variable, when set, wins. Under the limit, serve collects garbage at
	// GOGC=400 (the GOGC variable wins): cheaper, and the limit bounds it.
	MemoryLimit rules.Size `yaml:"memory_limit"`
}

// LogConfig sets levee's log output.
type LogConfig struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// MetricsConfig is the HTTP listener for /metrics and /healthz.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // e.g. 127.0.0.1:9095; empty: off
}

// loadConfig reads the embedded default, then path (if not empty) over it:
// a file names only what differs from the defaults.
func loadConfig(path string) (*Config, error) {
	var c Config
	if err := decodeYAML(configs.Default, "default config", &c); err != nil {
		return nil, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := decodeYAML(data, path, &c); err != nil {
			return nil, err
		}
	}
	if err := c.validate(); err != nil {
		if path == "" {
			path = "default config"
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func decodeYAML(data []byte, name string, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		return nil // an empty file changes nothing
	}
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
		msg = strings.TrimPrefix(msg, "yaml: ")
		lines := strings.Split(msg, "\n")
		for i := range lines {
			lines[i] = name + ": " + strings.TrimSpace(lines[i])
		}
		return errors.New(strings.Join(lines, "\n"))
	}
	return nil
}

func (c *Config) validate() error {
	if err := c.Filter.Validate(); err != nil {
		return err
	}
	if err := c.Rules.Validate(); err != nil {
		return err
	}
	if err := c.State.Validate(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	return nil
}
