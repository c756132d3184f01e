//go:build !linux

package netlimit

import "syscall"

// rawReads is whether Conn.Read uses rawRead: only on Linux.
const rawReads = false

func rawRead(syscall.RawConn, []byte) (int, error) { panic("netlimit: rawRead is Linux's") }
