package view

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// textStyle is one entry of HTML.pm's text_style stack.
type textStyle struct {
	tag              string
	fg, bg           string
	size             int
	display, visible string // style_display, style_visibility
	extra            map[string]string
}

var okAttributes = map[string]map[string]bool{
	"basefont": {"color": true, "face": true, "size": true},
	"body":     {"text": true, "bgcolor": true, "link": true, "alink": true, "vlink": true, "background": true},
	"font":     {"color": true, "face": true, "size": true},
	"marquee":  {"bgcolor": true, "background": true},
	"table":    {"bgcolor": true, "style": true},
	"td":       {"bgcolor": true, "style": true},
	"th":       {"bgcolor": true, "style": true},
	"tr":       {"bgcolor": true, "style": true},
	"span":     {"style": true},
	"p":        {"style": true},
	"div":      {"style": true},
	"a":        {"style": true},
}

var textStyleTags = setOf("body font table tr th td big small basefont marquee span p div a")

func (r *renderer) initStyle() {
	r.basefont = 3
	r.styles = []textStyle{{tag: "default", fg: "#000000", bg: "#ffffff", size: 3}}
}

// open reports whether a style of tag is on the stack (HTML.pm's
// close_tag and close_table_tag first look for one).
func (r *renderer) open(tag string) bool {
	for _, s := range r.styles {
		if s.tag == tag {
			return true
		}
	}
	return false
}

// closeTableTag is HTML.pm close_table_tag.
func (r *renderer) closeTableTag(tag string) {
	if !r.open(tag) {
		return
	}
	for len(r.styles) > 0 {
		top := r.styles[len(r.styles)-1].tag
		if top == "" {
			break
		}
		if (tag == "td" && (top == "font" || top == "td")) || (tag == "tr" && (top == "font" || top == "td" || top == "tr")) {
			r.styles = r.styles[:len(r.styles)-1]
		} else {
			break
		}
	}
}

// closeTag is HTML.pm close_tag.
func (r *renderer) closeTag(tag string) {
	if !r.open(tag) {
		return
	}
	for len(r.styles) > 0 {
		cur := r.styles[len(r.styles)-1]
		r.styles = r.styles[:len(r.styles)-1]
		if cur.tag == tag {
			break
		}
	}
}

var reLeadInt = func(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	i := 0
	sign := 1
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		return 0, false
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, false
	}
	n, _ := strconv.Atoi(s[i:min(j, i+9)])
	return sign * n, true
}

