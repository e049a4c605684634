package view

import (
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// qpDecode is Util.pm qp_decode.
func qpDecode(s string) string {
	// s/[ \t]+(?=\r?\n)//gs; s/=\r?\n//gs; s/=([0-9a-fA-F]{2})/chr(hex($1))/ge
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' {
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && (s[j] == '\n' || (s[j] == '\r' && j+1 < len(s) && s[j+1] == '\n')) {
				i = j - 1
				continue
			}
			b.WriteString(s[i:j])
			i = j - 1
			continue
		}
		if c == '=' {
			// soft line break, after trailing-space removal: "=" [ \t]* \r? \n
			j := i + 1
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && s[j] == '\n' {
				i = j
				continue
			}
			if j+1 < len(s) && s[j] == '\r' && s[j+1] == '\n' {
				i = j + 1
				continue
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func b64val(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// base64Decode is Util.pm base64_decode.
func base64Decode(in string) string {
	s := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		if !isPerlSpaceByte(in[i]) {
			s = append(s, in[i])
		}
	}
	strict := len(s)%4 == 0 && len(s) >= 2
	if strict {
		// ^(?:[A-Za-z0-9+/=]{2,}={0,2})$
		for _, c := range s {
			if b64val(c) < 0 && c != '=' {
				strict = false
				break
			}
		}
	}
	if strict {
		// s/(=+)(?!=*$)/'A' x length($1)/ge: '=' not in the final run
		end := len(s)
		for end > 0 && s[end-1] == '=' {
			end--
		}
		for i := 0; i < end; i++ {
			if s[i] == '=' {
				s[i] = 'A'
			}
		}
		// MIME::Base64 decode_base64: stop at the padding
		out := make([]byte, 0, len(s)*3/4)
		var acc, n int
		for _, c := range s {
			if c == '=' {
				break
			}
			v := b64val(c)
			acc = acc<<6 | v
			n++
			if n == 4 {
				out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, n = 0, 0
			}
		}
		switch n {
		case 2:
			out = append(out, byte(acc>>4))
		case 3:
			out = append(out, byte(acc>>10), byte(acc>>2))
		}
		return string(out)
	}
	// the uudecode fallback: keep the alphabet and '=', drop the final
	// padding, '=' counts as 63
	t := s[:0]
	for _, c := range s {
		if b64val(c) >= 0 || c == '=' {
			t = append(t, c)
		}
	}
	for len(t) > 0 && t[len(t)-1] == '=' {
		t = t[:len(t)-1]
	}
	if len(t)%4 == 1 {
		t = t[:len(t)-1]
	}
	out := make([]byte, 0, len(t)*3/4+3)
	// unpack("u") per chunk of at most 84 chars
	for off := 0; off < len(t); off += 84 {
		chunk := t[off:min(off+84, len(t))]
		nbytes := len(chunk) * 3 / 4
		var acc, n int
		var got []byte
		for _, c := range chunk {
			v := b64val(c)
			if c == '=' {
				v = 63
			}
			acc = acc<<6 | v
			n++
			if n == 4 {
				got = append(got, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, n = 0, 0
			}
		}
		switch n {
		case 1:
			got = append(got, byte(acc<<2), 0, 0)
		case 2:
			got = append(got, byte(acc>>4), byte(acc<<4), 0)
		case 3:
			got = append(got, byte(acc>>10), byte(acc>>2), byte(acc<<6))
		}
		if len(got) > nbytes {
			got = got[:nbytes]
		}
		out = append(out, got...)
	}
	return string(out)
}

// decoder is an Encode decoder.
type decoder struct {
	name string
	enc  encoding.Encoding // nil: ascii
	utf8 bool
}

var decoderCache sync.Map // lower-cased name -> *decoder (nil when none)

var (
	decUTF7  = &decoder{name: "UTF-7"}
	decEUCCN = &decoder{name: "euc-cn", enc: simplifiedchinese.GBK}
	decW1252 = &decoder{name: "cp1252", enc: charmap.Windows1252}
	decUTF8  = &decoder{name: "utf-8-strict", utf8: true}
	decASCII = &decoder{name: "ascii"}
)

// findEncoding is Encode::find_encoding: nil when Perl's Encode has no
// decoder for the name.
func findEncoding(name string) *decoder {
	l := strings.ToLower(strings.TrimSpace(name))
	if v, ok := decoderCache.Load(l); ok {
		d, _ := v.(*decoder)
		return d
	}
	d := lookupEncoding(l)
	decoderCache.Store(l, d)
	return d
}

func lookupEncoding(l string) *decoder {
	switch l {
	case "":
		return nil
	case "utf8", "utf-8", "utf-8-strict":
		return decUTF8
	case "ascii", "us-ascii", "ansi_x3.4-1968", "ansi_x3.4-1986", "iso646-us", "iso-646-us", "us":
		return decASCII
	case "utf-7", "unicode-1-1-utf-7", "csunicode11utf7":
		return decUTF7
	case "gb2312", "euc-cn", "csgb2312", "gb_2312-80", "x-euc-cn", "chinese":
		return decEUCCN
	case "gb18030", "default", "default_charset", "unknown", "x-unknown", "unknown-8bit", "x-user-defined":
		// Perl's Encode has no decoder for these (GB18030 is handled
		// by the caller)
		return nil
	case "latin1", "iso-8859-1", "iso8859-1", "iso_8859-1", "l1":
		return &decoder{name: "iso-8859-1", enc: charmap.ISO8859_1}
	case "iso-8859-9", "iso8859-9", "latin5":
		return &decoder{name: "iso-8859-9", enc: charmap.ISO8859_9}
	case "tis-620", "iso-8859-11":
		return &decoder{name: "iso-8859-11", enc: charmap.Windows874}
	case "utf-16le":
		return &decoder{name: "UTF-16LE", enc: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)}
	case "utf-16be":
		return &decoder{name: "UTF-16BE", enc: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)}
	}
	if e, err := ianaindex.IANA.Encoding(l); err == nil && e != nil {
		return &decoder{name: l, enc: e}
	}
	if e, err := htmlindex.Get(l); err == nil && e != nil {
		return &decoder{name: l, enc: e}
	}
	if strings.HasPrefix(l, "windows-") || strings.HasPrefix(l, "cp") {
		n := strings.TrimPrefix(strings.TrimPrefix(l, "windows-"), "cp")
		if e, err := htmlindex.Get("windows-" + n); err == nil && e != nil {
			return &decoder{name: l, enc: e}
		}
	}
	return nil
}

// decode decodes data; strict reports failure on malformed input (Encode's
// FB_CROAK), otherwise malformed input becomes U+FFFD.
func (d *decoder) decode(data string, strict bool) (string, bool) {
	switch d {
	case decUTF7:
		return decodeUTF7(data, strict)
	case decEUCCN:
		// Perl's euc-cn is GB 2312 alone: GBK's extra codes fail, and two
		// codes map as in GB2312.TXT
		if !validEUCCN(data) && strict {
			return "", false
		}
		out, _ := d.enc.NewDecoder().String(data)
		out = strings.ReplaceAll(out, "\u2014", "\u2015")
		out = strings.ReplaceAll(out, "\u00b7", "\u30fb")
		return strings.ToValidUTF8(out, "\uFFFD"), true
	}
	if d.utf8 {
		if utf8.ValidString(data) {
			return data, true
		}
		if strict {
			return "", false
		}
		return perlUTF8Lax(data), true
	}
	if d.enc == nil { // ascii
		for i := 0; i < len(data); i++ {
			if data[i] >= 0x80 {
				if strict {
					return "", false
				}
				var b strings.Builder
				for j := 0; j < len(data); j++ {
					if data[j] >= 0x80 {
						b.WriteString("\uFFFD")
					} else {
						b.WriteByte(data[j])
					}
				}
				return b.String(), true
			}
		}
		return data, true
	}
	if d == decW1252 || d.enc == charmap.Windows1252 {
		return decodeW1252(data, strict)
	}
	out, err := d.enc.NewDecoder().String(data)
	if err != nil {
		if strict {
			return "", false
		}
		return strings.ToValidUTF8(out, "\uFFFD"), true
	}
	if strict && strings.Contains(out, "\uFFFD") && !strings.Contains(data, "\xef\xbf\xbd") {
		return "", false
	}
	return out, true
}

// decodeW1252 is Encode's cp1252: 0x81, 0x8D, 0x8F, 0x90 and 0x9D are
// undefined.
func decodeW1252(data string, strict bool) (string, bool) {
	var b strings.Builder
	b.Grow(len(data) + len(data)/2)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c < 0x80 {
			b.WriteByte(c)
			continue
		}
		switch c {
		case 0x81, 0x8D, 0x8F, 0x90, 0x9D:
			if strict {
				return "", false
			}
			b.WriteString("\uFFFD")
			continue
		}
		b.WriteRune(charmap.Windows1252.DecodeByte(c))
	}
	return b.String(), true
}

// perlUTF8Lax is Encode's UTF-8 decode without FB_CROAK: a malformed
// sequence (a lead byte and the continuation bytes that follow it) becomes
// one U+FFFD.
func perlUTF8Lax(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		c := s[i]
		need := 0
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
		case c >= 0xF0 && c <= 0xF4:
			need = 3
		}
		j := i + 1
		for k := 0; k < need && j < len(s) && s[j] >= 0x80 && s[j] <= 0xBF; k++ {
			j++
		}
		b.WriteString("\uFFFD")
		i = j
	}
	return b.String()
}

