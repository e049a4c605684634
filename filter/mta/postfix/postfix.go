// Package postfix runs a private instance of Debian's real Postfix on
// loopback: its own config, queue and data directories, its own master, its
// own smtpd services on free 127.0.0.1 ports, everything it accepts relayed
// to one next hop (usually a Sink of this package). Several instances (and
// the system's own Postfix) run side by side. `levee soak` drives one; the
// end-to-end tests of cmd/levee build theirs with it.
//
//	p, err := postfix.Start(postfix.Config{
//		Dir:       dir,
//		Relayhost: sink.Addr(),
//		Extra:     snippet, // e.g. configs/postfix/main.cf
//		Services: []postfix.Service{
//			{Name: "filter"}, // smtpd with main.cf's milters
//			{Name: "relay", Args: []string{"-o", "smtpd_milters=", "-o", "content_filter=relayb:[127.0.0.1]:{filter}"}},
//		},
//		Transports: []postfix.Transport{{Name: "relayb", Command: "smtp"}},
//	})
//	defer p.Stop()
//	p.Addr("relay") // 127.0.0.1:PORT
//
// Starting Postfix needs root (its master drops to the postfix user).
package postfix

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Debian's Postfix programs.
var (
	Bin       = "/usr/sbin/postfix"
	Postqueue = "/usr/sbin/postqueue"
	Postsuper = "/usr/sbin/postsuper"
)

// Service is one smtpd service of master.cf on 127.0.0.1.
type Service struct {
	Name string // its label: Instance.Addr(Name)
	Port int    // 0: a free port
	// Args are the command's arguments after "smtpd", e.g. "-o",
	// "smtpd_milters=". "{NAME}" in an argument is replaced by the port
	// of the service NAME, so services can name each other.
	Args []string
}

// Transport is a master.cf service of type unix (a delivery agent such as
// a second smtp client with its own -o settings).
type Transport struct {
	Name    string // the service name, e.g. "relayb"
	Command string // e.g. "smtp"
	Args    []string
}

// Config describes an instance.
type Config struct {
	// Dir holds the instance: conf/ (main.cf, master.cf), queue/, data/
	// and maillog. It is created (0755: Postfix's daemons must reach the
	// queue as user postfix, so every directory above it must be
	// searchable too) and removed by Stop unless Keep.
	Dir  string
	Keep bool
	// Relayhost receives everything the instance accepts ("HOST:PORT",
	// e.g. a Sink's address). Required.
	Relayhost string
	// RelayDomains are the recipient domains the smtpd services take from
	// anyone (default example.org); clients on 127.0.0.0/8 may relay
	// anywhere anyway.
	RelayDomains []string
	// Params set or override main.cf parameters (see BaseParams).
	Params map[string]string
	// Extra is appended to main.cf verbatim (e.g. configs/postfix/main.cf,
	// the milter settings operators add).
	Extra    string
	Services []Service
	// Transports are added to master.cf before Postfix's standard
	// services.
	Transports []Transport
	// StartTimeout bounds `postfix start` and the wait for the services'
	// ports (default 1m).
	StartTimeout time.Duration
}

// BaseParams are the main.cf parameters of every instance, before
// Config.Params: a private instance on 127.0.0.1 that relays everything to
// the relayhost, never looks anything up in DNS, and retries deferred mail
// only when told (postqueue -f) or by Params' backoff times.
func BaseParams(dir, relayhost string, relayDomains []string) map[string]string {
	if len(relayDomains) == 0 {
		relayDomains = []string{"example.org"}
	}
	return map[string]string{
		"compatibility_level":            "3.6",
		"queue_directory":                filepath.Join(dir, "queue"),
		"data_directory":                 filepath.Join(dir, "data"),
		"mail_owner":                     "postfix",
		"setgid_group":                   "postdrop",
		"myhostname":                     "mx.levee.test",
		"mydomain":                       "levee.test",
		"mydestination":                  "",
		"inet_interfaces":                "127.0.0.1",
		"inet_protocols":                 "ipv4",
		"relay_domains":                  strings.Join(relayDomains, " "),
		"relayhost":                      "[" + hostOf(relayhost) + "]:" + portOf(relayhost),
		"mynetworks":                     "127.0.0.0/8",
		"smtpd_relay_restrictions":       "permit_mynetworks reject_unauth_destination",
		"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
		"smtp_dns_support_level":         "disabled",
		"alias_maps":                     "",
		"alias_database":                 "",
		"local_recipient_maps":           "",
		"biff":                           "no",
		"maillog_file":                   filepath.Join(dir, "maillog"),
		"maillog_file_prefixes":          dir,
		"minimal_backoff_time":           "1h",
		"maximal_backoff_time":           "2h",
		"queue_run_delay":                "1h",
		"smtp_connect_timeout":           "5s",
	}
}

