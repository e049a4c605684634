// Package rules judges a message: the message model, the checks (header
// heuristics, DNS blocklists, GTUBE), scoring and the action thresholds.
//
// It imports no milter code. The filter package feeds it what the MTA sends;
// `levee check` and `levee eval` feed it message files.
package rules

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"

	"github.com/levee-mail/levee/rules/auth"
	"github.com/levee-mail/levee/rules/received"
)

// Envelope is what the MTA told us about the SMTP transaction.
type Envelope struct {
	// ClientIP is the connecting client's address; invalid when unknown
	// (a local submission, or a unix-socket client).
	ClientIP netip.Addr
	// ClientName is the client host name as Postfix reports it: the
	// verified reverse-DNS name, or "[ip]" (or "unknown") when there is none.
	// The empty string means "not recorded" (a replayed corpus): checks on
	// reverse DNS are then not run.
	ClientName string
	Helo       string
	MailFrom   string   // without <>; "" is the null sender
	Rcpts      []string // without <>
	AuthUser   string   // {auth_authen}: set when the client authenticated
	QueueID    string   // macro i
	DaemonName string   // {daemon_name}
	// Time is when the message arrived; zero means: the date of the topmost
	// Received field, else now.
	Time time.Time
}

// RDNS reports the client's reverse-DNS name. known is false when the
// envelope did not record it; name is "" when the client has none.
func (e *Envelope) RDNS() (name string, known bool) {
	n := strings.TrimSpace(e.ClientName)
	switch {
	case n == "":
		return "", false
	case n == "unknown" || strings.HasPrefix(n, "["):
		return "", true
	}
	return strings.TrimSuffix(strings.ToLower(n), "."), true
}

// Field is one header field as it arrived.
type Field struct {
	Name  string // as sent, case kept
	Value string // raw value without the leading space; folding kept
}

// Unfolded returns the value with line folding removed and outer space trimmed.
func (f Field) Unfolded() string { return unfold(f.Value) }

func unfold(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(s)
	}
	return strings.TrimSpace(s)
}

// Message is one message as levee judges it. Build it with NewMessage or
// ReadMessage; derived views (decoded headers, MIME parts, Received hops,
// URL hosts) are computed once, on first use. A Message is used by one
// goroutine at a time.
type Message struct {
	Env    Envelope
	Fields []Field // in arrival order
	// Body holds the first bytes of the body, up to the scan limit.
	Body []byte
	// BodySize is the size of the whole body, including what was not kept.
	BodySize int64
	// Truncated is true when Body holds less than the whole body.
	Truncated bool
	// Auth is the message's SPF/DKIM/DMARC session when the filter runs it
	// (Engine.StartAuth); nil: Judge starts one over what it has.
	Auth *auth.Session

	once struct {
		index, parts, hops, urls sync.Once
	}
	// chk caches what several checks derive from the message.
	chk checkCache

	index    map[string][]int // lower-case name -> positions in Fields
	parts    []Part
	mimeErrs []error
	hops     []received.Hop
	urls     []string
}

// NewMessage makes a Message from parts already split (as the milter gets them).
func NewMessage(env Envelope, fields []Field, body []byte, bodySize int64) *Message {
	m := &Message{Env: env, Fields: fields, Body: body, BodySize: bodySize}
	m.Truncated = int64(len(body)) < bodySize
	return m
}

// SetBody gives a message built from its header alone (at end of header,
// when the header-name lookups start) its body, so that what was derived
// from the header is not derived again. Call it before any body view
// (Parts, Text, URLHosts) is used.
func (m *Message) SetBody(body []byte, bodySize int64) {
	m.Body, m.BodySize = body, bodySize
	m.Truncated = int64(len(body)) < bodySize
}

// ReleaseDerived drops what the checks derived from the body (MIME parts,
// texts, links, phrase counts): Judge calls it once the checks have run,
// before it waits for DNS answers, so that messages waiting on a slow
// DNS server hold no more than their header and body. A later view
// derives them again. Not safe while another goroutine uses m.
func (m *Message) ReleaseDerived() {
	m.once.parts, m.once.urls = sync.Once{}, sync.Once{}
	m.parts, m.mimeErrs, m.urls = nil, nil, nil
	m.chk = checkCache{}
}

// DefaultScanLimit is the default number of body bytes kept for judgement.
const DefaultScanLimit = 1 << 20

// ReadMessage reads a message file: header fields, then at most limit bytes of
// body (limit <= 0 means DefaultScanLimit); the rest is counted, not kept.
// A leading mbox "From " line is skipped. Like Postfix, the header ends at
// the first line that is neither a field nor a continuation.
func ReadMessage(r io.Reader, env Envelope, limit int64) (*Message, error) {
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	br := bufio.NewReaderSize(r, 64<<10)
	fields, rest, err := readFields(br)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	body.Write(rest)
	n, err := io.CopyN(&body, br, limit-int64(len(rest)))
	_ = n
	if err != nil && err != io.EOF {
		return nil, err
	}
	size := int64(body.Len())
	if err == nil { // more may follow: count it without keeping it
		more, err := io.Copy(io.Discard, br)
		if err != nil {
			return nil, err
		}
		size += more
	}
	b := body.Bytes()
	if int64(len(b)) > limit {
		b = b[:limit]
	}
	return NewMessage(env, fields, b, size), nil
}

