package sa

import (
	"bytes"
	"embed"
	"fmt"

	"github.com/levee-mail/levee/rules/sa/view"
)

// The messages Warm runs the rules on: written for it (a plain-text reply,
// an HTML newsletter, a phishing message with an attachment, one in a
// dozen languages and scripts, one with the Received fields of some twenty
// MTAs, whose parser compiles its patterns on first use), no corpus
// message.
//
//go:embed warm/*.eml
var warmFS embed.FS

// Warm runs every rule once on a few built-in messages, so that the
// states their DFAs need on common text, the gates' and the views'
// one-time tables exist before the first real message: the first message
// after a start or a reload otherwise builds them, and took 80-100 ms
// where a warm one takes 2 ms. levee calls it after loading the rules,
// before they take traffic; it takes about 100 ms. A panic while judging
// the built-in messages (a rule set that would panic on mail) comes back
// as an error, so that a reload keeps the old rules.
func (s *RuleSet) Warm() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sa: judging the built-in messages: panic: %v", p)
		}
	}()
	ents, err := warmFS.ReadDir("warm")
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := warmFS.ReadFile("warm/" + e.Name())
		if err != nil {
			return err
		}
		fields, body := splitMessage(b)
		s.Eval(view.New(fields, body, view.Options{}))
	}
	return nil
}

// splitMessage splits a message (LF line ends) into its header fields, as
// levee gets them from the MTA, and its body.
func splitMessage(b []byte) ([]view.Field, []byte) {
	var fields []view.Field
	for len(b) > 0 {
		line := b
		rest := []byte(nil)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, rest = b[:i], b[i+1:]
		}
		b = rest
		if len(line) == 0 {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].Value += "\n" + string(line)
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		fields = append(fields, view.Field{Name: string(name), Value: string(value)})
	}
	return fields, b
}
