package sa

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/levee-mail/levee/rules/sa/dfa"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Options say how SpamAssassin configuration is read.
type Options struct {
	// ScoreSet picks one of the four scores of a `score` line: 0 (no
	// Bayes, no network tests: SpamAssassin's set with -L and Bayes off,
	// the default), 1 (network), 2 (Bayes), 3 (both).
	ScoreSet int
	// Plugins are the SpamAssassin plugins that count as loaded for
	// `ifplugin` and `if plugin(...)`; nil means DefaultPlugins. Name them
	// in full (Mail::SpamAssassin::Plugin::MIMEHeader).
	Plugins map[string]bool
	// Lang is the language of `lang xx ...` lines; "" is en_US, as
	// SpamAssassin's under the C locale.
	Lang string
	// ReadFile reads a file (tests, fuzzing); nil is os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// ReadDir lists a directory's *.cf files; nil reads the file system.
	ReadDir func(name string) ([]string, error)
	// RunUnread runs every loaded rule, the sub-rules no running rule
	// reads too (RuleSet.Unread): they change no score, and by default
	// are loaded but not run. The agreement with SpamAssassin is measured
	// with them.
	RunUnread bool
}

// DefaultPlugins are what levee implements of SpamAssassin's plugins:
// ReplaceTags (the <A> tags of obfuscation rules) and MIMEHeader (the
// mimeheader rule type). Every other plugin counts as not loaded, so the
// rules inside its `ifplugin` blocks are not read.
var DefaultPlugins = map[string]bool{
	"Mail::SpamAssassin::Plugin::ReplaceTags": true,
	"Mail::SpamAssassin::Plugin::MIMEHeader":  true,
	"Mail::SpamAssassin::Plugin::Check":       true,
}

// SAPlugins are the plugins Debian's SpamAssassin 4.0 loads
// (/etc/spamassassin/*.pre): a rule inside a block of one of these that
// levee does not have is listed as skipped (SpamAssassin would run it).
var SAPlugins = setOf(
	"Mail::SpamAssassin::Plugin::URIDNSBL", "Mail::SpamAssassin::Plugin::SPF",
	"Mail::SpamAssassin::Plugin::Rule2XSBody", "Mail::SpamAssassin::Plugin::Pyzor",
	"Mail::SpamAssassin::Plugin::Razor2", "Mail::SpamAssassin::Plugin::SpamCop",
	"Mail::SpamAssassin::Plugin::AutoLearnThreshold", "Mail::SpamAssassin::Plugin::WelcomeListSubject",
	"Mail::SpamAssassin::Plugin::MIMEHeader", "Mail::SpamAssassin::Plugin::ReplaceTags",
	"Mail::SpamAssassin::Plugin::DKIM", "Mail::SpamAssassin::Plugin::Check",
	"Mail::SpamAssassin::Plugin::HTTPSMismatch", "Mail::SpamAssassin::Plugin::URIDetail",
	"Mail::SpamAssassin::Plugin::Bayes", "Mail::SpamAssassin::Plugin::BodyEval",
	"Mail::SpamAssassin::Plugin::DNSEval", "Mail::SpamAssassin::Plugin::HTMLEval",
	"Mail::SpamAssassin::Plugin::HeaderEval", "Mail::SpamAssassin::Plugin::MIMEEval",
	"Mail::SpamAssassin::Plugin::RelayEval", "Mail::SpamAssassin::Plugin::URIEval",
	"Mail::SpamAssassin::Plugin::WLBLEval", "Mail::SpamAssassin::Plugin::VBounce",
	"Mail::SpamAssassin::Plugin::ImageInfo", "Mail::SpamAssassin::Plugin::FreeMail",
	"Mail::SpamAssassin::Plugin::AskDNS", "Mail::SpamAssassin::Plugin::HashBL",
	"Mail::SpamAssassin::Plugin::DMARC", "Mail::SpamAssassin::Plugin::RaciallyCharged")

// Version is the SpamAssassin version levee's rule semantics follow, as
// `if (version >= 4.000000)` compares it.
const Version = 4.000001

