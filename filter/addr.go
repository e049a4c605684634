package filter

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/levee-mail/levee/filter/mta"
)

// ParseAddr splits a Postfix-notation address ("inet:HOST:PORT",
// "unix:/path"): it is mta.ParseAddr, the notation both sides of the
// protocol share.
func ParseAddr(s string) (network, address string, err error) { return mta.ParseAddr(s) }

// Listen opens a listener on a Postfix-notation address. A unix socket gets
// mode (e.g. 0660); a stale socket file left by a dead process is replaced,
// but a live socket or any other kind of file is never touched.
func Listen(addr string, mode fs.FileMode) (net.Listener, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := removeStaleSocket(address); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(true)
		}
		if mode != 0 {
			if err := os.Chmod(address, mode); err != nil {
				ln.Close()
				return nil, fmt.Errorf("socket %s: %w", address, err)
			}
		}
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: not replacing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is listening on this socket", path)
	}
	return os.Remove(path)
}
