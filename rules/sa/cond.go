package sa

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// condition evaluates the expression of an `if` line (or `ifplugin X` as
// plugin(X)), as Conf/Parser.pm's handle_conditional does: numbers,
// version, perl_version, local_tests_only, plugin(NAME), can(NAME),
// has(NAME), !, &&, ||, comparisons and parentheses.
func (p *parser) condition(expr string, plugins map[string]bool) (bool, error) {
	toks, err := condTokens(expr)
	if err != nil {
		return false, err
	}
	c := &condParser{p: p, toks: toks, plugins: plugins}
	v, err := c.or()
	if err != nil {
		return false, err
	}
	if c.i != len(c.toks) {
		return false, fmt.Errorf("bad condition %q: unexpected %q", expr, c.toks[c.i])
	}
	return v != 0, nil
}

// condTokens splits like ARITH_EXPRESSION_LEXER: numbers, names (with
// ::), parentheses, && and ||, and runs of other punctuation.
func condTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c >= '0' && c <= '9' || c == '.' || (c == '-' || c == '+') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case isWord(c):
			j := i + 1
			for j < len(s) && (isWord(s[j]) || s[j] == ':') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case c == '(' || c == ')':
			out = append(out, s[i:i+1])
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||"):
			out = append(out, s[i:i+2])
			i += 2
		default:
			j := i
			for j < len(s) && j-i < 2 && strings.IndexByte("!<>=", s[j]) >= 0 {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("bad condition %q: unexpected %q", s, c)
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type condParser struct {
	p       *parser
	plugins map[string]bool
	toks    []string
	i       int
}

func (c *condParser) peek() string {
	if c.i < len(c.toks) {
		return c.toks[c.i]
	}
	return ""
}

var errCondEnd = errors.New("bad condition: unexpected end")

func (c *condParser) or() (float64, error) {
	v, err := c.and()
	for err == nil && c.peek() == "||" {
		c.i++
		var w float64
		w, err = c.and()
		if v == 0 {
			v = w
		}
	}
	return v, err
}

func (c *condParser) and() (float64, error) {
	v, err := c.not()
	for err == nil && c.peek() == "&&" {
		c.i++
		var w float64
		w, err = c.not()
		if v != 0 {
			v = w
		}
	}
	return v, err
}

func (c *condParser) not() (float64, error) {
	if c.peek() == "!" {
		c.i++
		v, err := c.not()
		return b2f(v == 0), err
	}
	return c.cmp()
}

func (c *condParser) cmp() (float64, error) {
	v, err := c.primary()
	if err != nil {
		return 0, err
	}
	switch op := c.peek(); op {
	case "<", ">", "<=", ">=", "==", "!=":
		c.i++
		w, err := c.primary()
		if err != nil {
			return 0, err
		}
		switch op {
		case "<":
			return b2f(v < w), nil
		case ">":
			return b2f(v > w), nil
		case "<=":
			return b2f(v <= w), nil
		case ">=":
			return b2f(v >= w), nil
		case "==":
			return b2f(v == w), nil
		default:
			return b2f(v != w), nil
		}
	}
	return v, nil
}

func (c *condParser) primary() (float64, error) {
	t := c.peek()
	if t == "" {
		return 0, errCondEnd
	}
	c.i++
	switch t {
	case "(":
		v, err := c.or()
		if err != nil {
			return 0, err
		}
		if c.peek() != ")" {
			return 0, errors.New("bad condition: missing )")
		}
		c.i++
		return v, nil
	case "version":
		return Version, nil
	case "perl_version":
		return 5.036, nil
	case "local_tests_only":
		return 1, nil
	case "plugin", "can", "has":
		if c.peek() != "(" {
			return 0, fmt.Errorf("bad condition: %s without (", t)
		}
		c.i++
		name := c.peek()
		if name == "" || name == ")" {
			return 0, fmt.Errorf("bad condition: %s() without a name", t)
		}
		c.i++
		if c.peek() != ")" {
			return 0, errors.New("bad condition: missing )")
		}
		c.i++
		if t == "plugin" {
			return b2f(pluginLoaded(c.plugins, name)), nil
		}
		return b2f(canCall(c.plugins, name)), nil
	}
	if v, err := strconv.ParseFloat(t, 64); err == nil {
		return v, nil
	}
	return 0, fmt.Errorf("bad condition: unknown %q", t)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pluginAliases are the renamed plugins SpamAssassin still accepts.
var pluginAliases = map[string]string{
	"Mail::SpamAssassin::Plugin::Dmarc":            "Mail::SpamAssassin::Plugin::DMARC",
	"Mail::SpamAssassin::Plugin::WhiteListSubject": "Mail::SpamAssassin::Plugin::WelcomeListSubject",
}

func pluginLoaded(plugins map[string]bool, name string) bool {
	if a, ok := pluginAliases[name]; ok {
		name = a
	}
	return plugins[name]
}

// confFeatures are the feature_* methods of SpamAssassin 4.0.1's Conf.pm
// (and has_tflags_nosubject, perl_min_version_5010000), all true there.
var confFeatures = setOf("feature_originating_ip_headers", "feature_dns_local_ports_permit_avoid",
	"feature_bayes_auto_learn_on_error", "feature_uri_host_listed", "feature_yesno_takes_args",
	"feature_bug6558_free", "feature_edns", "feature_dns_query_restriction", "feature_registryboundaries",
	"feature_geodb", "feature_dns_block_rule", "feature_compile_regexp", "feature_meta_rules_matching",
	"feature_subjprefix", "feature_bayes_stopwords", "feature_get_host", "feature_blocklist_welcomelist",
	"feature_welcomelist_blocklist", "feature_header_address_parser", "feature_local_tests_only",
	"feature_header_first_last", "feature_header_match_many", "feature_capture_rules",
	"has_tflags_nosubject", "perl_min_version_5010000",
	// enable_compat welcomelist_blocklist, in Debian's init.pre
	"compat_welcomelist_blocklist")

func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// pluginMethods are the has_* methods the stock rules ask of
// SpamAssassin 4.0.1's plugins (true when the plugin is loaded).
var pluginMethods = setOf(
	"Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length",
	"Mail::SpamAssassin::Plugin::DKIM::has_arc",
	"Mail::SpamAssassin::Plugin::MIMEEval::has_check_abundant_unicode_ratio",
	"Mail::SpamAssassin::Plugin::AskDNS::has_tag_header",
	"Mail::SpamAssassin::Plugin::URIDNSBL::has_tflags_domains_only",
	"Mail::SpamAssassin::Plugin::URIDNSBL::has_subtest_for_ranges",
	"Mail::SpamAssassin::Plugin::URIDNSBL::has_uridnsbl_for_a",
	"Mail::SpamAssassin::Plugin::URIDNSBL::has_uridnsbl_a_ns",
	"Mail::SpamAssassin::Plugin::MIMEEval::has_check_for_ascii_text_illegal",
	"Mail::SpamAssassin::Plugin::HeaderEval::has_check_for_illegal_ip")

// canCall answers can(Module::method) and has(Module::method):
// SpamAssassin 4.0.1's configuration features, and a plugin's method
// when that plugin is loaded. levee's own plugins (ReplaceTags,
// MIMEHeader) have no such methods.
func canCall(plugins map[string]bool, name string) bool {
	i := strings.LastIndex(name, "::")
	if i < 0 {
		return false
	}
	module, method := name[:i], name[i+2:]
	if module == "Mail::SpamAssassin::Conf" {
		return confFeatures[method]
	}
	return pluginMethods[name] && pluginLoaded(plugins, module) && !DefaultPlugins[module]
}