// readFields splits the header block. It returns the fields and, when the
// header ended at a line that is not a field, that line (it belongs to the body).
func readFields(br *bufio.Reader) ([]Field, []byte, error) {
	var fields []Field
	// the folded value of the last field while its continuation lines come
	// (appending each to a string would copy the value again every line)
	var folded []byte
	flush := func() []Field {
		if folded != nil {
			fields[len(fields)-1].Value = string(folded)
			folded = nil
		}
		return fields
	}
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// an over-long line: keep reading it whole
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				if len(buf) < 1<<20 {
					buf = append(buf, line...)
				}
			}
			line = buf
		}
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		if len(line) == 0 && err == io.EOF {
			return flush(), nil, nil
		}
		if first && bytes.HasPrefix(line, []byte("From ")) {
			first = false
			if err == io.EOF {
				return flush(), nil, nil
			}
			continue
		}
		first = false
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			return flush(), nil, nil // end of header
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			if folded == nil {
				folded = []byte(fields[len(fields)-1].Value)
			}
			folded = append(append(folded, '\n'), trimmed...)
		} else if name, value, ok := splitField(trimmed); ok {
			flush()
			fields = append(fields, Field{Name: name, Value: value})
		} else {
			return flush(), append([]byte(nil), line...), nil
		}
		if err == io.EOF {
			return flush(), nil, nil
		}
	}
}

func splitField(line []byte) (name, value string, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c >= 127 {
			return "", "", false
		}
	}
	v := line[i+1:]
	if len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return string(line[:i]), string(v), true
}

func (m *Message) buildIndex() {
	m.once.index.Do(func() {
		m.index = make(map[string][]int, len(m.Fields))
		for i, f := range m.Fields {
			k := strings.ToLower(f.Name)
			m.index[k] = append(m.index[k], i)
		}
	})
}

// Has reports whether a field with that name is present.
func (m *Message) Has(name string) bool { return m.Count(name) > 0 }

// Count returns how many fields have that name.
func (m *Message) Count(name string) int {
	m.buildIndex()
	return len(m.index[strings.ToLower(name)])
}

// Header returns the unfolded raw value of the first field with that name.
func (m *Message) Header(name string) string {
	m.buildIndex()
	if idx := m.index[strings.ToLower(name)]; len(idx) > 0 {
		return m.Fields[idx[0]].Unfolded()
	}
	return ""
}

// Headers returns the unfolded raw values of every field with that name, in order.
func (m *Message) Headers(name string) []string {
	m.buildIndex()
	idx := m.index[strings.ToLower(name)]
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = m.Fields[j].Unfolded()
	}
	return out
}

var wordDecoder = mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(cs string, input io.Reader) (io.Reader, error) {
	cs = strings.ToLower(cs)
	if cs == "utf-8" || cs == "us-ascii" {
		return input, nil
	}
	return charset.Reader(cs, input)
}

// Decode decodes RFC 2047 encoded-words in a header value. On an unknown
// charset or a broken word it returns the raw value and the error.
func Decode(raw string) (string, error) {
	if !strings.Contains(raw, "=?") {
		return raw, nil
	}
	s, err := wordDecoder.DecodeHeader(raw)
	if err != nil {
		return raw, err
	}
	return s, nil
}

// Decoded returns the first field with that name, unfolded and decoded.
func (m *Message) Decoded(name string) string {
	s, _ := Decode(m.Header(name))
	return s
}

// Received returns the parsed Received fields, topmost first.
func (m *Message) Received() []received.Hop {
	m.once.hops.Do(func() {
		m.hops = received.ParseAll(m.Headers("Received"))
	})
	return m.hops
}

// ArrivalTime is when the message arrived: the envelope's time, else the
// date of the topmost Received field, else now.
func (m *Message) ArrivalTime() time.Time {
	if !m.Env.Time.IsZero() {
		return m.Env.Time
	}
	if h := m.Received(); len(h) > 0 && h[0].HasDate {
		return h[0].Date
	}
	return time.Now()
}

// Part is one leaf of the MIME tree.
type Part struct {
	Path        []int
	ContentType string // lower-case media type, "text/plain" when absent
	Charset     string // lower-case, as labelled
	Encoding    string // Content-Transfer-Encoding, lower-case
	Filename    string
	// Text is the decoded text of a text/* part (UTF-8 when the charset is
	// known), capped; empty for other types.
	Text string
	// RawSize is the size of the part's body before decoding, as far as read.
	Size int
	// Err is a decoding problem of this part (unknown charset or encoding,
	// bad base64...).
	Err error
}

