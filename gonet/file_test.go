//go:build linux

package gonet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fileOf returns a copy of c's socket as an *os.File (net's File method).
func fileOf(t *testing.T, c interface{ File() (*os.File, error) }) *os.File {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// echoOnce writes msg on a and expects it on b.
func echoOnce(t *testing.T, a, b net.Conn, msg string) {
	t.Helper()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != msg {
		t.Fatalf("read %q, %v; want %q", got, err, msg)
	}
}

// TestFileListener adopts listeners that package net made, then closes
// net's: the copy keeps the socket, and accepts on the engine.
func TestFileListener(t *testing.T) {
	dir := t.TempDir()
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(dir, "l.sock")
			}
			nl, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			f := fileOf(t, nl.(interface{ File() (*os.File, error) }))
			l, err := FileListener(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Addr().String() != nl.Addr().String() || l.Addr().Network() != nl.Addr().Network() {
				t.Errorf("Addr() = %s %v, net's %s %v", l.Addr().Network(), l.Addr(), nl.Addr().Network(), nl.Addr())
			}
			if ul, ok := nl.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false) // the adopted copy still listens there
			}
			nl.Close()

			c, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			echoOnce(t, c, s, "adopted listener")
			echoOnce(t, s, c, "and back")

			// The listener's own File goes the other way, to net.
			lf := fileOf(t, l.(interface{ File() (*os.File, error) }))
			nl2, err := net.FileListener(lf)
			lf.Close()
			if err != nil {
				t.Fatal(err)
			}
			nl2.Close()
		})
	}
}

// TestFileConn adopts connected sockets: a socketpair, and a TCP
// connection that package net dialled; the adopted conn has net's type
// and addresses.
func TestFileConn(t *testing.T) {
	t.Run("unix", func(t *testing.T) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f0, f1 := os.NewFile(uintptr(fds[0]), "pair0"), os.NewFile(uintptr(fds[1]), "pair1")
		c, err := FileConn(f0)
		f0.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.(*UnixConn); !ok {
			t.Errorf("FileConn of a unix socket is a %T", c)
		}
		peer, err := net.FileConn(f1)
		f1.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		echoOnce(t, c, peer, "over a socketpair")
		echoOnce(t, peer, c, "and back")
	})
	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f := fileOf(t, nc.(*net.TCPConn))
		c, err := FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.(*TCPConn); !ok {
			t.Errorf("FileConn of a TCP socket is a %T", c)
		}
		if c.LocalAddr().String() != nc.LocalAddr().String() || c.RemoteAddr().String() != nc.RemoteAddr().String() {
			t.Errorf("addresses %v->%v, net's %v->%v", c.LocalAddr(), c.RemoteAddr(), nc.LocalAddr(), nc.RemoteAddr())
		}
		nc.Close() // the copy keeps the connection open
		echoOnce(t, c, s, "adopted conn")
		echoOnce(t, s, c, "and back")

		// Its File goes back to net, and both copies work.
		cf := fileOf(t, c.(*TCPConn))
		nc2, err := net.FileConn(cf)
		cf.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer nc2.Close()
		echoOnce(t, nc2, s, "through net's copy")
		echoOnce(t, s, c, "to ours")
	})
}

// TestFilePacketConn adopts a UDP socket that package net bound.
func TestFilePacketConn(t *testing.T) {
	npc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := fileOf(t, npc.(*net.UDPConn))
	pc, err := FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if pc.LocalAddr().String() != npc.LocalAddr().String() {
		t.Errorf("LocalAddr() = %v, net's %v", pc.LocalAddr(), npc.LocalAddr())
	}
	npc.Close()

	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("ping"), pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != peer.LocalAddr().String() {
		t.Fatalf("ReadFrom = %q from %v, %v", buf[:n], from, err)
	}
	if _, err := pc.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
}

