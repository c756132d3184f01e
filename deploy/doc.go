// Package deploy holds minirtc's deployment files (a hardened systemd unit,
// its low-ports drop-in and an example production configuration) and the
// tests that check them and the repository's Dockerfile: the Dockerfile's
// essentials are checked statically (no Docker engine needed), the unit
// with systemd-analyze verify when systemd is installed. It has no code.
package deploy
