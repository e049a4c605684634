package main

// End-to-end with real Sendmail (Debian's sendmail-bin 8.17). Sendmail and
// Postfix conflict as Debian packages, so .ci/setup-sendmail.sh unpacks
// sendmail-bin, sendmail-cf, m4 and libwrap0 into a private root
// (/opt/levee-sendmail, or LEVEE_SENDMAIL_ROOT) without installing them.
// The test builds a sendmail.cf with m4 that includes
// configs/sendmail/levee.mc (so the shipped snippet is what is tested) and
// runs `sendmail -bs`: SMTP on stdin/stdout, no daemon, no port, mail
// queued (-odq) where the test reads the queue files, milter headers
// included.
//
// Sendmail sleeps 60s at start when the machine's host name is not fully
// qualified: it runs in its own UTS namespace (unshare --uts) named
// mx.levee.test where that is permitted.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/rules/auth"
)

func sendmailRoot() string {
	if r := os.Getenv("LEVEE_SENDMAIL_ROOT"); r != "" {
		return r
	}
	return "/opt/levee-sendmail"
}

// pipeRWC joins a process's stdout and stdin.
type pipeRWC struct {
	io.Reader
	io.WriteCloser
	cmd *exec.Cmd
}

func (p *pipeRWC) Close() error {
	p.WriteCloser.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	return nil
}

type sendmailInst struct {
	root, dir, cf, queue string
	levee                *leveeProc
}