// TestFileRefusals gives each File function what the others take, and
// things that are not sockets, and compares with package net: the same
// success or failure, and the same errno where net gives one.
func TestFileRefusals(t *testing.T) {
	dir := t.TempDir()
	regular, err := os.Create(filepath.Join(dir, "not-a-socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	closed, err := os.Create(filepath.Join(dir, "closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	files := map[string]func() *os.File{
		"regular file": func() *os.File { return regular },
		"closed file":  func() *os.File { return closed },
		"tcp listener": func() *os.File { return fileOf(t, ln.(*net.TCPListener)) },
		"udp socket":   func() *os.File { return fileOf(t, udp.(*net.UDPConn)) },
	}
	type closer interface{ Close() error }
	funcs := []struct {
		name      string
		ours, net func(*os.File) (closer, error)
	}{
		{"FileConn", func(f *os.File) (closer, error) { return FileConn(f) }, func(f *os.File) (closer, error) { return net.FileConn(f) }},
		{"FileListener", func(f *os.File) (closer, error) { return FileListener(f) }, func(f *os.File) (closer, error) { return net.FileListener(f) }},
		{"FilePacketConn", func(f *os.File) (closer, error) { return FilePacketConn(f) }, func(f *os.File) (closer, error) { return net.FilePacketConn(f) }},
	}
	for fname, file := range files {
		for _, fn := range funcs {
			t.Run(fn.name+"/"+fname, func(t *testing.T) {
				f := file()
				if f != regular && f != closed {
					defer f.Close()
				}
				nc, nerr := fn.net(f)
				if nerr == nil {
					nc.Close()
				}
				oc, oerr := fn.ours(f)
				if oerr == nil {
					oc.Close()
				}
				t.Logf("net: %v; gonet: %v", nerr, oerr)
				if (nerr == nil) != (oerr == nil) {
					t.Fatalf("net says %v, gonet %v", nerr, oerr)
				}
				var errno syscall.Errno
				if errors.As(nerr, &errno) && !errors.Is(oerr, errno) {
					t.Errorf("net fails with %v, gonet with %v", nerr, oerr)
				}
			})
		}
	}
}

// TestSocketActivation starts this test binary as a child the way systemd
// starts a socket-activated service: the listening socket as fd 3 and
// LISTEN_FDS=1. The child adopts it with FileListener and answers one
// client.
func TestSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestActivatedChild$")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "GONET_ACTIVATED_CHILD=1")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("dial the activated listener %s: %v\n%s", addr, err, out)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if werr := cmd.Wait(); werr != nil || err != nil || string(got) != "hello from fd 3\n" {
		t.Fatalf("activated child: %q, %v; exit %v\n%s", got, err, werr, out)
	}
}

// TestActivatedChild is the child of TestSocketActivation.
func TestActivatedChild(t *testing.T) {
	if os.Getenv("GONET_ACTIVATED_CHILD") != "1" {
		t.Skip("run by TestSocketActivation")
	}
	if os.Getenv("LISTEN_FDS") != "1" {
		t.Fatalf("LISTEN_FDS = %q", os.Getenv("LISTEN_FDS"))
	}
	f := os.NewFile(3, "activated")
	l, err := FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hello from fd 3\n")
	c.Close()
}

// kind names a conn's or listener's type without its package, so that
// gonet's *UDPConn and net's *net.UDPConn compare equal.
func kind(v any) string {
	s := fmt.Sprintf("%T", v)
	return s[strings.LastIndex(s, ".")+1:]
}

