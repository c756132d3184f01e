package token

import "context"

type remoteAddrKey struct{}

// WithRemoteAddr returns ctx carrying the remote address of the connection
// a media request came on ("host:port", as net.Conn.RemoteAddr gives it),
// for the rules that match a client's IP address (internal/admission).
// The doors set it: the RTMP server per connection, the node's HTTP server
// for FLV, WHIP and WHEP.
func WithRemoteAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RemoteAddr is the address WithRemoteAddr put in ctx, or "".
func RemoteAddr(ctx context.Context) string {
	a, _ := ctx.Value(remoteAddrKey{}).(string)
	return a
}