// maxPartText caps the decoded text kept per part.
const maxPartText = 256 << 10

// Parts returns the MIME leaves of the scanned body. Problems in the structure
// (no boundary, truncation) are in MIMEErrors, never a panic.
func (m *Message) Parts() []Part {
	m.once.parts.Do(m.parseMIME)
	return m.parts
}

// MIMEErrors returns structural MIME problems found while walking the body.
func (m *Message) MIMEErrors() []error {
	m.once.parts.Do(m.parseMIME)
	return m.mimeErrs
}

func (m *Message) parseMIME() {
	var h message.Header
	// go-message's Add prepends: add in reverse so the order is kept.
	for i := len(m.Fields) - 1; i >= 0; i-- {
		f := m.Fields[i]
		switch strings.ToLower(f.Name) {
		case "content-type", "content-transfer-encoding", "content-disposition", "mime-version":
			h.Add(f.Name, f.Unfolded())
		}
	}
	e, err := message.New(h, bytes.NewReader(m.Body))
	if err != nil {
		// unknown charset or encoding of a single-part message: e is
		// still readable
		m.mimeErrs = append(m.mimeErrs, err)
		if e == nil {
			return
		}
	}
	const maxParts = 200
	werr := e.Walk(func(path []int, ent *message.Entity, err error) error {
		if len(m.parts) >= maxParts {
			return errTooManyParts
		}
		if ent.MultipartReader() != nil {
			return nil // a container: don't read its body
		}
		p := Part{Path: path, Err: err}
		ct, params, cerr := ent.Header.ContentType()
		if cerr != nil || ct == "" {
			ct = "text/plain"
		}
		p.ContentType = strings.ToLower(ct)
		p.Charset = strings.ToLower(params["charset"])
		p.Encoding = strings.ToLower(strings.TrimSpace(ent.Header.Get("Content-Transfer-Encoding")))
		if _, dp, derr := ent.Header.ContentDisposition(); derr == nil {
			p.Filename = dp["filename"]
		}
		if p.Filename == "" {
			p.Filename = params["name"]
		}
		if strings.HasPrefix(p.ContentType, "text/") {
			b, rerr := io.ReadAll(io.LimitReader(ent.Body, maxPartText))
			if rerr != nil && p.Err == nil {
				p.Err = rerr
			}
			p.Size = len(b)
			if !utf8.Valid(b) {
				b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
			}
			p.Text = string(b)
		} else {
			n, rerr := io.Copy(io.Discard, ent.Body)
			if rerr != nil && p.Err == nil {
				p.Err = rerr
			}
			p.Size = int(n)
		}
		m.parts = append(m.parts, p)
		return nil
	})
	if werr != nil && werr != errTooManyParts {
		m.mimeErrs = append(m.mimeErrs, werr)
	}
}

type constError string

func (e constError) Error() string { return string(e) }

const errTooManyParts = constError("too many MIME parts")

// Text returns the decoded text of all text parts, joined by newlines.
func (m *Message) Text() string {
	var b strings.Builder
	for _, p := range m.Parts() {
		if p.Text != "" {
			b.WriteString(p.Text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// FillEnvelope completes an envelope from the message itself, for offline
// judgement: the client IP, reverse-DNS name and HELO of the topmost
// Received field (the hop that entered this MX), the sender from
// Return-Path, and the arrival time from that hop's date. What is already
// set is kept.
func FillEnvelope(m *Message) {
	e := &m.Env
	if hops := m.Received(); len(hops) > 0 {
		h := hops[0]
		if !e.ClientIP.IsValid() && h.IP.IsValid() {
			e.ClientIP = h.IP
			if e.ClientName == "" {
				e.ClientName = h.RDNS
				if e.ClientName == "" {
					e.ClientName = "[" + h.IP.String() + "]"
				}
			}
		}
		if e.Helo == "" {
			e.Helo = h.Helo
		}
		if e.Time.IsZero() && h.HasDate {
			e.Time = h.Date
		}
	}
	if e.MailFrom == "" {
		if rp := m.Header("Return-Path"); rp != "" {
			e.MailFrom = strings.Trim(rp, "<> ")
		}
	}
}

// checkCache holds what several checks derive from one message, computed once.
type checkCache struct {
	text     sync.Once
	textVal  string
	from     sync.Once
	fromList []*mail.Address
	fromOK   bool

	phishOnce sync.Once
	phish     phishCache // links, forms (links.go)
	lureOnce  sync.Once
	lure      lureCounts // phrase counts (phrases.go)

	dateOnce sync.Once
	date     time.Time // Date: parsed by parseDateLoose
	dateOK   bool

	partsOnce   sync.Once
	plain, htm  []Part // textParts (mime.go)
	htmTextOnce sync.Once
	htmText     []string // htmlToText of each of htm
}
