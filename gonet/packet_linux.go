//go:build linux

package gonet

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// UDPConn is a UDP (or unixgram) socket on the engine, with
// *net.UDPConn's methods. It is a net.PacketConn, and a net.Conn when
// dialed.
type UDPConn struct {
	conn
	family int
}

func newUDPConn(s *engine.Socket, network string, family int, raddr net.Addr) *UDPConn {
	c := &UDPConn{conn: conn{s: s, net: network, raddr: raddr}, family: family}
	c.laddr = localAddr(s, network)
	return c
}

// ReadFrom reads one datagram into b and returns its sender. A datagram
// larger than b is truncated to len(b), as with net.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, sa, _, err := c.s.Recv(bg, b, 0, true, 0)
	if err != nil {
		return n, nil, c.readErr(err)
	}
	return n, sockaddrToAddr(c.net, sa), nil
}

// ReadFromUDP is ReadFrom returning a *net.UDPAddr.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.ReadFrom(b)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}

// ReadFromUDPAddrPort is ReadFrom returning a netip.AddrPort.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, ua, err := c.ReadFromUDP(b)
	if ua == nil {
		return n, netip.AddrPort{}, err
	}
	return n, ua.AddrPort(), err
}

// WriteTo sends b as one datagram to addr.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.raddr != nil {
		return 0, &net.OpError{Op: "write", Net: c.net, Source: c.laddr, Addr: addr, Err: net.ErrWriteToConnected}
	}
	if !destinationType(c.family, addr) {
		// As in net: a UDP socket sends to a *net.UDPAddr, a unixgram
		// socket to a *net.UnixAddr.
		return 0, &net.OpError{Op: "write", Net: c.net, Source: c.laddr, Addr: addr, Err: syscall.EINVAL}
	}
	sa, err := addrToSockaddr(c.family, addr)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: c.net, Source: c.laddr, Addr: addr, Err: err}
	}
	n, err := c.s.Send(bg, b, 0, sa, 0)
	if err != nil {
		return n, opError("write", "sendto", c.net, c.laddr, addr, err)
	}
	return n, nil
}

// destinationType reports whether addr is of the type a socket of family
// sends to; nil passes, for addrToSockaddr to refuse.
func destinationType(family int, addr net.Addr) bool {
	switch addr.(type) {
	case nil:
		return true
	case *net.UnixAddr:
		return family == unix.AF_UNIX
	case *net.UDPAddr:
		return family != unix.AF_UNIX
	}
	return false
}

// WriteToUDP is WriteTo for a *net.UDPAddr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(b, addr)
}

// WriteToUDPAddrPort is WriteTo for a netip.AddrPort.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteTo(b, net.UDPAddrFromAddrPort(addr))
}

var _ net.PacketConn = (*UDPConn)(nil)