func leadSigned(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	j := 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(s[1:min(j, 10)])
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

// textStyleTag is HTML.pm text_style.
func (r *renderer) textStyleTag(tag string, attrs []htmlAttr, num int) {
	if tag == "th" {
		tag = "td"
	}
	if num != 1 {
		if tag != "body" {
			r.closeTag(tag)
		}
		return
	}
	if tag == "basefont" {
		if v, ok := attr(attrs, "size"); ok {
			if n, ok := reLeadInt(v); ok {
				r.basefont = n
				return
			}
		}
	}
	if tag == "td" || tag == "tr" {
		r.closeTableTag(tag)
	}
	nw := r.styles[len(r.styles)-1]
	nw.tag = tag
	if tag == "big" {
		nw.size++
		r.styles = append(r.styles, nw)
		return
	}
	if tag == "small" {
		nw.size--
		r.styles = append(r.styles, nw)
		return
	}
	for _, a := range attrs {
		if !okAttributes[tag][a.name] {
			continue
		}
		switch a.name {
		case "text", "color":
			nw.fg = nameToRGB(a.value)
		case "size":
			if n, ok := leadSigned(a.value); ok {
				nw.size = r.basefont + n
			} else if n, ok := reLeadInt(a.value); ok {
				nw.size = n
			}
		case "style":
			for _, part := range strings.Split(a.value, ";") {
				r.styleDecl(&nw, part)
			}
			if nw.bg == "transparent" {
				nw.bg = r.styles[len(r.styles)-1].bg
			}
			if nw.fg == "transparent" {
				nw.fg = nw.bg
			}
		case "bgcolor":
			// HTML.pm rewrites the attribute, not the style: no effect
		}
	}
	r.styles = append(r.styles, nw)
}

var (
	reStyleColor = regexp.MustCompile(`(?i)^[\t\n\v\f\r ]*(background-)?color:[\t\n\v\f\r ]*(.+?)[\t\n\v\f\r ]*\n?$`)
	reStyleBg    = regexp.MustCompile(`^[\t\n\v\f\r ]*background:[\t\n\v\f\r ]*(.+?)[\t\n\v\f\r ]*\n?$`)
	reStyleProp  = regexp.MustCompile(`(?i)^[\t\n\v\f\r ]*([a-z_-]+)[\t\n\v\f\r ]*:[\t\n\v\f\r ]*([^\t\n\v\f\r ].*?)[\t\n\v\f\r ]*\n?$`)
	reImportant  = regexp.MustCompile(`[\t\n\v\f\r ]*![\t\n\v\f\r ]*important\n?$`)
)

// styleDecl handles one ";"-separated part of a style attribute
// (HTML.pm text_style).
func (r *renderer) styleDecl(nw *textStyle, part string) {
	if !strings.Contains(part, ":") {
		return
	}
	if m := findIf(containsFold(part, "color:"), reStyleColor, part); m != nil {
		bg := m[1] != ""
		v := strings.ToLower(m[2])
		v = reImportant.ReplaceAllString(v, "")
		var c string
		switch {
		case strings.Contains(v, "rgb"):
			var digits strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] >= '0' && v[i] <= '9' || v[i] == ',' {
					digits.WriteByte(v[i])
				}
			}
			p := strings.Split(digits.String(), ",")
			var rgb [3]int
			for i := 0; i < 3; i++ {
				if i < len(p) {
					n, _ := strconv.Atoi(p[i])
					if n > 255 {
						n = 255
					}
					rgb[i] = n
				}
			}
			c = fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2])
		case v == "inherit":
			return
		case v == "transparent":
			c = v
		default:
			c = nameToRGB(v)
		}
		if bg {
			nw.bg = c
		} else {
			nw.fg = c
		}
		return
	}
	if m := findIf(strings.Contains(part, "background:"), reStyleBg, part); m != nil {
		layers := parseCSSBackground(strings.ToLower(m[1]))
		if len(layers) > 0 {
			for _, tok := range layers[len(layers)-1] {
				if c := nameToRGB(tok); c != "invalid" {
					nw.bg = c
					break
				}
			}
		}
		return
	}
	if m := reStyleProp.FindStringSubmatch(part); m != nil {
		// the key keeps its case: only lower-case names count
		switch m[1] {
		case "display":
			nw.display = m[2]
		case "visibility":
			nw.visible = m[2]
		}
	}
}

// parseCSSBackground is HTML.pm parse_css_background.
func parseCSSBackground(bg string) [][]string {
	var layers [][]string
	var tokens []string
	var stack []int
	state := 0
	tok := ""
	for i := 0; i < len(bg); i++ {
		ch := bg[i]
		switch state {
		case 0:
			switch ch {
			case ' ':
				if tok != "" {
					tokens = append(tokens, tok)
				}
				tok = ""
			case '(':
				tok += string(ch)
				stack = append(stack, state)
				state = 1
			case '"':
				tok += string(ch)
				stack = append(stack, state)
				state = 2
			case '\'':
				tok += string(ch)
				stack = append(stack, state)
				state = 3
			case ',':
				if tok != "" {
					tokens = append(tokens, tok)
				}
				tok = ""
				layers = append(layers, tokens)
				tokens = nil
			default:
				tok += string(ch)
			}
		case 1:
			switch ch {
			case ')':
				tok += string(ch)
				tokens = append(tokens, tok)
				tok = ""
				state, stack = pop(stack)
			case '"':
				tok += string(ch)
				stack = append(stack, state)
				state = 2
			case '\'':
				tok += string(ch)
				stack = append(stack, state)
				state = 3
			default:
				tok += string(ch)
			}
		case 2, 3:
			tok += string(ch)
			if (state == 2 && ch == '"') || (state == 3 && ch == '\'') {
				state, stack = pop(stack)
			}
		}
	}
	if tok != "" {
		tokens = append(tokens, tok)
	}
	if len(tokens) > 0 {
		layers = append(layers, tokens)
	}
	return layers
}