func hostOf(hostport string) string { h, _, _ := net.SplitHostPort(hostport); return h }
func portOf(hostport string) string { _, p, _ := net.SplitHostPort(hostport); return p }

// Instance is a running private Postfix.
type Instance struct {
	Dir, Conf string
	ports     map[string]int
	keep      bool
}

// Start writes main.cf and master.cf into cfg.Dir/conf, runs `postfix -c
// DIR/conf start` and waits until every service accepts connections.
func Start(cfg Config) (_ *Instance, err error) {
	if cfg.Dir == "" || cfg.Relayhost == "" {
		return nil, errors.New("postfix: Config needs Dir and Relayhost")
	}
	if _, err := os.Stat(Bin); err != nil {
		return nil, fmt.Errorf("postfix: %w (apt-get install postfix)", err)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = time.Minute
	}
	p := &Instance{Dir: cfg.Dir, Conf: filepath.Join(cfg.Dir, "conf"), ports: map[string]int{}, keep: cfg.Keep}
	defer func() {
		if err != nil && !cfg.Keep {
			os.RemoveAll(cfg.Dir)
		}
	}()
	if err := searchable(filepath.Dir(cfg.Dir)); err != nil {
		return nil, err
	}
	for _, d := range []string{"", "conf", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(cfg.Dir, "data")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix: chown postfix: %v %s", err, out)
	}
	for _, s := range cfg.Services {
		if s.Port == 0 {
			if s.Port, err = FreePort(); err != nil {
				return nil, err
			}
		}
		p.ports[s.Name] = s.Port
	}
	if err := os.WriteFile(filepath.Join(p.Conf, "main.cf"), []byte(MainCf(cfg)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.Conf, "master.cf"), []byte(p.masterCf(cfg)), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, Bin, "-c", p.Conf, "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix start: %v\n%s\n%s", err, out, p.MaillogTail(30))
	}
	for name := range p.ports {
		if err := WaitDial(ctx, p.Addr(name)); err != nil {
			p.Stop()
			return nil, fmt.Errorf("postfix service %s: %v\n%s", name, err, p.MaillogTail(30))
		}
	}
	return p, nil
}

