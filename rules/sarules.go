package rules

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/levee-mail/levee/rules/sa"
	"github.com/levee-mail/levee/rules/sa/view"
)

// KindSA is the kind of SpamAssassin rules in `levee rules list`
// (followed by the rule's type: sa:body, sa:meta...).
const KindSA = "sa"

// saRules is the engine's side of SpamAssassin rule files: the loaded set,
// the score of each rule as configured, and the rules whose names levee's
// own checks take (levee's check scores, the SpamAssassin rule still feeds
// SpamAssassin's metas).
type saRules struct {
	set      *sa.RuleSet
	scores   map[string]float64 // scores: overrides
	shadowed map[string]bool
	negative bool    // sa_negative_scores
	scale    float64 // sa_score_scale
}

// loadSA reads cfg.SA.Rules; nil when none are configured. Each rule that
// levee cannot translate is logged once with its file, line and
// construct; rules that need a plugin or the network are only counted.
func loadSA(cfg *Config, log *slog.Logger) (*saRules, error) {
	if len(cfg.SA.Rules) == 0 {
		return nil, nil
	}
	set, err := cfg.SA.Load()
	if err != nil {
		return nil, fmt.Errorf("sa_rules: %w", err)
	}
	// before the set takes traffic (at start, and on SIGHUP before the
	// swap): the first message would build the DFAs' common states
	if err := set.Warm(); err != nil {
		return nil, fmt.Errorf("sa_rules: %w", err)
	}
	r := &saRules{set: set, scores: cfg.Scores, shadowed: map[string]bool{}, negative: cfg.SA.NegativeScores, scale: cfg.SA.ScoreScale}
	if r.scale == 0 {
		r.scale = 1
	}
	for _, x := range set.Rules {
		if !x.Sub() && levee(x.Name) {
			r.shadowed[x.Name] = true
		}
	}
	classes := map[string]int{}
	for _, s := range set.Skipped {
		classes[s.Class]++
		if s.Class == "regexp" || s.Class == "other" {
			log.Warn("SpamAssassin rule skipped", "rule", s.Name, "file", s.File, "line", s.Line, "why", s.Reason)
		}
	}
	args := []any{"files", set.Files, "rules", set.Len(), "skipped", len(set.Skipped)}
	for _, c := range sortedClasses(classes) {
		args = append(args, "skipped_"+c, classes[c])
	}
	if len(r.shadowed) > 0 {
		args = append(args, "taken_by_levee", len(r.shadowed))
	}
	log.Info("SpamAssassin rules loaded", args...)
	return r, nil
}

func sortedClasses(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// levee reports whether a name is one of levee's own checks.
func levee(name string) bool {
	registryMu.Lock()
	_, ok := registry[name]
	registryMu.Unlock()
	return ok || name == RuleGTUBE
}

// hits runs the SpamAssassin rules on m and returns what scores: sub-rules
// (__NAME), rules off by a `scores:` override of 0, rules with a negative
// score (unless sa_negative_scores or a `scores:` override) and rules
// levee's own checks stand for are left out.
func (r *saRules) hits(e *Engine, m *Message) []Hit {
	v := view.New(saFields(m.Fields), m.Body, view.Options{TrustedNetworks: e.cfg.trusted, InternalNetworks: e.cfg.internal})
	var out []Hit
	for _, h := range r.set.Eval(v) {
		name := h.Rule.Name
		if h.Rule.Sub() || r.shadowed[name] {
			continue
		}
		s := h.Score() * r.scale
		if o, ok := r.scores[name]; ok {
			s = o * float64(h.Count) // the operator's own score, negative or not
		} else if s < 0 && !r.negative {
			continue // a forgeable ham sign (sa_negative_scores)
		}
		if s == 0 {
			continue
		}
		desc := h.Rule.Desc
		if desc == "" {
			desc = "SpamAssassin " + h.Rule.Kind.String() + " rule"
		}
		out = append(out, Hit{Name: name, Score: s, Desc: desc})
	}
	return out
}

func saFields(fs []Field) []view.Field {
	out := make([]view.Field, len(fs))
	for i, f := range fs {
		out[i] = view.Field{Name: f.Name, Value: f.Value}
	}
	return out
}

// SARules returns the loaded SpamAssassin rules, nil when none are
// configured (`levee rules list`, `levee sa lint`).
func (e *Engine) SARules() *sa.RuleSet {
	if e.sa == nil {
		return nil
	}
	return e.sa.set
}

// SARuleKind is the kind `levee rules list` shows for a SpamAssassin rule.
func SARuleKind(r *sa.Rule) string { return KindSA + ":" + strings.ToLower(r.Kind.String()) }
