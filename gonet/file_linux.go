//go:build linux

package gonet

import (
	"fmt"
	"net"
	"os"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Sockets made elsewhere: inherited from a parent (systemd socket
// activation, a graceful restart), or taken from package net with its
// File methods. As in net, each function works on a duplicate of f's
// descriptor, so closing f and closing what it returns are independent.

// FileListener returns a listener on the engine for a copy of the
// listening socket f, as net.FileListener does. f must be a TCP or unix
// socket.
func FileListener(f *os.File) (net.Listener, error) {
	s, network, _, err := adopt(f, unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	domain := s.Domain()
	// A socket not listening yet keeps its category (connection): Accept
	// then fails as accept(2) would on it, with EINVAL, as in net.
	s.QueueAccepts()
	l := newListener(s, network, domain)
	if domain == unix.AF_UNIX {
		return &UnixListener{l}, nil // not unlinked on Close, as in net
	}
	return &TCPListener{l}, nil
}

// FileConn returns a connection on the engine for a copy of the socket
// f, as net.FileConn does: a *TCPConn, *UDPConn or *UnixConn, by f's
// address family and socket type.
func FileConn(f *os.File) (net.Conn, error) {
	s, network, raddr, err := adopt(f, 0)
	if err != nil {
		return nil, err
	}
	if s.Type() == unix.SOCK_DGRAM {
		return newPacketConn(s, network, s.Domain(), raddr), nil
	}
	return newConn(s, network, s.Domain(), raddr), nil
}

// FilePacketConn returns a packet connection on the engine for a copy of
// the socket f, a UDP or unix one, as net.FilePacketConn does: a
// *UDPConn or a *UnixConn.
func FilePacketConn(f *os.File) (net.PacketConn, error) {
	s, network, raddr, err := adopt(f, unix.SOCK_DGRAM)
	if err != nil {
		return nil, err
	}
	if s.Domain() == unix.AF_UNIX {
		return newUnixConn(s, network, raddr), nil
	}
	return newUDPConn(s, network, s.Domain(), raddr), nil
}

// adopt puts a duplicate of f's socket on the engine, refusing with
// EINVAL an IP socket that is not of type want (0 takes any), and names
// its network as net does ("tcp", "udp", "unix", "unixgram" or
// "unixpacket"). A unix socket of any type passes, as in net, which goes
// by the address type. raddr is the peer, if connected.
//
// The protocol (SO_PROTOCOL, which the engine keeps as Socket.Protocol)
// narrows nothing, as in net, which goes by the address and the socket
// type alone: an IPPROTO_MPTCP stream socket is "tcp" (MultipathTCP asks
// the kernel), and UDP-Lite and ICMP echo ("ping") datagram sockets are
// "udp", *UDPConn in both packages; golang.org/x/net/icmp makes its
// unprivileged ping sockets so, with net.FilePacketConn. Refusing them
// would refuse what net takes (TestFileProtocolsAsNet).
func adopt(f *os.File, want int) (_ *engine.Socket, network string, raddr net.Addr, _ error) {
	e, err := engine.Default()
	if err != nil {
		return nil, "", nil, fileError(f, err)
	}
	var s *engine.Socket
	var aerr error
	rc, err := f.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { s, aerr = e.Adopt(int(fd)) })
	}
	if err != nil {
		// f is closed: net, which duplicates f.Fd(), gets EBADF from
		// fcntl(-1).
		return nil, "", nil, fileError(f, os.NewSyscallError("fcntl", unix.EBADF))
	}
	if aerr != nil {
		return nil, "", nil, fileError(f, aerr)
	}
	network = networkOf(s.Domain(), s.Type())
	if network == "" {
		// Raw IP, packet and netlink sockets: net has a type for raw
		// IP, gonet not yet.
		s.Close()
		return nil, "", nil, fileError(f, unix.EPROTONOSUPPORT)
	}
	if want != 0 && s.Type() != want && s.Domain() != unix.AF_UNIX {
		s.Close()
		return nil, "", nil, fileError(f, unix.EINVAL)
	}
	var rsa unix.Sockaddr
	s.Control(func(fd int) (err error) { rsa, _ = unix.Getpeername(fd); return nil })
	return s, network, sockaddrToAddr(network, rsa), nil
}

// networkOf names a socket's network as net does, or "" for one gonet
// has no type for.
func networkOf(domain, sotype int) string {
	inet := domain == unix.AF_INET || domain == unix.AF_INET6
	switch {
	case inet && sotype == unix.SOCK_STREAM:
		return "tcp"
	case inet && sotype == unix.SOCK_DGRAM:
		return "udp"
	case domain == unix.AF_UNIX && sotype == unix.SOCK_STREAM:
		return "unix"
	case domain == unix.AF_UNIX && sotype == unix.SOCK_DGRAM:
		return "unixgram"
	case domain == unix.AF_UNIX && sotype == unix.SOCK_SEQPACKET:
		return "unixpacket"
	}
	return ""
}

// fileError is net's error for a File* function: op "file", network
// "file+net", the file's name as the address.
func fileError(f *os.File, err error) error {
	return &net.OpError{Op: "file", Net: "file+net", Addr: fileAddr(f.Name()), Err: err}
}

type fileAddr string

func (fileAddr) Network() string  { return "file+net" }
func (f fileAddr) String() string { return string(f) }

// File returns a copy of the connection's socket as an *os.File, as
// net's File methods do: closing either leaves the other open. The copy
// shares the socket's open file, so it is non-blocking too.
func (c *conn) File() (*os.File, error) {
	f, err := dupFile(c.s, fmt.Sprintf("%s:%v->%v", c.network(), c.laddr, c.raddr))
	if err != nil {
		return nil, opError("file", "fcntl", c.network(), c.laddr, c.raddr, err)
	}
	return f, nil
}

// File returns a copy of the listener's socket as an *os.File, as
// net.TCPListener.File does; a child process can adopt it with
// FileListener (or net.FileListener).
func (l *listener) File() (*os.File, error) {
	f, err := dupFile(l.s, fmt.Sprintf("%s:%v", l.net, l.addr))
	if err != nil {
		return nil, opError("file", "fcntl", l.net, nil, l.addr, err)
	}
	return f, nil
}

func dupFile(s *engine.Socket, name string) (*os.File, error) {
	var dup int
	err := s.Control(func(fd int) (err error) {
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(dup), name), nil
}