func pop(s []int) (int, []int) {
	if len(s) == 0 {
		return 0, s
	}
	return s[len(s)-1], s[:len(s)-1]
}

// fontInvisible is HTML.pm html_font_invisible.
func (r *renderer) fontInvisible() bool {
	st := r.styles[len(r.styles)-1]
	fg, bg := st.fg, st.bg
	if last6(fg) == last6(bg) {
		return true
	}
	if f, ok := hexRGB(fg); ok {
		if b, ok := hexRGB(bg); ok {
			dr, dg, db := float64(f[0]-b[0]), float64(f[1]-b[1]), float64(f[2]-b[2])
			d := math.Sqrt(math.Pow(0.2126*dr, 2) + math.Pow(0.7152*dg, 2) + math.Pow(0.0722*db, 2))
			if d < 12 {
				return true
			}
		}
	}
	if fg == "invalid" || bg == "invalid" {
		return true
	}
	if st.size <= 1 {
		return true
	}
	if st.display != "" && strings.ToLower(st.display) == "none" {
		return true
	}
	if st.visible != "" && strings.ToLower(st.visible) == "hidden" {
		return true
	}
	return false
}

func last6(s string) string {
	if len(s) > 6 {
		return s[len(s)-6:]
	}
	return s
}

func hexRGB(s string) ([3]int, bool) {
	s = strings.TrimPrefix(s, "#")
	var out [3]int
	if len(s) != 6 {
		return out, false
	}
	for i := 0; i < 3; i++ {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil || s[2*i] >= 'A' && s[2*i] <= 'F' || s[2*i+1] >= 'A' && s[2*i+1] <= 'F' {
			return out, false
		}
		out[i] = int(n)
	}
	return out, true
}

// nameToRGB is HTML.pm name_to_rgb.
func nameToRGB(c string) string {
	c = strings.ToLower(c)
	c = strings.TrimSpace(c)
	if v, ok := htmlColors[c]; ok {
		return fmt.Sprintf("#%06x", v)
	}
	isHexish := true
	for i := 0; i < len(c); i++ {
		if !(c[i] == '#' || c[i] >= 'a' && c[i] <= 'f' || c[i] >= '0' && c[i] <= '9') {
			isHexish = false
			break
		}
	}
	if !isHexish && !rx(`(?i)rgb\([\d%, ]*\)`).MatchString(c) {
		return "invalid"
	}
	if m := rx(`(?i)rgb\((\d+)%,\s*(\d+)%,\s*(\d+)%\s*\)`).FindStringSubmatch(c); m != nil {
		c = "#" + dec2hex(pct(m[1])) + dec2hex(pct(m[2])) + dec2hex(pct(m[3]))
	}
	if m := rx(`(?i)rgb\((\d+),\s*(\d+),\s*(\d+)\s*\)`).FindStringSubmatch(c); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		c = "#" + dec2hex(a) + dec2hex(b) + dec2hex(d)
	}
	if !strings.HasPrefix(c, "#") {
		return "invalid"
	}
	var h strings.Builder
	for i := 0; i < len(c); i++ {
		if c[i] >= 'a' && c[i] <= 'f' || c[i] >= '0' && c[i] <= '9' {
			h.WriteByte(c[i])
		}
	}
	c = h.String()
	if len(c) > 6 {
		c = c[:6]
	}
	if len(c) > 3 && len(c) < 6 {
		c = c[:3]
	}
	if len(c)%3 != 0 {
		c += strings.Repeat("0", 3-len(c)%3)
	}
	if len(c) == 3 {
		c = string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
	}
	return "#" + c
}

func pct(s string) int {
	n, _ := strconv.Atoi(s)
	return int(float64(n) / 100 * 255)
}

func dec2hex(n int) string {
	if n < 16 {
		return fmt.Sprintf("0%x", n)
	}
	return fmt.Sprintf("%x", n)
}

// findIf runs the regexp only when a cheap test allows a match.
func findIf(maybe bool, re *regexp.Regexp, s string) []string {
	if !maybe {
		return nil
	}
	return re.FindStringSubmatch(s)
}
