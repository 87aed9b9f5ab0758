package config

import (
	"fmt"
	"net"
	"strconv"
)

// internalPortOffset is how far above the public port the internal
// listener is by default: 8080 → 9080, so that `make run` and a split
// deployment on one host need no second setting per process.
const internalPortOffset = 1000

// DefaultInternalAddr is the internal listener's address when
// CHAT_INTERNAL_ADDR is unset: loopback, whatever host the public listener
// binds, so that /metrics, pprof and the internal protocol are never
// exposed by default; on the public port plus 1000 (port 0, an ephemeral
// port, stays 0). Instances on other hosts must set CHAT_INTERNAL_ADDR to an
// address their peers reach (and CHAT_ADVERTISE_ADDR if it is not that).
// The load generator uses it too, to find a server's /metrics.
func DefaultInternalAddr(httpAddr string) (string, error) {
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", fmt.Errorf("CHAT_HTTP_ADDR %q: %w", httpAddr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("CHAT_HTTP_ADDR %q: the port must be a number (set CHAT_INTERNAL_ADDR to use a named one)", httpAddr)
	}
	if n != 0 {
		n += internalPortOffset
	}
	if n > 65535 {
		return "", fmt.Errorf("CHAT_HTTP_ADDR %q: port %s + %d is not a port; set CHAT_INTERNAL_ADDR", httpAddr, port, internalPortOffset)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n)), nil
}
