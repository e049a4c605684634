package received

import (
	"strings"
	"sync/atomic"
	"time"
)

var monthNames = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func monthOf(w string) int {
	if len(w) < 3 || len(w) > 9 {
		return 0
	}
	for i, m := range monthNames {
		if strings.EqualFold(w[:3], m) {
			return i + 1
		}
	}
	return 0
}

func isWeekday(w string) bool {
	if len(w) < 3 || len(w) > 9 {
		return false
	}
	switch strings.ToLower(w[:3]) {
	case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
		return true
	}
	return false
}

// zoneNames are the RFC 5322 obsolete zones plus a few common ones.
var zoneNames = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
	"EST": -5 * 60, "EDT": -4 * 60, "CST": -6 * 60, "CDT": -5 * 60,
	"MST": -7 * 60, "MDT": -6 * 60, "PST": -8 * 60, "PDT": -7 * 60,
	"AKST": -9 * 60, "AKDT": -8 * 60, "HST": -10 * 60,
	"BST": 60, "CET": 60, "MET": 60, "WEST": 60, "CEST": 120, "MEST": 120,
	"EET": 120, "EEST": 180, "MSK": 180, "SGT": 480, "HKT": 480,
	"JST": 540, "KST": 540, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}

// zones caches fixed zones by offset in minutes (-24h..+24h) so that
// parsing a date does not allocate a *time.Location each time.
var zones [2*24*60 + 1]atomic.Pointer[time.Location]

func zoneFor(min int) *time.Location {
	if min == 0 {
		return time.UTC
	}
	if min < -24*60 || min > 24*60 {
		return nil
	}
	p := &zones[min+24*60]
	if l := p.Load(); l != nil {
		return l
	}
	l := time.FixedZone("", min*60)
	p.Store(l)
	return l
}

func atoiDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseDate parses the date of a Received field tolerantly: RFC 5322 dates
// with or without weekday, with numeric or named zones, trailing comments
// and junk, two-digit years, fractional seconds, "Aug, 26 2002 1:35:40 PM
// -0000", "21-Sep-2002", "22/08/2002" and "2020-03-15 21:02:46".
func parseDate(s string) (time.Time, bool) {
	var (
		day, month, year     = -1, 0, -1
		hour, min, sec, nsec = -1, 0, 0, 0
		zone                 int
		haveZone             bool
		pm, am               bool
	)
	i := 0
	for i < len(s) {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		if i >= len(s) || s[i] == '(' {
			break
		}
		j := i
		for j < len(s) && !isSpace(s[j]) && s[j] != ',' && s[j] != '(' {
			j++
		}
		w := s[i:j]
		i = j
		c := w[0]
		switch {
		case (c == '+' || c == '-') && len(w) > 1 && w[1] >= '0' && w[1] <= '9':
			if hour < 0 || haveZone {
				if hour >= 0 {
					goto done
				}
				continue
			}
			zone, haveZone = numericZone(w[1:]), true
			if c == '-' {
				zone = -zone
			}
		case c >= '0' && c <= '9':
			if strings.IndexByte(w, ':') >= 0 {
				if hour >= 0 {
					goto done
				}
				hour, min, sec, nsec = parseClock(w)
				continue
			}
			if k := strings.IndexAny(w, "/-"); k > 0 {
				if month != 0 || year >= 0 {
					continue
				}
				day, month, year = parseNumericDate(w)
				continue
			}
			n, ok := atoiDigits(w)
			if !ok {
				continue
			}
			switch {
			case hour >= 0 && year < 0 && len(w) == 4: // ctime: "Mon Aug 26 12:00:00 2002"
				year = n
			case hour >= 0 && !haveZone && len(w) == 4 && year >= 0:
				zone, haveZone = numericZone(w), true // "+" lost
			case hour >= 0:
				goto done
			case year < 0 && (len(w) >= 3 || n > 31 || day >= 0):
				year = fixYear(n, len(w))
			case day < 0:
				day = n
			}
		default:
			if m := monthOf(w); m != 0 && month == 0 {
				month = m
				continue
			}
			if hour < 0 {
				continue // weekday or junk before the time
			}
			switch strings.ToLower(strings.Trim(w, ".")) {
			case "am", "a.m":
				am = true
				continue
			case "pm", "p.m":
				pm = true
				continue
			}
			if !haveZone {
				if z, ok := zoneNames[strings.ToUpper(w)]; ok {
					zone, haveZone = z, true
					continue
				}
			}
			goto done
		}
	}
done:
	if day < 1 || day > 31 || month == 0 || year < 0 || year > 9999 || hour < 0 || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, false
	}
	if pm && hour < 12 {
		hour += 12
	} else if am && hour == 12 {
		hour = 0
	}
	if sec == 60 {
		sec = 59
	}
	loc := zoneFor(zone)
	if loc == nil {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, false
	}
	return t, true
}

