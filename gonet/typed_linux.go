//go:build linux

package gonet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// The typed constructors of package net, with gonet's types.

// DialTimeout is Dial with a timeout, as net.DialTimeout.
func DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := Dialer{Timeout: timeout}
	return d.Dial(network, address)
}

// errMissingAddress is net's error for a typed dial without a remote
// address.
var errMissingAddress = errors.New("missing address")

// DialTCP connects to raddr from laddr, if given, as net.DialTCP.
// network is "tcp", "tcp4" or "tcp6".
func DialTCP(network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	if err := typedNetwork(network, "dial", addrOrNil(laddr), addrOrNil(raddr), "tcp", "tcp4", "tcp6"); err != nil {
		return nil, err
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: addrOrNil(laddr), Err: errMissingAddress}
	}
	c, err := typedDial(network, addrOrNil(laddr), raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*TCPConn), nil
}

// DialUDP connects to raddr from laddr, if given, as net.DialUDP.
// network is "udp", "udp4" or "udp6".
func DialUDP(network string, laddr, raddr *net.UDPAddr) (*UDPConn, error) {
	if err := typedNetwork(network, "dial", addrOrNil(laddr), addrOrNil(raddr), "udp", "udp4", "udp6"); err != nil {
		return nil, err
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: addrOrNil(laddr), Err: errMissingAddress}
	}
	c, err := typedDial(network, addrOrNil(laddr), raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*UDPConn), nil
}

// DialUnix connects to the unix socket raddr, as net.DialUnix. network
// is "unix", "unixgram" or "unixpacket".
func DialUnix(network string, laddr, raddr *net.UnixAddr) (*UnixConn, error) {
	if err := typedNetwork(network, "dial", addrOrNil(laddr), addrOrNil(raddr), "unix", "unixgram", "unixpacket"); err != nil {
		return nil, err
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: addrOrNil(laddr), Err: errMissingAddress}
	}
	c, err := typedDial(network, addrOrNil(laddr), raddr.Name)
	if err != nil {
		return nil, err
	}
	return c.(*UnixConn), nil
}

// DialTCP is DialContext for TCP with typed addresses, as
// (*net.Dialer).DialTCP: laddr, even the zero AddrPort (the wildcard
// address and a port the kernel picks), is bound before connecting.
func (d *Dialer) DialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	la, ra := net.TCPAddrFromAddrPort(laddr), net.TCPAddrFromAddrPort(raddr)
	if err := typedNetwork(network, "dial", la, ra, "tcp", "tcp4", "tcp6"); err != nil {
		return nil, err
	}
	c, err := d.withLocal(la).DialContext(ctx, network, ra.String())
	if err != nil {
		return nil, err
	}
	return c.(*TCPConn), nil
}

// DialUDP is DialContext for UDP with typed addresses, as
// (*net.Dialer).DialUDP.
func (d *Dialer) DialUDP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*UDPConn, error) {
	la, ra := net.UDPAddrFromAddrPort(laddr), net.UDPAddrFromAddrPort(raddr)
	if err := typedNetwork(network, "dial", la, ra, "udp", "udp4", "udp6"); err != nil {
		return nil, err
	}
	c, err := d.withLocal(la).DialContext(ctx, network, ra.String())
	if err != nil {
		return nil, err
	}
	return c.(*UDPConn), nil
}

// DialUnix is DialContext for unix sockets with typed addresses, as
// (*net.Dialer).DialUnix.
func (d *Dialer) DialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*UnixConn, error) {
	if err := typedNetwork(network, "dial", addrOrNil(laddr), addrOrNil(raddr), "unix", "unixgram", "unixpacket"); err != nil {
		return nil, err
	}
	if raddr == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Source: addrOrNil(laddr), Err: errMissingAddress}
	}
	c, err := d.withLocal(addrOrNil(laddr)).DialContext(ctx, network, raddr.Name)
	if err != nil {
		return nil, err
	}
	return c.(*UnixConn), nil
}

// withLocal is a copy of d with LocalAddr set to laddr.
func (d *Dialer) withLocal(laddr net.Addr) *Dialer {
	dc := *d
	dc.LocalAddr = laddr
	return &dc
}

// ListenTCP listens on laddr, as net.ListenTCP: a nil laddr, or one
// without an IP or port, means every address or a port the kernel picks.
func ListenTCP(network string, laddr *net.TCPAddr) (*TCPListener, error) {
	if err := typedNetwork(network, "listen", nil, nil, "tcp", "tcp4", "tcp6"); err != nil {
		return nil, err
	}
	if laddr == nil {
		laddr = &net.TCPAddr{}
	}
	var lc ListenConfig
	l, err := lc.Listen(context.Background(), network, laddr.String())
	if err != nil {
		return nil, err
	}
	return l.(*TCPListener), nil
}

// ListenUDP listens on laddr, as net.ListenUDP.
func ListenUDP(network string, laddr *net.UDPAddr) (*UDPConn, error) {
	if err := typedNetwork(network, "listen", nil, nil, "udp", "udp4", "udp6"); err != nil {
		return nil, err
	}
	if laddr == nil {
		laddr = &net.UDPAddr{}
	}
	var lc ListenConfig
	c, err := lc.ListenPacket(context.Background(), network, laddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*UDPConn), nil
}

// ListenUnix listens on the unix socket laddr, as net.ListenUnix.
// network is "unix" or "unixpacket".
func ListenUnix(network string, laddr *net.UnixAddr) (*UnixListener, error) {
	if err := typedNetwork(network, "listen", nil, nil, "unix", "unixpacket"); err != nil {
		return nil, err
	}
	if laddr == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errMissingAddress}
	}
	var lc ListenConfig
	l, err := lc.Listen(context.Background(), network, laddr.Name)
	if err != nil {
		return nil, err
	}
	return l.(*UnixListener), nil
}

// typedNetwork refuses a network the typed function does not take, with
// net's error.
func typedNetwork(network, op string, src, dst net.Addr, allowed ...string) error {
	for _, a := range allowed {
		if network == a {
			return nil
		}
	}
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: net.UnknownNetworkError(network)}
}

func typedDial(network string, laddr net.Addr, address string) (net.Conn, error) {
	d := Dialer{LocalAddr: laddr}
	return d.Dial(network, address)
}

// addrOrNil turns a typed nil address into a nil net.Addr.
func addrOrNil[A interface {
	*net.TCPAddr | *net.UDPAddr | *net.UnixAddr
	net.Addr
}](a A) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
