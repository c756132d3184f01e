package node

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ListenError is a listener the node could not open at start-up. Its
// message is one line that names the listener and the address, says why,
// and says which flag and configuration key choose another address.
type ListenError struct {
	Listener string // "HTTP", "RTMP", "WebRTC UDP"
	Addr     string // as configured
	Key      string // configuration key, e.g. "http.addr"
	Flag     string // serve flag, e.g. "--http-addr"
	Err      error
}

func (e *ListenError) Error() string {
	set := fmt.Sprintf("with %s (config %s)", e.Flag, e.Key)
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return fmt.Sprintf("%s address %s is already in use: stop the program listening there (another minirtc?) or choose another address %s",
			e.Listener, e.Addr, set)
	case errors.Is(e.Err, syscall.EACCES):
		return fmt.Sprintf("%s address %s: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose another port %s",
			e.Listener, e.Addr, set)
	case errors.Is(e.Err, syscall.EADDRNOTAVAIL):
		return fmt.Sprintf("%s address %s is not an address of this machine: give one of its IP addresses, or no host to listen on all, %s",
			e.Listener, e.Addr, set)
	}
	return fmt.Sprintf("cannot listen for %s on %s: %v: check the address %s", e.Listener, e.Addr, e.Err, set)
}

func (e *ListenError) Unwrap() error { return e.Err }

// isListenFailure reports whether err is a failed bind or listen (as
// opposed to a bad configuration found before it).
func isListenFailure(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen"
}
