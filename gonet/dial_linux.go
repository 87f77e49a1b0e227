//go:build linux

package gonet

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Dialer mirrors net.Dialer: its fields mean what they mean there.
type Dialer struct {
	// Timeout bounds a whole dial, resolution included; zero means none.
	Timeout time.Duration
	// Deadline is an absolute time after which a dial fails.
	Deadline time.Time
	// LocalAddr, if set, is bound before connecting.
	LocalAddr net.Addr
	// KeepAlive is the TCP keep-alive idle time: zero means 15 seconds, a
	// negative value turns keep-alives off. It is ignored if
	// KeepAliveConfig.Enable is true.
	KeepAlive time.Duration
	// KeepAliveConfig, if Enable is true, is the keep-alive configuration
	// of the connection, as (*TCPConn).SetKeepAliveConfig takes it.
	KeepAliveConfig net.KeepAliveConfig
	// Control, if set, is called after the socket is created and before it
	// is bound or connected, with "tcp4", "tcp6", "udp4", "udp6", "unix"
	// "unixgram" or "unixpacket" and the address being dialed.
	Control func(network, address string, c syscall.RawConn) error
}

// Dial connects to address on network, as net.Dial.
func Dial(network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as net.DialContext.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(ctx, network, address)
}

// Dial connects to address on network.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network. Each resolved address is
// tried in order until one connects; the context bounds the whole dial.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if ctx == nil {
		panic("gonet: nil context")
	}
	dl := d.Deadline
	if d.Timeout > 0 {
		if t := time.Now().Add(d.Timeout); dl.IsZero() || t.Before(dl) {
			dl = t
		}
	}
	if !dl.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	fail := func(addr net.Addr, err error) error {
		return opError("dial", "connect", network, d.LocalAddr, addr, err)
	}
	k, err := parseNetwork(network)
	if err != nil {
		return nil, fail(nil, err)
	}
	if err := k.checkLocal(d.LocalAddr); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(nil, err) // as net: a done context fails before anything else
	}
	e, err := engine.Default()
	if err != nil {
		return nil, fail(nil, err)
	}
	targets, err := resolve(ctx, k, network, address, false)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, fail(nil, err)
	}
	var first error
	for _, t := range targets {
		c, err := d.dialOne(ctx, e, k, network, t)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

func (d *Dialer) dialOne(ctx context.Context, e *engine.Engine, k netKind, network string, t target) (net.Conn, error) {
	fail := func(call string, err error) error {
		return opError("dial", call, network, d.LocalAddr, t.addr, err)
	}
	cat := engine.CatConnection
	if k.sotype == unix.SOCK_DGRAM {
		cat = engine.CatDatagram
	}
	s, err := e.Socket(t.family, k.sotype, 0, cat)
	if err != nil {
		return nil, fail("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if t.family == unix.AF_INET6 && k.family == unix.AF_INET6 {
		s.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if d.Control != nil {
		if err := d.Control(familyNetwork(network, t.family), t.addr.String(), rawConn{s: s, net: network}); err != nil {
			return nil, fail("control", err)
		}
	}
	if d.LocalAddr != nil {
		lsa, err := addrToSockaddr(t.family, d.LocalAddr)
		if err != nil {
			return nil, fail("bind", err)
		}
		if err := s.Bind(lsa); err != nil {
			return nil, fail("bind", err)
		}
	}
	if err := s.Connect(ctx, t.sa, 0); err != nil {
		if errors.Is(err, unix.ECANCELED) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fail("connect", err)
	}
	ok = true
	if k.sotype == unix.SOCK_DGRAM {
		return newPacketConn(s, network, t.family, t.addr), nil
	}
	if t.family != unix.AF_UNIX {
		s.SetsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		setConnKeepAlive(s, d.KeepAlive, d.KeepAliveConfig)
	}
	return newConn(s, network, t.family, t.addr), nil
}

// setConnKeepAlive gives a new TCP socket net's keep-alive settings.
func setConnKeepAlive(s *engine.Socket, period time.Duration, cfg net.KeepAliveConfig) {
	if cfg, ok := connKeepAlive(period, cfg); ok {
		setKeepAliveConfig(s.SetsockoptInt, cfg)
	}
}

// familyNetwork is the network name Control sees: "tcp4", "udp6", ...
func familyNetwork(network string, family int) string {
	switch network {
	case "unix", "unixgram", "unixpacket":
		return network
	}
	base := network[:3]
	if family == unix.AF_INET6 {
		return base + "6"
	}
	return base + "4"
}
