package auth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadKey reads a DKIM private key file: PEM PKCS#8 ("PRIVATE KEY", RSA or
// Ed25519), PEM PKCS#1 ("RSA PRIVATE KEY"), or the base64 Ed25519 seed
// (32 bytes) or seed+public key (64 bytes) of dkimpy, rspamd and OpenDKIM.
// RSA keys under 1024 bits are refused (RFC 8301 section 3.2). It returns
// the signer and "rsa" or "ed25519".
func LoadKey(path string) (crypto.Signer, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	return ParseKey(data)
}

// ParseKey is LoadKey on the file's bytes.
func ParseKey(data []byte) (crypto.Signer, string, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		switch blk.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, "", fmt.Errorf("not a PKCS#1 RSA key: %v", err)
			}
			return checkRSA(k)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, "", fmt.Errorf("not a PKCS#8 key: %v", err)
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return checkRSA(k)
			case ed25519.PrivateKey:
				return k, "ed25519", nil
			}
			return nil, "", fmt.Errorf("%T keys are not DKIM keys (RSA or Ed25519)", k)
		}
		return nil, "", fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, "", errors.New("neither a PEM private key nor a base64 Ed25519 seed")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), "ed25519", nil
	case ed25519.PrivateKeySize:
		return ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), "ed25519", nil
	}
	return nil, "", fmt.Errorf("base64 data of %d bytes is not an Ed25519 seed (32 bytes)", len(raw))
}

func checkRSA(k *rsa.PrivateKey) (crypto.Signer, string, error) {
	if k.N.BitLen() < 1024 {
		return nil, "", fmt.Errorf("RSA key of %d bits: verifiers refuse keys under 1024 bits (RFC 8301)", k.N.BitLen())
	}
	if err := k.Validate(); err != nil {
		return nil, "", err
	}
	return k, "rsa", nil
}

// GenerateKey makes a key: "rsa" (bits, default 2048) or "ed25519". It
// returns the signer and its PKCS#8 PEM encoding.
func GenerateKey(typ string, bits int) (crypto.Signer, []byte, error) {
	var k crypto.Signer
	switch typ {
	case "", "rsa":
		if bits == 0 {
			bits = 2048
		}
		if bits < 1024 {
			return nil, nil, fmt.Errorf("RSA keys under 1024 bits are refused by verifiers (RFC 8301)")
		}
		rk, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, nil, err
		}
		k = rk
	case "ed25519":
		_, ek, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		k = ek
	default:
		return nil, nil, fmt.Errorf("key type %q is not rsa or ed25519", typ)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeyRecord is the DKIM key record (RFC 6376 section 3.6.1; RFC 8463
// section 4 for k=ed25519) of a key's public half.
func KeyRecord(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("%T is not a DKIM key", pub)
}

// ZoneRecord formats the key record as a zone-file line for
// <selector>._domainkey.<domain>, split into strings of at most 255 bytes
// (a TXT string's limit; RFC 6376 section 3.6.2.2 joins them).
func ZoneRecord(domain, selector, record string) string {
	var parts []string
	for len(record) > 255 {
		parts = append(parts, record[:255])
		record = record[255:]
	}
	parts = append(parts, record)
	var b strings.Builder
	fmt.Fprintf(&b, "%s._domainkey.%s. IN TXT (", selector, strings.TrimSuffix(domain, "."))
	for _, p := range parts {
		b.WriteString(" \"" + p + "\"")
	}
	b.WriteString(" )")
	return b.String()
}
