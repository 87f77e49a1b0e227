//go:build linux

package gonet

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
