package view

import "strings"

// PartValue is one MIME part's value for a mimeheader rule; OK is false
// when the part lacks the field (the rule then tests its if-unset value).
type PartValue struct {
	Value string
	OK    bool
}

// MIMEHeader returns, for every MIME part in SpamAssassin's order (the
// message itself first, multipart containers included), the value a
// mimeheader rule with this left side tests: spec is a field name, ALL, with
// an optional ":raw" (Plugin/MIMEHeader.pm eval_hook_called).
func (m *Message) MIMEHeader(spec string) []PartValue {
	raw := false
	if strings.HasSuffix(spec, ":raw") {
		spec, raw = strings.TrimSuffix(spec, ":raw"), true
	}
	var out []PartValue
	for _, p := range m.tree().findParts(false) {
		var v PartValue
		switch {
		case spec == "ALL":
			v = PartValue{strings.Join(p.getAllHeaders(raw), ""), true}
		case raw:
			// raw_header in scalar context: "" when the field is missing
			v.OK = true
			if vals := p.rawHeader(spec); len(vals) > 0 {
				v.Value = vals[len(vals)-1]
			}
		default:
			if vals := p.getHeader(spec, false); len(vals) > 0 {
				v = PartValue{vals[len(vals)-1], true}
			}
		}
		out = append(out, v)
	}
	return out
}
