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

// TestCloseDrainsWhilePeerWrites: the handler writes 128 KiB, which the
// kernel takes at once, then Close. (Not more: SO_SNDBUF is capped at
// twice net.core.wmem_max, 416 KiB by default, and a reply the send
// buffer cannot hold keeps the connection open, reading, until the peer
// has drained most of it, so the late bytes are read before Close and the
// test passes without a linger.) The peer sends a few more bytes while
// it drains the reply. All of the reply must arrive, then EOF: had the
// server closed its fd when the send completed, the kernel would answer
// the late bytes with a reset and discard what its send queue still held.
// The linger (Config.Linger) keeps the fd open, its write side shut down,
// and reads what comes until the peer's EOF.
func TestCloseDrainsWhilePeerWrites(t *testing.T) {
	lh, body := lingerHandler(128<<10, nil)
	h := lh.(Handlers)
	closed := make(chan struct{})
	h.Close = func(*Conn, error) { close(closed) }
	s := serve(t, h, &Config{Loops: 1})
	c := dialSmall(t, s)
	c.Write([]byte("go"))
	// OnClose runs once the reply is sent, most of it still queued in the
	// kernel; without a linger the fd is closed right after it.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose 10s after the request")
	}
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte("more")) // arrives after Close
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
	var fd [2]uint64
	select {
	case fd = <-fds:
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no connection in 10s")
	}
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
	// Both linger at once, as a rule: the second is queued behind the
	// first, and the timer is armed again for it when the first's ends.
	_, fd1 := fetch(t, s, fds, body)
	_, fd2 := fetch(t, s, fds, body)
	for _, fd := range [...][2]uint64{fd1, fd2} {
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

// TestLingeringConnHoldsNoOutputBuffer: a connection that lingers after
// a large reply no longer needs its output buffers (Write after Close is
// dropped), yet it stays reachable, from the loop and from the linger
// queue, for up to Config.Linger. It must not keep the reply's buffer
// (up to 4 MiB each, two of them) meanwhile: at a few hundred such
// connections a second that is gigabytes held for nothing.
func TestLingeringConnHoldsNoOutputBuffer(t *testing.T) {
	conns := make(chan *Conn, 1)
	lh, body := lingerHandler(1<<20, nil)
	h := lh.(Handlers)
	open := h.Open
	h.Open = func(c *Conn) { open(c); conns <- c }
	s := serve(t, h, &Config{Loops: 1, Linger: time.Hour})
	c := dialSmall(t, s)
	c.Write([]byte("go"))
	sc := <-conns
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c); err != nil || len(got) != len(body) {
		t.Fatalf("read %d of %d bytes, err %v", len(got), len(body), err)
	}
	// The EOF came: the connection lingers. Look at it on its loop.
	held := make(chan int, 1)
	if !s.loops[0].post(func() { held <- cap(sc.out) + cap(sc.spare) }) {
		t.Fatal("the loop has stopped")
	}
	if n := <-held; n != 0 {
		t.Fatalf("a lingering connection holds %d bytes of output buffers", n)
	}
}
