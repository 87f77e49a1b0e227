//go:build linux

package engine

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SendMsg and RecvMsg against the raw kernel: each scenario runs once on a
// pair of plain sockets with sendmsg(2) and recvmsg(2), and once on a pair
// the engine adopted, and the answers must match.

// msgPair is two connected sockets driven either raw or by the engine.
type msgPair struct {
	send func(i int, p, oob []byte, flags int, to unix.Sockaddr) (int, error)
	recv func(i int, p, oob []byte, flags int) (received, error)
}

func rawMsgPair(t *testing.T, fds [2]int) msgPair {
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return msgPair{
		send: func(i int, p, oob []byte, flags int, to unix.Sockaddr) (int, error) {
			var raw unix.RawSockaddrAny
			var n uint32
			if to != nil {
				var err error
				if n, err = putSockaddr(to, &raw); err != nil {
					return 0, err
				}
			}
			return sendmsgRaw(fds[i], p, oob, &raw, n, flags|unix.MSG_NOSIGNAL)
		},
		recv: func(i int, p, oob []byte, flags int) (received, error) {
			return recvmsgRaw(fds[i], p, oob, flags|unix.MSG_DONTWAIT)
		},
	}
}

func engineMsgPair(t *testing.T, e *Engine, fds [2]int) msgPair {
	var s [2]*Socket
	for i, fd := range fds {
		var err error
		if s[i], err = e.Adopt(fd); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		t.Cleanup(func() { s[i].Close() })
	}
	return msgPair{
		send: func(i int, p, oob []byte, flags int, to unix.Sockaddr) (int, error) {
			return s[i].SendMsg(ctx0, p, oob, flags, to, time.Second)
		},
		recv: func(i int, p, oob []byte, flags int) (received, error) {
			var r received
			var err error
			r.n, r.oobn, r.flags, r.from, err = s[i].RecvMsgFrom(ctx0, p, oob, flags, time.Second)
			return r, err
		},
	}
}

// msgOutcome is what a scenario saw, in a form two runs can compare.
type msgOutcome struct {
	sent, n, oobn, flags int
	sendErr, recvErr     error
	data                 string
	cmsgs                []string // level/type/data length, and for SCM_RIGHTS the fds' close-on-exec bits
	from                 string
}

func (o msgOutcome) String() string {
	return fmt.Sprintf("sent %d (%v), got %d bytes %q, %d of control %v, flags %#x (%v), from %s",
		o.sent, o.sendErr, o.n, o.data, o.oobn, o.cmsgs, o.flags, o.recvErr, o.from)
}

// describeCmsgs parses oob and closes any fds it carries.
func describeCmsgs(t *testing.T, oob []byte) []string {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	var out []string
	for _, m := range msgs {
		d := fmt.Sprintf("%d/%d/%d", m.Header.Level, m.Header.Type, len(m.Data))
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil {
					t.Fatalf("received fd %d: %v", fd, err)
				}
				d += fmt.Sprintf(" cloexec=%d", fl&unix.FD_CLOEXEC)
				unix.Close(fd)
			}
		}
		out = append(out, d)
	}
	return out
}

type msgScenario struct {
	name      string
	pair      func(t *testing.T) [2]int
	prepare   func(t *testing.T, fds [2]int) // socket options, before adoption
	data      []byte
	oob       func(t *testing.T) []byte // the sender's control data
	to        bool                      // send to the receiver's own address
	recvLen   int
	oobLen    int
	recvFlags int
}

func socketpair(typ int) func(t *testing.T) [2]int {
	return func(t *testing.T) [2]int {
		fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fds
	}
}

// udpPair is two UDP sockets on 127.0.0.1, the first connected to the
// second, which is not connected.
func udpPair(t *testing.T) [2]int {
	var fds [2]int
	for i := range fds {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		fds[i] = fd
	}
	sa, err := unix.Getsockname(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fds[0], sa); err != nil {
		t.Fatal(err)
	}
	return fds
}

func rightsOf(t *testing.T, n int) []byte {
	fds := make([]int, n)
	for i := range fds {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fds[i] = int(f.Fd())
	}
	return unix.UnixRights(fds...)
}

func setInt(level, opt int) func(t *testing.T, fds [2]int) {
	return func(t *testing.T, fds [2]int) {
		if err := unix.SetsockoptInt(fds[1], level, opt, 1); err != nil {
			t.Fatal(err)
		}
	}
}