var (
	reASCIIish    = regexp.MustCompile(`(?i)^(?:(?:US-)?ASCII|ANSI[_ ]?X3\.4-(?:1986|1968)|ISO646-US)$`)
	reExtASCIIish = regexp.MustCompile(`(?i)^(?:ISO[ -]?8859(?:-\d{1,2})?|Windows-\d{4}|UTF-?8|(?:KOI8|EUC)-[A-Z]{1,2}|Big5|GBK|GB[ -]?18030(?:-20\d\d)?)$`)
	reW1252ish    = regexp.MustCompile(`(?i)^(?:ISO-?8859-1|Windows-1252|CP1252)$`)
	reUTF8ish     = regexp.MustCompile(`(?i)^UTF-?8$`)
	reGB18030     = regexp.MustCompile(`(?i)^GB[ -]?18030(?:-20\d\d)?$`)
	reUSASCII     = regexp.MustCompile(`(?i)^(?:US-)?ASCII$`)
	reUTF16       = regexp.MustCompile(`(?i)^UTF[ -]?16`)
)

// w1252Guessable is tr/\x00-\x7f\xa0\xa9\xad\x82\x84\x85\x91-\x97\x99\xc0-\xd6\xd8-\xde\xe0-\xf6\xf8-\xfe//c == 0.
func w1252Guessable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80, c == 0xa0, c == 0xa9, c == 0xad, c == 0x82, c == 0x84, c == 0x85,
			c >= 0x91 && c <= 0x97, c == 0x99, c >= 0xc0 && c <= 0xd6, c >= 0xd8 && c <= 0xde,
			c >= 0xe0 && c <= 0xf6, c >= 0xf8 && c <= 0xfe:
		default:
			return false
		}
	}
	return true
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// normalize is Message/Node.pm _normalize: it returns the text as UTF-8 and
// whether Perl's result is a decoded (character) string; when it is not, the
// input is returned unchanged (it is all ASCII).
func normalize(data, declared string, insist bool) (string, bool) {
	cnt8 := has8bit(data)
	if !cnt8 && (reASCIIish.MatchString(declared) || reExtASCIIish.MatchString(declared)) {
		return data, false
	}
	triedUTF8 := false
	if cnt8 && !insist {
		if utf8.ValidString(data) {
			return data, true
		}
		triedUTF8 = true
	}
	var rv string
	ok := false
	switch {
	case reUSASCII.MatchString(declared) && !insist:
	case reUTF16.MatchString(declared):
		if d := detectUTF16(data); d != nil {
			rv, ok = d.decode(data, true)
		}
	default:
		var d *decoder
		chset := declared
		switch {
		case reW1252ish.MatchString(declared):
			chset, d = "Windows-1252", decW1252
		case reUTF8ish.MatchString(declared):
			chset, d = "UTF-8", decUTF8
		default:
			d = findEncoding(chset)
			if d == nil && reGB18030.MatchString(chset) {
				d = findEncoding("gbk")
			}
		}
		if d != nil && !(triedUTF8 && chset == "UTF-8") {
			rv, ok = d.decode(data, !insist)
		}
	}
	if !ok && !cnt8 {
		return data, false
	}
	if !ok && w1252Guessable(data) {
		rv, ok = decodeW1252(data, true)
	}
	if !ok {
		rv, _ = decodeW1252(data, false)
	}
	return rv, true
}

