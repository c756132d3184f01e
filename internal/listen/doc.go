// Package listen keeps a server's listeners serving through failures that
// pass: Accept (or the read of a shared UDP socket) that fails with a
// temporary error (no file descriptors left, a connection aborted before it
// was accepted, no buffer space) is retried after a pause that starts at
// 5 ms and doubles up to 1 s, like net/http's accept loop, instead of ending
// the loop. Each listener's Stats count the failures and say whether it
// still serves; /healthz reports them and a metrics exporter can read them.
//
// Retrier is the one retry implementation: Listener wraps a net.Listener
// with it (the HTTP and RTMP listeners), and internal/webrtc wraps the
// shared UDP socket's reads with it.
//
// The package imports only the standard library. Listener and Stats are
// safe for concurrent use; a Retrier serializes its callers.
package listen
