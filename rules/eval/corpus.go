// Package eval measures levee's judgement on a labelled corpus: it judges
// every message with the same engine as `levee serve`, then reports the
// confusion matrix per threshold and per source, per-check hit frequencies
// (SpamAssassin's hit-frequencies), the worst misses, the score
// distributions (a self-contained HTML report), and fits the default scores
// of the built-in checks (Fit).
//
// A corpus is either a directory or a .tar.gz holding ham/, spam/ and
// envelope.jsonl (one JSON object per message, with the SMTP envelope the
// MX saw), or two plain folders of ham and spam whose envelopes are taken
// from each message's topmost Received field.
package eval

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/levee-mail/levee/rules"
)

// Class is the label of a message.
type Class uint8

// Labels.
const (
	Ham Class = iota
	Spam
)

func (c Class) String() string {
	if c == Spam {
		return "spam"
	}
	return "ham"
}

// ParseClass reads "ham" or "spam".
func ParseClass(s string) (Class, error) {
	switch s {
	case "ham":
		return Ham, nil
	case "spam":
		return Spam, nil
	}
	return Ham, fmt.Errorf("class %q is not ham or spam", s)
}

// Item is one message of a corpus, with its label and envelope.
type Item struct {
	Name   string // path inside the corpus, e.g. "ham/sa-0001.eml"
	Class  Class
	Source string
	// Env is the SMTP envelope; when HasEnv is false it is completed from
	// the message's topmost Received field (rules.FillEnvelope).
	Env    rules.Envelope
	HasEnv bool
	Data   []byte
}

// EnvelopeLine is one line of envelope.jsonl.
type EnvelopeLine struct {
	File       string `json:"file"`
	Class      string `json:"class"`
	Source     string `json:"source"`
	ClientIP   string `json:"client_ip"`
	ClientName string `json:"client_name"`
	Helo       string `json:"helo"`
	MailFrom   string `json:"mail_from"`
	RcptTo     string `json:"rcpt_to"`
	ReceivedAt string `json:"received_at"`
}

// maxEnvelopeLine bounds one line of envelope.jsonl.
const maxEnvelopeLine = 1 << 20

// ParseEnvelopeLine parses one line of envelope.jsonl into the file name,
// label, source and envelope. client_name is kept as is ("" means not
// recorded: reverse-DNS checks do not fire); mail_from "" is the null
// sender; received_at is RFC 3339 or empty.
func ParseEnvelopeLine(line []byte) (EnvelopeLine, Class, rules.Envelope, error) {
	l, env, err := ParseEnvelope(line)
	if err != nil {
		return l, Ham, env, err
	}
	c, err := ParseClass(l.Class)
	if err != nil {
		return l, Ham, env, err
	}
	return l, c, env, nil
}

// ParseEnvelope parses one line of envelope.jsonl without requiring a
// label (`levee bench --envelope` takes such lines).
func ParseEnvelope(line []byte) (EnvelopeLine, rules.Envelope, error) {
	var l EnvelopeLine
	var env rules.Envelope
	if len(line) > maxEnvelopeLine {
		return l, env, errors.New("line too long")
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return l, env, err
	}
	if l.File == "" {
		return l, env, errors.New(`no "file"`)
	}
	if l.ClientIP != "" {
		a, err := netip.ParseAddr(l.ClientIP)
		if err != nil {
			return l, env, fmt.Errorf("client_ip %q is not an IP address", l.ClientIP)
		}
		env.ClientIP = a
	}
	if l.ReceivedAt != "" {
		t, err := time.Parse(time.RFC3339, l.ReceivedAt)
		if err != nil {
			return l, env, fmt.Errorf("received_at %q is not RFC 3339", l.ReceivedAt)
		}
		env.Time = t
	}
	env.ClientName = l.ClientName
	env.Helo = l.Helo
	env.MailFrom = l.MailFrom
	if l.RcptTo != "" {
		env.Rcpts = []string{l.RcptTo}
	}
	return l, env, nil
}

// envelopeIndex maps corpus file names ("ham/x.eml") to their line.
type envelopeIndex map[string]envEntry

type envEntry struct {
	class  Class
	source string
	env    rules.Envelope
}

func readEnvelopes(r io.Reader) (envelopeIndex, error) {
	idx := envelopeIndex{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEnvelopeLine+1)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		l, c, env, err := ParseEnvelopeLine(line)
		if err != nil {
			return nil, fmt.Errorf("envelope.jsonl line %d: %w", n, err)
		}
		idx[path.Clean(l.File)] = envEntry{class: c, source: l.Source, env: env}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("envelope.jsonl: %w", err)
	}
	return idx, nil
}

// SourceOf is the source of a message without one recorded: the file-name
// prefix before the first '-' ("sa-0001.eml" -> "sa"), else "unknown".
func SourceOf(name string) string {
	b := path.Base(filepath.ToSlash(name))
	if i := strings.IndexByte(b, '-'); i > 0 {
		return b[:i]
	}
	return "unknown"
}

// Corpus says where the messages are: Dir (a directory or .tar.gz with
// ham/, spam/ and envelope.jsonl), or Ham and Spam folders.
type Corpus struct {
	Dir       string
	Ham, Spam string
}

func (c Corpus) String() string {
	if c.Dir != "" {
		return c.Dir
	}
	return "ham " + c.Ham + ", spam " + c.Spam
}

