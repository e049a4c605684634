package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/levee-mail/levee/filter/mta"
	"github.com/levee-mail/levee/rules"
	"github.com/levee-mail/levee/rules/eval"
)

// Message is one message ready to be replayed to a milter: its client
// (CONNECT, HELO) and its transaction (header values with LF line folding
// and a body with CRLF line ends, as Postfix sends them).
type Message struct {
	Name   string
	Client mta.Client
	mta.Message
}

// maxMessage bounds the body kept of one message (eval.ReadFile reads as
// much of a file).
const maxMessage = 64 << 20

// Load reads every message of a corpus into memory: a directory
// or .tar.gz holding ham/, spam/ and envelope.jsonl (the envelope of each
// message), a plain directory of .eml files, or one message file. Messages
// without an envelope line get one from their topmost Received field
// (rules.FillEnvelope) and a recipient from To. envelopeFile, when not
// empty, is an envelope.jsonl whose lines (keyed by the message's path
// inside the corpus, e.g. "ham/x.eml") replace the corpus's own. The order
// is fixed (sorted names; archive order for a tar.gz).
func Load(p, envelopeFile string) ([]Message, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var override map[string]rules.Envelope
	if envelopeFile != "" {
		if override, err = readEnvelopeFile(envelopeFile); err != nil {
			return nil, err
		}
	}
	var out []Message
	add := func(name string, data []byte, env rules.Envelope, hasEnv bool) error {
		if e, ok := override[name]; ok {
			env, hasEnv = e, true
		}
		m, err := NewMessage(name, data, env, hasEnv)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, name, err)
		}
		out = append(out, m)
		return nil
	}
	// Corpora are read by rules/eval, as `levee eval` reads them.
	var corpus eval.Corpus
	switch {
	case !st.IsDir() && !strings.HasSuffix(p, ".tar.gz") && !strings.HasSuffix(p, ".tgz"):
		data, err := eval.ReadFile(p)
		if err != nil {
			return nil, err
		}
		return out, add(filepath.Base(p), data, rules.Envelope{}, false)
	case !st.IsDir() || hasCorpusLayout(p):
		corpus = eval.Corpus{Dir: p}
	default:
		corpus = eval.Corpus{Ham: p} // a plain folder of .eml files
	}
	err = eval.Walk(context.Background(), corpus, nil, func(it eval.Item) error {
		name := it.Name
		if corpus.Ham != "" { // a plain folder: its .eml files, by their own names
			if !strings.HasSuffix(strings.ToLower(name), ".eml") {
				return nil
			}
			name = strings.TrimPrefix(name, "ham/")
		}
		return add(name, it.Data, it.Env, it.HasEnv)
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages (want ham/ and spam/, or .eml files)", p)
	}
	return out, nil
}

func hasCorpusLayout(dir string) bool {
	for _, sub := range []string{"ham", "spam"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// readEnvelopeFile reads an envelope.jsonl given with --envelope.
func readEnvelopeFile(name string) (map[string]rules.Envelope, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]rules.Envelope{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		l, env, err := eval.ParseEnvelope(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		out[path.Clean(l.File)] = env
	}
	return out, sc.Err()
}

// NewMessage splits a message file for replay. When hasEnv is false the
// envelope is completed from the message (topmost Received field, To).
func NewMessage(name string, data []byte, env rules.Envelope, hasEnv bool) (Message, error) {
	m, err := rules.ReadMessage(bytes.NewReader(data), env, maxMessage)
	if err != nil {
		return Message{}, err
	}
	if !hasEnv {
		rules.FillEnvelope(m)
	}
	if len(m.Env.Rcpts) == 0 {
		rcpt := "postmaster@example.org"
		if l, err := mail.ParseAddressList(m.Header("To")); err == nil && len(l) > 0 && strings.Contains(l[0].Address, "@") {
			rcpt = l[0].Address
		}
		m.Env.Rcpts = []string{rcpt}
	}
	fields := make([]mta.Field, len(m.Fields))
	for i, f := range m.Fields {
		fields[i] = mta.Field{Name: f.Name, Value: strings.ReplaceAll(f.Value, "\r\n", "\n")}
	}
	return Message{
		Name:    name,
		Client:  mta.Client{IP: m.Env.ClientIP, Name: m.Env.ClientName, Helo: m.Env.Helo},
		Message: mta.Message{From: m.Env.MailFrom, Rcpts: m.Env.Rcpts, Header: fields, Body: mta.ToCRLF(m.Body)},
	}, nil
}