// ParseError is a configuration problem that makes a file unusable: levee
// keeps its old rules (at reload) or does not start.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// maxIncludeDepth bounds include chains (and include loops); maxFiles
// the files read in all (a file that includes itself twice would
// otherwise double the work at each level).
const (
	maxIncludeDepth = 20
	maxFiles        = 2000
)

// maxLineLen bounds one configuration line; SpamAssassin has no limit,
// but a rule longer than this is certainly not hand-written.
const maxLineLen = 1 << 20

// Load reads SpamAssassin configuration: each path is a .cf file or a
// directory whose *.cf files are read in name order (as SpamAssassin
// reads a rules directory), all into one rule set. A file that cannot be
// read or parsed is an error naming it and the line; rules that levee
// cannot run are skipped and listed in RuleSet.Skipped.
func Load(paths []string, opt Options) (*RuleSet, error) {
	p := newParser(opt)
	for _, path := range paths {
		files, err := p.expand(path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := p.parseFile(f, 0); err != nil {
				return nil, err
			}
		}
	}
	return p.finish()
}

// Parse reads one configuration text (named name in errors) into a rule
// set; includes are read with opt.ReadFile.
func Parse(name string, src []byte, opt Options) (*RuleSet, error) {
	p := newParser(opt)
	if err := p.parse(name, src, 0); err != nil {
		return nil, err
	}
	return p.finish()
}

func (p *parser) expand(path string) ([]string, error) {
	if p.opt.ReadDir != nil {
		if names, err := p.opt.ReadDir(path); err == nil {
			return names, nil
		}
		return []string{path}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, &ParseError{File: path, Msg: errors.Unwrap(err).Error()}
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, &ParseError{File: path, Msg: err.Error()}
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".cf") || e.Type()&fs.ModeSymlink != 0 && strings.HasSuffix(e.Name(), ".cf") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// parser holds what the lines of all files define, by rule name, until
// finish builds the rule set (SpamAssassin applies score, describe,
// tflags and priority whatever their order relative to the rule).
type parser struct {
	opt    Options
	budget *dfa.Budget // the rules' DFA caches, all together
	defs   map[string]*def
	// pluginDefs are rules inside blocks of plugins levee does not have
	// (the value is the condition)
	pluginDefs map[string]*def
	// saPlugin: SpamAssassin's own last definition of the rule is one
	// that needs a plugin levee lacks (levee may have read a fallback of
	// an `if !plugin(...)` block, which SpamAssassin does not run)
	saPlugin map[string]bool
	skipSA   bool // the current line is one SpamAssassin skips
	// order of first definition, for a stable rule order
	order []string

	scores   map[string][4]float64
	descs    map[string]string
	tflags   map[string]string
	priority map[string]int

	// ReplaceTags (Plugin/ReplaceTags.pm)
	replaceTag, replacePre, replacePost, replaceInter map[string]string
	replaceRules                                      map[string]bool
	replaceStart, replaceEnd                          string

	ignored  map[string]int // commands levee does not use, by name
	files    int
	readFile func(string) ([]byte, error)
}

type position struct {
	File string
	Line int
}

// def is one rule definition line as read.
type def struct {
	name  string
	kind  Kind
	value string // after the rule name
	pos   position
}

func newParser(opt Options) *parser {
	if opt.Plugins == nil {
		opt.Plugins = DefaultPlugins
	}
	if opt.Lang == "" {
		opt.Lang = "en_US"
	}
	rf := opt.ReadFile
	if rf == nil {
		rf = os.ReadFile
	}
	return &parser{
		budget: dfa.NewBudget(cacheBudget),
		opt:    opt, defs: map[string]*def{}, pluginDefs: map[string]*def{}, saPlugin: map[string]bool{},
		scores: map[string][4]float64{}, descs: map[string]string{}, tflags: map[string]string{},
		priority: map[string]int{}, replaceTag: map[string]string{}, replacePre: map[string]string{},
		replacePost: map[string]string{}, replaceInter: map[string]string{}, replaceRules: map[string]bool{},
		replaceStart: "<", replaceEnd: ">", ignored: map[string]int{}, readFile: rf,
	}
}

func (p *parser) parseFile(name string, depth int) error {
	src, err := p.readFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &ParseError{File: name, Msg: err.Error()}
	}
	return p.parse(name, src, depth)
}

