package rules

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The table test of every built-in check: each family's test file
// (envelope_test.go, received_test.go, header_test.go, mime_test.go,
// links_test.go, phrases_test.go) adds a case per check to checkCases: an
// edit of the base message that fires it and a near miss that does not.

// checkCase is one table case: the base message with edits applied.
// hdr lines "Name: value" replace the base field of that name (the first
// one), "Name:" alone deletes it, "+Name: value" adds another field at the
// end of the header. body, when set, replaces the body. env edits the
// envelope.
type checkEdit struct {
	hdr  []string
	body string
	env  func(*Envelope)
}

type checkCase struct {
	rule       string
	fire, miss checkEdit
}

var arrival = time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)

const baseHeader = `Received: from mail.example.org (mail.example.org [93.184.216.34]) by mx.example.net (Postfix) with ESMTPS id 4AbC1; Tue, 2 Jan 2024 10:00:00 +0000
Received: from [192.168.1.20] (unknown [81.2.69.142]) by mail.example.org (Postfix) with ESMTPSA id 77F2; Tue, 2 Jan 2024 09:59:58 +0000
From: Alice Example <alice@example.org>
To: Bob <bob@example.net>
Subject: Lunch tomorrow
Date: Tue, 2 Jan 2024 09:59:50 +0000
Message-ID: <20240102095950.12345@mail.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
`

const baseBody = "Hi Bob,\n\nshall we have lunch tomorrow at noon? The usual place near the station.\n\nAlice\n"

func baseEnv() Envelope {
	return Envelope{
		ClientIP:   netip.MustParseAddr("93.184.216.34"),
		ClientName: "mail.example.org",
		Helo:       "mail.example.org",
		MailFrom:   "alice@example.org",
		Rcpts:      []string{"bob@example.net"},
		Time:       arrival,
	}
}

// buildCase makes the message of an edit.
func buildCase(t *testing.T, e checkEdit) *Message {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(baseHeader, "\n"), "\n")
	for _, h := range e.hdr {
		add := strings.HasPrefix(h, "+")
		h = strings.TrimPrefix(h, "+")
		name, value, _ := strings.Cut(h, ":")
		if add {
			lines = append(lines, h)
			continue
		}
		found := false
		for i, l := range lines {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				if strings.TrimSpace(value) == "" {
					lines = append(lines[:i], lines[i+1:]...)
				} else {
					lines[i] = h
				}
				found = true
				break
			}
		}
		if !found && strings.TrimSpace(value) != "" {
			lines = append(lines, h)
		}
	}
	body := baseBody
	if e.body != "" {
		body = e.body
	}
	env := baseEnv()
	if e.env != nil {
		e.env(&env)
	}
	raw := strings.Join(lines, "\n") + "\n\n" + body
	m, err := ReadMessage(strings.NewReader(raw), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hdr(h ...string) checkEdit { return checkEdit{hdr: h} }

func envOnly(f func(*Envelope)) checkEdit { return checkEdit{env: f} }

func helo(h string) checkEdit { return envOnly(func(e *Envelope) { e.Helo = h }) }

func rdns(n string) checkEdit { return envOnly(func(e *Envelope) { e.ClientName = n }) }

const alternative = `--b1
Content-Type: text/plain; charset=utf-8

%s
--b1
Content-Type: text/html; charset=utf-8

<html><head><title>x</title><style>p {color: red}</style></head><body><p>%s</p></body></html>
--b1--
`

func alt(plain, htm string) string {
	return strings.Replace(strings.Replace(alternative, "%s", plain, 1), "%s", htm, 1)
}

const altHdr = "Content-Type: multipart/alternative; boundary=b1"

const htmlHdr = "Content-Type: text/html; charset=utf-8"

// htmlBody is an HTML-only message with body b.
func htmlBody(b string, h ...string) checkEdit {
	return checkEdit{hdr: append([]string{htmlHdr}, h...), body: "<html><body>" + b + "</body></html>\n"}
}

func textBody(b string, h ...string) checkEdit { return checkEdit{hdr: h, body: b + "\n"} }

const longText = "Here is the report on the quarterly numbers you asked about last week, with the charts for each region and the notes from the meeting."

func b64(s string) string {
	e := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(e) > 76 {
		b.WriteString(e[:76] + "\n")
		e = e[76:]
	}
	return b.String() + e + "\n"
}

// checkCases are the table cases of every family, added by their files.
var checkCases []checkCase

func TestChecksTable(t *testing.T) {
	rules := map[string]Rule{}
	for _, r := range Builtin() {
		rules[r.Name] = r
	}
	for _, c := range checkCases {
		t.Run(c.rule, func(t *testing.T) {
			r, ok := rules[c.rule]
			if !ok {
				t.Fatalf("no rule %s", c.rule)
			}
			if m := buildCase(t, c.fire); !r.Test(m) {
				t.Errorf("%s does not fire on its case", c.rule)
			}
			if m := buildCase(t, c.miss); r.Test(m) {
				t.Errorf("%s fires on its near miss", c.rule)
			}
		})
	}
}

// TestBaseMessageIsClean: the base of the table fires nothing, so each
// case's hit comes from its edit.
func TestBaseMessageIsClean(t *testing.T) {
	m := buildCase(t, checkEdit{})
	for _, r := range Builtin() {
		if r.Test(m) {
			t.Errorf("%s fires on the base message", r.Name)
		}
	}
}

var ruleNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)

