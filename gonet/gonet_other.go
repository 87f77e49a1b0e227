//go:build !linux

package gonet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Outside Linux there is no ksocket engine: every constructor delegates to
// package net, so a cross-platform program keeps working.

// Dialer mirrors net.Dialer.
type Dialer struct {
	Timeout         time.Duration
	Deadline        time.Time
	LocalAddr       net.Addr
	KeepAlive       time.Duration
	KeepAliveConfig net.KeepAliveConfig
	Control         func(network, address string, c syscall.RawConn) error
	ControlContext  func(ctx context.Context, network, address string, c syscall.RawConn) error
	FallbackDelay   time.Duration
	// Deprecated: as net.Dialer.DualStack.
	DualStack bool
	Resolver  *net.Resolver
	// Deprecated: as net.Dialer.Cancel.
	Cancel <-chan struct{}

	mptcp *bool
}

func (d *Dialer) std() *net.Dialer {
	nd := &net.Dialer{Timeout: d.Timeout, Deadline: d.Deadline, LocalAddr: d.LocalAddr, KeepAlive: d.KeepAlive, KeepAliveConfig: d.KeepAliveConfig,
		Control: d.Control, ControlContext: d.ControlContext, FallbackDelay: d.FallbackDelay, Resolver: d.Resolver, Cancel: d.Cancel}
	if d.mptcp != nil {
		nd.SetMultipathTCP(*d.mptcp)
	}
	return nd
}

// DialTCP is net.Dialer.DialTCP.
func (d *Dialer) DialTCP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*TCPConn, error) {
	return d.std().DialTCP(ctx, network, laddr, raddr)
}

// DialUDP is net.Dialer.DialUDP.
func (d *Dialer) DialUDP(ctx context.Context, network string, laddr, raddr netip.AddrPort) (*UDPConn, error) {
	return d.std().DialUDP(ctx, network, laddr, raddr)
}

// DialUnix is net.Dialer.DialUnix.
func (d *Dialer) DialUnix(ctx context.Context, network string, laddr, raddr *net.UnixAddr) (*UnixConn, error) {
	return d.std().DialUnix(ctx, network, laddr, raddr)
}

// MultipathTCP is net.Dialer.MultipathTCP.
func (d *Dialer) MultipathTCP() bool { return d.std().MultipathTCP() }

// SetMultipathTCP is net.Dialer.SetMultipathTCP.
func (d *Dialer) SetMultipathTCP(use bool) { d.mptcp = &use }

// Dial is net.Dial.
func Dial(network, address string) (net.Conn, error) { return net.Dial(network, address) }

// DialContext is net.Dialer.DialContext.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Dial is net.Dialer.Dial.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.std().Dial(network, address)
}

// DialContext is net.Dialer.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.std().DialContext(ctx, network, address)
}

// ListenConfig mirrors net.ListenConfig.
type ListenConfig struct {
	Control         func(network, address string, c syscall.RawConn) error
	KeepAlive       time.Duration
	KeepAliveConfig net.KeepAliveConfig

	mptcp *bool
}

func (lc *ListenConfig) std() *net.ListenConfig {
	nl := &net.ListenConfig{Control: lc.Control, KeepAlive: lc.KeepAlive, KeepAliveConfig: lc.KeepAliveConfig}
	if lc.mptcp != nil {
		nl.SetMultipathTCP(*lc.mptcp)
	}
	return nl
}

// MultipathTCP is net.ListenConfig.MultipathTCP.
func (lc *ListenConfig) MultipathTCP() bool { return lc.std().MultipathTCP() }

// SetMultipathTCP is net.ListenConfig.SetMultipathTCP.
func (lc *ListenConfig) SetMultipathTCP(use bool) { lc.mptcp = &use }

// Listen is net.Listen.
func Listen(network, address string) (net.Listener, error) { return net.Listen(network, address) }

// ListenPacket is net.ListenPacket.
func ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}

// Listen is net.ListenConfig.Listen.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return lc.std().Listen(ctx, network, address)
}

// ListenPacket is net.ListenConfig.ListenPacket.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return lc.std().ListenPacket(ctx, network, address)
}

// FileListener is net.FileListener.
func FileListener(f *os.File) (net.Listener, error) { return net.FileListener(f) }

// FileConn is net.FileConn.
func FileConn(f *os.File) (net.Conn, error) { return net.FileConn(f) }

// FilePacketConn is net.FilePacketConn.
func FilePacketConn(f *os.File) (net.PacketConn, error) { return net.FilePacketConn(f) }

// The connection and listener types are net's own here.
type (
	TCPConn      = net.TCPConn
	UDPConn      = net.UDPConn
	UnixConn     = net.UnixConn
	TCPListener  = net.TCPListener
	UnixListener = net.UnixListener
)

// DialTimeout is net.DialTimeout.
func DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout(network, address, timeout)
}

// DialTCP is net.DialTCP.
func DialTCP(network string, laddr, raddr *net.TCPAddr) (*TCPConn, error) {
	return net.DialTCP(network, laddr, raddr)
}

// DialUDP is net.DialUDP.
func DialUDP(network string, laddr, raddr *net.UDPAddr) (*UDPConn, error) {
	return net.DialUDP(network, laddr, raddr)
}

// DialUnix is net.DialUnix.
func DialUnix(network string, laddr, raddr *net.UnixAddr) (*UnixConn, error) {
	return net.DialUnix(network, laddr, raddr)
}

// ListenTCP is net.ListenTCP.
func ListenTCP(network string, laddr *net.TCPAddr) (*TCPListener, error) {
	return net.ListenTCP(network, laddr)
}

// ListenUDP is net.ListenUDP.
func ListenUDP(network string, laddr *net.UDPAddr) (*UDPConn, error) {
	return net.ListenUDP(network, laddr)
}

// ListenUnix is net.ListenUnix.
func ListenUnix(network string, laddr *net.UnixAddr) (*UnixListener, error) {
	return net.ListenUnix(network, laddr)
}

// ListenMulticastUDP is net.ListenMulticastUDP.
func ListenMulticastUDP(network string, ifi *net.Interface, gaddr *net.UDPAddr) (*UDPConn, error) {
	return net.ListenMulticastUDP(network, ifi, gaddr)
}

// ListenUnixgram is net.ListenUnixgram.
func ListenUnixgram(network string, laddr *net.UnixAddr) (*UnixConn, error) {
	return net.ListenUnixgram(network, laddr)
}
