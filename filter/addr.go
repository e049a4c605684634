package filter

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// ParseAddr splits a Postfix-notation address: "inet:HOST:PORT",
// "inet6:[::1]:PORT", "unix:/path" (or "local:/path"). It returns the Go
// network ("tcp" or "unix") and address.
func ParseAddr(s string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("address %q: want inet:HOST:PORT or unix:/PATH", s)
	}
	switch kind {
	case "inet", "inet4", "inet6", "tcp":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf("address %q: %v", s, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", "", fmt.Errorf("address %q: bad port %q", s, port)
		}
		return "tcp", net.JoinHostPort(host, port), nil
	case "unix", "local":
		if !strings.HasPrefix(rest, "/") {
			return "", "", fmt.Errorf("address %q: a unix socket path must be absolute", s)
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("address %q: unknown kind %q (inet or unix)", s, kind)
}

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
