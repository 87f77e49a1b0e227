//go:build linux && !android

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nowUDP is an engine UDP socket that receives datagrams now
// (ReceiveDatagramsNow), its raw waits in the netpoller or not.
func nowUDP(t *testing.T, e *Engine, family, typ int, netpoll bool) (*Socket, unix.Sockaddr) {
	t.Helper()
	s, err := e.Socket(family, typ, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.ReceiveDatagramsNow()
	if netpoll {
		s.opts.Or(optRawNetpoll) // whatever GOMAXPROCS is
	}
	return s, bindLoopback(t, s, family)
}

// TestReceiveDatagramsNowDifferential sends the same datagrams to a raw
// socket and to an engine socket that receives them now, and reads each
// with the same buffer, flags and control room: count, sender, MSG_* flags
// and control data must be the kernel's. Both ways to wait run: in the
// netpoller and on the ring.
func TestReceiveDatagramsNowDifferential(t *testing.T) {
	e := testEngine(t)
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		for _, netpoll := range []bool{false, true} {
			t.Run(fmt.Sprintf("family%d/netpoll=%v", family, netpoll), func(t *testing.T) {
				raw, rawSA := rawUDP(t, family)
				s, sSA := nowUDP(t, e, family, unix.SOCK_DGRAM, netpoll)
				tx, _ := rawUDP(t, family)
				level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
				if family == unix.AF_INET6 {
					level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
				}
				if err := unix.SetsockoptInt(raw, level, opt, 1); err != nil {
					t.Fatal(err)
				}
				if err := s.SetsockoptInt(level, opt, 1); err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					size, room, flags int
					oob               bool
				}{
					{64, 2048, 0, false}, {64, 2048, 0, true}, {0, 2048, 0, true}, {1500, 100, 0, false},
					{1500, 100, unix.MSG_TRUNC, true}, {300, 2048, unix.MSG_PEEK, true}, {70, 10, unix.MSG_PEEK | unix.MSG_TRUNC, false},
				} {
					msg := bytes.Repeat([]byte{byte(c.size)}, c.size)
					for _, to := range []unix.Sockaddr{rawSA, sSA} {
						if err := unix.Sendto(tx, msg, 0, to); err != nil {
							t.Fatal(err)
						}
					}
					for range 1 + c.flags&unix.MSG_PEEK/unix.MSG_PEEK { // a peek, then the read
						flags := c.flags
						var want, got struct {
							n, oobn, mflags int
							from            string
							data, ctl       string
						}
						b, oob := make([]byte, c.room), make([]byte, 128)
						if !c.oob {
							oob = nil
						}
						unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
						var n, oobn, mflags int
						var from unix.Sockaddr
						var err error
						if c.oob {
							n, oobn, mflags, from, err = unix.Recvmsg(raw, b, oob, flags)
						} else {
							n, from, err = unix.Recvfrom(raw, b, flags) // no flags out
						}
						if err != nil {
							t.Fatal(err)
						}
						want.n, want.oobn, want.mflags, want.from = n, oobn, mflags, saKey(from)
						want.data, want.ctl = string(b[:min(n, len(b))]), string(oob[:oobn])
						b2, oob2 := make([]byte, c.room), make([]byte, len(oob))
						if !c.oob {
							oob2 = nil
						}
						// Without control room, Recv with no sender: the
						// recvfrom(2) path.
						var from2 unix.Sockaddr
						if c.oob {
							n, oobn, mflags, from2, err = s.RecvMsg(ctx0, b2, oob2, flags, 5*time.Second)
						} else {
							n, _, mflags, err = s.Recv(ctx0, b2, flags, false, 5*time.Second)
							from2, oobn = from, 0
						}
						if err != nil {
							t.Fatal(err)
						}
						got.n, got.oobn, got.mflags, got.from = n, oobn, mflags, saKey(from2)
						got.data, got.ctl = string(b2[:min(n, len(b2))]), string(oob2[:oobn])
						// The pktinfo's destination is each socket's own
						// address: compare its length only.
						if c.oob && len(want.ctl) == len(got.ctl) {
							got.ctl = want.ctl
						}
						if got != want {
							t.Fatalf("%+v flags %#x: engine %+v; kernel %+v", c, flags, got, want)
						}
						c.flags &^= unix.MSG_PEEK
					}
				}
			})
		}
	}
}

