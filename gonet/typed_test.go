//go:build linux

package gonet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTypedTCP runs ListenTCP, DialTCP and AcceptTCP, each with net's
// types, and DialTimeout.
func TestTypedTCP(t *testing.T) {
	l, err := ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	raddr := l.Addr().(*net.TCPAddr)
	c, err := DialTCP("tcp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := c.SetNoDelay(true); err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c, s, "typed")
	if !c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().IsLoopback() || s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("addresses: client %v->%v, server %v->%v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
	}

	d, err := DialTimeout("tcp", raddr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if s2, err := l.Accept(); err == nil {
		s2.Close()
	}
}

// TestTypedUDP runs ListenUDP and DialUDP.
func TestTypedUDP(t *testing.T) {
	pc, err := ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("dgram")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "dgram" || from.String() != c.LocalAddr().String() {
		t.Fatalf("ReadFromUDP = %q from %v, %v", buf[:n], from, err)
	}
}

// TestTypedUnix runs ListenUnix, DialUnix and AcceptUnix, and checks
// SetUnlinkOnClose against net: Close removes the file by default, and
// keeps it when told to.
func TestTypedUnix(t *testing.T) {
	dir := t.TempDir()
	for _, unlink := range []bool{true, false} {
		ours := filepath.Join(dir, "gonet.sock")
		theirs := filepath.Join(dir, "net.sock")
		l, err := ListenUnix("unix", &net.UnixAddr{Name: ours, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		nl, err := net.ListenUnix("unix", &net.UnixAddr{Name: theirs, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := DialUnix("unix", nil, &net.UnixAddr{Name: ours, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(t, s, c, "unix")
		c.Close()
		s.Close()
		if !unlink {
			l.SetUnlinkOnClose(false)
			nl.SetUnlinkOnClose(false)
		}
		l.Close()
		nl.Close()
		_, oerr := os.Stat(ours)
		_, nerr := os.Stat(theirs)
		if (oerr == nil) != (nerr == nil) {
			t.Errorf("unlink %v: after Close, stat says %v for gonet's socket, %v for net's", unlink, oerr, nerr)
		}
		os.Remove(ours)
		os.Remove(theirs)
	}
}

// TestTypedRefusals compares the typed functions' refusals with net's:
// a missing remote address, a network of the wrong kind.
func TestTypedRefusals(t *testing.T) {
	la := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	cases := []struct {
		name      string
		ours, net func() error
	}{
		{"DialTCP without raddr",
			func() error { _, err := DialTCP("tcp", la, nil); return err },
			func() error { _, err := net.DialTCP("tcp", la, nil); return err }},
		{"DialTCP on udp",
			func() error { _, err := DialTCP("udp", nil, la); return err },
			func() error { _, err := net.DialTCP("udp", nil, la); return err }},
		{"DialUDP without raddr",
			func() error { _, err := DialUDP("udp", nil, nil); return err },
			func() error { _, err := net.DialUDP("udp", nil, nil); return err }},
		{"ListenTCP on unix",
			func() error { _, err := ListenTCP("unix", nil); return err },
			func() error { _, err := net.ListenTCP("unix", nil); return err }},
		{"ListenUDP on tcp",
			func() error { _, err := ListenUDP("tcp", nil); return err },
			func() error { _, err := net.ListenUDP("tcp", nil); return err }},
		{"ListenUnix without laddr",
			func() error { _, err := ListenUnix("unix", nil); return err },
			func() error { _, err := net.ListenUnix("unix", nil); return err }},
		{"DialUnix on tcp",
			func() error { _, err := DialUnix("tcp", nil, &net.UnixAddr{Name: "x", Net: "unix"}); return err },
			func() error { _, err := net.DialUnix("tcp", nil, &net.UnixAddr{Name: "x", Net: "unix"}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oerr, nerr := tc.ours(), tc.net()
			if oerr == nil || nerr == nil || oerr.Error() != nerr.Error() {
				t.Errorf("gonet: %v\n                        net: %v", oerr, nerr)
			}
		})
	}
}

// TestAcceptedUnixAddrsWithNet compares the addresses of an accepted unix
// connection with net's, for a client that is unnamed (net says "@") and
// for one bound to a path.
func TestAcceptedUnixAddrsWithNet(t *testing.T) {
	dir := t.TempDir()
	server, client := filepath.Join(dir, "server.sock"), filepath.Join(dir, "client.sock")
	accepted := func(listen func(string, string) (net.Listener, error), named bool) string {
		t.Helper()
		defer os.Remove(client)
		l, err := listen("unix", server)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var laddr *net.UnixAddr
		if named {
			laddr = &net.UnixAddr{Name: client, Net: "unix"}
		}
		c, err := net.DialUnix("unix", laddr, l.Addr().(*net.UnixAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return fmt.Sprintf("remote %#v, local %#v", s.RemoteAddr(), s.LocalAddr())
	}
	for _, named := range []bool{false, true} {
		if ours, theirs := accepted(Listen, named), accepted(net.Listen, named); ours != theirs {
			t.Errorf("named client %v: gonet's accepted conn has %s; net's has %s", named, ours, theirs)
		}
	}
}
