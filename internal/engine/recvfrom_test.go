//go:build linux && !android

package engine

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRecvFromAsKernel: RecvFrom returns what the kernel's recvfrom(2)
// returns on a raw socket given the same datagram, buffer and flags, and
// RecvMsg without control room what its recvmsg(2) returns: count, sender
// and data, truncated or not, peeked or not, and for RecvMsg the MSG_*
// flags, MSG_CTRUNC included (both receivers ask for a timestamp, which
// finds no room). The epoll backend and a socket that receives datagrams
// now make RecvFrom with recvfrom(2) and RecvMsg with recvmsg(2); the
// ring makes both with IORING_OP_RECVMSG. UDP over both families,
// UDP-Lite where the kernel has it, and unix datagrams from a named and an
// unnamed sender.
func TestRecvFromAsKernel(t *testing.T) {
	e := testEngine(t)
	type end struct {
		family, proto int
		bind          func(t *testing.T, i int) unix.Sockaddr // the i-th socket's address; nil: none
	}
	inet := func(family int) func(*testing.T, int) unix.Sockaddr {
		return func(*testing.T, int) unix.Sockaddr { return loopbackOf(family) }
	}
	unixAt := func(named bool) func(*testing.T, int) unix.Sockaddr {
		return func(t *testing.T, i int) unix.Sockaddr {
			if i == 2 && !named {
				return nil
			}
			return &unix.SockaddrUnix{Name: fmt.Sprintf("@ksocket-%d-%s-%d", os.Getpid(), t.Name(), i)}
		}
	}
	for _, c := range []struct {
		name string
		end
	}{
		{"udp4", end{unix.AF_INET, 0, inet(unix.AF_INET)}},
		{"udp6", end{unix.AF_INET6, unix.IPPROTO_UDP, inet(unix.AF_INET6)}},
		{"udplite4", end{unix.AF_INET, unix.IPPROTO_UDPLITE, inet(unix.AF_INET)}},
		{"unixgram", end{unix.AF_UNIX, 0, unixAt(true)}},
		{"unixgram-unnamed", end{unix.AF_UNIX, 0, unixAt(false)}},
	} {
		for _, now := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/now=%v", c.name, now), func(t *testing.T) {
				// 0: the raw receiver, 1: the engine's (adopted), 2: the sender.
				var fds [3]int
				var addrs [3]unix.Sockaddr
				for i := range fds {
					fd, err := unix.Socket(c.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, c.proto)
					if err != nil {
						if i == 0 && (err == unix.EPROTONOSUPPORT || err == unix.EAFNOSUPPORT) {
							t.Skipf("the kernel has no such socket: %v", err)
						}
						t.Fatal(err)
					}
					if sa := c.bind(t, i); sa != nil {
						if err := unix.Bind(fd, sa); err != nil {
							t.Fatal(err)
						}
						if addrs[i], err = unix.Getsockname(fd); err != nil {
							t.Fatal(err)
						}
					}
					t.Cleanup(func() { unix.Close(fd) }) // Adopt takes a duplicate
					fds[i] = fd
				}
				s, err := e.Adopt(fds[1])
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if now {
					s.ReceiveDatagramsNow()
				}
				tv := unix.Timeval{Sec: 5}
				for _, fd := range fds[:2] {
					if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
						t.Fatal(err)
					}
					if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
						t.Fatal(err)
					}
				}
				type result struct {
					n, mflags  int
					from, data string
				}
				recvs := []struct {
					name           string
					kernel, engine func(b []byte, flags int) (result, error)
				}{
					{"recvfrom",
						func(b []byte, flags int) (result, error) {
							n, from, err := unix.Recvfrom(fds[0], b, flags)
							return result{n: n, from: addrKey(from)}, err
						},
						func(b []byte, flags int) (result, error) {
							n, from, err := s.RecvFrom(ctx0, b, flags, 5*time.Second)
							return result{n: n, from: addrKey(from.Sockaddr())}, err
						}},
					{"recvmsg",
						func(b []byte, flags int) (result, error) {
							n, _, mflags, from, err := unix.Recvmsg(fds[0], b, nil, flags)
							return result{n: n, mflags: mflags, from: addrKey(from)}, err
						},
						func(b []byte, flags int) (result, error) {
							n, _, mflags, from, err := s.RecvMsg(ctx0, b, nil, flags, 5*time.Second)
							return result{n: n, mflags: mflags, from: addrKey(from)}, err
						}},
				}
				msg := []byte("0123456789")
				for _, r := range recvs {
					for _, room := range []int{0, 4, 10, 16} {
						for _, flags := range []int{0, unix.MSG_TRUNC, unix.MSG_PEEK, unix.MSG_PEEK | unix.MSG_TRUNC} {
							for _, to := range addrs[:2] {
								if err := unix.Sendto(fds[2], msg, 0, to); err != nil {
									t.Fatal(err)
								}
							}
							b := make([]byte, room)
							want, err := r.kernel(b, flags)
							if err != nil {
								t.Fatal(err)
							}
							want.data = string(b[:min(want.n, room)])
							b = make([]byte, room)
							got, err := r.engine(b, flags)
							if err != nil {
								t.Fatal(err)
							}
							got.data = string(b[:min(got.n, room)])
							if got != want {
								t.Errorf("%s, room %d, flags %#x: engine %+v; kernel %+v", r.name, room, flags, got, want)
							}
							if flags&unix.MSG_PEEK != 0 { // the datagram is still there: take it
								b = make([]byte, 16)
								n, _, err := unix.Recvfrom(fds[0], b, 0)
								if err != nil || !bytes.Equal(b[:n], msg) {
									t.Fatalf("raw read after the peek: %q, %v", b[:n], err)
								}
								n, _, err = s.RecvFrom(ctx0, b, 0, 5*time.Second)
								if err != nil || !bytes.Equal(b[:n], msg) {
									t.Fatalf("engine read after the peek: %q, %v", b[:n], err)
								}
							}
						}
					}
				}
			})
		}
	}
}

// addrKey names a sender for comparison, unix addresses included.
func addrKey(sa unix.Sockaddr) string {
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		return "unix:" + u.Name
	}
	return saKey(sa)
}
