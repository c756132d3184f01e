package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// udpDrops is the number of datagrams the kernel dropped at this process's
// own UDP sockets (their receive buffer was full: the bench's WHEP clients
// did not read fast enough), read from /proc on Linux. ok is false where it
// cannot be known. It tells the server's losses from the bench's own: a
// frame a WHEP reader misses while this count grows was lost at the reader.
func udpDrops() (drops uint64, ok bool) {
	inodes := ownSocketInodes("/proc/self/fd")
	if inodes == nil {
		return 0, false
	}
	found := false
	for _, f := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(f) //nolint:gosec // G304: one of the two fixed /proc paths above
		if err != nil {
			continue
		}
		found = true
		drops += sumUDPDrops(b, inodes)
	}
	return drops, found
}

// ownSocketInodes lists the inodes of the sockets open in the fd directory
// dir; nil when it cannot be read.
func ownSocketInodes(dir string) map[string]bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			out[strings.TrimSuffix(in, "]")] = true
		}
	}
	return out
}

// sumUDPDrops sums the drops column of the /proc/net/udp rows whose inode
// is in inodes. Rows it cannot read are skipped.
func sumUDPDrops(table []byte, inodes map[string]bool) uint64 {
	var sum uint64
	sc := bufio.NewScanner(bytes.NewReader(table))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
		if len(f) < 13 || !inodes[f[9]] {
			continue
		}
		if n, err := strconv.ParseUint(f[len(f)-1], 10, 64); err == nil {
			sum += n
		}
	}
	return sum
}