// cond is one open if/ifplugin block. Conditions are evaluated twice:
// with levee's plugins, and with the plugins a SpamAssassin install loads
// (SAPlugins), so that rules SpamAssassin would define but levee cannot
// (they need one of its plugins) are known and listed as skipped, and
// metas that read them are skipped too.
type cond struct {
	line           int
	outer, outerSA bool // skipping before the block opened
	desc           string
}

// parse reads one file's lines (Mail::SpamAssassin::Conf::Parser::parse).
func (p *parser) parse(name string, src []byte, depth int) error {
	if depth > maxIncludeDepth {
		return &ParseError{File: name, Msg: "includes nested too deep (a loop?)"}
	}
	if p.files++; p.files > maxFiles {
		return &ParseError{File: name, Msg: fmt.Sprintf("more than %d files included", maxFiles)}
	}
	var stack []cond
	skip, skipSA := false, false // lines skipped by levee, by SpamAssassin
	why := ""                    // the condition that made levee skip
	lineNo := 0
	for len(src) > 0 {
		var line []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			line, src = src, nil
		}
		lineNo++
		if len(line) > maxLineLen {
			return &ParseError{File: name, Line: lineNo, Msg: "line too long"}
		}
		s := stripComment(string(line))
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "lang"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			// lang xx command: only for a language starting with xx
			l, after := splitKey(strings.TrimSpace(rest))
			if !strings.HasPrefix(strings.ToLower(p.opt.Lang), strings.ToLower(l)) || after == "" {
				continue
			}
			s = after
		}
		key, value := splitKey(s)
		key = strings.ReplaceAll(strings.ToLower(key), "-", "_")
		pos := position{name, lineNo}
		switch key {
		case "endif":
			if len(stack) == 0 {
				return &ParseError{File: name, Line: lineNo, Msg: "endif without if"}
			}
			top := stack[len(stack)-1]
			skip, skipSA, why = top.outer, top.outerSA, top.desc
			stack = stack[:len(stack)-1]
			continue
		case "ifplugin", "if":
			if value == "" {
				return &ParseError{File: name, Line: lineNo, Msg: "missing " + key + " condition"}
			}
			expr := value
			if key == "ifplugin" {
				expr = "plugin(" + value + ")"
			}
			v, err := p.condition(expr, p.opt.Plugins)
			if err != nil {
				return &ParseError{File: name, Line: lineNo, Msg: err.Error()}
			}
			vSA, _ := p.condition(expr, SAPlugins)
			stack = append(stack, cond{line: lineNo, outer: skip, outerSA: skipSA, desc: why})
			if !v && !skip {
				skip, why = true, key+" "+value
			}
			if !vSA {
				skipSA = true
			}
			continue
		case "else":
			if len(stack) == 0 {
				return &ParseError{File: name, Line: lineNo, Msg: "else without if"}
			}
			top := stack[len(stack)-1]
			if !top.outer {
				if skip = !skip; skip {
					why = "else of a condition levee's plugins meet"
				}
			}
			if !top.outerSA {
				skipSA = !skipSA
			}
			continue
		}
		if skip {
			if !skipSA {
				p.pluginRule(key, value, pos, why)
			}
			continue
		}
		p.skipSA = skipSA
		if err := p.command(key, value, pos, depth); err != nil {
			return err
		}
	}
	if len(stack) > 0 {
		return &ParseError{File: name, Line: stack[len(stack)-1].line, Msg: "if without endif"}
	}
	return nil
}

// stripComment removes a comment: # up to the end of the line unless
// escaped as \#, then unescapes \# (Conf/Parser.pm).
func stripComment(s string) string {
	if !strings.Contains(s, "#") {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] != '\\') {
			s = s[:i]
			break
		}
	}
	return strings.ReplaceAll(s, `\#`, "#")
}

