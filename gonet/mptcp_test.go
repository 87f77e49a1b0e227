//go:build linux

package gonet

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMultipathTCPWithNet compares MPTCP with net's: the defaults (also
// under GODEBUG=multipathtcp), and for each choice of dialer and listener
// what the listening socket was made with and what both ends of a
// connection report. Where the kernel has no MPTCP, both fall back alike.
func TestMultipathTCPWithNet(t *testing.T) {
	for _, g := range []string{"", "multipathtcp=0", "multipathtcp=1", "multipathtcp=3"} {
		t.Run("GODEBUG="+g, func(t *testing.T) {
			t.Setenv("GODEBUG", g)
			nd, gd := &net.Dialer{}, &Dialer{}
			nl, gl := &net.ListenConfig{}, &ListenConfig{}
			if nd.MultipathTCP() != gd.MultipathTCP() || nl.MultipathTCP() != gl.MultipathTCP() {
				t.Errorf("defaults: net dialer %v listener %v; gonet dialer %v listener %v",
					nd.MultipathTCP(), nl.MultipathTCP(), gd.MultipathTCP(), gl.MultipathTCP())
			}
		})
	}
	type tcpMPTCP interface {
		net.Conn
		MultipathTCP() (bool, error)
	}
	proto := func(c interface {
		SyscallConn() (syscall.RawConn, error)
	}) int {
		rc, _ := c.SyscallConn()
		p := -1
		rc.Control(func(fd uintptr) { p, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) })
		return p
	}
	for _, dial := range []bool{false, true} {
		for _, listen := range []bool{false, true} {
			t.Run(fmt.Sprintf("dial=%v/listen=%v", dial, listen), func(t *testing.T) {
				var got [2]string
				for i := range 2 {
					var ln net.Listener
					var err error
					var d interface {
						Dial(string, string) (net.Conn, error)
					}
					if i == 0 {
						lc := &net.ListenConfig{}
						lc.SetMultipathTCP(listen)
						ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
						nd := &net.Dialer{}
						nd.SetMultipathTCP(dial)
						d = nd
					} else {
						lc := &ListenConfig{}
						lc.SetMultipathTCP(listen)
						ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
						gd := &Dialer{}
						gd.SetMultipathTCP(dial)
						d = gd
					}
					if err != nil {
						t.Fatal(err)
					}
					defer ln.Close()
					c, err := d.Dial("tcp4", ln.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					s, err := ln.Accept()
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					echoOnce(t, c, s, "mptcp")
					cm, cerr := c.(tcpMPTCP).MultipathTCP()
					sm, serr := s.(tcpMPTCP).MultipathTCP()
					lp := proto(ln.(interface {
						SyscallConn() (syscall.RawConn, error)
					}))
					got[i] = fmt.Sprintf("listener proto %d; client %v %v; server %v %v", lp, cm, cerr, sm, serr)
				}
				t.Logf("net: %s", got[0])
				if got[0] != got[1] {
					t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
				}
			})
		}
	}
}
