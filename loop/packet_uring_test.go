//go:build linux && !android

package loop

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// TestPacketLoopHonoursFeatures: a UDP loop on io_uring receives through a
// multishot recvmsg only where RECVMSG_MULTISHOT is usable, and sends with
// the address in the SQE only where SENDTO is; KSOCKET_FEATURES (5.19,
// -RECVMSG_MULTISHOT, -SENDTO) masks them, and a masked op is not issued.
// TestPacketMatchesKernel and the others check either way's answers.
func TestPacketLoopHonoursFeatures(t *testing.T) {
	s := servePacket(t, "udp4", "127.0.0.1:0", packetEcho, &Config{Loops: 1})
	if s.Backend() != "uring" {
		t.Skipf("backend %s", s.Backend())
	}
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := exchange(t, c, []byte("x")); string(got) != "x" {
		t.Fatalf("echo %q", got)
	}
	l := s.conns[0].l.(*uringPacketLoop)
	if want := !engine.Usable("RECVMSG_MULTISHOT"); l.single != want {
		t.Errorf("single-shot receives: %v; want %v", l.single, want)
	}
	if want := engine.Usable("SENDTO"); l.sendto != want {
		t.Errorf("sends with the address in the SQE: %v; want %v", l.sendto, want)
	}
}

// TestListenAddrsMatchNet listens on the same network and address with
// loop and with net: each succeeds where the other does, on the same
// family, IPv6-only or dual-stack alike.
func TestListenAddrsMatchNet(t *testing.T) {
	type result struct {
		ok     bool
		is6    bool
		v6only int
	}
	var wildcard bool
	inspect := func(a net.Addr, fd int) result {
		r := result{ok: true}
		switch a := a.(type) {
		case *net.TCPAddr:
			r.is6 = a.IP.To4() == nil
		case *net.UDPAddr:
			r.is6 = a.IP.To4() == nil
		}
		// Bound to one IPv6 address, a socket is IPv6-only whatever was
		// asked (and net's TCP listeners are MPTCP sockets, which
		// report the flag as set before the bind): only a wildcard's
		// flag says anything.
		if r.is6 && wildcard {
			r.v6only, _ = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
		return r
	}
	fileFd := func(c interface{ File() (*os.File, error) }) (int, func()) {
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		return int(f.Fd()), func() { f.Close() }
	}
	for _, network := range []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"} {
		for _, addr := range []string{"0.0.0.0:0", "127.0.0.1:0", "[::]:0", "[::1]:0", "[::ffff:127.0.0.1]:0", ":0"} {
			var got, want result
			host, _, _ := net.SplitHostPort(addr)
			wildcard = host == "" || host == "::" || host == "0.0.0.0"
			if network[:3] == "tcp" {
				if s, err := Listen(network, addr, echo, &Config{Loops: 1}); err == nil {
					var fd int
					switch l := s.loops[0].(type) {
					case *uringLoop:
						fd = l.lnFd
					case *epollLoop:
						fd = l.lnFd
					}
					got = inspect(s.Addr(), fd)
					s.Close()
				}
				if l, err := net.Listen(network, addr); err == nil {
					fd, done := fileFd(l.(*net.TCPListener))
					want = inspect(l.Addr(), fd)
					done()
					l.Close()
				}
			} else {
				if s, err := ListenPacket(network, addr, packetEcho, &Config{Loops: 1}); err == nil {
					got = inspect(s.Addr(), s.conns[0].fd)
					s.Close()
				}
				if c, err := net.ListenPacket(network, addr); err == nil {
					fd, done := fileFd(c.(*net.UDPConn))
					want = inspect(c.LocalAddr(), fd)
					done()
					c.Close()
				}
			}
			if got != want {
				t.Errorf("%s %s: loop %+v; net %+v", network, addr, got, want)
			}
		}
	}
}

// TestRingFailureLeaksInFlightMemory: when io_uring_enter fails for good
// while a send is in flight (a client that reads nothing, a 64 MiB reply),
// the loop keeps the memory the kernel may still use, pinned send buffers
// included, and Serve reports it; a GC afterwards finds no leaked pin.
func TestRingFailureLeaksInFlightMemory(t *testing.T) {
	e, err := engine.Default()
	if err != nil || e.Backend() != "uring" {
		t.Skip("the uring backend is not in use")
	}
	big := make([]byte, 64<<20)
	h := Handlers{Data: func(c *Conn, data []byte) { c.Write(big) }}
	s, err := Listen("tcp4", "127.0.0.1:0", h, &Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	time.Sleep(100 * time.Millisecond) // the reply's send is in flight

	eio := error(unix.EIO)
	enterFault.Store(&eio)
	defer enterFault.Store(nil)
	s.Close()
	if err := <-errc; !errors.Is(err, unix.EIO) {
		t.Fatalf("Serve = %v; want the ring's EIO", err)
	}
	leaked.Lock()
	var kept *uringLoop
	for _, l := range leaked.loops {
		if l, ok := l.(*uringLoop); ok && l.s == s {
			kept = l
		}
	}
	leaked.Unlock()
	if kept == nil {
		t.Fatal("nothing kept for the kernel")
	}
	runtime.GC()
	runtime.GC()
	// The connection's fd went with the loop: whether the kernel ran
	// its close cannot be known once the ring fails. Here it did not.
	for _, c := range kept.conns {
		if c != nil {
			unix.Close(c.fd)
		}
	}
}