// detectUTF16 is Node.pm detect_utf16.
func detectUTF16(data string) *decoder {
	if strings.HasPrefix(data, "\xff\xfe") || strings.HasPrefix(data, "\xfe\xff") {
		return nil
	}
	le, be := 0, 0
	var sumHE, sumHO, sumLE, sumLO int
	for i := 0; i < len(data); i += 2 {
		a := data[i]
		var b byte
		hasB := i+1 < len(data)
		if hasB {
			b = data[i+1]
		}
		sumHE += int(a >> 4)
		sumLE += int(a & 15)
		if hasB {
			sumHO += int(b >> 4)
			sumLO += int(b & 15)
		}
		// "%01X%01X %01X%01X" of the two bytes
		if a == 0x20 && hasB && b == 0 {
			le++
		}
		if a == 0 && hasB && b == 0x20 {
			be++
		}
		// also the '20 00' / '00 20' could straddle the middle space:
		// "X2 0Y" never contains "20 00" across fields except as above
	}
	if (sumHE + sumLE) > (sumHO+sumLO)*4 {
		le++
	}
	if (sumHO+sumLO)*4 > (sumHE + sumLE) {
		be++
	}
	switch {
	case le > be:
		return findEncoding("utf-16le")
	case be > le:
		return findEncoding("utf-16be")
	}
	return nil
}