var msgScenarios = []msgScenario{
	{name: "unixgram/rights", pair: socketpair(unix.SOCK_DGRAM), data: []byte("fd"), oob: func(t *testing.T) []byte { return rightsOf(t, 2) }, recvLen: 16, oobLen: 64},
	{name: "unixgram/rights-cloexec", pair: socketpair(unix.SOCK_DGRAM), data: []byte("fd"), oob: func(t *testing.T) []byte { return rightsOf(t, 1) }, recvLen: 16, oobLen: 64, recvFlags: unix.MSG_CMSG_CLOEXEC},
	{name: "unixgram/ctrunc", pair: socketpair(unix.SOCK_DGRAM), data: []byte("fd"), oob: func(t *testing.T) []byte { return rightsOf(t, 3) }, recvLen: 16, oobLen: unix.CmsgSpace(4)},
	{name: "unixgram/trunc", pair: socketpair(unix.SOCK_DGRAM), data: []byte("a longer datagram"), recvLen: 4, oobLen: 64},
	{name: "unixgram/empty-data", pair: socketpair(unix.SOCK_DGRAM), oob: func(t *testing.T) []byte { return rightsOf(t, 1) }, recvLen: 0, oobLen: 64},
	{name: "unix/rights", pair: socketpair(unix.SOCK_STREAM), data: []byte("x"), oob: func(t *testing.T) []byte { return rightsOf(t, 1) }, recvLen: 16, oobLen: 64},
	{name: "unix/credentials", pair: socketpair(unix.SOCK_STREAM), prepare: setInt(unix.SOL_SOCKET, unix.SO_PASSCRED), data: []byte("who"), recvLen: 16, oobLen: 64},
	{name: "unixpacket/rights", pair: socketpair(unix.SOCK_SEQPACKET), data: []byte("pkt"), oob: func(t *testing.T) []byte { return rightsOf(t, 1) }, recvLen: 2, oobLen: 64},
	{name: "unix/bad-cmsg", pair: socketpair(unix.SOCK_STREAM), data: []byte("x"), oob: func(*testing.T) []byte { return make([]byte, unix.CmsgSpace(4)) }, recvLen: 16, oobLen: 64},
	{name: "unix/unknown-cmsg", pair: socketpair(unix.SOCK_STREAM), data: []byte("x"), oob: func(*testing.T) []byte {
		b := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.SOL_SOCKET, 99
		h.SetLen(unix.CmsgLen(4))
		return b
	}, recvLen: 16, oobLen: 64},
	{name: "udp/pktinfo", pair: udpPair, prepare: setInt(unix.IPPROTO_IP, unix.IP_PKTINFO), data: []byte("dgram"), recvLen: 64, oobLen: 128},
	{name: "udp/tos", pair: udpPair, prepare: setInt(unix.IPPROTO_IP, unix.IP_RECVTOS), data: []byte("tos"), oob: func(*testing.T) []byte {
		b := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TOS
		h.SetLen(unix.CmsgLen(4))
		b[unix.CmsgLen(0)] = 0x10
		return b
	}, recvLen: 64, oobLen: 128},
	{name: "udp/to-connected", pair: udpPair, data: []byte("to"), to: true, recvLen: 64, oobLen: 64},
}

func TestMsgDifferential(t *testing.T) {
	e := testEngine(t)
	for _, sc := range msgScenarios {
		t.Run(sc.name, func(t *testing.T) {
			run := func(engine bool) msgOutcome {
				fds := sc.pair(t)
				if sc.prepare != nil {
					sc.prepare(t, fds)
				}
				var to unix.Sockaddr
				if sc.to {
					sa, err := unix.Getsockname(fds[1])
					if err != nil {
						t.Fatal(err)
					}
					to = sa
				}
				p := rawMsgPair(t, fds)
				if engine {
					p = engineMsgPair(t, e, fds)
				}
				var oob []byte
				if sc.oob != nil {
					oob = sc.oob(t)
				}
				var o msgOutcome
				o.sent, o.sendErr = p.send(0, sc.data, oob, 0, to)
				if o.sendErr != nil {
					return o
				}
				buf, rb := make([]byte, sc.recvLen), make([]byte, sc.oobLen)
				r, err := p.recv(1, buf, rb, sc.recvFlags)
				o.recvErr = err
				if err != nil {
					return o
				}
				o.n, o.oobn, o.flags = r.n, r.oobn, r.flags
				o.data = string(buf[:min(r.n, len(buf))])
				o.cmsgs = describeCmsgs(t, rb[:r.oobn])
				if sa := r.from.Sockaddr(); sa != nil {
					o.from = fmt.Sprintf("family %d", sockaddrFamily(sa))
				}
				return o
			}
			want, got := run(false), run(true)
			if want.String() != got.String() {
				t.Errorf("engine (%s):\n got  %v\n kernel says %v", e.Backend(), got, want)
			}
		})
	}
}

func sockaddrFamily(sa unix.Sockaddr) int {
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET
	case *unix.SockaddrInet6:
		return unix.AF_INET6
	case *unix.SockaddrUnix:
		return unix.AF_UNIX
	}
	return -1
}

// A RecvMsg cut short by its timeout returns only after the kernel let go
// of both buffers, and leaves no slot behind.
func TestRecvMsgTimeout(t *testing.T) {
	e := testEngine(t)
	fds := socketpair(unix.SOCK_DGRAM)(t)
	a, err := e.Adopt(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	unix.Close(fds[0])
	defer unix.Close(fds[1])
	inUse, _ := e.Slots()
	start := time.Now()
	_, _, _, _, err = a.RecvMsg(ctx0, make([]byte, 8), make([]byte, 64), 0, 20*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvMsg with nothing to read: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("RecvMsg timed out after %v, before its 20ms", d)
	}
	// Ops of earlier tests (a detached cancel, a close) may still end
	// in between: only a rise is a leak.
	if now, _ := e.Slots(); now > inUse {
		t.Fatalf("slots in use: %d before, %d after a timed-out RecvMsg", inUse, now)
	}
	// The buffers are free for reuse: a datagram sent now arrives whole.
	if _, err := unix.Write(fds[1], []byte("late")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	n, _, _, _, err := a.RecvMsg(ctx0, b, make([]byte, 64), 0, time.Second)
	if err != nil || string(b[:n]) != "late" {
		t.Fatalf("RecvMsg after a timeout: %q, %v", b[:n], err)
	}
}
