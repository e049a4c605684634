package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/levee-mail/levee/rules/dns"
)

// Fuzz targets for every parser of outside bytes: levee's own (tag lists,
// authserv-id, comments, From) and its use of the libraries' (SPF records
// through check_host, DMARC records, DKIM-Signature fields through the
// whole verifier, Authentication-Results), and the header splitter of
// `levee dkim sign` (a message file from the operator).

func FuzzDKIMSignature(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=From:To; bh=abc=; b=def=", "v=DKIM1; k=rsa; p=")
	f.Add("v=1; a=ed25519-sha256; d=example.com; s=ed; l=5; x=1; t=2; h=from; bh=; b=", "v=DKIM1; k=ed25519; p=AAAA")
	f.Add("d=;;;==; s=\r\n\t x", "p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKONbfscucDA1gJLguItysp+ylZPwm2Cimm2/ABSykFADLcIdGYsPvU+KdjkBDgMNMg+NF5gJ9511mWpXs6Fhw0CAwEAAQ==")
	f.Fuzz(func(t *testing.T, sig, key string) {
		s := parseSig(sig)
		_ = s.keyName()
		_ = keyProblem(key)
		if _, err := parseTags(key); err == nil && strings.Count(key, ";") > maxTags+1 {
			_ = err
		}
		// the whole verifier over a message carrying the field
		res := &dns.MapResolver{TXT: map[string][]string{}}
		if n := s.keyName(); n != "" {
			res.TXT[n] = []string{key}
		}
		c, err := New(Config{Enabled: true, DKIM: true, AuthservID: "mx.test"}, dns.ResolverConfig{Deadline: time.Second}, Options{Resolver: res})
		if err != nil {
			t.Fatal(err)
		}
		sess := c.Start(Envelope{ClientIP: netip.MustParseAddr("192.0.2.1")})
		sess.Header([]Field{{"DKIM-Signature", sig}, {"From", "a@example.com"}, {"Subject", "x"}}, nil)
		sess.Body([]byte("body\r\n"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := sess.Result(ctx)
		if len(r.DKIM) != 1 {
			t.Fatalf("%d results", len(r.DKIM))
		}
		switch r.DKIM[0].Result {
		case "pass", "fail", "policy", "permerror", "temperror":
		default:
			t.Fatalf("result %q", r.DKIM[0].Result)
		}
	})
}

func FuzzSPFRecord(f *testing.F) {
	f.Add("v=spf1 ip4:192.0.2.0/24 include:_spf.example.com redirect=x.example -all")
	f.Add("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} a/24 mx:%{d}/16//64 ptr ?all")
	f.Add("v=spf1 ip6:2001:db8::/129 exp=%{x} -all")
	f.Add("v=spf1 a:%{o}.%{o}.%{o} include:fuzz.example ~all")
	f.Fuzz(spfFuzzBody)
}

func spfFuzzBody(t *testing.T, rec string) {
	res := &dns.MapResolver{TXT: map[string][]string{"fuzz.example": {rec}, "_spf.example.com": {"v=spf1 include:fuzz.example -all"}},
		A: map[string][]netip.Addr{"fuzz.example": {netip.MustParseAddr("192.0.2.9")}}}
	c := dns.NewCache(res, dns.ResolverConfig{CacheSize: 100, MinTTL: time.Minute, MaxTTL: time.Hour, Deadline: time.Second}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, ip := range []string{"192.0.2.9", "2001:db8::9"} {
		r := checkSPF(ctx, c, netip.MustParseAddr(ip), "helo.fuzz.example", "user@fuzz.example")
		if !validSPFResult(r.Result) {
			t.Fatalf("%q: result %q", rec, r.Result)
		}
	}
	if n := len(res.Queries()); n > 60 {
		t.Fatalf("%q: %d queries", rec, n)
	}
}

func FuzzDMARCRecord(f *testing.F) {
	f.Add("v=DMARC1; p=reject; sp=none; adkim=s; aspf=r; pct=50; rua=mailto:a@b", "Alice <a@sub.example.com>")
	f.Add("v=DMARC1;p=bogus;rua=mailto:x", "\"x\" <a@b.c> <d@e.f>")
	f.Add("v=DMARC1; p=quarantine; fo=0:1:d:s; rf=afrf; ri=86400", "=?utf-8?q?=C3=A9?= <a@xn--bcher-kva.example>")
	f.Fuzz(func(t *testing.T, rec, from string) {
		r, err := dmarcRecord([]string{rec, "unrelated"})
		d, ferr := fromDomain([]Field{{"From", from}})
		if ferr == nil && (d == "" || strings.ContainsAny(d, " @<>")) {
			t.Fatalf("From %q: domain %q", from, d)
		}
		if err != nil || r == nil {
			return
		}
		for _, s := range []bool{false, true} {
			res := evalDMARC(r, "example.com", s, "sub.example.com", SPFResult{Result: "pass", Domain: "example.com"},
				[]DKIMResult{{Result: "pass", Domain: "other.example"}}, func(int) bool { return s })
			switch res.Result {
			case "pass", "fail", "temperror":
			default:
				t.Fatalf("%q: %q", rec, res.Result)
			}
		}
	})
}

func FuzzAuthResults(f *testing.F) {
	f.Add("mx.example.org 1; spf=pass smtp.mailfrom=a@example.org; dkim=pass header.d=example.org (ok); dmarc=fail", "mx.example.org")
	f.Add("(c) \"mx.levee.test\" (x(y)z); auth=pass smtp.auth=u", "mx.levee.test")
	f.Add(";;; spf= =x", "x")
	f.Fuzz(func(t *testing.T, v, id string) {
		_ = AuthservID(v)
		_ = stripComments(v)
		spfR, sigs, _ := forwarderResults([]Field{{HeaderAuthResults, v}}, strings.ToLower(id))
		if spfR.Result != "" && !validSPFResult(spfR.Result) {
			t.Fatalf("spf result %q", spfR.Result)
		}
		if len(sigs) > 10 {
			t.Fatalf("%d dkim results", len(sigs))
		}
		// what levee writes, with outside values in it, parses back
		r := &Result{SPF: SPFResult{Result: "pass", Identity: "mailfrom", Sender: "a@b.example", Reason: v}, DKIMChecked: true,
			DKIM: []DKIMResult{{Result: "fail", Domain: "d.example", Reason: v}}}
		out := formatAuthResults("mx.levee.test", r)
		if strings.ContainsAny(strings.ReplaceAll(out, "\n\t", ""), "\r\n") {
			t.Fatalf("line break in %q", out)
		}
		if gotID, rs, err := authres.Parse(strings.ReplaceAll(out, "\n\t", " ")); err != nil || gotID != "mx.levee.test" || len(rs) != 2 {
			t.Fatalf("%q: %q %d %v", out, gotID, len(rs), err)
		}
	})
}

// FuzzSplitHeader: the header splitter behind `levee dkim sign` (and the
// whole SignMessage path: line ends made CRLF, header split, signed) on any
// file. What it signs verifies with go-msgauth's verifier.
func FuzzSplitHeader(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("From: a@example.com\nTo: b@example.org,\n\tc@example.org\n\nbody\n"))
	f.Add([]byte("\r\nbody only"))
	f.Add([]byte(" continuation first\r\n\r\n"))
	f.Add([]byte("no colon here\r\n\r\n"))
	f.Add([]byte("Name : v\r\n:empty name\r\n\r\n"))
	f.Add([]byte("From: a@example.com\r\nX: bare\rCR\r\nY:\r\n"))
	f.Add([]byte("From:a@example.com\r\nFrom: b@example.com\r\n\r\n\r\n\r\n"))
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	rec, err := KeyRecord(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(name string) ([]string, error) {
		if name == "s._domainkey.example.com" {
			return []string{rec}, nil
		}
		return nil, dns.ErrNotFound
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, at, err := splitHeader(data)
		if at < 0 || at > len(data) {
			t.Fatalf("body at %d of %d", at, len(data))
		}
		if err == nil {
			// the body starts after the empty line that ends the header,
			// or there is no body
			if at < len(data) && !(bytes.HasSuffix(data[:at], []byte("\r\n\r\n")) || at == 2 && bytes.HasPrefix(data, []byte("\r\n"))) {
				t.Fatalf("body at %d after %q", at, data[:at])
			}
			for _, fl := range fields {
				if fl.Name == "" || strings.ContainsAny(fl.Name, " \t:") || !bytes.Contains(data[:at], []byte(fl.Name+":")) {
					t.Fatalf("field name %q", fl.Name)
				}
			}
		} else if fields != nil || at != 0 {
			t.Fatalf("error %v with %d fields, body at %d", err, len(fields), at)
		}
		var out bytes.Buffer
		if err := SignMessage(&out, bytes.NewReader(data), "example.com", "s", key); err != nil {
			return
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(out.Bytes()), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: 5})
		if err != nil || len(vs) == 0 || vs[0].Domain != "example.com" || vs[0].Err != nil {
			t.Fatalf("signed %q does not verify: %v %+v", out.Bytes(), err, vs)
		}
	})
}