// headerNoMIMEDecode are the fields _decode_header leaves alone (bugs 6945
// and 7249).
func headerNoMIMEDecode(name string) bool {
	switch name {
	case "received", "message-id", "resent-message-id", "date", "resent-date",
		"mime-version", "references", "in-reply-to":
		return true
	}
	return strings.HasPrefix(name, "list-")
}

// decodeHeader is Node.pm _decode_header.
func decodeHeader(body, name string) string {
	if body == "" {
		return ""
	}
	if strings.IndexByte(body, '\n') >= 0 {
		body = strings.ReplaceAll(body, "\n\t", "\n ")
		body = strings.ReplaceAll(body, "\r\n", "")
		body = strings.ReplaceAll(body, "\n", "")
	}
	if has8bit(body) {
		body, _ = normalize(body, "UTF-8", false)
	}
	if headerNoMIMEDecode(strings.ToLower(name)) || !strings.Contains(body, "=?") {
		return body
	}
	body = joinEncodedWords(body)
	type section struct {
		s   string
		enc string
	}
	var secs []section
	last := ""
	for i := 0; i < len(body); {
		var enc, str string
		if e, cte, data, n := matchEncodedWord(body[i:]); n > 0 {
			enc = strings.ToLower(e)
			str = decodeEncodedWordData(cte, data)
			i += n
		} else {
			j := i
			if body[i] == '=' {
				j = i + 1
			} else {
				for j < len(body) && body[j] != '=' {
					j++
				}
			}
			str = body[i:j]
			i = j
		}
		if enc == last && len(secs) > 0 {
			secs[len(secs)-1].s += str
		} else {
			secs = append(secs, section{str, enc})
		}
		last = enc
	}
	var b strings.Builder
	for _, s := range secs {
		enc := s.enc
		if k := strings.IndexByte(enc, '*'); k >= 0 {
			enc = enc[:k]
		}
		if enc == "" && s.enc == "" {
			b.WriteString(s.s)
			continue
		}
		out, _ := normalize(s.s, enc, true)
		b.WriteString(out)
	}
	return b.String()
}

