// Package control is a running node's local control socket: a small JSON
// API on a unix socket in the data directory through which the minirtc CLI
// manages apps and REST API keys while the server runs (the server holds the store file's
// lock, so the CLI cannot open it then).
//
// Access is controlled by the file system: the socket is created with mode
// 0600 inside the data directory (0700), so only the server's own user (and
// root) can connect. Nothing of it is reachable over the network.
//
// It imports store only; the node mounts Handler and cmd/minirtc uses Client.
package control
