package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/levee-mail/levee/rules"
)

func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file")
	explain := fs.Bool("explain", false, "print every hit with its score and description")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	useDNS := fs.Bool("dns", false, "query the configured DNS blocklists and check SPF, DKIM and DMARC (off by default: offline)")
	ip := fs.String("ip", "", "client IP (default: from the topmost Received field)")
	clientName := fs.String("client-name", "", "client host name as the MTA reports it ([ip] when none)")
	helo := fs.String("helo", "", "HELO name (default: from the topmost Received field)")
	from := fs.String("from", "", "envelope sender (MAIL FROM)")
	var rcpts multiFlag
	fs.Var(&rcpts, "rcpt", "envelope recipient (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: levee check [flags] FILE|DIR|-...")
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	e, err := rules.NewEngine(cfg.Rules, rules.Options{NoDNS: !*useDNS, Logger: newLogger(LogConfig{Level: "error"}, stderr)})
	if err != nil {
		fmt.Fprintln(stderr, "levee:", err)
		return 2
	}
	defer e.Close()
	base := rules.Envelope{ClientName: *clientName, Helo: *helo, MailFrom: *from, Rcpts: rcpts}
	if *ip != "" {
		a, err := netip.ParseAddr(*ip)
		if err != nil {
			fmt.Fprintf(stderr, "levee: --ip %q is not an IP address\n", *ip)
			return 2
		}
		base.ClientIP = a
		if base.ClientName == "" {
			base.ClientName = "[" + a.String() + "]"
		}
	}
	var files []string
	for _, a := range fs.Args() {
		if a == "-" {
			files = append(files, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			fmt.Fprintln(stderr, "levee:", err)
			return 2
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		var inDir []string
		filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
				inDir = append(inDir, p)
			}
			return nil
		})
		sort.Strings(inDir)
		files = append(files, inDir...)
	}
	var nSpam, nHam, nErr int
	many := len(files) > 1
	for _, f := range files {
		v, m, err := checkOne(e, f, stdin, base)
		if err != nil {
			nErr++
			fmt.Fprintf(stderr, "levee: %s: %v\n", f, err)
			continue
		}
		if v.Spam {
			nSpam++
		} else {
			nHam++
		}
		switch {
		case *asJSON:
			writeJSON(stdout, f, m, &v)
		case *explain:
			if many {
				fmt.Fprintf(stdout, "== %s\n", f)
			}
			writeExplain(stdout, &v)
		default:
			fmt.Fprintf(stdout, "%s: score=%s action=%s tests=%s\n", f, rules.FormatScore(v.Score), v.Action, strings.Join(v.HitNames(), ","))
		}
	}
	if many && !*asJSON {
		fmt.Fprintf(stdout, "%d messages: %d spam (at or over %s), %d ham, %d errors\n", len(files), nSpam, rules.FormatScore(requiredOf(e)), nHam, nErr)
	}
	switch {
	case nErr > 0:
		return 2
	case nSpam > 0:
		return 1
	}
	return 0
}

func requiredOf(e *rules.Engine) float64 { return e.Required() }

func checkOne(e *rules.Engine, path string, stdin io.Reader, base rules.Envelope) (rules.Verdict, *rules.Message, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return rules.Verdict{}, nil, err
		}
		defer f.Close()
		r = f
	}
	env := base
	env.Rcpts = append([]string(nil), base.Rcpts...)
	data, err := io.ReadAll(r)
	if err != nil {
		return rules.Verdict{}, nil, err
	}
	m, err := rules.ReadMessage(bytes.NewReader(data), env, e.ScanLimit())
	if err != nil {
		return rules.Verdict{}, nil, err
	}
	rules.FillEnvelope(m)
	prepareAuth(e, m, data)
	ctx, cancel := context.WithTimeout(context.Background(), e.Config().DNS.Deadline+time.Second)
	defer cancel()
	return e.Judge(ctx, m, nil), m, nil
}

func writeExplain(w io.Writer, v *rules.Verdict) {
	fmt.Fprintf(w, "Score: %s (required %s)  Spam: %v  Action: %s", rules.FormatScore(v.Score), rules.FormatScore(v.Required), v.Spam, v.Action)
	if v.Skipped != "" {
		fmt.Fprintf(w, "  (not scored: %s sender)", v.Skipped)
	}
	fmt.Fprintln(w)
	if len(v.Hits) > 0 {
		fmt.Fprintln(w, " pts rule name              description")
		fmt.Fprintln(w, "---- ---------------------- --------------------------------------------------")
		for _, h := range v.Hits {
			fmt.Fprintf(w, "%4s %-22s %s\n", rules.FormatScore(h.Score), h.Name, h.Desc)
		}
	}
	for _, e := range v.Errors {
		fmt.Fprintln(w, "note:", e)
	}
	writeAuth(w, v)
}

type jsonHit struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
	Desc  string  `json:"description"`
}

func writeJSON(w io.Writer, file string, m *rules.Message, v *rules.Verdict) {
	hits := make([]jsonHit, len(v.Hits))
	for i, h := range v.Hits {
		hits[i] = jsonHit{h.Name, h.Score, h.Desc}
	}
	out := map[string]any{
		"file": file, "score": v.Score, "required": v.Required, "spam": v.Spam,
		"action": v.Action.String(), "hits": hits, "client_ip": m.Env.ClientIP.String(), "helo": m.Env.Helo,
	}
	if v.Skipped != "" {
		out["skipped"] = v.Skipped
	}
	if a := authJSON(v.Auth); a != nil {
		out["auth"] = a
	}
	b, _ := json.Marshal(out)
	fmt.Fprintln(w, string(b))
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
