//go:build linux

package testenv

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TCPInfo returns the kernel's TCP_INFO for c.
func TCPInfo(t testing.TB, c *net.TCPConn) *unix.TCPInfo {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	if cerr := raw.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// WaitAcked waits, up to a second, until the peer of c has acknowledged
// everything c sent: it is then in the peer's receive queue.
func WaitAcked(t testing.TB, c *net.TCPConn) {
	t.Helper()
	for i := 0; TCPInfo(t, c).Unacked != 0; i++ {
		if i == 1000 {
			t.Fatal("sent data still unacknowledged after 1s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Reset reports whether c's connection is closed in the kernel (TCP_CLOSE):
// for a peer that had unread data when it closed, that its reset came.
func Reset(t testing.TB, c *net.TCPConn) bool {
	t.Helper()
	return TCPInfo(t, c).State == unix.BPF_TCP_CLOSE
}