// matchEncodedWord matches =\?([A-Za-z0-9*_-]+)\?([bqBQ])\?([^?]*)\?= at the
// start of s.
func matchEncodedWord(s string) (charset, cte, data string, n int) {
	if len(s) < 8 || s[0] != '=' || s[1] != '?' {
		return
	}
	i := 2
	for i < len(s) && (isWordByte(s[i]) && s[i] != '_' || s[i] == '*' || s[i] == '_' || s[i] == '-') {
		i++
	}
	if i == 2 || i+3 > len(s) || s[i] != '?' {
		return
	}
	c := s[i+1]
	if c != 'b' && c != 'B' && c != 'q' && c != 'Q' {
		return
	}
	if s[i+2] != '?' {
		return
	}
	j := i + 3
	for j < len(s) && s[j] != '?' {
		j++
	}
	if j+1 >= len(s) || s[j+1] != '=' {
		return
	}
	return s[2:i], string(c), s[i+3 : j], j + 2
}

// joinEncodedWords drops the white space between adjacent encoded words.
func joinEncodedWords(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if _, _, _, n := matchEncodedWord(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			j := i + n
			k := j
			for k < len(s) && isPerlSpaceByte(s[k]) {
				k++
			}
			if k > j {
				if _, _, _, m := matchEncodedWord(s[k:]); m > 0 {
					i = k
					continue
				}
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// decodeEncodedWordData is the B/Q part of Node.pm _decode_mime_encoded_word.
func decodeEncodedWordData(cte, data string) string {
	if cte == "B" || cte == "b" {
		return base64Decode(data)
	}
	return qpDecode(strings.ReplaceAll(data, "_", "=20"))
}

// validEUCCN reports whether s is ASCII and GB 2312 double bytes only.
func validEUCCN(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			continue
		}
		if c < 0xa1 || c > 0xf7 || i+1 >= len(s) || s[i+1] < 0xa1 || s[i+1] > 0xfe {
			return false
		}
		i++
	}
	return true
}

// decodeUTF7 is Encode's UTF-7 (RFC 2152): "+" opens modified base64 of
// UTF-16BE, closed by any other character ("-" is absorbed); "+-" is "+".
func decodeUTF7(s string, strict bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			if strict {
				return "", false
			}
			b.WriteString("\uFFFD")
			continue
		}
		if c != '+' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '-' {
			b.WriteByte('+')
			i = j
			continue
		}
		var acc uint32
		bits := 0
		var units []uint16
		for j < len(s) && b64val(s[j]) >= 0 {
			acc = acc<<6 | uint32(b64val(s[j]))
			bits += 6
			if bits >= 16 {
				bits -= 16
				units = append(units, uint16(acc>>uint(bits)))
				acc &= 1<<uint(bits) - 1
			}
			j++
		}
		for k := 0; k < len(units); k++ {
			u := rune(units[k])
			if u >= 0xd800 && u < 0xdc00 && k+1 < len(units) && units[k+1] >= 0xdc00 && units[k+1] < 0xe000 {
				u = (u-0xd800)<<10 + rune(units[k+1]-0xdc00) + 0x10000
				k++
			} else if u >= 0xd800 && u < 0xe000 {
				u = 0xfffd
			}
			b.WriteRune(u)
		}
		if j < len(s) && s[j] == '-' {
			j++
		}
		i = j - 1
	}
	return b.String(), true
}
