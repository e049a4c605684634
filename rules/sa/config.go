package sa

import "fmt"

// Config is the SpamAssassin part of levee.yaml (inline at its top level).
type Config struct {
	// Rules are SpamAssassin .cf files or directories of them (read in
	// name order), loaded at start and on SIGHUP.
	Rules []string `yaml:"sa_rules"`
	// ScoreSet picks the score of four-score lines: 0 (no Bayes, no
	// network tests, the default), 1, 2 or 3.
	ScoreSet int `yaml:"sa_score_set"`
}

// Validate checks the keys.
func (c *Config) Validate() error {
	if c.ScoreSet < 0 || c.ScoreSet > 3 {
		return fmt.Errorf("sa_score_set: %d is not 0, 1, 2 or 3", c.ScoreSet)
	}
	for _, r := range c.Rules {
		if r == "" {
			return fmt.Errorf("sa_rules: an empty path")
		}
	}
	return nil
}

// Load reads the configured rules (Load with the config's options).
func (c *Config) Load() (*RuleSet, error) {
	return Load(c.Rules, Options{ScoreSet: c.ScoreSet})
}