// TestFileMultipathTCP adopts an IPPROTO_MPTCP listener made with a raw
// socket(2), and the MPTCP end of a connection, with gonet's and net's
// File functions: each conn reports MultipathTCP as net's copy does, true
// for a client that asked for MPTCP and false for one that did not.
func TestFileMultipathTCP(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err != nil {
		t.Skipf("the kernel makes no MPTCP socket (CONFIG_MPTCP, net.mptcp.enabled): %v", err)
	}
	lf := os.NewFile(uintptr(fd), "mptcp listener")
	defer lf.Close()
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	type mptcpConn interface {
		net.Conn
		MultipathTCP() (bool, error)
	}
	adopters := []struct {
		name     string
		listener func(*os.File) (net.Listener, error)
		conn     func(*os.File) (net.Conn, error)
	}{
		{"gonet", FileListener, FileConn},
		{"net", net.FileListener, net.FileConn},
	}
	// got[adopter][client] is what the accepted conn and the adopted
	// client end report.
	var got [2][2]string
	for i, a := range adopters {
		// One after the other: on the uring backend gonet's listener
		// accepts ahead with a multishot accept, which would take the
		// connections meant for net's copy.
		l, err := a.listener(lf)
		if err != nil {
			t.Fatalf("%s: FileListener of an MPTCP listener: %v", a.name, err)
		}
		if kind(l) != "TCPListener" {
			t.Errorf("%s: FileListener of an MPTCP listener is a %T", a.name, l)
		}
		if gl, ok := l.(*TCPListener); ok && gl.s.Protocol() != unix.IPPROTO_MPTCP {
			t.Errorf("the adopted listener's Protocol() = %d, want IPPROTO_MPTCP", gl.s.Protocol())
		}
		for j, mptcp := range []bool{false, true} {
			d := &net.Dialer{Timeout: 5 * time.Second}
			d.SetMultipathTCP(mptcp)
			c, err := d.Dial("tcp4", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			echoOnce(t, c, s, "over MPTCP, maybe")
			sm, serr := s.(mptcpConn).MultipathTCP()
			// The client end, a copy adopted on its own.
			cf := fileOf(t, c.(*net.TCPConn))
			ac, err := a.conn(cf)
			cf.Close()
			if err != nil {
				t.Fatalf("%s: FileConn of an MPTCP conn: %v", a.name, err)
			}
			if kind(ac) != "TCPConn" {
				t.Errorf("%s: FileConn of an MPTCP conn is a %T", a.name, ac)
			}
			cm, cerr := ac.(mptcpConn).MultipathTCP()
			echoOnce(t, ac, s, "through the adopted client end")
			got[i][j] = fmt.Sprintf("accepted %v %v, client %v %v", sm, serr, cm, cerr)
			if serr != nil || cerr != nil || sm != mptcp || cm != mptcp {
				t.Errorf("%s, client with MPTCP %v: %s", a.name, mptcp, got[i][j])
			}
			ac.Close()
			s.Close()
			c.Close()
		}
		l.Close()
	}
	t.Logf("gonet: %q; net: %q", got[0], got[1])
	if got[0] != got[1] {
		t.Errorf("gonet's adopted MPTCP: %q; net's: %q", got[0], got[1])
	}
}

// TestFileUnixMessageSockets adopts each end of unixgram and unixpacket
// socketpairs with FileConn and FilePacketConn, as net does: a *UnixConn,
// with net's network and addresses, that keeps message boundaries.
func TestFileUnixMessageSockets(t *testing.T) {
	for _, tt := range []struct {
		network string
		sotype  int
	}{
		{"unixgram", unix.SOCK_DGRAM},
		{"unixpacket", unix.SOCK_SEQPACKET},
	} {
		t.Run(tt.network, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, tt.sotype|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f0, f1 := os.NewFile(uintptr(fds[0]), "pair0"), os.NewFile(uintptr(fds[1]), "pair1")
			defer f0.Close()
			defer f1.Close()
			peer, err := net.FileConn(f1)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			for _, fn := range []struct {
				name      string
				ours, net func(*os.File) (net.Conn, error)
			}{
				{"FileConn", FileConn, net.FileConn},
				{"FilePacketConn",
					func(f *os.File) (net.Conn, error) { return asConn(FilePacketConn(f)) },
					func(f *os.File) (net.Conn, error) { return asConn(net.FilePacketConn(f)) }},
			} {
				t.Run(fn.name, func(t *testing.T) {
					nc, err := fn.net(f0)
					if err != nil {
						t.Fatalf("net: %v", err)
					}
					defer nc.Close()
					c, err := fn.ours(f0)
					if err != nil {
						t.Fatalf("net adopts it as a %T; gonet: %v", nc, err)
					}
					defer c.Close()
					if _, ok := c.(*UnixConn); !ok || kind(c) != kind(nc) {
						t.Errorf("gonet adopts it as a %T, net as a %T", c, nc)
					}
					if addr(c.LocalAddr()) != addr(nc.LocalAddr()) || addr(c.RemoteAddr()) != addr(nc.RemoteAddr()) {
						t.Errorf("addresses %s -> %s; net's %s -> %s",
							addr(c.LocalAddr()), addr(c.RemoteAddr()), addr(nc.LocalAddr()), addr(nc.RemoteAddr()))
					}
					// Two messages, read one at a time: the boundaries hold.
					for _, msg := range []string{"first", "second message"} {
						if _, err := c.Write([]byte(msg)); err != nil {
							t.Fatal(err)
						}
					}
					peer.SetReadDeadline(time.Now().Add(5 * time.Second))
					for _, msg := range []string{"first", "second message"} {
						buf := make([]byte, 64)
						n, err := peer.Read(buf)
						if err != nil || string(buf[:n]) != msg {
							t.Fatalf("peer read %q, %v; want %q", buf[:n], err, msg)
						}
					}
					if _, err := peer.Write([]byte("back")); err != nil {
						t.Fatal(err)
					}
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, 64)
					if pc, ok := c.(net.PacketConn); ok && fn.name == "FilePacketConn" {
						n, _, err := pc.ReadFrom(buf)
						if err != nil || string(buf[:n]) != "back" {
							t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
						}
					} else if n, err := c.Read(buf); err != nil || string(buf[:n]) != "back" {
						t.Fatalf("Read = %q, %v", buf[:n], err)
					}
				})
			}
		})
	}
}