func startSendmailInst(t *testing.T) *sendmailInst {
	t.Helper()
	needRoot(t)
	root := sendmailRoot()
	bin := filepath.Join(root, "usr/libexec/sendmail/sendmail")
	if _, err := os.Stat(bin); err != nil {
		if inCI() {
			t.Fatalf("%s is missing: .ci/setup-sendmail.sh unpacks it", bin)
		}
		t.Skipf("%s is missing: run bash .ci/setup-sendmail.sh", bin)
	}
	s := &sendmailInst{root: root, dir: t.TempDir()}
	s.queue = filepath.Join(s.dir, "queue")
	if err := os.MkdirAll(s.queue, 0o700); err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// A local submission (sendmail -bs) is the operator's own mail: levee
	// DKIM-signs it, and the DKIM-Signature field shows that Sendmail takes
	// levee's SMFIR_INSHEADER.
	signYAML := "dnsbl:\n  lists: []\nauth:\n  enabled: false\n"
	if _, key, err := auth.GenerateKey("ed25519", 0); err == nil {
		kf := filepath.Join(s.dir, "dkim.key")
		if err := os.WriteFile(kf, key, 0o600); err == nil {
			signYAML += "  sign:\n    - {domain: signed.example, selector: e2e, key: " + kf + "}\n"
		}
	}
	cfg := writeLeveeConfig(t, s.dir, fmt.Sprintf(e2eLeveeConfig, addr, freePort(t), signYAML))
	s.levee = startLevee(t, leveeBinary(t), cfg, addr)
	t.Cleanup(func() {
		s.levee.stop()
		if t.Failed() {
			t.Logf("levee log:\n%s", s.levee.log.String())
		}
	})

	snippet, err := os.ReadFile("../../configs/sendmail/levee.mc")
	if err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	if !strings.Contains(string(snippet), "S=inet:8895@127.0.0.1") {
		t.Fatal("configs/sendmail/levee.mc does not name S=inet:8895@127.0.0.1")
	}
	snip := strings.ReplaceAll(string(snippet), "S=inet:8895@127.0.0.1", "S=inet:"+port+"@127.0.0.1")
	mc := fmt.Sprintf("include(`%[1]s/usr/share/sendmail/cf/m4/cf.m4')dnl\n"+
		"VERSIONID(`levee e2e')dnl\n"+
		"OSTYPE(`linux')dnl\n"+
		"define(`confDOMAIN_NAME', `mx.levee.test')dnl\n"+
		"define(`confDONT_PROBE_INTERFACES', `True')dnl\n"+
		"define(`QUEUE_DIR', `%[2]s/queue')dnl\n"+
		"define(`STATUS_FILE', `%[2]s/statistics')dnl\n"+
		"define(`ALIAS_FILE', `')dnl\n"+
		"define(`confPID_FILE', `%[2]s/sendmail.pid')dnl\n"+
		"define(`confHOSTS_FILE', `/etc/hosts')dnl\n"+
		"define(`confSERVICE_SWITCH_FILE', `%[2]s/service.switch')dnl\n"+
		"define(`confDEF_USER_ID', `nobody:nogroup')dnl\n"+
		"define(`confLOG_LEVEL', `14')dnl\n"+
		"define(`confMILTER_LOG_LEVEL', `9')dnl\n"+
		"FEATURE(`accept_unresolvable_domains')dnl\n"+
		"FEATURE(`nocanonify')dnl\n"+
		"MAILER(`smtp')dnl\n"+
		"dnl ---- configs/sendmail/levee.mc, verbatim but for the port ----\n%[3]s",
		root, s.dir, snip)
	os.WriteFile(filepath.Join(s.dir, "service.switch"), []byte("hosts files\naliases files\n"), 0o644)
	mcPath := filepath.Join(s.dir, "levee-e2e.mc")
	if err := os.WriteFile(mcPath, []byte(mc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "usr/bin/m4"), "-D_CF_DIR_="+filepath.Join(root, "usr/share/sendmail/cf")+"/", mcPath).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	if !strings.Contains(string(out), "\nXlevee, S=inet:"+port+"@127.0.0.1") || !strings.Contains(string(out), "\nO InputMailFilters=levee") {
		t.Fatalf("sendmail.cf has no levee filter:\n%s", out)
	}
	s.cf = filepath.Join(s.dir, "sendmail.cf")
	if err := os.WriteFile(s.cf, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// session runs `sendmail -bs` and returns an SMTP client on its stdio.
func (s *sendmailInst) session(t *testing.T) *smtpClient {
	t.Helper()
	args := []string{filepath.Join(s.root, "usr/libexec/sendmail/sendmail"), "-C", s.cf, "-bs", "-odq"}
	var cmd *exec.Cmd
	// Sendmail resolves its own name at start through libc. In its own UTS
	// and mount namespaces it gets a qualified name, an /etc/hosts that
	// knows it and a resolv.conf that points at loopback, so no query ever
	// leaves the machine.
	hosts := filepath.Join(s.dir, "hosts")
	resolv := filepath.Join(s.dir, "resolv.conf")
	sysHosts, _ := os.ReadFile("/etc/hosts")
	os.WriteFile(hosts, append(sysHosts, "\n127.0.0.1 mx.levee.test mx\n"...), 0o644)
	os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644)
	script := `hostname mx.levee.test && mount --bind "$H" /etc/hosts && mount --bind "$R" /etc/resolv.conf && exec "$@"`
	if exec.Command("/usr/bin/unshare", "--uts", "--mount", "true").Run() == nil {
		cmd = exec.Command("/usr/bin/unshare", append([]string{"--uts", "--mount", "sh", "-c", script, "sh"}, args...)...)
		cmd.Env = append(os.Environ(), "H="+hosts, "R="+resolv)
	} else if exec.Command("/usr/bin/unshare", "--uts", "true").Run() == nil {
		cmd = exec.Command("/usr/bin/unshare", append([]string{"--uts", "sh", "-c", `hostname mx.levee.test && exec "$@"`, "sh"}, args...)...)
	} else {
		// No namespaces here (an unprivileged container): Sendmail may
		// sleep 60s over an unqualified host name, then goes on.
		t.Log("unshare --uts is not permitted: running sendmail under this host's name")
		cmd = exec.Command(args[0], args[1:]...)
	}
	libs, _ := filepath.Glob(filepath.Join(s.root, "usr/lib/*-linux-gnu")) // the private libwrap.so.0
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "LD_LIBRARY_PATH="+strings.Join(libs, ":"))
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && stderr.String() != "" {
			t.Logf("sendmail stderr:\n%s", stderr.String())
		}
	})
	return newSMTPClient(t, &pipeRWC{Reader: out, WriteCloser: in, cmd: cmd})
}

