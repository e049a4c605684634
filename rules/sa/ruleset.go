package sa

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/levee-mail/levee/rules/sa/dfa"
	"github.com/levee-mail/levee/rules/sa/perlre"
)

// Kind is a rule's type, the command that defines it.
type Kind int

// The rule types levee runs.
const (
	KindHeader Kind = iota
	KindBody
	KindRawbody
	KindFull
	KindURI
	KindMIMEHeader
	KindMeta
	numKinds
)

var kindNames = [...]string{"header", "body", "rawbody", "full", "uri", "mimeheader", "meta"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Kinds lists the rule types in a fixed order (for reports).
func Kinds() []Kind {
	return []Kind{KindHeader, KindBody, KindRawbody, KindFull, KindURI, KindMIMEHeader, KindMeta}
}

// Rule is one loaded SpamAssassin rule.
type Rule struct {
	Name  string
	Kind  Kind
	Desc  string  // describe; "" when none
	Score float64 // of the chosen score set; 0: not run (SpamAssassin's rule off)
	// Scores are the four score sets as configured (or defaulted).
	Scores   [4]float64
	Priority int
	File     string
	Line     int

	// tflags
	Multiple  bool // count every match (tflags multiple), up to MaxHits
	MaxHits   int  // 0: no bound
	NoSubject bool // body rule: not the Subject line

	// header and mimeheader rules
	Header   string // the left side: "Subject", "From:addr", "ALL", ...
	Negate   bool   // !~
	Exists   bool   // exists:NAME
	IfUnset  string // [if-unset: ...] value
	HasUnset bool

	// regexp rules
	Pattern string // between the delimiters, tags replaced
	Flags   string
	re      *perlre.Regexp
	dfa     *dfa.DFA
	loose   *dfa.DFA // relax(re), asked first when re counts widely (gate.go)
	minLine int      // > 0: a match lies in one line this long at least (gate.go)

	// meta rules
	Expr string
	meta *metaNode
	deps []string

	slot int
	cnt  counter // shortcuts of tflags multiple (count.go)
	gate int     // the prefilter's gate this rule runs behind (gate.go), 1-based; 0 none
}

// Sub says whether the rule is a sub-rule (__NAME): it feeds metas and
// scores nothing.
func (r *Rule) Sub() bool { return strings.HasPrefix(r.Name, "__") }

// Skip is a rule that was defined but is not run, and why.
type Skip struct {
	Name   string
	Kind   Kind
	File   string
	Line   int
	Reason string
	// Score is the rule's score in the chosen set (0: SpamAssassin
	// would not run it either).
	Score float64
	// Class groups reasons for counts: "plugin" (needs a SpamAssassin
	// plugin levee does not have: an eval: function or a rule inside
	// ifplugin), "net" (tflags net), "capture" (capture tags), "regexp"
	// (not translatable to RE2), "other". A meta that reads a skipped
	// rule has that rule's class.
	Class string
}

// RuleSet is a loaded set of SpamAssassin rules, ready to run. It is
// read-only and safe for concurrent use.
type RuleSet struct {
	// Rules are the rules that run, non-meta rules first, metas in an
	// order where each comes after what it depends on.
	Rules   []*Rule
	Skipped []Skip
	// Off are rules that parse but score 0 in the chosen set: not run,
	// as in SpamAssassin; metas read them as 0.
	Off []*Rule
	// Unread are the loaded sub-rules (__NAME) that no running rule
	// reads, directly or through other sub-rules: every meta over them is
	// skipped (it reads a rule levee cannot run, an eval: function of a
	// plugin, most often) or off. They change no score and are not run,
	// unless Options.RunUnread. They are in Rules (loaded) all the same.
	Unread []*Rule
	// Ignored counts configuration commands levee does not use
	// (SpamAssassin settings other than rules), by command.
	Ignored map[string]int
	Files   int

	byName  map[string]*Rule
	metas   []*Rule
	byKind  [numKinds][]*Rule
	pf      [numKinds]*prefilter
	headers []headerGroup
	scratch sync.Pool // *evalScratch
	budget  *dfa.Budget
}

// cacheBudget bounds the DFA caches of one rule set together. Each DFA has
// its own bound (4 MiB a rule, 32 MiB a gate), but a thousand rules at
// theirs would hold gigabytes; on the dev corpus the stock rules' caches
// hold some 60 MiB. A DFA whose growth would pass the budget clears its own
// cache and goes on (in linear time whatever happens).
const cacheBudget = 192 << 20

// CacheBytes is the estimated memory the rules' DFA caches hold.
func (s *RuleSet) CacheBytes() int { return s.budget.Used() }

// headerGroup is the header rules reading one header spec (Get is called
// once per spec and message).
type headerGroup struct {
	spec  string
	rules []*Rule
	pf    *prefilter
}

// Rule returns a loaded rule by name.
func (s *RuleSet) Rule(name string) *Rule { return s.byName[name] }

// Len is the number of rules that run.
func (s *RuleSet) Len() int { return len(s.Rules) }

// finish builds the rule set from what the files defined
// (Conf/Parser.pm finish_parsing, ReplaceTags finish_parsing_end).
func (p *parser) finish() (*RuleSet, error) {
	set := &RuleSet{Ignored: p.ignored, Files: p.files, byName: map[string]*Rule{}, budget: p.budget}
	names := p.order
	skipped := map[string]Skip{} // for metas
	skip := func(d *def, class, reason string) {
		sk := Skip{Name: d.name, Kind: d.kind, File: d.pos.File, Line: d.pos.Line, Reason: reason, Class: class,
			Score: p.scoresFor(d.name)[p.opt.ScoreSet&3]}
		set.Skipped = append(set.Skipped, sk)
		skipped[d.name] = sk
	}
	for _, name := range sortedKeys(p.pluginDefs) {
		if _, real := p.defs[name]; real && !p.saPlugin[name] {
			continue
		}
		d := p.pluginDefs[name]
		skip(d, "plugin", "needs a SpamAssassin plugin levee does not have ("+d.value+")")
	}
	var rules []*Rule
	for _, name := range names {
		d := p.defs[name]
		if p.saPlugin[name] {
			continue // SpamAssassin runs the plugin's definition, not this fallback
		}
		r := &Rule{Name: name, Kind: d.kind, Desc: p.descs[name], File: d.pos.File, Line: d.pos.Line,
			Priority: p.priority[name]}
		r.Scores = p.scoresFor(name)
		r.Score = r.Scores[p.opt.ScoreSet&3]
		tf := strings.Fields(p.tflags[name])
		for _, f := range tf {
			switch {
			case f == "multiple":
				r.Multiple = true
			case strings.HasPrefix(f, "maxhits="):
				n, err := strconv.Atoi(strings.TrimPrefix(f, "maxhits="))
				if err == nil && n > 0 {
					r.MaxHits = n
				}
			case f == "nosubject":
				r.NoSubject = true
			}
		}
		if hasFlag(tf, "net") {
			skip(d, "net", "tflags net: needs network tests")
			continue
		}
		if hasFlag(tf, "learn") {
			skip(d, "other", "tflags learn: Bayes learning only")
			continue
		}
		v := d.value
		if strings.HasPrefix(v, "eval:") || strings.HasPrefix(v, "rbleval:") {
			fn := v[strings.IndexByte(v, ':')+1:]
			if i := strings.IndexByte(fn, '('); i > 0 {
				fn = fn[:i]
			}
			skip(d, "plugin", "eval:"+fn+"(): a SpamAssassin plugin function levee does not have")
			continue
		}
		var err error
		switch d.kind {
		case KindMeta:
			r.Expr = expandMatching(v, name, names)
			r.meta, err = parseMeta(r.Expr)
			if err != nil {
				return nil, &ParseError{File: d.pos.File, Line: d.pos.Line, Msg: "meta " + name + ": " + err.Error()}
			}
			r.deps = r.meta.deps(map[string]bool{}, nil)
		case KindHeader:
			err = p.headerRule(r, v)
		case KindMIMEHeader:
			err = p.mimeHeaderRule(r, v)
		default:
			err = p.regexpRule(r, v)
		}
		if err != nil {
			if se, ok := err.(*skipErr); ok {
				skip(d, se.class, se.reason)
				continue
			}
			return nil, &ParseError{File: d.pos.File, Line: d.pos.Line, Msg: d.kind.String() + " " + name + ": " + err.Error()}
		}
		rules = append(rules, r)
	}
	// A meta that reads a rule levee skipped would give another answer
	// than SpamAssassin's: skip it too (to a fixed point). A rule that is
	// not defined at all, or is off, reads 0 as in SpamAssassin.
	for changed := true; changed; {
		changed = false
		kept := rules[:0]
		for _, r := range rules {
			if r.Kind == KindMeta {
				if dep, ok := firstSkipped(r.deps, skipped); ok {
					// the class of the root cause: a meta over a plugin's
					// rule needs that plugin too
					sk := Skip{Name: r.Name, Kind: r.Kind, File: r.File, Line: r.Line,
						Reason: "reads " + dep.Name + ", skipped: " + dep.Reason, Class: dep.Class, Score: r.Score}
					if strings.HasPrefix(dep.Reason, "reads ") {
						sk.Reason = "reads " + dep.Name + ", which " + dep.Reason
					}
					set.Skipped = append(set.Skipped, sk)
					skipped[r.Name] = sk
					changed = true
					continue
				}
			}
			kept = append(kept, r)
		}
		rules = kept
	}
	// Rules off (score 0) are not run; metas read them as 0.
	var on []*Rule
	for _, r := range rules {
		if r.Score != 0 {
			on = append(on, r)
		} else {
			set.Off = append(set.Off, r)
		}
	}
	ordered, cyclic := orderMetas(on)
	for _, r := range cyclic {
		set.Skipped = append(set.Skipped, Skip{Name: r.Name, Kind: r.Kind, File: r.File, Line: r.Line,
			Reason: "meta dependency loop", Class: "other", Score: r.Score})
	}
	set.Rules = ordered
	slots := map[string]int{}
	for i, r := range set.Rules {
		r.slot = i
		slots[r.Name] = i
		set.byName[r.Name] = r
		set.byKind[r.Kind] = append(set.byKind[r.Kind], r)
		if r.Multiple && r.re != nil {
			r.cnt = newCounter(r.re.String())
		}
		if r.Kind == KindMeta {
			set.metas = append(set.metas, r)
		}
	}
	for _, r := range set.metas {
		r.meta.resolve(slots)
	}
	if !p.opt.RunUnread {
		set.pruneUnread()
	}
	groups := map[string]int{}
	for _, r := range set.byKind[KindHeader] {
		key := r.Header
		if r.HasUnset {
			key += "\t" + r.Name // its own default value: its own group (Check.pm)
		}
		i, ok := groups[key]
		if !ok {
			i = len(set.headers)
			groups[key] = i
			set.headers = append(set.headers, headerGroup{spec: r.Header})
		}
		set.headers[i].rules = append(set.headers[i].rules, r)
	}
	for i := range set.headers {
		set.headers[i].pf = newPrefilter(set.headers[i].rules, p.budget)
	}
	for _, k := range []Kind{KindBody, KindRawbody, KindURI, KindFull} {
		set.pf[k] = newPrefilter(set.byKind[k], p.budget)
	}
	sort.SliceStable(set.Skipped, func(i, j int) bool {
		a, b := set.Skipped[i], set.Skipped[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return set, nil
}

// pruneUnread takes the sub-rules that nothing running reads out of the
// lists Eval runs (byKind, metas) and lists them in Unread. A rule that
// scores (not __NAME) is a root; a rule is read when a read meta names
// it. Slots stay as they are: an unread rule's count is 0, and no
// running meta reads it.
func (s *RuleSet) pruneUnread() {
	read := map[*Rule]bool{}
	var mark func(r *Rule)
	mark = func(r *Rule) {
		if read[r] {
			return
		}
		read[r] = true
		for _, d := range r.deps {
			if x := s.byName[d]; x != nil {
				mark(x)
			}
		}
	}
	for _, r := range s.Rules {
		if !r.Sub() {
			mark(r)
		}
	}
	keep := func(rs []*Rule) []*Rule {
		out := rs[:0:0]
		for _, r := range rs {
			if read[r] {
				out = append(out, r)
			}
		}
		return out
	}
	for _, r := range s.Rules {
		if !read[r] {
			s.Unread = append(s.Unread, r)
		}
	}
	for k := range s.byKind {
		s.byKind[k] = keep(s.byKind[k])
	}
	s.metas = keep(s.metas)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasFlag(fs []string, f string) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func firstSkipped(deps []string, skipped map[string]Skip) (Skip, bool) {
	for _, d := range deps {
		if sk, ok := skipped[d]; ok {
			return sk, true
		}
	}
	return Skip{}, false
}

// scoresFor is a rule's four scores: as configured, else SpamAssassin's
// default (Conf/Parser.pm): 1, 0.01 for T_ rules, negative with tflags
// nice.
func (p *parser) scoresFor(name string) [4]float64 {
	if s, ok := p.scores[name]; ok {
		return s
	}
	v := 1.0
	if strings.HasPrefix(name, "T_") {
		v = 0.01
	}
	if hasFlag(strings.Fields(p.tflags[name]), "nice") {
		v = -v
	}
	return [4]float64{v, v, v, v}
}

// orderMetas puts non-meta rules first (in definition order), then each
// meta after the metas it reads; metas in a dependency loop are returned
// apart.
func orderMetas(rules []*Rule) (ordered, cyclic []*Rule) {
	metas := map[string]*Rule{}
	for _, r := range rules {
		if r.Kind == KindMeta {
			metas[r.Name] = r
		} else {
			ordered = append(ordered, r)
		}
	}
	state := map[string]int{} // 1 visiting, 2 done, 3 cyclic
	var visit func(r *Rule) bool
	visit = func(r *Rule) bool {
		switch state[r.Name] {
		case 1, 3:
			return false
		case 2:
			return true
		}
		state[r.Name] = 1
		ok := true
		for _, d := range r.deps {
			if m, isMeta := metas[d]; isMeta && !visit(m) {
				ok = false
			}
		}
		if !ok {
			state[r.Name] = 3
			cyclic = append(cyclic, r)
			return false
		}
		state[r.Name] = 2
		ordered = append(ordered, r)
		return true
	}
	for _, r := range rules {
		if r.Kind == KindMeta {
			visit(r)
		}
	}
	return ordered, cyclic
}

// skipErr is a rule levee cannot run (not a configuration error).
type skipErr struct{ class, reason string }

func (e *skipErr) Error() string { return e.reason }

// headerSpec is SpamAssassin's check of a header rule's left side
// (Conf/Parser.pm add_test): a name with at most two modifiers.
var headerSpec = regexp.MustCompile(`^([\w.-]+(?::|(?::[a-z]+){1,2})?)\s*([=!]~)\s*(.+)$`)

var ifUnset = regexp.MustCompile(`\s+\[if-unset:\s+(.+)\]$`)

var headerMods = map[string]bool{"raw": true, "addr": true, "name": true, "host": true, "domain": true,
	"ip": true, "revip": true, "first": true, "last": true}

// headerRule parses `NAME Header:mod =~ /re/flags [if-unset: X]` or
// `exists:Header` (header and mimeheader rules).
func (p *parser) headerRule(r *Rule, v string) error {
	if h, ok := strings.CutPrefix(v, "exists:"); ok {
		h = strings.TrimSuffix(h, ":")
		if h == "" || strings.ContainsAny(h, " \t:") {
			return fmt.Errorf("invalid header name %q", h)
		}
		r.Header, r.Exists = h, true
		return nil
	}
	m := headerSpec.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("want HEADER =~ /pattern/ or exists:HEADER")
	}
	spec, op, pat := strings.TrimSuffix(m[1], ":"), m[2], m[3]
	if i := strings.IndexByte(spec, ':'); i >= 0 {
		for _, mod := range strings.Split(spec[i+1:], ":") {
			if !headerMods[strings.ToLower(mod)] {
				return fmt.Errorf("invalid header modifier %q", mod)
			}
		}
	}
	if m := ifUnset.FindStringSubmatchIndex(pat); m != nil {
		r.IfUnset, r.HasUnset = pat[m[2]:m[3]], true
		pat = pat[:m[0]]
	}
	r.Header, r.Negate = spec, op == "!~"
	return p.compile(r, pat)
}

func (p *parser) regexpRule(r *Rule, v string) error { return p.compile(r, v) }

// mimeHeaderSpec is Plugin/MIMEHeader.pm's check: a field name (or ALL)
// with only :raw.
var mimeHeaderSpec = regexp.MustCompile(`^([^:\s]+(?::(?:raw)?)?)\s*([=!]~)\s*(.+)$`)

// mimeHeaderRule parses `NAME Header[:raw] =~ /re/ [if-unset: X]`.
func (p *parser) mimeHeaderRule(r *Rule, v string) error {
	m := mimeHeaderSpec.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("want HEADER[:raw] =~ /pattern/")
	}
	pat := m[3]
	r.Header, r.Negate, r.HasUnset = strings.TrimSuffix(m[1], ":"), m[2] == "!~", true
	if u := ifUnset.FindStringSubmatchIndex(pat); u != nil {
		r.IfUnset = pat[u[2]:u[3]]
		pat = pat[:u[0]]
	}
	return p.compile(r, pat)
}

// compile strips the delimiters (Util.pm compile_regexp), replaces the
// ReplaceTags tags of rules listed in replace_rules, and translates the
// Perl regexp to RE2.
func (p *parser) compile(r *Rule, v string) error {
	pat, flags, err := stripDelimiters(v)
	if err != nil {
		return err
	}
	if strings.Contains(pat, "%{") && captureTag.MatchString(pat) {
		return &skipErr{"capture", "uses a capture tag %{...} (SpamAssassin 4 capture rules)"}
	}
	if p.replaceRules[r.Name] {
		pat = p.replaceTags(pat)
	}
	r.Pattern, r.Flags = pat, flags
	re, err := perlre.Compile(pat, flags)
	if err != nil {
		return &skipErr{"regexp", err.Error()}
	}
	r.re = re
	// The lazy DFA answers "does it match" over the raw octets; Go's
	// regexp stays for counting (tflags multiple) and when the DFA
	// cannot take the program.
	if syn, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		lim := dfa.DefaultLimits
		lim.Budget = p.budget
		if d, err := dfa.CompileLimits(syn, lim); err == nil {
			r.dfa = d
			if n := minLen(syn); n >= minLineLen && !matchesNewline(syn) {
				r.minLine = n
			}
			if span(syn) >= looseSpan {
				if l, err := dfa.CompileLimits(relax(syn), lim); err == nil {
					r.loose = l
				}
			}
		}
	}
	return nil
}

var captureTag = regexp.MustCompile(`(?:^|[^\\])%\{[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?:\([^)}]*\))?\}`)

// stripDelimiters splits /re/flags, m{re}flags, m!re!flags (any
// non-word delimiter but backslash) like Util.pm's compile_regexp: the
// end delimiter must be followed only by modifier letters (no e).
func stripDelimiters(v string) (pat, flags string, err error) {
	var end byte
	switch {
	case strings.HasPrefix(v, "/"):
		v, end = v[1:], '/'
	case len(v) >= 2 && (v[0] == 'm' || strings.HasPrefix(v, "qr")):
		rest := v[1:]
		if v[0] == 'q' {
			rest = v[2:]
		}
		if rest == "" {
			return "", "", fmt.Errorf("missing regexp delimiters")
		}
		d := rest[0]
		switch d {
		case '{':
			end = '}'
		case '(':
			end = ')'
		case '<':
			end = '>'
		case '[':
			end = ']'
		default:
			if isWord(d) || d == ' ' || d == '\t' {
				return "", "", fmt.Errorf("missing regexp delimiters")
			}
			if d == '\\' {
				return "", "", fmt.Errorf("backslash delimiter not allowed")
			}
			end = d
		}
		v = rest[1:]
	default:
		return "", "", fmt.Errorf("missing regexp delimiters")
	}
	// the end delimiter followed by modifiers only (not e) up to the end:
	// its first such position
	t := len(v)
	for t > 0 && v[t-1] >= 'a' && v[t-1] <= 'z' && v[t-1] != 'e' {
		t--
	}
	k := -1
	for i := max(t-1, 0); i < len(v); i++ {
		if v[i] == end {
			k = i
			break
		}
	}
	if k < 0 {
		return "", "", fmt.Errorf("invalid end delimiter or modifiers")
	}
	pat, flags = v[:k], v[k+1:]
	if end != '}' && end != ')' && end != ']' {
		// an unescaped delimiter inside (once escaped backslashes are gone)
		st := strings.ReplaceAll(pat, `\\`, "")
		for i := 0; i < len(st); i++ {
			if st[i] == end && (i == 0 || st[i-1] != '\\') {
				return "", "", fmt.Errorf("unquoted delimiter '%c' found", end)
			}
		}
	}
	return pat, flags, nil
}

// replaceTags applies ReplaceTags (Plugin/ReplaceTags.pm
// finish_parsing_end): <pre X>, <post X>, <inter X> modifiers, then each
// <TAG> replaced by its replace_tag value, again while replacements bring
// new tags (at most 5 passes).
func (p *parser) replaceTags(re string) string {
	start, end := p.replaceStart, p.replaceEnd
	if start == "" || end == "" {
		return re
	}
	for pass := 0; pass <= 5; pass++ {
		again := false
		take := func(mod string) string {
			open := start + mod + " "
			i := strings.Index(re, open)
			if i < 0 {
				return ""
			}
			j := strings.Index(re[i+len(open):], end)
			if j <= 0 {
				return ""
			}
			name := re[i+len(open) : i+len(open)+j]
			re = re[:i] + re[i+len(open)+j+len(end):]
			return name
		}
		preName, postName, interName := take("pre"), take("post"), take("inter")
		// SpamAssassin works on the compiled regexp's string, which
		// starts with its modifiers, (?aa) at least: never with a tag, so
		// no <inter> goes before the first tag. The same prefix here.
		parts := splitTags("(?aa)"+re, start, end)
		isTag := func(s string) bool {
			return strings.HasPrefix(s, start) && strings.HasSuffix(s, end) && len(s) > len(start)+len(end)
		}
		if pre := p.replacePre[preName]; preName != "" && pre != "" {
			for i, s := range parts {
				if isTag(s) {
					parts[i] = pre + s
				}
			}
		}
		if post := p.replacePost[postName]; postName != "" && post != "" {
			for i, s := range parts {
				if isTag(s) || strings.HasSuffix(s, end) && strings.Contains(s, start) {
					parts[i] = s + post
				}
			}
		}
		if inter := p.replaceInter[interName]; interName != "" && inter != "" {
			for i, s := range parts {
				if s == "" {
					parts[i] = inter
				}
			}
		}
		for i, s := range parts {
			a := strings.Index(s, start)
			if a < 0 {
				continue
			}
			b := strings.Index(s[a+len(start):], end)
			if b <= 0 {
				continue
			}
			tag := s[a+len(start) : a+len(start)+b]
			if rep := p.replaceTag[tag]; rep != "" {
				parts[i] = strings.ReplaceAll(s, start+tag+end, rep)
				if !again && strings.Contains(rep, start) && strings.Contains(rep, end) {
					again = true
				}
			}
		}
		re = strings.TrimPrefix(strings.Join(parts, ""), "(?aa)")
		if !again {
			break
		}
	}
	return re
}

// splitTags splits like Perl's split(/(<[^<>]+>)/, $re): the text between
// tags and the tags themselves, with "" between two adjacent tags (and a
// leading "" when the pattern starts with a tag; trailing empty fields
// are dropped, as Perl's split does).
func splitTags(s, start, end string) []string {
	var out []string
	last := 0
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], start) {
			j := i + len(start)
			k := j
			for k < len(s) && !strings.HasPrefix(s[k:], end) && !strings.HasPrefix(s[k:], start) {
				k++
			}
			if k > j && strings.HasPrefix(s[k:], end) {
				out = append(out, s[last:i], s[i:k+len(end)])
				i = k + len(end)
				last = i
				continue
			}
		}
		i++
	}
	out = append(out, s[last:])
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