// asConn returns a packet conn as the net.Conn that net's and gonet's
// *UnixConn and *UDPConn also are.
func asConn(pc net.PacketConn, err error) (net.Conn, error) {
	c, _ := pc.(net.Conn)
	return c, err
}

// addr formats an address with its network, "<nil>" for none.
func addr(a net.Addr) string {
	if a == nil || reflect.ValueOf(a).IsNil() {
		return "<nil>"
	}
	return a.Network() + " " + a.String()
}

// TestFileProtocolsAsNet adopts inet sockets whose protocol is neither TCP
// nor UDP: UDP-Lite, and ICMP echo ("ping") sockets. net goes by the
// address and the socket type, not the protocol, and adopts them as
// *UDPConn (golang.org/x/net/icmp makes its unprivileged ping sockets so,
// with net.FilePacketConn); gonet does the same, and each File function
// succeeds or fails with net's. The datagrams then go through gonet's
// conn.
func TestFileProtocolsAsNet(t *testing.T) {
	type sock struct {
		name                string
		domain, proto       int
		bind, to            unix.Sockaddr
		request, replyStart []byte
	}
	lo4 := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	lo6 := &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	echo4 := []byte{8, 0, 0, 0, 0, 0, 0, 1, 'p', 'i', 'n', 'g'}   // ICMP echo request, seq 1
	echo6 := []byte{128, 0, 0, 0, 0, 0, 0, 1, 'p', 'i', 'n', 'g'} // ICMPv6 echo request
	socks := []sock{
		// A UDP-Lite socket sends to itself.
		{"udplite4", unix.AF_INET, unix.IPPROTO_UDPLITE, lo4, nil, []byte("lite"), []byte("lite")},
		{"udplite6", unix.AF_INET6, unix.IPPROTO_UDPLITE, lo6, nil, []byte("lite"), []byte("lite")},
		// A ping socket gets an echo reply (type 0, 129) from loopback.
		{"icmp4", unix.AF_INET, unix.IPPROTO_ICMP, lo4, lo4, echo4, []byte{0}},
		{"icmp6", unix.AF_INET6, unix.IPPROTO_ICMPV6, lo6, lo6, echo6, []byte{129}},
	}
	type closer interface{ Close() error }
	funcs := []struct {
		name      string
		ours, net func(*os.File) (closer, error)
	}{
		{"FileConn", func(f *os.File) (closer, error) { return FileConn(f) }, func(f *os.File) (closer, error) { return net.FileConn(f) }},
		{"FileListener", func(f *os.File) (closer, error) { return FileListener(f) }, func(f *os.File) (closer, error) { return net.FileListener(f) }},
		{"FilePacketConn", func(f *os.File) (closer, error) { return FilePacketConn(f) }, func(f *os.File) (closer, error) { return net.FilePacketConn(f) }},
	}
	for _, so := range socks {
		t.Run(so.name, func(t *testing.T) {
			f := datagramSocket(t, so.name, so.domain, so.proto, so.bind)
			defer f.Close()
			for _, fn := range funcs {
				nc, nerr := fn.net(f)
				oc, oerr := fn.ours(f)
				t.Logf("%s: net %s %v; gonet %s %v", fn.name, kind(nc), nerr, kind(oc), oerr)
				var errno syscall.Errno
				switch {
				case (nerr == nil) != (oerr == nil):
					t.Errorf("%s: net gives %T %v, gonet %T %v", fn.name, nc, nerr, oc, oerr)
				case errors.As(nerr, &errno) && !errors.Is(oerr, errno):
					t.Errorf("%s: net fails with %v, gonet with %v", fn.name, nerr, oerr)
				case kind(nc) != kind(oc):
					t.Errorf("%s: net adopts it as a %T, gonet as a %T", fn.name, nc, oc)
				case nerr == nil:
					if na, oa := addr(nc.(net.Conn).LocalAddr()), addr(oc.(net.Conn).LocalAddr()); na != oa {
						t.Errorf("%s: LocalAddr %s, net's %s", fn.name, oa, na)
					}
				}
				if nerr == nil {
					nc.Close()
				}
				if oerr == nil {
					oc.Close()
				}
			}

			pc, err := FilePacketConn(f)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if p := pc.(*UDPConn).s.Protocol(); p != so.proto {
				t.Errorf("the adopted socket's Protocol() = %d, want SO_PROTOCOL's %d", p, so.proto)
			}
			to := pc.LocalAddr()
			if so.to != nil {
				to = sockaddrToAddr("udp", so.to)
			}
			if _, err := pc.WriteTo(so.request, to); err != nil {
				t.Fatalf("WriteTo %v: %v", to, err)
			}
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := pc.ReadFrom(buf)
			if err != nil || !bytes.HasPrefix(buf[:n], so.replyStart) || !bytes.HasSuffix(buf[:n], []byte(so.request[len(so.request)-4:])) {
				t.Fatalf("ReadFrom = % x from %v, %v; want % x... ending %q", buf[:n], from, err, so.replyStart, so.request[len(so.request)-4:])
			}
			if ua, ok := from.(*net.UDPAddr); !ok || !ua.IP.IsLoopback() {
				t.Errorf("ReadFrom's sender %T %v, want a loopback *net.UDPAddr", from, from)
			}
		})
	}
}