// queued returns the headers (qf "H" lines, unfolded) of the queued
// message whose Subject contains token, or nil.
func (s *sendmailInst) queued(t *testing.T, token string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.queue, "qf*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var hdrs []string
		for _, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(line, "H"):
				h := line[1:]
				if strings.HasPrefix(h, "?") { // H?flags?Name: value
					if i := strings.IndexByte(h[1:], '?'); i >= 0 {
						h = h[i+2:]
					}
				}
				hdrs = append(hdrs, h)
			case strings.HasPrefix(line, "\t") && len(hdrs) > 0:
				hdrs[len(hdrs)-1] += " " + strings.TrimSpace(line)
			}
		}
		for _, h := range hdrs {
			if strings.HasPrefix(h, "Subject:") && strings.Contains(h, token) {
				return hdrs
			}
		}
	}
	return nil
}

func hdrValue(hdrs []string, name string) (string, bool) {
	for _, h := range hdrs {
		if n, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(n, name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// TestE2ESendmail: one SMTP session with four messages: clean, tagged
// (Subject rewritten), GTUBE (rejected with the configured text) and clean
// again. Sendmail sends no ABORT between messages of a session, so the
// last one also shows that nothing of the spam before it leaks into it.
func TestE2ESendmail(t *testing.T) {
	s := startSendmailInst(t)
	c := s.session(t)
	c.expect(250, "EHLO mail.example.com")

	steps := append(severalSteps("sm", "CHEAP WATCHES FOR EVERYONE"),
		step{tok: newToken("sm-signed"), code: 250, from: "ceo@signed.example", signed: true})
	c.sendSteps(steps)
	c.quit()

	for _, st := range steps {
		hdrs := s.queued(t, strings.ToUpper(st.tok))
		if hdrs == nil {
			hdrs = s.queued(t, st.tok)
		}
		if st.code != 250 {
			if hdrs != nil {
				t.Errorf("%s: rejected but queued", st.tok)
			}
			continue
		}
		if hdrs == nil {
			t.Fatalf("%s: not in Sendmail's queue", st.tok)
		}
		status, ok := hdrValue(hdrs, "X-Spam-Status")
		if !ok {
			t.Fatalf("%s: no X-Spam-Status in %q", st.tok, hdrs)
		}
		if sig, ok := hdrValue(hdrs, "DKIM-Signature"); ok != st.signed || ok && !strings.Contains(sig, "a=ed25519-sha256") {
			t.Errorf("%s: DKIM-Signature %v %q", st.tok, ok, sig)
		}
		_, flagged := hdrValue(hdrs, "X-Spam-Flag")
		if flagged != st.flag || strings.HasPrefix(status, "Yes") != st.flag {
			t.Errorf("%s: flag %v status %q, want spam=%v", st.tok, flagged, status, st.flag)
		}
		subj, _ := hdrValue(hdrs, "Subject")
		if strings.HasPrefix(subj, "[SPAM]") != st.flag {
			t.Errorf("%s: Subject %q", st.tok, subj)
		}
		n := 0
		for _, h := range hdrs {
			if strings.HasPrefix(h, "X-Spam-Status:") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d X-Spam-Status fields", st.tok, n)
		}
	}
	if n := strings.Count(s.levee.log.String(), "msg=message "); n != 5 {
		t.Errorf("levee judged %d messages, want 5", n)
	}
	// Sendmail 8.17 offers the no-reply flags too (and asks a version-2
	// milter for no DATA and no unknown commands itself).
	if log := s.levee.log.String(); !strings.Contains(log, "agreed=0xc7") {
		t.Errorf("no negotiation of the no-reply flags in levee's log:\n%s", tail(log, 20))
	}
}
