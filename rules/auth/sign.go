package auth

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Signing signs one outgoing message with every key of its From domain
// (RFC 6376 section 5; RSA-SHA256 and Ed25519-SHA256 of RFC 8463 side by
// side). The header is given at end of header and the body streams through
// Body: nothing is kept. c=relaxed/relaxed: the milter hands the header
// over without the space after the colon and the MTA may refold it.
type Signing struct {
	Domain  string
	signers []*dkim.Signer
	keys    []*SignKey
	err     error
}

// KeysFor returns the keys for a From domain: the domain's own, else
// those of its nearest parent domain that has keys (a signature with
// d=example.org on mail from sub.example.org aligns in relaxed mode).
func (c *Checker) KeysFor(domain string) []*SignKey {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for d != "" {
		if ks := c.keys[d]; len(ks) > 0 {
			return ks
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	return nil
}

// StartSigning begins signing a message with the keys of its From domain;
// nil when it has none (or no single From address).
func (c *Checker) StartSigning(fields []Field) *Signing {
	if len(c.keys) == 0 {
		return nil
	}
	from, err := fromDomain(fields)
	if err != nil {
		return nil
	}
	keys := c.KeysFor(from)
	if len(keys) == 0 {
		return nil
	}
	s := &Signing{Domain: from, keys: keys}
	hkeys := signedFields(fields, c.cfg.SignHeaders)
	hdr := headerBytes(fields)
	for _, k := range keys {
		sg, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             hkeys,
		})
		if err != nil {
			s.err = err
			break
		}
		if _, err := sg.Write(hdr); err != nil {
			s.err = err
			break
		}
		s.signers = append(s.signers, sg)
	}
	return s
}

// signedFields is the h= list: each name of want as often as it occurs in
// the header (case kept from want), and From once more than it occurs
// (over-signing: a From added later breaks the signature).
func signedFields(fields []Field, want []string) []string {
	if len(want) == 0 {
		want = DefaultSignHeaders
	}
	count := map[string]int{}
	for _, f := range fields {
		count[strings.ToLower(f.Name)]++
	}
	var out []string
	done := map[string]bool{}
	for _, w := range want {
		lw := strings.ToLower(w)
		if done[lw] {
			continue
		}
		done[lw] = true
		n := count[lw]
		if lw == "from" {
			n++
		}
		for range n {
			out = append(out, w)
		}
	}
	return out
}

// Body feeds a body chunk (CRLF line ends) to every signer.
func (s *Signing) Body(chunk []byte) {
	if s == nil || s.err != nil {
		return
	}
	for _, sg := range s.signers {
		if _, err := sg.Write(chunk); err != nil {
			s.err = err
			return
		}
	}
}

// Finish returns the DKIM-Signature fields to add at the top, in key
// order, as name and value folded with "\n\t" for the milter.
func (s *Signing) Finish() ([]Field, error) {
	if s == nil {
		return nil, nil
	}
	var out []Field
	for _, sg := range s.signers {
		err := sg.Close()
		if s.err == nil && err != nil {
			s.err = err
		}
		if s.err != nil {
			continue
		}
		name, value, ok := strings.Cut(sg.Signature(), ":")
		if !ok {
			s.err = errors.New("dkim: bad signature field")
			continue
		}
		value = strings.TrimSpace(value)
		value = strings.ReplaceAll(value, "\r\n", "\n")
		out = append(out, Field{Name: name, Value: value})
	}
	if s.err != nil {
		return nil, fmt.Errorf("dkim signing for %s: %w", s.Domain, s.err)
	}
	return out, nil
}

// Abort releases the signers of a message that will not be signed.
func (s *Signing) Abort() {
	if s == nil {
		return
	}
	for _, sg := range s.signers {
		sg.Close()
	}
}

// SignMessage signs a whole message read from r with one key and writes
// the signed message (DKIM-Signature first, CRLF line ends) to w: the
// engine of `levee dkim sign`.
func SignMessage(w io.Writer, r io.Reader, domain, selector string, key crypto.Signer) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	data = toCRLF(data)
	fields, _, err := splitHeader(data)
	if err != nil {
		return err
	}
	d, err := normDomain(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %v", domain, err)
	}
	sg, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: d, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             signedFields(fields, nil),
	})
	if err != nil {
		return err
	}
	if _, err := sg.Write(data); err != nil {
		return err
	}
	sigs, err := (&Signing{Domain: d, signers: []*dkim.Signer{sg}}).Finish()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, f := range sigs {
		bw.WriteString(f.Name + ": " + strings.ReplaceAll(f.Value, "\n", "\r\n") + "\r\n")
	}
	bw.Write(data)
	return bw.Flush()
}

// toCRLF turns bare LF line ends into CRLF (a message file saved with
// Unix line ends is signed as it will travel).
func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\r\n")) == bytes.Count(b, []byte("\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// splitHeader reads the header fields of a CRLF message and where the
// body starts.
func splitHeader(b []byte) ([]Field, int, error) {
	var fields []Field
	i := 0
	for i < len(b) {
		j := bytes.Index(b[i:], []byte("\r\n"))
		if j < 0 {
			j = len(b) - i
		}
		line := string(b[i : i+j])
		next := min(i+j+2, len(b))
		if line == "" {
			return fields, next, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, 0, errors.New("message starts with a continuation line")
			}
			fields[len(fields)-1].Value += "\r\n" + line
		} else if name, value, ok := strings.Cut(line, ":"); ok && name != "" && !strings.ContainsAny(name, " \t") {
			fields = append(fields, Field{Name: name, Value: strings.TrimPrefix(value, " ")})
		} else {
			return nil, 0, fmt.Errorf("not a header field: %.40q", line)
		}
		i = next
	}
	return fields, len(b), nil
}
