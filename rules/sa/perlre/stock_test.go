package perlre

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const stockDir = "/usr/share/spamassassin"

// stockPattern is one regexp of the stock rules, found by a simple line
// parser (the real .cf parser is rules/sa's).
type stockPattern struct {
	file  string
	line  int
	name  string
	re    string
	flags string
}

var (
	ruleLine    = regexp.MustCompile(`^\s*(header|body|rawbody|uri|full|mimeheader)\s+(\S+)\s+(.*)$`)
	headerValue = regexp.MustCompile(`^\S+\s*[=!]~\s*(.*)$`)
	ifUnset     = regexp.MustCompile(`\s+\[if-unset:\s+(.+)\]\s*$`)
	comment     = regexp.MustCompile(`(^|[^\\])#.*$`)
	replaceDef  = regexp.MustCompile(`^\s*replace_(tag|inter|post|pre)\s+(\S+)\s+(.*?)\s*$`)
	replaceRule = regexp.MustCompile(`^\s*replace_rules\s+(.*)$`)
)

// needStock skips (or fails under CI) when SpamAssassin's rules are absent.
func needStock(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(stockDir, "72_active.cf")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SpamAssassin stock rules missing in CI: %v", err)
		}
		t.Skip("SpamAssassin stock rules not installed")
	}
}

// stockPatterns returns the distinct (pattern, flags) of the stock rules,
// with Mail::SpamAssassin::Plugin::ReplaceTags applied to the rules it names.
func stockPatterns(t testing.TB) []stockPattern {
	t.Helper()
	needStock(t)
	files, _ := filepath.Glob(filepath.Join(stockDir, "*.cf"))
	sort.Strings(files)
	tags := map[string]map[string]string{"tag": {}, "inter": {}, "post": {}, "pre": {}}
	replace := map[string]bool{}
	var all []stockPattern
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		ln := 0
		for sc.Scan() {
			ln++
			line := comment.ReplaceAllString(sc.Text(), "$1")
			if m := replaceDef.FindStringSubmatch(line); m != nil {
				tags[m[1]][m[2]] = m[3]
				continue
			}
			if m := replaceRule.FindStringSubmatch(line); m != nil {
				for _, n := range strings.Fields(m[1]) {
					replace[n] = true
				}
				continue
			}
			m := ruleLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			kind, name, val := m[1], m[2], strings.TrimSpace(m[3])
			if strings.HasPrefix(val, "eval:") || strings.HasPrefix(val, "exists:") {
				continue
			}
			if kind == "header" || kind == "mimeheader" {
				hm := headerValue.FindStringSubmatch(val)
				if hm == nil {
					continue
				}
				val = ifUnset.ReplaceAllString(hm[1], "")
			}
			re, flags, _, err := ParseMatchOp(val)
			if err != nil {
				continue
			}
			all = append(all, stockPattern{file: filepath.Base(f), line: ln, name: name, re: re, flags: flags})
		}
		fh.Close()
	}
	seen := map[string]bool{}
	var out []stockPattern
	for _, p := range all {
		if replace[p.name] {
			p.re = replaceTags(p.re, tags)
		}
		k := p.flags + "/" + p.re
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out
}

var tagRE = regexp.MustCompile(`<[^<>]+>`)

// replaceTags mirrors ReplaceTags::finish_parsing_end.
func replaceTags(re string, tags map[string]map[string]string) string {
	for pass := 0; pass <= 5; pass++ {
		var pre, post, inter string
		take := func(kind string) string {
			r := regexp.MustCompile(`<` + kind + ` (.+?)>`)
			if m := r.FindStringSubmatchIndex(re); m != nil {
				name := re[m[2]:m[3]]
				re = re[:m[0]] + re[m[1]:]
				return name
			}
			return ""
		}
		pre, post, inter = take("pre"), take("post"), take("inter")
		// split keeping the tags, with "" between adjacent tags
		var parts []string
		last := 0
		for _, loc := range tagRE.FindAllStringIndex(re, -1) {
			parts = append(parts, re[last:loc[0]], re[loc[0]:loc[1]])
			last = loc[1]
		}
		parts = append(parts, re[last:])
		isTag := func(s string) bool { return strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") && len(s) > 2 }
		for i := range parts {
			if isTag(parts[i]) {
				if v := tags["pre"][pre]; pre != "" && v != "" {
					parts[i] = v + parts[i]
				}
				if v := tags["post"][post]; post != "" && v != "" {
					parts[i] = parts[i] + v
				}
			} else if parts[i] == "" && inter != "" && tags["inter"][inter] != "" && i > 0 && i < len(parts)-1 {
				parts[i] = tags["inter"][inter]
			}
		}
		again := false
		for i := range parts {
			m := tagRE.FindStringIndex(parts[i])
			if m == nil {
				continue
			}
			name := parts[i][m[0]+1 : m[1]-1]
			if v := tags["tag"][name]; v != "" {
				parts[i] = strings.ReplaceAll(parts[i], "<"+name+">", v)
				if tagRE.MatchString(v) {
					again = true
				}
			}
		}
		re = strings.Join(parts, "")
		if !again {
			break
		}
	}
	return re
}

// TestStockRegistry translates every stock regexp and reports the share
// that translates and the constructs that do not, by count.
func TestStockRegistry(t *testing.T) {
	pats := stockPatterns(t)
	ok, withLits := 0, 0
	fails := map[string]int{}
	examples := map[string]string{}
	for _, p := range pats {
		r, err := Compile(p.re, p.flags)
		if err == nil {
			ok++
			if r.Literals() != nil {
				withLits++
			}
			continue
		}
		k := err.Error()
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			k = ue.Construct
			if strings.HasPrefix(k, "rewrite too large:") {
				k = "rewrite too large (over 8 times the Perl source + 8 KiB)"
			}
		}
		fails[k]++
		if _, seen := examples[k]; !seen {
			examples[k] = p.file + ":" + p.name
		}
	}
	pct := 100 * float64(ok) / float64(len(pats))
	t.Logf("stock regexps: %d distinct, %d translate (%.1f%%), %d of them with a literal prefilter", len(pats), ok, pct, withLits)
	var keys []string
	for k := range fails {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return fails[keys[i]] > fails[keys[j]] || fails[keys[i]] == fails[keys[j]] && keys[i] < keys[j]
	})
	for _, k := range keys {
		t.Logf("%4d  %s  (e.g. %s)", fails[k], k, examples[k])
	}
	if pct < 95 {
		t.Errorf("only %.1f%% of the stock regexps translate, want >= 95%%", pct)
	}
}
