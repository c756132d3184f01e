// Package node assembles one minirtc server from its parts: store, channel
// model, gateway, media hub and protocol adapters, the HTTP mux and the
// listeners. It creates them in dependency order and stops them in reverse.
//
// cmd/minirtc's serve command and the end-to-end tests both run a Node; tests
// listen on port 0 and read the real addresses back (HTTPAddr, RTMPAddr).
//
// A Node is built by New and run once by Run, which returns after ctx is
// cancelled and every component has stopped.
package node
