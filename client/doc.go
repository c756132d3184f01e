// Package client is minirtc's Go client for the mini program signaling
// protocol (docs/protocol.md): the one implementation that tests, the
// `minirtc bench` load generator and `minirtc doctor` use to talk to the
// gateway the way the Agora Miniapp SDK (and minirtc's own SDKs) do.
//
// It owns:
//   - the allocation request (Allocate: POST /api/v1, protocol section 2),
//   - one gateway WebSocket per joined member (Dial, Conn): the request
//     envelope with the SDK's requestId/seq counters (3.2), replies matched
//     by requestId (3.4), pushes (3.5), the heartbeat (3.3, WithPingInterval)
//     and the closing rules (3.6: Close sends reason "close"),
//   - the actions (section 4): Join, SetRole, Publish (the push URL),
//     Unpublish, Subscribe (play URLs), Unsubscribe, MuteLocal, UpdateKey,
//     Ping, Leave, and Call for anything else,
//   - errors: a refused request returns *Error with the catalogue code and
//     reason (docs/error-codes.md); errors.Is matches it against the
//     catalogue constructors of internal/errcode, e.g.
//     errors.Is(err, errcode.NotPublishing("")).
//
// For tests of the server's robustness it also has escape hatches that the
// SDK does not: SendRaw writes any text frame, Send writes a request with a
// chosen requestId, Next returns every frame the server sent (replies that
// no Call waits for, pushes, pongs, undecodable frames), and WebSocket
// returns the underlying connection.
//
// Goroutines and lifetimes: Dial's context bounds only the opening
// handshake. A Conn then runs one read goroutine and, with a ping interval,
// one heartbeat goroutine; both end when the server closes the connection
// or when Close or CloseNow is called, and Close and CloseNow return only
// after they have ended, so a closed Conn leaves no goroutine behind. Every
// request takes a context that bounds the wait for its reply; a request
// whose context has ended is not sent, and one that ends while waiting
// leaves the connection usable (writes are bounded by their own 10 s
// timeout, not by the caller's context, because the WebSocket library
// closes the connection when a write's context ends). Frames nobody
// has taken with Next are kept in a bounded queue (WithQueueSize): when it
// is full the oldest is dropped and counted (Dropped), so a Conn whose
// owner never reads pushes cannot grow without bound. All methods are safe
// for concurrent use.
//
// The package imports the WebSocket library (github.com/coder/websocket)
// and internal/errcode (for code constants and errors.Is); it must not
// import the server's packages (gateway, channel, node).
package client
