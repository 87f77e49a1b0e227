//go:build linux && !android

package engine

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRecvFromConnectedAndReadShutAsKernel: on connected sockets, stream
// and datagram, RecvFrom returns what the kernel's blocking recvfrom(2)
// returns on a raw socket of the same kind: a datagram or bytes with their
// sender (none on a stream or from an unnamed unix peer), a zero-length
// read, and after shutdown(SHUT_RD) of the receiver the 0 that a blocking
// receive returns there (epollOp.try's datagram read-shut path, which
// clears the sender recvfrom(2) left in the reused op).
func TestRecvFromConnectedAndReadShutAsKernel(t *testing.T) {
	e := testEngine(t)
	// pair returns a connected receiver and sender made by the kernel.
	type pairFunc func(t *testing.T) (rx, tx int)
	closeLater := func(t *testing.T, fds ...int) {
		for _, fd := range fds {
			t.Cleanup(func() { unix.Close(fd) })
		}
	}
	socketpair := func(typ int) pairFunc {
		return func(t *testing.T) (int, int) {
			fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			closeLater(t, fds[0], fds[1])
			return fds[0], fds[1]
		}
	}
	udp := func(t *testing.T) (int, int) {
		var fds [2]int
		var sas [2]unix.Sockaddr
		for i := range fds {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			closeLater(t, fd)
			if err := unix.Bind(fd, loopbackOf(unix.AF_INET)); err != nil {
				t.Fatal(err)
			}
			if sas[i], err = unix.Getsockname(fd); err != nil {
				t.Fatal(err)
			}
			fds[i] = fd
		}
		for i := range fds {
			if err := unix.Connect(fds[i], sas[1-i]); err != nil {
				t.Fatal(err)
			}
		}
		return fds[0], fds[1]
	}
	tcp := func(t *testing.T) (int, int) {
		ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(ln)
		if err := unix.Bind(ln, loopbackOf(unix.AF_INET)); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(ln, 1); err != nil {
			t.Fatal(err)
		}
		sa, err := unix.Getsockname(ln)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, tx)
		if err := unix.Connect(tx, sa); err != nil {
			t.Fatal(err)
		}
		rx, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, rx)
		return rx, tx
	}
	type result struct {
		n          int
		from, data string
		err        error
	}
	for _, c := range []struct {
		name string
		pair pairFunc
	}{
		{"udp4", udp},
		{"tcp4", tcp},
		{"unixgram", socketpair(unix.SOCK_DGRAM)},
		{"unixstream", socketpair(unix.SOCK_STREAM)},
		{"unixseqpacket", socketpair(unix.SOCK_SEQPACKET)},
	} {
		for _, now := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/now=%v", c.name, now), func(t *testing.T) {
				rawRx, rawTx := c.pair(t)
				engRx, engTx := c.pair(t)
				tv := unix.Timeval{Sec: 5} // a raw receive that would block ends
				if err := unix.SetsockoptTimeval(rawRx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
					t.Fatal(err)
				}
				s, err := e.Adopt(engRx)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if now {
					s.ReceiveDatagramsNow()
				}
				// senderKey names a sender, "the sender" where it is tx's
				// address: the two pairs' senders differ in port.
				senderKey := func(from unix.Sockaddr, tx int) string {
					if own, err := unix.Getsockname(tx); err == nil && from != nil && addrKey(from) == addrKey(own) {
						return "the sender"
					}
					return addrKey(from)
				}
				kernel := func(room int) result {
					b := make([]byte, room)
					n, from, err := unix.Recvfrom(rawRx, b, 0)
					return result{n, senderKey(from, rawTx), string(b[:max(min(n, room), 0)]), err}
				}
				engine := func(room int) result {
					b := make([]byte, room)
					n, from, err := s.RecvFrom(ctx0, b, 0, 5*time.Second)
					return result{n, senderKey(from.Sockaddr(), engTx), string(b[:max(min(n, room), 0)]), err}
				}
				compare := func(step string, room int) {
					t.Helper()
					want, got := kernel(room), engine(room)
					if got != want {
						t.Errorf("%s: engine %+v; kernel %+v", step, got, want)
					}
				}
				send := func(msg string) {
					t.Helper()
					for _, fd := range []int{rawTx, engTx} {
						if _, err := unix.Write(fd, []byte(msg)); err != nil {
							t.Fatal(err)
						}
					}
				}
				send("0123456789")
				compare("a read", 16)
				send("abc")
				compare("a zero-length read", 0)
				send("xyz")
				if err := unix.Shutdown(rawRx, unix.SHUT_RD); err != nil {
					t.Fatal(err)
				}
				if err := s.Shutdown(unix.SHUT_RD); err != nil {
					t.Fatal(err)
				}
				compare("a read queued before shutdown(SHUT_RD)", 16)
				compare("a read after shutdown(SHUT_RD)", 16)
				compare("another read after shutdown(SHUT_RD)", 16)
			})
		}
	}
}
