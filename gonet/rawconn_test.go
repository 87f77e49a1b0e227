//go:build linux

package gonet

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RawConn's contract, as net keeps it and as grpc-go and golang.org/x/net
// rely on it: the fd a RawConn hands out is non-blocking, so a function
// that makes a plain read(2), write(2) or recvmmsg(2) gets EAGAIN, returns
// false, and the call waits for readiness, the deadline or Close. On a
// blocking fd the same function would sleep in the kernel, past every
// deadline, and Close would wait for it.

// rawConnOf returns c's RawConn.
func rawConnOf(t *testing.T, c net.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// within fails the test if f has not returned after limit: a hang, not a
// timing check (the limit is many times what the call needs).
func within(t *testing.T, what string, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s has not returned after %v", what, limit)
	}
}

// fdNonblock reports whether fd has O_NONBLOCK.
func fdNonblock(fd uintptr) bool {
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}

var rawNetworks = []struct{ network, address string }{
	{"tcp4", "127.0.0.1:0"},
	{"tcp6", "[::1]:0"},
	{"unix", ""},
}

// TestRawConnFdIsNonblocking checks that Control, Read and Write hand their
// function a non-blocking fd, as net does.
func TestRawConnFdIsNonblocking(t *testing.T) {
	for _, im := range impls {
		for _, nw := range rawNetworks {
			t.Run("impl="+im.name+"/"+nw.network, func(t *testing.T) {
				skipNetwork(t, nw.network)
				c, s := connPair(t, im, im, nw.network, nw.address)
				for _, conn := range []net.Conn{c, s} {
					rc := rawConnOf(t, conn)
					var ctl, rd, wr bool
					rc.Control(func(fd uintptr) { ctl = fdNonblock(fd) })
					rc.Write(func(fd uintptr) bool { wr = fdNonblock(fd); return true })
					rc.Read(func(fd uintptr) bool { rd = fdNonblock(fd); return true })
					if !ctl || !rd || !wr {
						t.Errorf("O_NONBLOCK seen by Control %v, Read %v, Write %v; want all true", ctl, rd, wr)
					}
				}
			})
		}
	}
}

// TestRawConnPlainReadEndsAtDeadline: a function making a plain read(2) on a
// quiet conn ends at a 200 ms read deadline with net's timeout error, and
// Close returns promptly afterwards.
func TestRawConnPlainReadEndsAtDeadline(t *testing.T) {
	for _, im := range impls {
		for _, nw := range append(rawNetworks, struct{ network, address string }{"udp4", "127.0.0.1:0"}) {
			t.Run("impl="+im.name+"/"+nw.network, func(t *testing.T) {
				skipNetwork(t, nw.network)
				var c net.Conn
				if nw.network == "udp4" {
					pc, err := im.listenPacket("udp4", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					defer pc.Close()
					if c, err = im.dial(t.Context(), "udp4", pc.LocalAddr().String()); err != nil {
						t.Fatal(err)
					}
				} else {
					c, _ = connPair(t, im, im, nw.network, nw.address)
				}
				rc := rawConnOf(t, c)
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				calls, again := 0, 0
				var err error
				within(t, "RawConn.Read", 10*time.Second, func() {
					err = rc.Read(func(fd uintptr) bool {
						calls++
						var buf [64]byte
						_, rerr := unix.Read(int(fd), buf[:])
						if rerr == unix.EAGAIN {
							again++
							return false
						}
						return true
					})
				})
				checkOpError(t, err, "raw-read", os.ErrDeadlineExceeded)
				if again == 0 {
					t.Errorf("read(2) never said EAGAIN in %d calls", calls)
				}
				within(t, "Close after the deadline", 5*time.Second, func() { c.Close() })
			})
		}
	}
}

// TestRawConnPlainReadCloseUnblocks: Close ends a RawConn.Read that waits
// with no deadline, with net's closed error.
func TestRawConnPlainReadCloseUnblocks(t *testing.T) {
	for _, im := range impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			c, _ := connPair(t, im, im, "tcp4", "127.0.0.1:0")
			rc := rawConnOf(t, c)
			errc := make(chan error, 1)
			go func() {
				errc <- rc.Read(func(fd uintptr) bool {
					var buf [64]byte
					_, err := unix.Read(int(fd), buf[:])
					return err != unix.EAGAIN
				})
			}()
			time.Sleep(50 * time.Millisecond) // let it wait
			within(t, "Close during RawConn.Read", 5*time.Second, func() { c.Close() })
			select {
			case err := <-errc:
				checkOpError(t, err, "raw-read", net.ErrClosed)
			case <-time.After(10 * time.Second):
				t.Fatal("RawConn.Read still waits 10 s after Close")
			}
		})
	}
}

// TestRawConnPlainWriteFullBuffer: a function making plain write(2) calls
// to a peer that never reads fills the socket buffers, sees EAGAIN, and
// the call ends at a 200 ms write deadline; the bytes written so far all
// reach the peer, and Close returns promptly.
func TestRawConnPlainWriteFullBuffer(t *testing.T) {
	for _, im := range impls {
		for _, nw := range rawNetworks {
			t.Run("impl="+im.name+"/"+nw.network, func(t *testing.T) {
				skipNetwork(t, nw.network)
				c, s := connPair(t, im, im, nw.network, nw.address)
				rc := rawConnOf(t, c)
				chunk := make([]byte, 64<<10)
				for i := range chunk {
					chunk[i] = byte(i % 251)
				}
				c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				written, again := 0, 0
				var err, werr error
				within(t, "RawConn.Write", 10*time.Second, func() {
					err = rc.Write(func(fd uintptr) bool {
						for {
							off := written % len(chunk)
							n, e := unix.Write(int(fd), chunk[off:])
							if e == unix.EAGAIN {
								again++
								return false
							}
							if e != nil {
								werr = e
								return true
							}
							written += n
						}
					})
				})
				checkOpError(t, err, "raw-write", os.ErrDeadlineExceeded)
				if werr != nil || again == 0 || written == 0 {
					t.Fatalf("write(2): %v after %d bytes, %d EAGAINs; want EAGAIN after some bytes", werr, written, again)
				}
				within(t, "Close after the deadline", 5*time.Second, func() { c.Close() })

				// The peer gets every byte, then EOF.
				s.SetReadDeadline(time.Now().Add(10 * time.Second))
				got, buf := 0, make([]byte, 64<<10)
				for {
					n, rerr := s.Read(buf)
					for i := range buf[:n] {
						if buf[i] != byte((got+i)%len(chunk)%251) {
							t.Fatalf("byte %d is %d, want %d", got+i, buf[i], byte((got+i)%len(chunk)%251))
						}
					}
					got += n
					if rerr != nil {
						if !errors.Is(rerr, io.EOF) {
							t.Fatalf("peer read after %d bytes: %v", got, rerr)
						}
						break
					}
				}
				if got != written {
					t.Errorf("peer read %d bytes, RawConn.Write wrote %d", got, written)
				}
			})
		}
	}
}
