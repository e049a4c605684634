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
	// NegativeScores lets rules with a negative score lower a message's
	// score. Off by default: SpamAssassin's ham signs (MAILING_LIST_MULTI,
	// NICE_REPLY_A, ENCRYPTED_MESSAGE...) rest on header and body text any
	// spammer can write; such a rule still feeds the metas that read it.
	NegativeScores bool `yaml:"sa_negative_scores"`
	// ScoreScale multiplies every rule's score (1 when 0 or unset):
	// SpamAssassin's scores were fitted for SpamAssassin's own rules, not
	// to be added to levee's.
	ScoreScale float64 `yaml:"sa_score_scale"`
}

// Validate checks the keys.
func (c *Config) Validate() error {
	if c.ScoreScale < 0 || c.ScoreScale > 10 || c.ScoreScale != c.ScoreScale {
		return fmt.Errorf("sa_score_scale: %v is not between 0 and 10", c.ScoreScale)
	}
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
