package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// saEngine builds an engine whose only scoring checks are the
// SpamAssassin rules of cf (levee's own checks score 0).
func saEngine(t *testing.T, cf string, mod func(*Config)) (*Engine, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Thresholds: Thresholds{AddHeader: At(5), Reject: At(15)}, Report: "always"}
	cfg.Scores = map[string]float64{}
	for _, r := range Builtin() {
		cfg.Scores[r.Name] = 0
	}
	cfg.SA.Rules = []string{dir}
	if mod != nil {
		mod(&cfg)
	}
	return NewEngine(cfg, Options{NoDNS: true})
}

func saHits(t *testing.T, e *Engine, msg string) map[string]float64 {
	t.Helper()
	m, err := ReadMessage(strings.NewReader(msg), Envelope{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	v := e.Judge(context.Background(), m, nil)
	out := map[string]float64{}
	for _, h := range v.Hits {
		if h.Score != 0 {
			out[h.Name] = h.Score
		}
	}
	return out
}

const saTestMsg = "From: Stock Alert <alert@example.com>\r\n" +
	"To: you@example.org\r\n" +
	"Subject: Hot stock pick\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Buy KELI now, the price will triple by Friday.\r\n"

func TestSARulesScore(t *testing.T) {
	shadow := Builtin()[0].Name
	cf := `
body     LOCAL_TRIPLE   /price will triple/i
describe LOCAL_TRIPLE   Promises the price will triple
score    LOCAL_TRIPLE   3.0
header   LOCAL_SUBJ     Subject =~ /\bstock\b/i
score    LOCAL_SUBJ     1.0 1.5 2.0 2.5
header   __LOCAL_ALERT  From:name =~ /alert/i
meta     LOCAL_META     LOCAL_SUBJ && __LOCAL_ALERT
score    LOCAL_META     0.5
body     LOCAL_HAM      /Friday/
score    LOCAL_HAM      -2.0
body     LOCAL_MISS     /no such text/
score    LOCAL_MISS     4.0
body     ` + shadow + ` /Buy/
score    ` + shadow + ` 9.0
`
	cases := []struct {
		name string
		mod  func(*Config)
		want map[string]float64
	}{
		{"set 0", nil, map[string]float64{"LOCAL_TRIPLE": 3, "LOCAL_SUBJ": 1, "LOCAL_META": 0.5}},
		{"set 3", func(c *Config) { c.SA.ScoreSet = 3 }, map[string]float64{"LOCAL_TRIPLE": 3, "LOCAL_SUBJ": 2.5, "LOCAL_META": 0.5}},
		{"negative scores on", func(c *Config) { c.SA.NegativeScores = true },
			map[string]float64{"LOCAL_TRIPLE": 3, "LOCAL_SUBJ": 1, "LOCAL_META": 0.5, "LOCAL_HAM": -2}},
		{"scale", func(c *Config) { c.SA.ScoreScale = 0.5 }, map[string]float64{"LOCAL_TRIPLE": 1.5, "LOCAL_SUBJ": 0.5, "LOCAL_META": 0.25}},
		{"operator's scores win", func(c *Config) {
			c.SA.ScoreScale = 0.5
			c.Scores["LOCAL_TRIPLE"] = 0 // off
			c.Scores["LOCAL_HAM"] = -1   // an override counts even when negative
			c.Scores["LOCAL_SUBJ"] = 4   // not scaled
		}, map[string]float64{"LOCAL_SUBJ": 4, "LOCAL_META": 0.25, "LOCAL_HAM": -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := saEngine(t, cf, tc.mod)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			got := saHits(t, e, saTestMsg)
			delete(got, shadow) // levee's own check of that name scores 0 here
			if len(got) != len(tc.want) {
				t.Errorf("hits %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v (hits %v)", k, got[k], w, got)
				}
			}
		})
	}
}

// A SpamAssassin rule named like one of levee's checks does not score:
// levee's check stands for it (its score is levee's, 0 in these tests).
func TestSARulesShadowed(t *testing.T) {
	shadow := Builtin()[0].Name
	e, err := saEngine(t, "body "+shadow+" /Buy/\nscore "+shadow+" 9\nmeta LOCAL_M "+shadow+"\nscore LOCAL_M 1\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := saHits(t, e, saTestMsg)
	if _, ok := got[shadow]; ok {
		t.Errorf("shadowed SpamAssassin rule %s scored: %v", shadow, got)
	}
	if got["LOCAL_M"] != 1 {
		t.Errorf("the shadowed rule no longer feeds the metas: %v", got)
	}
	if e.SARules() == nil || e.SARules().Rule(shadow) == nil {
		t.Errorf("SARules lost the shadowed rule")
	}
}

func TestSARulesConfigErrors(t *testing.T) {
	// A `scores:` name must be levee's check or a loaded rule.
	_, err := saEngine(t, "body LOCAL_A /x/\n", func(c *Config) { c.Scores["LOCAL_B"] = 1 })
	if err == nil || !strings.Contains(err.Error(), "LOCAL_B") {
		t.Errorf("unknown score name: err = %v", err)
	}
	if e, err := saEngine(t, "body LOCAL_A /x/\n", func(c *Config) { c.Scores["LOCAL_A"] = 1 }); err != nil {
		t.Errorf("score for a loaded rule: %v", err)
	} else {
		e.Close()
	}
	// A file that does not parse names its file and line.
	_, err = saEngine(t, "body LOCAL_A /x/\nifplugin\nbody LOCAL_C /y/\n", nil)
	if err == nil || !strings.Contains(err.Error(), "local.cf:2") {
		t.Errorf("bad file: err = %v, want local.cf:2", err)
	}
	// An untranslatable regexp is skipped, not an error.
	e, err := saEngine(t, "body LOCAL_A /(a)\\1/\nbody LOCAL_OK /Buy/\nscore LOCAL_OK 1\n", nil)
	if err != nil {
		t.Fatalf("skipped rule failed the load: %v", err)
	}
	defer e.Close()
	if got := saHits(t, e, saTestMsg); got["LOCAL_OK"] != 1 {
		t.Errorf("hits %v, want LOCAL_OK", got)
	}
}