// TestReceiveDatagramsNowWaits: a receive that finds nothing waits, in the
// netpoller or on the ring, and ends as any engine wait does: with the
// datagram, the deadline, the timeout, the context, Close, or 0 once the
// read side is shut down, by Shutdown or through another descriptor (the
// kernel's answer on a raw socket, asked in the same test); a
// non-blocking socket says EAGAIN at once.
func TestReceiveDatagramsNowWaits(t *testing.T) {
	e := testEngine(t)
	shutN, shutErr := kernelRecvAfterShutRD(t)

	for _, netpoll := range []bool{false, true} {
		t.Run(fmt.Sprintf("netpoll=%v", netpoll), func(t *testing.T) {
			tx, _ := rawUDP(t, unix.AF_INET)
			recvOne := func(s *Socket) (int, error) {
				n, _, _, err := s.Recv(ctx0, make([]byte, 64), 0, true, 0)
				return n, err
			}
			recv := recvOne
			wait := func(name string, s *Socket, start func(), want func(n int, err error) bool) {
				t.Helper()
				type res struct {
					n   int
					err error
				}
				done := make(chan res, 1)
				go func() {
					n, err := recv(s)
					done <- res{n, err}
				}()
				time.Sleep(50 * time.Millisecond)
				select {
				case r := <-done:
					t.Fatalf("%s: the receive ended before anything came: %d, %v", name, r.n, r.err)
				default:
				}
				start()
				select {
				case r := <-done:
					if !want(r.n, r.err) {
						t.Errorf("%s: %d, %v", name, r.n, r.err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: still waiting after 5s", name)
				}
			}
			s, sa := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			wait("datagram", s, func() { unix.Sendto(tx, []byte("hello"), 0, sa) }, func(n int, err error) bool { return n == 5 && err == nil })
			wait("deadline", s, func() { s.SetReadDeadline(time.Now()) }, func(_ int, err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) })
			s.SetReadDeadline(time.Time{})
			wait("shutdown", s, func() { s.Shutdown(unix.SHUT_RD) }, func(n int, err error) bool { return n == shutN && err == errOrNil(shutErr) })
			if n, _, _, err := s.Recv(ctx0, make([]byte, 8), 0, true, 2*time.Second); n != shutN || err != errOrNil(shutErr) {
				t.Errorf("receive after shutdown: %d, %v; kernel %d, %v", n, err, shutN, shutErr)
			}
			// Shut down through another descriptor of the socket, which
			// Shutdown does not see: the wait it ends is what says so. A
			// batch receive waits in its own loop; its one datagram is
			// the kernel's answer to a single receive.
			elsewhere := func(s *Socket) func() {
				return func() {
					s.Control(func(fd int) error {
						dup, err := unix.Dup(fd)
						if err != nil {
							t.Error(err)
							return err
						}
						defer unix.Close(dup)
						return unix.Shutdown(dup, unix.SHUT_RD)
					})
				}
			}
			sd, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			wait("shutdown elsewhere", sd, elsewhere(sd), func(n int, err error) bool { return n == shutN && err == errOrNil(shutErr) })
			sb, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			recv = func(s *Socket) (int, error) {
				m := []Mmsg{{Buffers: [][]byte{make([]byte, 64)}}, {Buffers: [][]byte{make([]byte, 64)}}}
				k, err := s.RecvMmsg(ctx0, m, 0, 0)
				if k != 1 {
					return -k, err
				}
				return m[0].N, err
			}
			wait("batch, shutdown elsewhere", sb, elsewhere(sb), func(n int, err error) bool { return n == shutN && err == errOrNil(shutErr) })
			recv = recvOne

			s2, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			wait("close", s2, func() { s2.Close() }, func(_ int, err error) bool { return errors.Is(err, net.ErrClosed) })

			s3, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			if _, _, _, err := s3.Recv(ctx0, make([]byte, 8), 0, true, 30*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("timeout: %v", err)
			}
			ctx, cancel := context.WithCancel(ctx0)
			go func() { time.Sleep(30 * time.Millisecond); cancel() }()
			if _, _, _, err := s3.Recv(ctx, make([]byte, 8), 0, true, 0); !errors.Is(err, context.Canceled) {
				t.Errorf("context: %v", err)
			}
			if _, _, _, err := s3.Recv(ctx0, make([]byte, 8), unix.MSG_DONTWAIT, true, 0); err != unix.EAGAIN {
				t.Errorf("MSG_DONTWAIT: %v, want EAGAIN", err)
			}
			s4, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, netpoll)
			if _, _, _, err := s4.Recv(ctx0, make([]byte, 8), 0, true, 0); err != unix.EAGAIN {
				t.Errorf("SOCK_NONBLOCK: %v, want EAGAIN", err)
			}
		})
	}
}

