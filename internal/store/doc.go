// Package store keeps minirtc's persistent state behind one interface: apps
// (appId -> certificate, name, enabled, settings), REST API keys (id ->
// SHA-256 of the secret) and node secrets.
//
// Two implementations: Bolt (bbolt, embedded, the default; every write is one
// transaction, so a kill -9 never leaves a half-written record) and Memory
// (for tests and ephemeral nodes). Redis joins them in cluster mode.
//
// The package imports nothing from minirtc. Both implementations are safe for
// concurrent use.
package store
