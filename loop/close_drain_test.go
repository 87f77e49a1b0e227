//go:build linux

package loop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lingerServer serves, with lingerHandler, until the end of the test.
func lingerServer(t *testing.T, n int, linger time.Duration, fds chan<- [2]uint64) (*Server, []byte) {
	t.Helper()
	h, body := lingerHandler(n, fds)
	return serve(t, h, &Config{Loops: 1, Linger: linger}), body
}

// lingerHandler answers the first bytes of each connection with a reply of
// size n, then Close. Each connection's send buffer holds the whole reply,
// so the send completes at once and Close finds nothing left to send,
// while the client's small receive buffer keeps most of the reply queued in
// the kernel. It sends each connection's fd and inode to fds as it opens.
func lingerHandler(n int, fds chan<- [2]uint64) (Handler, []byte) {
	body := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	h := Handlers{
		Open: func(c *Conn) {
			unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 2*n)
			var st unix.Stat_t
			if unix.Fstat(c.fd, &st) == nil && fds != nil {
				fds <- [2]uint64{uint64(c.fd), st.Ino}
			}
		},
		Data: func(c *Conn, data []byte) {
			if c.Context() == nil {
				c.SetContext(true)
				c.Write(body)
				c.Close()
			}
		},
	}
	return h, body
}

// dialSmall dials s with a 16 KiB receive buffer, set before the
// handshake so that the window it offers is small.
func dialSmall(t *testing.T, s *Server) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10)
		})
	}}
	c, err := d.DialContext(context.Background(), "tcp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestCloseDrainsWhilePeerWrites: the handler writes 512 KiB, which the
// kernel takes at once, then Close. The peer sends a few more bytes while
// it drains the reply. All of the reply must arrive, then EOF: had the
// server closed its fd when the send completed, the kernel would answer
// the late bytes with a reset and discard what its send queue still held.
// The linger (Config.Linger) keeps the fd open, its write side shut down,
// and reads what comes until the peer's EOF.
func TestCloseDrainsWhilePeerWrites(t *testing.T) {
	s, body := lingerServer(t, 512<<10, 0, nil)
	c := dialSmall(t, s)
	c.Write([]byte("go"))
	time.Sleep(50 * time.Millisecond) // the reply is sent; most is queued
	c.Write([]byte("more"))           // arrives after Close
	time.Sleep(50 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(body) {
		t.Fatalf("read %d of %d bytes, err %v: written data lost at Close", len(got), len(body), err)
	}
}

// fetch dials s, asks for the reply, reads all of it, and EOF, and returns
// the connection and the server's fd.
func fetch(t *testing.T, s *Server, fds <-chan [2]uint64, body []byte) (*net.TCPConn, [2]uint64) {
	t.Helper()
	c := dialSmall(t, s)
	c.Write([]byte("go"))
	fd := <-fds
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); err != nil || len(got) != len(body) {
		t.Fatalf("read %d of %d bytes, err %v", len(got), len(body), err)
	}
	return c, fd
}

// fdClosed waits up to limit for the server's fd, fdIno's, to close (or to
// be another file), and reports whether it did.
func fdClosed(fdIno [2]uint64, limit time.Duration) bool {
	for end := time.Now().Add(limit); ; time.Sleep(5 * time.Millisecond) {
		var st unix.Stat_t
		if unix.Fstat(int(fdIno[0]), &st) != nil || st.Ino != fdIno[1] {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// TestLingerEndsAtPeerEOF: a lingering connection's fd closes once the
// peer closes its side, long before the linger would end.
func TestLingerEndsAtPeerEOF(t *testing.T) {
	fds := make(chan [2]uint64, 1)
	s, body := lingerServer(t, 64<<10, time.Hour, fds)
	c, fd := fetch(t, s, fds, body)
	if fdClosed(fd, 100*time.Millisecond) {
		t.Fatal("the server closed its fd before the peer's EOF: no linger")
	}
	c.Close()
	if !fdClosed(fd, 10*time.Second) {
		t.Fatal("the server's fd is still open 10s after the peer's EOF")
	}
}

// TestLingerTimesOut: a peer that never closes holds a lingering
// connection only until Config.Linger has passed.
func TestLingerTimesOut(t *testing.T) {
	fds := make(chan [2]uint64, 2)
	s, body := lingerServer(t, 64<<10, 200*time.Millisecond, fds)
	for range 2 { // the second starts the timer afresh, or is queued behind
		_, fd := fetch(t, s, fds, body)
		if !fdClosed(fd, 10*time.Second) {
			t.Fatal("the server's fd is still open 10s into a 200ms linger")
		}
	}
}

// TestLingerEndsAtServerClose: Server.Close closes lingering connections.
func TestLingerEndsAtServerClose(t *testing.T) {
	fds := make(chan [2]uint64, 1)
	h, body := lingerHandler(64<<10, fds)
	s, err := Listen("tcp4", "127.0.0.1:0", h, &Config{Loops: 1, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	_, fd := fetch(t, s, fds, body)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil && !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if !fdClosed(fd, 10*time.Second) {
		t.Fatal("a lingering fd outlived Server.Close")
	}
}