// datagramSocket returns a SOCK_DGRAM socket of domain and proto, bound to
// bind, as an *os.File, or skips the test when the kernel makes none. A
// ping socket the host's net.ipv4.ping_group_range refuses is made in a
// network namespace of the test's own instead (pingNetns): the host's
// setting is left alone.
func datagramSocket(t *testing.T, name string, domain, proto int, bind unix.Sockaddr) *os.File {
	t.Helper()
	mk := func() (int, error) {
		fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return -1, os.NewSyscallError("socket", err)
		}
		if err := unix.Bind(fd, bind); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("bind", err)
		}
		return fd, nil
	}
	fd, err := mk()
	if errors.Is(err, unix.EACCES) && (proto == unix.IPPROTO_ICMP || proto == unix.IPPROTO_ICMPV6) {
		t.Logf("the host's net.ipv4.ping_group_range refuses: %v; in a network namespace of our own", err)
		fd, err = pingNetns(mk)
	}
	if err != nil {
		t.Skipf("no %s socket: %v", name, err)
	}
	return os.NewFile(uintptr(fd), name)
}

// pingNetns calls mk on a thread moved into a new network namespace, with
// lo up and net.ipv4.ping_group_range (which governs ICMPv6 too) open to
// every group, and returns its socket, which stays in that namespace. The
// thread stays locked: it ends with its goroutine, so nothing else runs in
// the namespace (runtime.LockOSThread).
func pingNetns(mk func() (int, error)) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ch <- func() result {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return result{-1, os.NewSyscallError("unshare(CLONE_NEWNET)", err)}
			}
			// /proc/sys/net shows the namespace of the thread that opens it.
			if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0); err != nil {
				return result{-1, err}
			}
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return result{-1, os.NewSyscallError("socket", err)}
			}
			defer unix.Close(s)
			ifr, err := unix.NewIfreq("lo")
			if err != nil {
				return result{-1, err}
			}
			if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
				return result{-1, os.NewSyscallError("ioctl(SIOCGIFFLAGS)", err)}
			}
			ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
			if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
				return result{-1, os.NewSyscallError("ioctl(SIOCSIFFLAGS)", err)}
			}
			fd, err := mk()
			return result{fd, err}
		}()
	}()
	r := <-ch
	return r.fd, r.err
}
