package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/levee-mail/levee/rules/auth"
)

func init() {
	extraCommands["dkim"] = cmdDKIM
}

const dkimUsage = `usage: levee dkim keygen --domain D --selector S [--type rsa|ed25519] [--bits N] --out FILE
       levee dkim sign --domain D --selector S --key FILE < MSG > SIGNED

keygen writes a private key (PKCS#8 PEM, mode 0600; RSA 2048 bits by default)
and prints the DNS TXT record to publish at S._domainkey.D. sign signs a
message file (c=relaxed/relaxed, the header fields of RFC 6376 section 5.4.1)
and writes it, DKIM-Signature first, to stdout: to check a setup.
`

func cmdDKIM(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	fs := flag.NewFlagSet("dkim "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dkimUsage) }
	domain := fs.String("domain", "", "signing domain (d=)")
	selector := fs.String("selector", "", "selector (s=)")
	switch args[0] {
	case "keygen":
		typ := fs.String("type", "rsa", "rsa or ed25519")
		bits := fs.Int("bits", 2048, "RSA key size")
		out := fs.String("out", "", "private key file to write (must not exist)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *domain == "" || *selector == "" || *out == "" || fs.NArg() > 0 {
			fs.Usage()
			return 2
		}
		k, pemKey, err := auth.GenerateKey(*typ, *bits)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		rec, err := auth.KeyRecord(k.Public())
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		if _, err := f.Write(pemKey); err != nil {
			f.Close()
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		if err := f.Close(); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		fmt.Fprintf(stdout, "; private key written to %s (mode 0600); publish this record:\n%s\n", *out, auth.ZoneRecord(*domain, *selector, rec))
		return 0
	case "sign":
		keyPath := fs.String("key", "", "private key file")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *domain == "" || *selector == "" || *keyPath == "" || fs.NArg() > 0 {
			fs.Usage()
			return 2
		}
		k, _, err := auth.LoadKey(*keyPath)
		if err != nil {
			fmt.Fprintf(stderr, "levee: %s: %v\n", *keyPath, err)
			return 2
		}
		if err := auth.SignMessage(stdout, stdin, *domain, *selector, k); err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stderr, dkimUsage)
	return 2
}
