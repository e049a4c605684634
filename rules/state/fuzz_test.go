package state

import (
	"testing"
	"time"
)

// Values read back from Redis (or a damaged store) never panic the parser
// and never give an entry that is already expired.
func FuzzParseEntry(f *testing.F) {
	f.Add("triplet", "1893456000000:1735732800000:1")
	f.Add("network", "1893456000000:1099511627776")
	f.Add("counter", "1:2")
	f.Add("triplet", "::")
	now := time.UnixMilli(1735732800000)
	f.Fuzz(func(t *testing.T, kind, v string) {
		e, ok := parseEntry(kind, "k", v, now)
		if ok && !e.Expires.After(now) {
			t.Fatalf("expired entry %+v from %q", e, v)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5m", "35d", "2d12h", "d", "1d-5m", "99999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil || d < 0 {
			return
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("%q: %v prints as %q, which parses as %v (%v)", s, d, Duration(d).String(), back, err)
		}
	})
}
