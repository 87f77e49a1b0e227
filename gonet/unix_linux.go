//go:build linux

package gonet

import (
	"context"
	"net"
	"syscall"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// UnixConn is a unix socket on the engine, with *net.UnixConn's methods:
// a stream ("unix"), a datagram socket ("unixgram") or a sequenced-packet
// one ("unixpacket"). It is a net.Conn, and a net.PacketConn for
// unixgram.
type UnixConn struct{ conn }

func newUnixConn(s *engine.Socket, network string, raddr net.Addr) *UnixConn {
	s.RawWaitsInNetpoller() // uring, at more than one P: raw waits park in the netpoller, as net's
	c := &UnixConn{conn{s: s, netIdx: networkIndex(network), raddr: raddr, stream: s.Type() != unix.SOCK_DGRAM}}
	c.laddr = localAddr(s, network)
	if c.stream && c.laddr.(*net.UnixAddr).Name == "" {
		c.laddr = nil // an unnamed end of a connection, as net reports it
	}
	return c
}

// connected reports whether the socket has a peer, as net's isConnected.
func (c *UnixConn) connected() bool { return c.stream || c.raddr != nil }

// CloseRead shuts down the reading side.
func (c *UnixConn) CloseRead() error {
	return opError("close", "shutdown", c.network(), c.laddr, c.raddr, c.s.Shutdown(unix.SHUT_RD))
}

// CloseWrite shuts down the writing side.
func (c *UnixConn) CloseWrite() error {
	return opError("close", "shutdown", c.network(), c.laddr, c.raddr, c.s.Shutdown(unix.SHUT_WR))
}

// ReadFromUnix reads one message into b and returns its sender: nil for
// an unnamed one, or on a connection. A datagram larger than b is cut to
// len(b).
func (c *UnixConn) ReadFromUnix(b []byte) (int, *net.UnixAddr, error) {
	n, from, err := c.s.RecvFrom(bg, b, 0, 0)
	if err != nil {
		return n, nil, c.readFromErr(err)
	}
	return n, c.unixAddr(from.Sockaddr()), nil
}

// ReadFrom is ReadFromUnix for net.PacketConn.
func (c *UnixConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.ReadFromUnix(b)
	return n, addrOrNil(a), err
}

// ReadMsgUnix reads one message into b, and its control messages
// (SCM_RIGHTS, SCM_CREDENTIALS) into oob. Received descriptors are
// close-on-exec. As with net, when b is empty and oob is not, one byte of
// data is read and dropped on a stream: control data travels with data.
func (c *UnixConn) ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error) {
	n, oobn, flags, from, err := c.readMsg(b, oob, unix.MSG_CMSG_CLOEXEC)
	return n, oobn, flags, c.unixAddr(from.Sockaddr()), err
}

// unixAddr converts a sender's address, as net does: nil when unnamed.
func (c *UnixConn) unixAddr(sa unix.Sockaddr) *net.UnixAddr {
	if u, ok := sa.(*unix.SockaddrUnix); ok && u.Name != "" {
		return &net.UnixAddr{Name: u.Name, Net: c.network()}
	}
	return nil
}

// WriteToUnix sends b to addr, which must be of c's network.
func (c *UnixConn) WriteToUnix(b []byte, addr *net.UnixAddr) (int, error) {
	sa, err := c.destination(addr, true)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addrOrNil(addr), Err: err}
	}
	n, err := c.s.Send(bg, b, 0, sa, 0)
	return n, opError("write", "sendto", c.network(), c.laddr, addrOrNil(addr), err)
}

// WriteTo is WriteToUnix for net.PacketConn; addr must be a *net.UnixAddr.
func (c *UnixConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UnixAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addr, Err: syscall.EINVAL}
	}
	return c.WriteToUnix(b, a)
}

// WriteMsgUnix sends b with the control messages in oob (unix.UnixRights
// builds SCM_RIGHTS), to addr or, when addr is nil, to the peer. As with
// net, an empty b with oob sends one zero byte on a stream, and a
// connected unixgram socket refuses it whatever addr is.
func (c *UnixConn) WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error) {
	var sa unix.Sockaddr
	if c.s.Type() == unix.SOCK_DGRAM && c.connected() {
		err = net.ErrWriteToConnected
	} else if addr != nil {
		sa, err = c.destination(addr, false)
	}
	if err != nil {
		return 0, 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addrOrNil(addr), Err: err}
	}
	n, oobn, err = c.writeMsg(b, oob, func(p, oob []byte) (int, error) { return c.s.SendMsg(bg, p, oob, 0, sa, 0) })
	return n, oobn, opError("write", "sendmsg", c.network(), c.laddr, addrOrNil(addr), err)
}

// destination checks addr as net's writeTo does: none on a connected
// socket, one (if required) of the socket's own network otherwise.
func (c *UnixConn) destination(addr *net.UnixAddr, required bool) (unix.Sockaddr, error) {
	switch {
	case required && c.connected():
		return nil, net.ErrWriteToConnected
	case addr == nil:
		return nil, errMissingAddress
	case addr.Net != c.network():
		return nil, syscall.EAFNOSUPPORT
	}
	return &unix.SockaddrUnix{Name: addr.Name}, nil
}

// ListenUnixgram binds a unixgram socket to laddr, as net.ListenUnixgram.
func ListenUnixgram(network string, laddr *net.UnixAddr) (*UnixConn, error) {
	if err := typedNetwork(network, "listen", nil, nil, "unixgram"); err != nil {
		return nil, err
	}
	if laddr == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errMissingAddress}
	}
	var lc ListenConfig
	c, err := lc.ListenPacket(context.Background(), network, laddr.Name)
	if err != nil {
		return nil, err
	}
	return c.(*UnixConn), nil
}

var (
	_ net.Conn       = (*UnixConn)(nil)
	_ net.PacketConn = (*UnixConn)(nil)
)
