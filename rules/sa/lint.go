package sa

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// Counts is loaded and skipped rules by kind, skipped ones by class.
type Counts struct {
	Loaded  map[Kind]int
	Skipped map[Kind]map[string]int // kind -> class -> count
}

// Counts counts the rule set's rules.
func (s *RuleSet) Counts() Counts {
	c := Counts{Loaded: map[Kind]int{}, Skipped: map[Kind]map[string]int{}}
	for _, r := range s.Rules {
		c.Loaded[r.Kind]++
	}
	for _, sk := range s.Skipped {
		if c.Skipped[sk.Kind] == nil {
			c.Skipped[sk.Kind] = map[string]int{}
		}
		c.Skipped[sk.Kind][sk.Class]++
	}
	return c
}

// Report writes what `levee sa lint` prints: loaded rules by kind, the
// skipped ones by class, one line for each rule skipped for a reason of
// its own (a regexp construct, a capture tag), and with all the plugin
// and network rules too, and the settings levee does not use.
func (s *RuleSet) Report(w io.Writer, all bool) {
	c := s.Counts()
	fmt.Fprintf(w, "%d files, %d rules loaded, %d skipped\n", s.Files, len(s.Rules), len(s.Skipped))
	if len(s.Unread) > 0 {
		fmt.Fprintf(w, "%d loaded sub-rules are not run: no rule that runs reads them\n", len(s.Unread))
	}
	fmt.Fprintf(w, "%-11s %7s %8s %7s %7s %8s %7s\n", "KIND", "LOADED", "REGEXP", "PLUGIN", "NET", "CAPTURE", "OTHER")
	for _, k := range Kinds() {
		sk := c.Skipped[k]
		fmt.Fprintf(w, "%-11s %7d %8d %7d %7d %8d %7d\n", k, c.Loaded[k], sk["regexp"], sk["plugin"], sk["net"], sk["capture"], sk["other"])
	}
	for _, sk := range s.Skipped {
		if all || sk.Class == "regexp" || sk.Class == "capture" || sk.Class == "other" {
			fmt.Fprintf(w, "%s:%d: %s %s skipped: %s\n", sk.File, sk.Line, sk.Kind, sk.Name, sk.Reason)
		}
	}
	if len(s.Ignored) > 0 {
		keys := make([]string, 0, len(s.Ignored))
		for k := range s.Ignored {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "settings levee does not use:")
		for _, k := range keys {
			fmt.Fprintf(w, " %s(%d)", k, s.Ignored[k])
		}
		fmt.Fprintln(w)
	}
}

// RuleStatus is one rule of the set for `levee sa lint --json`.
type RuleStatus struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Status string  `json:"status"` // loaded, unread (loaded, not run: nothing reads it), off (score 0), skipped
	Class  string  `json:"class,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Score  float64 `json:"score"`
	File   string  `json:"file"`
	Line   int     `json:"line"`
	RE2    string  `json:"re2,omitempty"`
}

// WriteJSON writes every rule's status, one JSON object a line.
func (s *RuleSet) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	unread := map[*Rule]bool{}
	for _, r := range s.Unread {
		unread[r] = true
	}
	for _, r := range s.Rules {
		st := "loaded"
		if unread[r] {
			st = "unread"
		}
		if err := enc.Encode(ruleStatus(r, st)); err != nil {
			return err
		}
	}
	for _, r := range s.Off {
		if err := enc.Encode(ruleStatus(r, "off")); err != nil {
			return err
		}
	}
	for _, sk := range s.Skipped {
		if err := enc.Encode(RuleStatus{Name: sk.Name, Kind: sk.Kind.String(), Status: "skipped", Class: sk.Class,
			Reason: sk.Reason, File: sk.File, Line: sk.Line}); err != nil {
			return err
		}
	}
	return nil
}

func ruleStatus(r *Rule, st string) RuleStatus {
	x := RuleStatus{Name: r.Name, Kind: r.Kind.String(), Status: st, Score: r.Score, File: r.File, Line: r.Line}
	if r.re != nil {
		x.RE2 = r.re.String()
	}
	return x
}
