//go:build linux

package gonet

import (
	"context"
	"net"
	"os"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Multicast, as net does it on Linux: a UDP socket asked to listen on a
// group address listens on the wildcard address with SO_REUSEADDR, so
// that several listeners, and one listener for several groups, can share
// the port; ListenMulticastUDP then joins the group.

// multicastListen returns the address to bind for sa: sa itself, or for
// a multicast group the wildcard address of its family, with SO_REUSEADDR
// set on s.
func multicastListen(s *engine.Socket, sa unix.Sockaddr) (unix.Sockaddr, error) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		if a.Addr[0]>>4 != 14 { // 224.0.0.0/4
			return sa, nil
		}
		if err := s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return nil, err
		}
		return &unix.SockaddrInet4{Port: a.Port}, nil
	case *unix.SockaddrInet6:
		if a.Addr[0] != 0xff { // ff00::/8
			return sa, nil
		}
		if err := s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return nil, err
		}
		return &unix.SockaddrInet6{Port: a.Port}, nil
	}
	return sa, nil
}

// ListenMulticastUDP listens on gaddr's port and joins its group on ifi
// (nil: the interface the kernel picks), as net.ListenMulticastUDP does:
// multicast loopback is off for the socket's own sends, and the port is
// shared (SO_REUSEADDR). network is "udp", "udp4" or "udp6".
func ListenMulticastUDP(network string, ifi *net.Interface, gaddr *net.UDPAddr) (*UDPConn, error) {
	if err := typedNetwork(network, "listen", nil, addrOrNil(gaddr), "udp", "udp4", "udp6"); err != nil {
		return nil, err
	}
	if gaddr == nil || gaddr.IP == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addrOrNil(gaddr), Err: errMissingAddress}
	}
	var lc ListenConfig
	pc, err := lc.ListenPacket(context.Background(), network, gaddr.String())
	if err != nil {
		return nil, err
	}
	c := pc.(*UDPConn)
	if err := c.s.Control(func(fd int) error { return joinGroup(fd, ifi, gaddr.IP) }); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "listen", Net: network, Addr: gaddr, Err: err}
	}
	return c, nil
}

// joinGroup sets the multicast interface (when ifi is given), turns off
// multicast loopback and joins the group ip, as net does.
func joinGroup(fd int, ifi *net.Interface, ip net.IP) error {
	index := 0
	if ifi != nil {
		index = ifi.Index
	}
	var err error
	if ip4 := ip.To4(); ip4 != nil {
		if ifi != nil {
			err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(index)})
		}
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
		}
		if err == nil {
			err = unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreqn{Multiaddr: [4]byte(ip4), Ifindex: int32(index)})
		}
	} else {
		if ifi != nil {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, index)
		}
		if err == nil {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)
		}
		if err == nil {
			mreq := &unix.IPv6Mreq{Interface: uint32(index)}
			copy(mreq.Multiaddr[:], ip.To16())
			err = unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
		}
	}
	return os.NewSyscallError("setsockopt", err)
}