// maxMessage bounds the bytes read of one message file; the engine keeps
// only its scan limit of the body anyway.
const maxMessage = 64 << 20

// Walk calls fn for every message of the corpus, in a fixed order (sorted
// names for directories, archive order for a tar.gz). total, when not nil,
// is called once the number of messages is known (before the first fn for
// directories; after envelope.jsonl for archives; it may not be called).
func Walk(ctx context.Context, c Corpus, total func(int), fn func(Item) error) error {
	if total == nil {
		total = func(int) {}
	}
	switch {
	case c.Dir != "" && (c.Ham != "" || c.Spam != ""):
		return errors.New("give a corpus directory or --ham/--spam folders, not both")
	case c.Dir != "":
		st, err := os.Stat(c.Dir)
		if err != nil {
			return err
		}
		if st.IsDir() {
			return walkDir(ctx, c.Dir, total, fn)
		}
		return walkTarGz(ctx, c.Dir, total, fn)
	case c.Ham != "" || c.Spam != "":
		return walkPlain(ctx, c.Ham, c.Spam, total, fn)
	}
	return errors.New("no corpus given")
}

// listFiles returns the regular, non-hidden files under dir, sorted, as
// paths relative to dir with '/'.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// ReadFile reads one message file: its first 64 MiB (maxMessage), which
// is more than any engine keeps.
func ReadFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxMessage))
}

func walkDir(ctx context.Context, dir string, total func(int), fn func(Item) error) error {
	idx := envelopeIndex{}
	if f, err := os.Open(filepath.Join(dir, "envelope.jsonl")); err == nil {
		idx, err = readEnvelopes(f)
		f.Close()
		if err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	type file struct {
		name  string
		class Class
	}
	var files []file
	for _, c := range []Class{Ham, Spam} {
		sub := filepath.Join(dir, c.String())
		if _, err := os.Stat(sub); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		names, err := listFiles(sub)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		for _, n := range names {
			files = append(files, file{c.String() + "/" + n, c})
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("%s: no messages in ham/ or spam/", dir)
	}
	total(len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := ReadFile(filepath.Join(dir, filepath.FromSlash(f.name)))
		if err != nil {
			return err
		}
		if err := fn(idx.item(f.name, f.class, data)); err != nil {
			return err
		}
	}
	return nil
}

// item builds the Item of a corpus file; the envelope line, when there is
// one, gives the label, source and envelope.
func (idx envelopeIndex) item(name string, class Class, data []byte) Item {
	it := Item{Name: name, Class: class, Data: data}
	if e, ok := idx[name]; ok {
		it.Class, it.Source, it.Env, it.HasEnv = e.class, e.source, e.env, true
	}
	if it.Source == "" {
		it.Source = SourceOf(name)
	}
	return it
}

func walkPlain(ctx context.Context, ham, spam string, total func(int), fn func(Item) error) error {
	type file struct {
		dir, name string
		class     Class
	}
	var files []file
	for _, d := range []struct {
		dir   string
		class Class
	}{{ham, Ham}, {spam, Spam}} {
		if d.dir == "" {
			continue
		}
		names, err := listFiles(d.dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			files = append(files, file{d.dir, n, d.class})
		}
	}
	if len(files) == 0 {
		return errors.New("no messages in the --ham and --spam folders")
	}
	total(len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := ReadFile(filepath.Join(f.dir, filepath.FromSlash(f.name)))
		if err != nil {
			return err
		}
		it := Item{Name: f.class.String() + "/" + f.name, Class: f.class, Source: SourceOf(f.name), Data: data}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// corpusPath returns the part of an archive path from its "ham/" or "spam/"
// component on (archives may have a leading directory), the class, and
// whether it is a message at all.
func corpusPath(name string) (string, Class, bool) {
	parts := strings.Split(path.Clean(strings.TrimPrefix(name, "./")), "/")
	for i := 0; i < len(parts)-1; i++ {
		switch parts[i] {
		case "ham", "spam":
			if strings.HasPrefix(parts[len(parts)-1], ".") {
				return "", Ham, false
			}
			c, _ := ParseClass(parts[i])
			return strings.Join(parts[i:], "/"), c, true
		}
	}
	return "", Ham, false
}

// walkTarGz streams a .tar.gz corpus. envelope.jsonl normally comes first;
// messages met before it are held until it is read.
func walkTarGz(ctx context.Context, file string, total func(int), fn func(Item) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	tr := tar.NewReader(zr)
	var idx envelopeIndex
	type pend struct {
		name  string
		class Class
		data  []byte
	}
	var pending []pend
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if path.Base(h.Name) == "envelope.jsonl" && idx == nil {
			if idx, err = readEnvelopes(tr); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			total(len(idx))
			for _, p := range pending {
				if err := fn(idx.item(p.name, p.class, p.data)); err != nil {
					return err
				}
			}
			pending = nil
			continue
		}
		name, class, ok := corpusPath(h.Name)
		if !ok {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxMessage))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, h.Name, err)
		}
		if idx == nil {
			pending = append(pending, pend{name, class, data})
			continue
		}
		if err := fn(idx.item(name, class, data)); err != nil {
			return err
		}
	}
	for _, p := range pending { // an archive without envelope.jsonl
		if err := fn(envelopeIndex{}.item(p.name, p.class, p.data)); err != nil {
			return err
		}
	}
	return nil
}
