package perlre

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// perlScript compiles each pattern as Mail::SpamAssassin::Util::compile_regexp
// does ('(?flags)' prepended, qr/$re/aa, any warning but a deprecation is
// fatal) and answers, for each text, whether it matches and how many
// non-overlapping matches a //g loop finds (capped at 1000).
// Request: "<len re> <len flags> <n texts>\n" re flags, then per text
// "<len>\n" text. Reply: "ERR <msg>\n", or one "<0|1> <count>\n" per text.
const perlScript = `
use strict; use warnings;
binmode STDIN; binmode STDOUT; $| = 1;
my %cache;
sub readn { my $n = shift; my $buf = ''; while (length($buf) < $n) { my $r = read(STDIN, $buf, $n - length($buf), length($buf)); return undef unless $r; } return $buf; }
while (defined(my $hdr = <STDIN>)) {
  my ($lre, $lfl, $nt) = split ' ', $hdr;
  my $re = $lre ? readn($lre) : ''; my $fl = $lfl ? readn($lfl) : '';
  my @texts;
  for (1..$nt) { my $l = <STDIN>; chomp $l; push @texts, $l ? readn($l) : ''; }
  my $key = "$fl/$re";
  my $qr = $cache{$key};
  my $err = '';
  if (!defined $qr) {
    %cache = () if keys %cache > 2000;
    my $src = $re; $src = "(?$fl)$src" if $fl ne '';
    local $SIG{__WARN__} = sub { die "$_[0]\n" if $_[0] !~ /deprecated/i; };
    $qr = eval { qr/$src/aa };
    if (!defined $qr) { $err = $@ || 'error'; $err =~ s/\s+/ /g; $cache{$key} = \$err; }
    else { $cache{$key} = $qr; }
  } elsif (ref($qr) eq 'SCALAR') { $err = $$qr; }
  if ($err ne '') { print "ERR $err\n"; next; }
  for my $t (@texts) {
    my $m = ($t =~ $qr) ? 1 : 0;
    my $n = 0;
    if ($m) { while ($t =~ /$qr/g) { $n++; last if $n >= 1000; } }
    print "$m $n\n";
  }
}
`

type perlResult struct {
	matched bool
	count   int
}

// perlProc is one persistent perl process.
type perlProc struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out chan string
}

var (
	perlOnce   sync.Once
	sharedPerl *perlProc
	perlErr    error
)

// getPerl returns the shared perl process, skipping the test (failing under
// CI) when perl is absent.
func getPerl(t testing.TB) *perlProc {
	t.Helper()
	perlOnce.Do(func() {
		if _, err := exec.LookPath("perl"); err != nil {
			perlErr = err
			return
		}
		sharedPerl = &perlProc{}
		perlErr = sharedPerl.start()
	})
	if perlErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("perl needed in CI: %v", perlErr)
		}
		t.Skipf("perl not available: %v", perlErr)
	}
	return sharedPerl
}

func (p *perlProc) start() error {
	dir, err := os.MkdirTemp("", "perlre")
	if err != nil {
		return err
	}
	script := filepath.Join(dir, "match.pl")
	if err := os.WriteFile(script, []byte(perlScript), 0o600); err != nil {
		return err
	}
	cmd := exec.Command("perl", script)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 1024)
	go func() {
		r := bufio.NewReaderSize(out, 1<<16)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	p.cmd, p.in, p.out = cmd, in, lines
	return nil
}

func (p *perlProc) restart() {
	p.in.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if err := p.start(); err != nil {
		panic(err)
	}
}

// errPerlTimeout: perl did not answer in time (catastrophic backtracking).
var errPerlTimeout = fmt.Errorf("perl timed out")

// errPerlCrashed: perl died on the pattern (perl 5.36 panics on [^\S\s]* under /aa).
var errPerlCrashed = fmt.Errorf("perl exited")

// match runs re/flags on texts. A compile error comes back as *perlCompileError.
func (p *perlProc) match(re, flags string, texts []string, timeout time.Duration) ([]perlResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d %d\n%s%s", len(re), len(flags), len(texts), re, flags)
	for _, t := range texts {
		fmt.Fprintf(&b, "%d\n%s", len(t), t)
	}
	if _, err := io.WriteString(p.in, b.String()); err != nil {
		p.restart()
		return nil, err
	}
	deadline := time.After(timeout)
	res := make([]perlResult, 0, len(texts))
	for i := 0; i < len(texts) || i == 0; i++ {
		select {
		case l, ok := <-p.out:
			if !ok {
				p.restart()
				return nil, errPerlCrashed
			}
			if strings.HasPrefix(l, "ERR ") {
				return nil, &perlCompileError{l[4:]}
			}
			if len(texts) == 0 {
				return res, nil
			}
			m, c, _ := strings.Cut(l, " ")
			n, _ := strconv.Atoi(c)
			res = append(res, perlResult{matched: m == "1", count: n})
		case <-deadline:
			p.restart()
			return nil, errPerlTimeout
		}
	}
	return res, nil
}

type perlCompileError struct{ msg string }

func (e *perlCompileError) Error() string { return "perl: " + e.msg }

func TestPerlHarness(t *testing.T) {
	p := getPerl(t)
	res, err := p.match(`a(b)\1`, "i", []string{"xABbx", "xabcx"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].matched || res[1].matched {
		t.Fatalf("got %+v", res)
	}
	if _, err := p.match(`a(`, "", []string{"a"}, 5*time.Second); err == nil {
		t.Fatal("a( compiled")
	}
	if _, err := p.match(`\y`, "", []string{"y"}, 5*time.Second); err == nil {
		t.Fatal(`\y compiled without the fatal warning`)
	}
	if _, err := p.match(`(a+)+b`, "", []string{strings.Repeat("a", 40)}, 300*time.Millisecond); err != errPerlTimeout {
		t.Logf("catastrophic pattern: %v (perl may optimise it)", err)
	}
	res, err = p.match(`a`, "", []string{"aaa"}, 5*time.Second)
	if err != nil || res[0].count != 3 {
		t.Fatalf("after restart: %+v %v", res, err)
	}
}
