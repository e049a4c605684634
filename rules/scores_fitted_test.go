package rules

import (
	"math"
	"testing"
)

// TestFittedScoresBounds: the fitted defaults keep the bounds `levee eval
// --fit` promises (no header check reaches the reject threshold alone, none
// lowers a score, 0.1 steps) and name only registered checks, which then
// take those scores by default.
func TestFittedScoresBounds(t *testing.T) {
	registryMu.Lock()
	reg := make(map[string]Rule, len(registry))
	for k, v := range registry {
		reg[k] = v
	}
	registryMu.Unlock()
	builtin := map[string]float64{}
	for _, r := range Builtin() {
		builtin[r.Name] = r.Score
	}
	for name, s := range fittedScores {
		if _, ok := reg[name]; !ok {
			t.Errorf("%s: fitted but not a registered check (rerun levee eval --fit)", name)
			continue
		}
		if math.IsNaN(s) || s < 0 || s > 4 {
			t.Errorf("%s: fitted score %v outside [0, 4]", name, s)
		}
		if d := s*10 - math.Round(s*10); math.Abs(d) > 1e-9 {
			t.Errorf("%s: fitted score %v is not a multiple of 0.1", name, s)
		}
		if builtin[name] != s {
			t.Errorf("%s: Builtin() score %v, want the fitted %v", name, builtin[name], s)
		}
	}
}