// numericZone parses "hhmm", "hh:mm", "hh" and "hhm" into minutes.
func numericZone(w string) int {
	if len(w) >= 5 && w[2] == ':' {
		w = w[:2] + w[3:5]
	}
	if len(w) > 4 {
		w = w[:4]
	}
	n, ok := atoiDigits(w)
	if !ok {
		return 0
	}
	switch len(w) {
	case 1, 2:
		return n * 60
	case 3:
		return (n/100)*60 + n%100
	}
	return (n/100)*60 + n%100
}

// parseClock parses "h:mm", "hh:mm:ss" and "hh:mm:ss.frac".
func parseClock(w string) (hour, min, sec, nsec int) {
	hour, min = -1, 0
	parts := [3]string{}
	n := 0
	for n < 3 {
		k := strings.IndexByte(w, ':')
		if k < 0 {
			parts[n] = w
			n++
			break
		}
		parts[n] = w[:k]
		w = w[k+1:]
		n++
	}
	if n < 2 {
		return -1, 0, 0, 0
	}
	if n == 3 {
		if k := strings.IndexByte(parts[2], '.'); k >= 0 {
			frac := parts[2][k+1:]
			parts[2] = parts[2][:k]
			if len(frac) > 9 {
				frac = frac[:9]
			}
			if f, ok := atoiDigits(frac); ok {
				for l := len(frac); l < 9; l++ {
					f *= 10
				}
				nsec = f
			}
		}
	}
	h, ok1 := atoiDigits(parts[0])
	m, ok2 := atoiDigits(parts[1])
	if !ok1 || !ok2 {
		return -1, 0, 0, 0
	}
	if n == 3 && parts[2] != "" {
		s, ok := atoiDigits(parts[2])
		if !ok {
			return -1, 0, 0, 0
		}
		sec = s
	}
	return h, m, sec, nsec
}

// parseNumericDate parses "22/08/2002" (day first unless impossible),
// "2020-03-15" and "21-Sep-2002".
func parseNumericDate(w string) (day, month, year int) {
	sep := byte('/')
	if strings.IndexByte(w, '/') < 0 {
		sep = '-'
	}
	var p [3]string
	for k := 0; k < 2; k++ {
		j := strings.IndexByte(w, sep)
		if j < 0 {
			return -1, 0, -1
		}
		p[k] = w[:j]
		w = w[j+1:]
	}
	p[2] = w
	if m := monthOf(p[1]); m != 0 {
		d, ok1 := atoiDigits(p[0])
		y, ok2 := atoiDigits(p[2])
		if ok1 && ok2 {
			return d, m, fixYear(y, len(p[2]))
		}
		return -1, 0, -1
	}
	a, ok1 := atoiDigits(p[0])
	b, ok2 := atoiDigits(p[1])
	c, ok3 := atoiDigits(p[2])
	if !ok1 || !ok2 || !ok3 {
		return -1, 0, -1
	}
	if len(p[0]) == 4 { // ISO
		return c, b, a
	}
	if b > 12 && a <= 12 { // US order
		return b, a, fixYear(c, len(p[2]))
	}
	if b < 1 || b > 12 {
		return -1, 0, -1
	}
	return a, b, fixYear(c, len(p[2]))
}

func fixYear(y, digits int) int {
	switch {
	case digits <= 2 && y < 50:
		return y + 2000
	case digits <= 2:
		return y + 1900
	case digits == 3:
		return y + 1900
	}
	return y
}
