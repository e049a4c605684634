package mta

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseAddr splits a milter address in Postfix's notation, as an MTA names
// its milters (smtpd_milters = inet:127.0.0.1:8895): "inet:HOST:PORT",
// "inet6:[::1]:PORT", "unix:/path" (or "local:/path"). It returns the Go
// network ("tcp" or "unix") and address. levee's milter (filter.Listen)
// reads its listen address with it too.
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