func splitKey(s string) (key, value string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

// pluginRule notes a rule that SpamAssassin defines but levee skips
// because it needs a plugin levee does not have.
func (p *parser) pluginRule(key, value string, pos position, why string) {
	k, ok := kindOf[key]
	if !ok {
		return
	}
	name, _ := splitKey(value)
	if !validName(name) {
		return
	}
	p.pluginDefs[name] = &def{name: name, kind: k, value: why, pos: pos}
	p.saPlugin[name] = true
}

// command handles one line outside a skipped block.
func (p *parser) command(key, value string, pos position, depth int) error {
	bad := func(msg string) error { return &ParseError{File: pos.File, Line: pos.Line, Msg: msg} }
	switch key {
	case "include":
		if value == "" {
			return bad("include without a file")
		}
		f := value
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(pos.File), f)
		}
		return p.parseFile(f, depth+1)
	case "require_version":
		return nil // the stock files name their SpamAssassin version; levee follows 4.0's semantics
	case "header", "body", "rawbody", "full", "uri", "mimeheader", "meta":
		name, rest := splitKey(value)
		if name == "" || rest == "" {
			return bad(key + ": missing rule name or definition")
		}
		if !validName(name) {
			return bad(fmt.Sprintf("%s: invalid rule name %q", key, name))
		}
		k := kindOf[key]
		if _, ok := p.defs[name]; !ok {
			p.order = append(p.order, name)
		}
		p.defs[name] = &def{name: name, kind: k, value: rest, pos: pos}
		if !p.skipSA {
			p.saPlugin[name] = false // SpamAssassin reads this definition too
		}
		return nil
	case "describe":
		name, rest := splitKey(value)
		if name == "" {
			return bad("describe: missing rule name")
		}
		p.descs[name] = rest
		return nil
	case "score":
		name, rest := splitKey(value)
		if name == "" || rest == "" {
			return bad("score: missing rule name or score")
		}
		sc, err := parseScores(rest)
		if err != nil {
			return bad("score " + name + ": " + err.Error())
		}
		p.scores[name] = sc
		return nil
	case "tflags":
		name, rest := splitKey(value)
		if name == "" {
			return bad("tflags: missing rule name")
		}
		p.tflags[name] = rest
		return nil
	case "priority":
		name, rest := splitKey(value)
		n, err := strconv.Atoi(rest)
		if name == "" || err != nil {
			return bad("priority: want a rule name and an integer")
		}
		p.priority[name] = n
		return nil
	case "replace_tag", "replace_pre", "replace_post", "replace_inter":
		name, rest := splitKey(value)
		if name == "" || rest == "" {
			return bad(key + ": want a tag name and a value")
		}
		m := map[string]map[string]string{"replace_tag": p.replaceTag, "replace_pre": p.replacePre,
			"replace_post": p.replacePost, "replace_inter": p.replaceInter}[key]
		m[name] = rest
		return nil
	case "replace_rules":
		for _, r := range strings.Fields(value) {
			p.replaceRules[r] = true
		}
		return nil
	case "replace_start":
		p.replaceStart = value
		return nil
	case "replace_end":
		p.replaceEnd = value
		return nil
	case "test", "reuse", "loadplugin", "tryplugin":
		return nil // regression tests, rule reuse of network results, plugin loading (.pre files)
	}
	p.ignored[key]++
	return nil
}

var kindOf = map[string]Kind{
	"header": KindHeader, "body": KindBody, "rawbody": KindRawbody, "full": KindFull,
	"uri": KindURI, "mimeheader": KindMIMEHeader, "meta": KindMeta,
}

// validName is SpamAssassin's IS_RULENAME: letters, digits and _, not
// starting with a digit, at most 100 characters.
func validName(s string) bool {
	if s == "" || len(s) > 100 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseScores reads one to four scores; one stands for all four sets
// (Conf.pm, score). Scores may be written in parentheses.
func parseScores(s string) ([4]float64, error) {
	var out [4]float64
	f := strings.Fields(s)
	if len(f) != 1 && len(f) != 4 {
		return out, fmt.Errorf("want 1 or 4 scores, have %d", len(f))
	}
	for i, x := range f {
		x = strings.TrimSuffix(strings.TrimPrefix(x, "("), ")")
		v, err := strconv.ParseFloat(x, 64)
		if err != nil || v != v {
			return out, fmt.Errorf("bad score %q", f[i])
		}
		out[i] = v
	}
	if len(f) == 1 {
		out[1], out[2], out[3] = out[0], out[0], out[0]
	}
	return out, nil
}