// kernelRecvAfterShutRD is the kernel's answer to a blocking recvfrom(2)
// on a UDP socket whose read side is shut down: on a raw socket, with
// SO_RCVTIMEO of 2 s so that a kernel that waited could not hang the test.
func kernelRecvAfterShutRD(t *testing.T) (int, error) {
	t.Helper()
	raw, _ := rawUDP(t, unix.AF_INET)
	if err := unix.Shutdown(raw, unix.SHUT_RD); err != nil && err != unix.ENOTCONN {
		t.Fatal(err) // ENOTCONN, unconnected, and the read side is shut
	}
	unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	n, _, err := unix.Recvfrom(raw, make([]byte, 8), 0)
	return n, err
}

// saKey is a sender's address and port: both sockets hear the same
// sender. (A nil one, which a type assertion would panic on, is "nil".)
func saKey(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprint(a.Addr, a.Port)
	case *unix.SockaddrInet6:
		return fmt.Sprint(a.Addr, a.Port, a.ZoneId)
	case nil:
		return "nil"
	}
	return fmt.Sprintf("%T", sa)
}

// errOrNil turns a zero errno into a nil error.
func errOrNil(err error) error {
	if err == unix.Errno(0) {
		return nil
	}
	return err
}

// TestReceiveDatagramsNowNoFdWithoutWait: a receive that needs no wait (a
// datagram already there, MSG_DONTWAIT, SOCK_NONBLOCK) opens no fd, on a
// socket whose raw waits are in the netpoller too: the duplicate of the fd
// that the netpoller parks on is made for a wait only (RawWaitsInNetpoller:
// "registered at the first such wait"), as a raw read makes it.
func TestReceiveDatagramsNowNoFdWithoutWait(t *testing.T) {
	e := testEngine(t)
	for _, netpoll := range []bool{false, true} {
		t.Run(fmt.Sprintf("netpoll=%v", netpoll), func(t *testing.T) {
			tx, _ := rawUDP(t, unix.AF_INET)
			s, sa := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, netpoll)
			s2, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, netpoll)
			if err := unix.Sendto(tx, []byte("hello"), 0, sa); err != nil {
				t.Fatal(err)
			}
			// Until the datagram is in s's receive queue.
			pfd := []unix.PollFd{{Fd: int32(s.Fd()), Events: unix.POLLIN}}
			if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
				t.Fatalf("poll: %d, %v", n, err)
			}
			before := openFDs(t)
			b := make([]byte, 64)
			if n, _, _, err := s.Recv(ctx0, b, 0, true, 5*time.Second); n != 5 || err != nil {
				t.Errorf("a datagram there: %d, %v", n, err)
			}
			if _, _, _, err := s.Recv(ctx0, b, unix.MSG_DONTWAIT, true, 0); err != unix.EAGAIN {
				t.Errorf("MSG_DONTWAIT: %v, want EAGAIN", err)
			}
			if _, _, _, err := s2.Recv(ctx0, b, 0, true, 0); err != unix.EAGAIN {
				t.Errorf("SOCK_NONBLOCK: %v, want EAGAIN", err)
			}
			if after := openFDs(t); after != before {
				t.Errorf("open fds: %d before, %d after receives that needed no wait", before, after)
			}
		})
	}
}