func TestRegisteredRulesAreComplete(t *testing.T) {
	cased := map[string]bool{}
	for _, c := range checkCases {
		cased[c.rule] = true
	}
	kinds := map[string]bool{KindHeader: true, KindEnvelope: true, KindReceived: true, KindMIME: true, KindDNSBL: true, KindSpecial: true}
	for _, r := range Builtin() {
		if !ruleNameRE.MatchString(r.Name) {
			t.Errorf("%q: name is not UPPER_SNAKE", r.Name)
		}
		if strings.TrimSpace(r.Desc) == "" || strings.Contains(r.Desc, "\n") {
			t.Errorf("%s: description must be one non-empty line", r.Name)
		}
		if !kinds[r.Kind] {
			t.Errorf("%s: unknown kind %q", r.Name, r.Kind)
		}
		if r.Test == nil {
			t.Errorf("%s: no test", r.Name)
		}
		if !cased[r.Name] {
			t.Errorf("%s: no table case in checkCases", r.Name)
		}
		// the registered score is the fallback and must count; a fitted
		// score may be 0 (the check is then not run)
		if reg := registry[r.Name].Score; r.Kind != KindDNSBL && r.Kind != KindSpecial && (reg <= 0 || reg > 4) {
			t.Errorf("%s: registered score %v outside (0, 4]", r.Name, reg)
		}
		if r.Score < 0 || r.Score > 4 {
			t.Errorf("%s: default score %v outside [0, 4]", r.Name, r.Score)
		}
	}
}

// familyFiles hold the checks, one file per family, named after what its
// checks look at; each opens with a comment that lists its checks.
var familyFiles = []string{"envelope.go", "received.go", "header.go", "mime.go", "links.go", "phrases.go"}

// listedRuleRE finds the checks in the list of an opening comment (its
// "//   - " items): names that end a line or precede a comma.
var listedRuleRE = regexp.MustCompile(`(?m)\b([A-Z][A-Z0-9_]+)(?:,|$)`)

// TestChecksLiveInTheirFamilyFile: the opening list of each family file
// names exactly the checks whose tests that file defines. (A check defined
// in another file is a family of its own: its file joins familyFiles.)
func TestChecksLiveInTheirFamilyFile(t *testing.T) {
	listed := map[string]string{} // check -> the file whose opening comment names it
	family := map[string]bool{}
	for _, f := range familyFiles {
		family[f] = true
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opening, _, _ := strings.Cut(string(b), "\nfunc ")
		opening, _, _ = strings.Cut(opening, "\nimport ")
		for _, line := range strings.Split(opening, "\n") {
			if !strings.HasPrefix(line, "//   - ") && !strings.HasPrefix(line, "//     ") {
				continue
			}
			for _, sm := range listedRuleRE.FindAllStringSubmatch(line, -1) {
				listed[sm[1]] = f
			}
		}
	}
	for _, r := range Builtin() {
		fn := runtime.FuncForPC(reflect.ValueOf(r.Test).Pointer())
		file, _ := fn.FileLine(fn.Entry())
		f := filepath.Base(file)
		if (family[f] || listed[r.Name] != "") && listed[r.Name] != f {
			t.Errorf("%s is defined in %s but listed in %q", r.Name, f, listed[r.Name])
		}
		delete(listed, r.Name)
	}
	for n, f := range listed {
		t.Errorf("%s lists %s, which is no check of it", f, n)
	}
}

// TestChecksSurviveJunk: every check on hostile input returns without
// panicking.
func TestChecksSurviveJunk(t *testing.T) {
	junk := []string{
		"",
		"From:\nTo:\nSubject:\nDate:\nMessage-ID:\nReceived:\nContent-Type: multipart/alternative\n\n--\n",
		"From: =?utf-8?B?====?= <@>\nMessage-ID: <@>\nDate: Mon, 99 Foo 0000 99:99:99 +9999\nX-Mailer: \nReceived: from [999.1.1.1] by [::1]\n\n",
		"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/html; charset=\"\"\nContent-Transfer-Encoding: base64\n\n<<<<<\n",
		"Subject: " + strings.Repeat("=?utf-8?q?a?= ", 1000) + "\nFrom: " + strings.Repeat("a@b.c, ", 500) + "\n\n<html><script>",
	}
	envs := []Envelope{{}, {Helo: "[", ClientName: "[", MailFrom: "@"}, baseEnv()}
	for _, j := range junk {
		for _, env := range envs {
			m, err := ReadMessage(strings.NewReader(j), env, 0)
			if err != nil {
				continue
			}
			for _, r := range Builtin() {
				r.Test(m)
			}
		}
	}
}

func FuzzChecks(f *testing.F) {
	f.Add(baseHeader+"\n"+baseBody, "mail.example.org", "mail.example.org")
	f.Add("From: a\nContent-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/html\n\n<p>x</p>\n--q--\n", "[1.2.3.4]", "unknown")
	f.Fuzz(func(t *testing.T, raw, heloName, clientName string) {
		env := baseEnv()
		env.Helo, env.ClientName = heloName, clientName
		m, err := ReadMessage(strings.NewReader(raw), env, 1<<16)
		if err != nil {
			return
		}
		for _, r := range Builtin() {
			r.Test(m)
		}
	})
}
