package soak

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
)

// source is one corpus message, ready to be sent many times: its envelope
// (the recipient is rewritten per copy) and its header and body with CRLF
// line ends, without X-Spam-* fields (levee removes those anyway; without
// them, a verdict at the sink can only be levee's) and with its
// Message-ID split so that each copy gets its own.
type source struct {
	name     string
	class    eval.Class
	ip       netip.Addr
	host     string // client name ("" not recorded)
	helo     string
	from     string
	header   []byte // CRLF lines, Message-ID and X-Spam-* removed
	msgidL   string // the Message-ID's local part and domain ("" when none)
	msgidD   string
	body     []byte // after the empty line, CRLF
	received bool   // has a Received field (for the summary)
}

// loadCorpus reads a corpus with rules/eval's reader (a directory or
// .tar.gz with ham/, spam/ and envelope.jsonl), in its fixed order.
func loadCorpus(ctx context.Context, path string) ([]*source, error) {
	var out []*source
	err := eval.Walk(ctx, eval.Corpus{Dir: path}, nil, func(it eval.Item) error {
		s, err := newSource(it)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, it.Name, err)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages", path)
	}
	return out, nil
}

func newSource(it eval.Item) (*source, error) {
	env := it.Env
	if !it.HasEnv { // no envelope line: from the topmost Received, as levee bench does
		m, err := rules.ReadMessage(bytes.NewReader(it.Data), env, 64<<20)
		if err != nil {
			return nil, err
		}
		rules.FillEnvelope(m)
		env = m.Env
	}
	data := mta.ToCRLF(it.Data)
	head, body, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		head, body = bytes.TrimSuffix(data, []byte("\r\n")), nil
	}
	s := &source{name: it.Name, class: it.Class, ip: env.ClientIP, host: env.ClientName, helo: env.Helo, from: env.MailFrom, body: body}
	var h bytes.Buffer
	for _, f := range splitFields(head) {
		name, value, _ := strings.Cut(string(f), ":")
		switch n := strings.ToLower(strings.TrimSpace(name)); {
		case strings.HasPrefix(n, "x-spam-"):
			continue
		case n == "message-id" && s.msgidL == "" && s.msgidD == "":
			v := strings.Trim(strings.TrimSpace(unfold(value)), "<>")
			l, d, ok := strings.Cut(v, "@")
			if !ok {
				l, d = v, "soak.levee.test"
			}
			s.msgidL, s.msgidD = sanitizeIDPart(l), sanitizeIDPart(d)
			if s.msgidL == "" {
				s.msgidL = "id"
			}
			if s.msgidD == "" {
				s.msgidD = "soak.levee.test"
			}
			continue
		case n == "received":
			s.received = true
		}
		h.Write(f)
	}
	s.header = h.Bytes()
	return s, nil
}

// splitFields splits a header (CRLF lines, no final empty line) into its
// fields, each with its continuation lines and final CRLF. A leading
// "From " mbox line is dropped.
func splitFields(head []byte) [][]byte {
	var out [][]byte
	for len(head) > 0 {
		i := bytes.Index(head, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, head = append(append([]byte(nil), head...), '\r', '\n'), nil
		} else {
			line, head = head[:i+2], head[i+2:]
		}
		if len(out) == 0 && bytes.HasPrefix(line, []byte("From ")) {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				out[len(out)-1] = append(out[len(out)-1], line...)
			} // else it continues nothing (or the mbox line): it would fold into the soak's own fields
			continue
		}
		out = append(out, append([]byte(nil), line...))
	}
	return out
}

func unfold(s string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(s)
}

// sanitizeIDPart keeps a Message-ID part to dot-atom characters.
func sanitizeIDPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)) {
			b.WriteRune(r)
		}
	}
	return strings.Trim(b.String(), ".")
}

// IDHeader is the header field that names each copy: "RUN-N".
const IDHeader = "X-Soak-Id"

// RcptDomain is the domain every recipient is rewritten to.
const RcptDomain = "soak.levee.test"

// copyID is the X-Soak-Id of copy n of a run.
func copyID(run string, n int) string { return run + "-" + strconv.Itoa(n) }

// parseCopyID returns n of an X-Soak-Id of this run.
func parseCopyID(run, id string) (int, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(id), run+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// data is copy n of s: X-Soak-Id and (when s had one) a Message-ID
// unique to the copy at the top of the header, then s's header and body.
func (s *source) data(run string, n int) []byte {
	id := copyID(run, n)
	var b bytes.Buffer
	b.Grow(len(s.header) + len(s.body) + 128)
	fmt.Fprintf(&b, "%s: %s\r\n", IDHeader, id)
	if s.msgidL != "" {
		fmt.Fprintf(&b, "Message-ID: <%s.%s@%s>\r\n", s.msgidL, id, s.msgidD)
	}
	b.Write(s.header)
	b.WriteString("\r\n")
	b.Write(s.body)
	return b.Bytes()
}

// rcpt is the recipient of copies of the i-th corpus message: never a
// corpus address.
func rcpt(i int) string { return "rcpt" + strconv.Itoa(i) + "@" + RcptDomain }
