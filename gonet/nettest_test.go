//go:build linux

package gonet

import (
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/net/nettest"
)

// makePipe returns a nettest.MakePipe that connects a gonet client to a
// gonet server over network.
func makePipe(t *testing.T, network, address string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		addr := address
		if network == "unix" {
			addr = filepath.Join(t.TempDir(), "s")
		}
		ln, err := Listen(network, addr)
		if err != nil {
			return nil, nil, nil, err
		}
		defer ln.Close()
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := ln.Accept()
			ch <- res{c, err}
		}()
		c1, err = Dial(network, ln.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		r := <-ch
		if r.err != nil {
			c1.Close()
			return nil, nil, nil, r.err
		}
		return c1, r.c, func() { c1.Close(); r.c.Close() }, nil
	}
}

func TestNettestTCP4(t *testing.T) { nettest.TestConn(t, makePipe(t, "tcp4", "127.0.0.1:0")) }

func TestNettestTCP6(t *testing.T) {
	if !nettest.SupportsIPv6() {
		t.Skip("no IPv6 on this machine")
	}
	nettest.TestConn(t, makePipe(t, "tcp6", "[::1]:0"))
}

func TestNettestUnix(t *testing.T) { nettest.TestConn(t, makePipe(t, "unix", "")) }
