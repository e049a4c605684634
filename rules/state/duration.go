package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that YAML may also write in days ("35d",
// "2d12h"), as greylisting and rate-limit windows usually are.
type Duration time.Duration

// ParseDuration parses Go durations ("5m", "1h30m") with an optional
// leading day count ("35d", "2d12h").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		days, t = n, t[i+1:]
	}
	var d time.Duration
	if t != "" {
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return 0, fmt.Errorf("duration %q is not like 5m, 1h or 35d", s)
		}
	}
	return time.Duration(days)*24*time.Hour + d, nil
}

// UnmarshalYAML parses a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML prints whole days as "35d".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) String() string {
	v := time.Duration(d)
	day := 24 * time.Hour
	if v >= day && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	if v >= day {
		return strconv.FormatInt(int64(v/day), 10) + "d" + (v % day).String()
	}
	return v.String()
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
