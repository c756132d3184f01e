// Package store keeps minirtc's persistent state behind one interface: apps
// (appId -> certificate, name, enabled, settings), REST API keys (id ->
// SHA-256 of the secret) and node secrets.
//
// Three implementations: Bolt (bbolt, embedded, the default; every write is
// one transaction, so a kill -9 never leaves a half-written record), Memory
// (for tests and ephemeral nodes) and Redis (cluster mode: every node of a
// cluster shares one Redis). One test suite runs against all three.
//
// The package imports nothing from minirtc. Every implementation is safe for
// concurrent use.
package store
