// Package view builds SpamAssassin 4.0.1's views of a message in Go, so that
// SpamAssassin rules run on exactly the text SpamAssassin gives them: the
// header values of header rules (Get), the rendered body of body rules
// (Body), the decoded body of rawbody rules (Rawbody), the pristine message of
// full rules (Full), the URI list of uri rules (URIs) and the per-part header
// values of mimeheader rules (MIMEHeader).
//
// The Perl source of SpamAssassin is the specification; every function names
// the file and sub it mirrors. Strings are octets (UTF-8 where SpamAssassin
// produces UTF-8); a caller that matches Perl regexps converts them itself.
package view

import (
	"net/netip"
	"strings"
	"sync"
)

// Field is one header field as levee gets it from the MTA: the name as sent,
// the value raw, without the one leading space after the colon, with its
// folding (CRLF or LF) kept and without the final line ending.
type Field struct{ Name, Value string }

// Options configure a Message. The zero value is SpamAssassin's default
// configuration (no trusted_networks: trust is inferred; the stock scan sizes).
type Options struct {
	// TrustedNetworks and InternalNetworks are SpamAssassin's
	// trusted_networks and internal_networks. When both are empty trust is
	// inferred from the Received chain as SpamAssassin does (private
	// addresses and authenticated hops are trusted); when only one is given
	// it stands for both (Message/Metadata/Received.pm).
	TrustedNetworks  []netip.Prefix
	InternalNetworks []netip.Prefix
	// MSANetworks is msa_networks.
	MSANetworks []netip.Prefix
	// BodyPartScanSize and RawbodyPartScanSize are body_part_scan_size and
	// rawbody_part_scan_size: 0 means SpamAssassin's defaults (50000 and
	// 500000); a negative value means no limit.
	BodyPartScanSize    int
	RawbodyPartScanSize int
	// OriginatingIPHeaders are the originating_ip_headers whose IP address
	// is appended to the Received chain; nil means SpamAssassin's stock list
	// (10_default_prefs.cf). Use an empty non-nil slice for none.
	OriginatingIPHeaders []string
	// EnvelopeSenderHeader is envelope_sender_header: when set, EnvelopeFrom
	// is that header's address only.
	EnvelopeSenderHeader string
	// MaxSize bounds the message bytes looked at (header and body together);
	// 0 means 64 MiB.
	MaxSize int
}

// DefaultOriginatingIPHeaders are SpamAssassin's stock originating_ip_headers
// (10_default_prefs.cf).
var DefaultOriginatingIPHeaders = []string{
	"X-Yahoo-Post-IP", "X-Originating-IP", "X-Apparently-From",
	"X-SenderIP", "X-AOL-IP",
	"X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
}

// Message holds one message and computes each of SpamAssassin's views of it
// once, on first use. A Message is safe for concurrent use.
type Message struct {
	opt  Options
	text string // the message as SpamAssassin reads it

	parseOnce sync.Once
	root      *node
	// nodeMu serialises the views that fill the nodes' caches (decoded
	// and rendered text): Body and Rawbody may be asked concurrently.
	nodeMu sync.Mutex

	bodyOnce sync.Once
	body     []string
	htmlURIs []htmlURI

	rawOnce sync.Once
	rawbody []string

	relayOnce sync.Once
	relays    relayInfo

	uriOnce sync.Once
	uris    []string

	getMu    sync.Mutex
	getCache map[string]getResult
}

type getResult struct {
	val string
	ok  bool
}

// New builds a Message from the header fields and the body a milter gets.
// It is cheap: every view is computed lazily, once.
func New(fields []Field, body []byte, opt Options) *Message {
	max := opt.MaxSize
	if max <= 0 {
		max = 64 << 20
	}
	eol := "\n"
	if detectCRLF(fields, body) {
		eol = "\r\n"
	}
	n := len(body) + 2
	for _, f := range fields {
		n += len(f.Name) + len(f.Value) + 4
	}
	var b strings.Builder
	b.Grow(min(n, max+2))
	for _, f := range fields {
		if b.Len() >= max {
			break
		}
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString(eol)
	}
	b.WriteString(eol)
	if rest := max - b.Len(); rest > 0 {
		if len(body) > rest {
			body = body[:rest]
		}
		b.Write(body)
	}
	return &Message{opt: opt, text: b.String()}
}

// NewRaw builds a Message from a whole message as read from a file.
func NewRaw(msg []byte, opt Options) *Message {
	max := opt.MaxSize
	if max <= 0 {
		max = 64 << 20
	}
	if len(msg) > max {
		msg = msg[:max]
	}
	return &Message{opt: opt, text: string(msg)}
}

// detectCRLF tells whether the message a milter saw used CRLF line endings:
// its body or a folded field does.
func detectCRLF(fields []Field, body []byte) bool {
	if i := indexByte(body, '\n'); i >= 0 {
		return i > 0 && body[i-1] == '\r'
	}
	for _, f := range fields {
		if i := strings.IndexByte(f.Value, '\n'); i >= 0 {
			return i > 0 && f.Value[i-1] == '\r'
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (m *Message) tree() *node {
	m.parseOnce.Do(func() { m.root = parseMessage(m.text, 20) })
	return m.root
}

// Full returns the pristine message, as full rules see it
// (Message.pm get_pristine).
func (m *Message) Full() string {
	r := m.tree()
	return r.pristineHeaders + r.pristineBody
}

func (m *Message) bodyScanSize() int {
	switch {
	case m.opt.BodyPartScanSize == 0:
		return 50000
	case m.opt.BodyPartScanSize < 0:
		return 0
	}
	return m.opt.BodyPartScanSize
}

func (m *Message) rawbodyScanSize() int {
	switch {
	case m.opt.RawbodyPartScanSize == 0:
		return 500000
	case m.opt.RawbodyPartScanSize < 0:
		return 0
	}
	return m.opt.RawbodyPartScanSize
}