// searchable checks that user postfix can reach dir: every directory on
// the way must be searchable by others (os.MkdirTemp makes 0700 ones).
func searchable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("postfix: %s is not searchable by others (mode %v): Postfix's daemons run as user postfix and must reach the queue below it", d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// MainCf is the main.cf Start writes for cfg: BaseParams, then cfg.Params
// (sorted), then cfg.Extra.
func MainCf(cfg Config) string {
	params := BaseParams(cfg.Dir, cfg.Relayhost, cfg.RelayDomains)
	for k, v := range cfg.Params {
		params[k] = v
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# a private Postfix instance (filter/mta/postfix)\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, params[k])
	}
	if cfg.Extra != "" {
		b.WriteString("\n# ---- Config.Extra ----\n")
		b.WriteString(cfg.Extra)
		if !strings.HasSuffix(cfg.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

var portRef = regexp.MustCompile(`\{([A-Za-z0-9_-]+)\}`)

func (p *Instance) expand(s string) string {
	return portRef.ReplaceAllStringFunc(s, func(m string) string {
		if port, ok := p.ports[m[1:len(m)-1]]; ok {
			return fmt.Sprint(port)
		}
		return m
	})
}

// standardServices are the master.cf lines of Postfix's own daemons (no
// chroot: the instance lives outside /var/spool/postfix).
const standardServices = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

func (p *Instance) masterCf(cfg Config) string {
	var b strings.Builder
	for _, s := range cfg.Services {
		fmt.Fprintf(&b, "127.0.0.1:%d inet n - n - - smtpd", p.ports[s.Name])
		for _, a := range s.Args {
			b.WriteString(" " + p.expand(a))
		}
		b.WriteString("\n")
	}
	for _, t := range cfg.Transports {
		fmt.Fprintf(&b, "%-9s unix  -       -       n       -       -       %s", t.Name, t.Command)
		for _, a := range t.Args {
			b.WriteString(" " + p.expand(a))
		}
		b.WriteString("\n")
	}
	b.WriteString(standardServices)
	return b.String()
}

// Addr is a service's address, "127.0.0.1:PORT" ("" for an unknown name).
func (p *Instance) Addr(service string) string {
	port, ok := p.ports[service]
	if !ok {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// Port is a service's port.
func (p *Instance) Port(service string) int { return p.ports[service] }

// Stop runs `postfix stop`, waits (at most 15s) for the master to go, and
// removes Dir unless Config.Keep.
func (p *Instance) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := exec.CommandContext(ctx, Bin, "-c", p.Conf, "stop").CombinedOutput()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(p.Dir, "queue", "pid", "master.pid")); err != nil {
			break
		}
		if out, _ := exec.CommandContext(ctx, Bin, "-c", p.Conf, "status").CombinedOutput(); bytes.Contains(out, []byte("not running")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !p.keep {
		os.RemoveAll(p.Dir)
	}
	return err
}

// Flush asks the queue manager to retry every deferred message now
// (`postqueue -f`).
func (p *Instance) Flush() error {
	out, err := exec.Command(Postqueue, "-c", p.Conf, "-f").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postqueue -f: %v %s", err, out)
	}
	return nil
}

// QueueEntry is one message of `postqueue -j` (postqueue(1)).
type QueueEntry struct {
	QueueName  string `json:"queue_name"` // maildrop, incoming, active, deferred, hold
	QueueID    string `json:"queue_id"`
	ArrivalTS  int64  `json:"arrival_time"`
	Sender     string `json:"sender"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// Queue lists the messages in the instance's queues.
func (p *Instance) Queue() ([]QueueEntry, error) {
	out, err := exec.Command(Postqueue, "-c", p.Conf, "-j").Output()
	if err != nil {
		return nil, fmt.Errorf("postqueue -j: %v", err)
	}
	var q []QueueEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e QueueEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("postqueue -j: %v: %q", err, sc.Text())
		}
		q = append(q, e)
	}
	return q, sc.Err()
}

// Drain flushes the queue every `every` until it is empty or ctx ends; it
// returns what is left then.
func (p *Instance) Drain(ctx context.Context, every time.Duration) ([]QueueEntry, error) {
	last := time.Time{}
	for {
		q, err := p.Queue()
		if err != nil || len(q) == 0 {
			return q, err
		}
		if time.Since(last) >= every {
			if err := p.Flush(); err != nil {
				return q, err
			}
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return q, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Delete removes a message from the queue (`postsuper -d ID`).
func (p *Instance) Delete(id string) error {
	if out, err := exec.Command(Postsuper, "-c", p.Conf, "-d", id).CombinedOutput(); err != nil {
		return fmt.Errorf("postsuper -d %s: %v %s", id, err, out)
	}
	return nil
}

// Maillog is the path of the instance's log (postlogd's maillog_file).
func (p *Instance) Maillog() string { return filepath.Join(p.Dir, "maillog") }

// MaillogTail returns the last n lines of the log.
func (p *Instance) MaillogTail(n int) string {
	b, _ := os.ReadFile(p.Maillog())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a loopback TCP port that is free right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitDial waits until addr accepts TCP connections, or ctx ends.
func WaitDial(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: nothing listening: %v", addr, err)
		case <-time.After(30 * time.Millisecond):
		}
	}
}
