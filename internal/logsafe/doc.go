// Package logsafe bounds client-supplied strings (stream names, uids,
// channels, URL paths, user agents, error texts that quote them) before
// they are logged, so that one request cannot write kilobytes into every
// log line it causes. It is a leaf: it imports only the standard library,
// and any package may use it. It has no state.
package logsafe
