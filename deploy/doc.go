// Package deploy holds minirtc's deployment files (a hardened systemd unit,
// its low-ports drop-in, an example production configuration and, in
// cluster/, a three-node cluster with Redis) and the tests that check them
// and the repository's Dockerfile: the Dockerfile's essentials and the
// cluster's compose file are checked statically (no Docker engine needed),
// the unit with systemd-analyze verify when systemd is installed, and the
// cluster README's plain commands are run as written with a real Redis. It
// has no code.
package deploy
