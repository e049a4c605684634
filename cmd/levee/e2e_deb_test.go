package main

// The Debian package: configs/debian/build-deb.sh builds it, dpkg installs
// it on this machine, the installed levee runs, dpkg purges it. This
// changes the system (a package, the user levee, postfix in group levee),
// so it runs only with CI=true (a throwaway machine) or LEVEE_DEB_TEST=1.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/levee-mail/levee/filter/mta/postfix"
)

func TestE2EDebianPackage(t *testing.T) {
	if !inCI() && os.Getenv("LEVEE_DEB_TEST") != "1" {
		t.Skip("installs a package on this machine: set CI=true or LEVEE_DEB_TEST=1")
	}
	needRoot(t)
	needTool(t, "/usr/bin/dpkg-deb")
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "levee").Output(); strings.Contains(string(out), "installed") {
		t.Fatalf("a levee package is already installed here (%s): not touching it", out)
	}

	out, err := runTool(t, 10*time.Minute, "bash", "../../configs/debian/build-deb.sh", t.TempDir())
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh printed %q", out)
	}
	info, err := runTool(t, time.Minute, "dpkg-deb", "--info", deb)
	if err != nil || !strings.Contains(info, "Package: levee") {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}

	t.Cleanup(func() {
		if out, err := runTool(t, 2*time.Minute, "dpkg", "-P", "levee"); err != nil {
			t.Errorf("dpkg -P levee: %v\n%s", err, out)
		}
		for _, p := range []string{"/usr/bin/levee", "/etc/levee/levee.yaml", "/lib/systemd/system/levee.service"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s still there after dpkg -P", p)
			}
		}
	})
	if out, err := runTool(t, 2*time.Minute, "dpkg", "-i", deb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}

	// The installed binary checks the installed config.
	out, err = runTool(t, time.Minute, "/usr/bin/levee", "config", "check", "/etc/levee/levee.yaml")
	if err != nil || !strings.Contains(out, "effective configuration (/etc/levee/levee.yaml)") {
		t.Fatalf("levee config check: %v\n%s", err, out)
	}
	if out, _ := runTool(t, time.Minute, "/usr/bin/levee", "version"); !strings.Contains(out, "levee 0") {
		t.Errorf("levee version: %q (the package sets the version)", out)
	}
	if out, _ := runTool(t, time.Minute, "file", "/usr/bin/levee"); out != "" && !strings.Contains(out, "statically linked") {
		t.Errorf("not a static binary: %s", out)
	}

	// The conffile is the sample, and dpkg knows it as a conffile.
	want, _ := os.ReadFile("../../configs/levee.yaml")
	if got, _ := os.ReadFile("/etc/levee/levee.yaml"); string(got) != string(want) {
		t.Error("/etc/levee/levee.yaml differs from configs/levee.yaml")
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "levee").Output(); !strings.Contains(string(out), "/etc/levee/levee.yaml") {
		t.Errorf("conffiles: %q", out)
	}

	// The user and the groups postinst made.
	if out, err := runTool(t, time.Minute, "id", "levee"); err != nil {
		t.Errorf("no user levee: %s", out)
	}
	if _, err := runTool(t, time.Minute, "id", "postfix"); err == nil {
		if out, _ := runTool(t, time.Minute, "id", "-nG", "postfix"); !strings.Contains(" "+strings.TrimSpace(out)+" ", " levee ") {
			t.Errorf("postfix is not in group levee: %s", out)
		}
	}

	// The unit is well-formed and runs the installed binary.
	unit := "/lib/systemd/system/levee.service"
	if _, err := os.Stat("/usr/bin/systemd-analyze"); err == nil {
		if out, err := runTool(t, time.Minute, "systemd-analyze", "verify", unit); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	if b, _ := os.ReadFile(unit); !strings.Contains(string(b), "ExecStart=/usr/bin/levee serve --config /etc/levee/levee.yaml") {
		t.Errorf("%s does not start the installed levee", unit)
	}

	// levee serves as the user levee with the installed config.
	dir, err := os.MkdirTemp("", "levee-e2e-deb-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	cfg := filepath.Join(dir, "levee.yaml")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	os.WriteFile(cfg, []byte("listen: inet:"+addr+"\ndnsbl:\n  lists: []\nauth:\n  enabled: false\n"), 0o644)
	cmd := exec.Command("setpriv", "--reuid=levee", "--regid=levee", "--init-groups", "/usr/bin/levee", "serve", "--config", cfg)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := postfix.WaitDial(ctx, addr); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
}
