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
	// ControlContext is Control with the dial's context; if set, Control
	// is not called.
	ControlContext func(ctx context.Context, network, address string, c syscall.RawConn) error
	// FallbackDelay is how long a "tcp" dial waits for the first address
	// family before racing the other (Happy Eyeballs, RFC 6555): zero
	// means 300 ms, a negative value dials the addresses one by one.
	FallbackDelay time.Duration
	// DualStack is ignored, as in net: fast fallback is on unless
	// FallbackDelay is negative.
	//
	// Deprecated: as net.Dialer.DualStack.
	DualStack bool
	// Resolver, if set, resolves host names and service names in place of
	// ksocket's own getaddrinfo (its lookups then run on package net).
	Resolver *net.Resolver
	// Cancel, if set, cancels the dial when closed, as the context does.
	//
	// Deprecated: as net.Dialer.Cancel; use DialContext.
	Cancel <-chan struct{}

	mptcp mptcpStatus // SetMultipathTCP
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

// DialContext connects to address on network, as net's does: the resolved
// addresses are tried in order, each with a share of the time left; for
// "tcp" with addresses of both families, the second family races the
// first after FallbackDelay (Happy Eyeballs). The context bounds the whole
// dial.
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
	if d.Cancel != nil {
		sub, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-d.Cancel:
				cancel()
			case <-sub.Done():
			}
		}()
		ctx = sub
	}
	var targets []target
	if d.Resolver != nil && k.family != unix.AF_UNIX {
		targets, err = resolveWith(ctx, d.Resolver, k, network, address)
	} else {
		targets, err = resolve(ctx, k, network, address, false)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return nil, fail(nil, err)
	}
	primaries, fallbacks := targets, []target(nil)
	if d.FallbackDelay >= 0 && network == "tcp" {
		primaries, fallbacks = partition(targets)
	}
	// A copy, as net's sysDialer: a losing racer may still read it after
	// DialContext has returned, while the caller changes d.
	dc := *d
	if len(fallbacks) == 0 {
		return dc.dialSerial(ctx, e, k, network, primaries)
	}
	return dc.dialParallel(ctx, e, k, network, primaries, fallbacks)
}

// partition splits targets into those of the first one's family and the
// rest, keeping their order.
func partition(targets []target) (primaries, fallbacks []target) {
	for _, t := range targets {
		if t.family == targets[0].family {
			primaries = append(primaries, t)
		} else {
			fallbacks = append(fallbacks, t)
		}
	}
	return primaries, fallbacks
}

// dialParallel races primaries against fallbacks, as net does: the
// fallbacks start FallbackDelay after the primaries, or at once when the
// primaries have all failed. The first connection wins; the other racer's
// context is cancelled, which cancels its connect on the ring, and a
// connection it makes anyway is closed. If both fail, the primaries' error
// is returned.
func (d *Dialer) dialParallel(ctx context.Context, e *engine.Engine, k netKind, network string, primaries, fallbacks []target) (net.Conn, error) {
	type result struct {
		c       net.Conn
		err     error
		primary bool
	}
	returned := make(chan struct{})
	defer close(returned)
	results := make(chan result)
	race := func(ctx context.Context, primary bool) {
		ts := primaries
		if !primary {
			ts = fallbacks
		}
		c, err := d.dialSerial(ctx, e, k, network, ts)
		select {
		case results <- result{c, err, primary}:
		case <-returned:
			if c != nil {
				c.Close()
			}
		}
	}
	primaryCtx, primaryCancel := context.WithCancel(ctx)
	defer primaryCancel()
	go race(primaryCtx, true)

	delay := d.FallbackDelay
	if delay == 0 {
		delay = 300 * time.Millisecond
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var primaryErr error
	var primaryDone, fallbackDone bool
	for {
		select {
		case <-timer.C:
			fallbackCtx, fallbackCancel := context.WithCancel(ctx)
			defer fallbackCancel()
			go race(fallbackCtx, false)
		case r := <-results:
			if r.err == nil {
				return r.c, nil
			}
			if r.primary {
				primaryErr, primaryDone = r.err, true
			} else {
				fallbackDone = true
			}
			if primaryDone && fallbackDone {
				return nil, primaryErr
			}
			if r.primary && timer.Stop() {
				timer.Reset(0) // the primaries failed early: race the fallbacks now
			}
		}
	}
}

// dialSerial tries targets in order. With a deadline, each attempt but
// the last gets an equal share of the time left, at least 2 s where there
// is that much, as net gives it; the first error is returned.
func (d *Dialer) dialSerial(ctx context.Context, e *engine.Engine, k netKind, network string, targets []target) (net.Conn, error) {
	var first error
	for i, t := range targets {
		if err := ctx.Err(); err != nil {
			return nil, opError("dial", "connect", network, d.LocalAddr, t.addr, err)
		}
		dialCtx := ctx
		if deadline, ok := ctx.Deadline(); ok {
			partial, err := partialDeadline(time.Now(), deadline, len(targets)-i)
			if err != nil {
				if first == nil {
					first = opError("dial", "connect", network, d.LocalAddr, t.addr, err)
				}
				break
			}
			if partial.Before(deadline) {
				var cancel context.CancelFunc
				dialCtx, cancel = context.WithDeadline(ctx, partial)
				defer cancel()
			}
		}
		c, err := d.dialOne(dialCtx, e, k, network, t)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = opError("dial", "connect", network, d.LocalAddr, nil, errMissingAddress)
	}
	return nil, first
}

// partialDeadline is the deadline of one of addrsRemaining attempts that
// share the time until deadline, as net computes it.
func partialDeadline(now, deadline time.Time, addrsRemaining int) (time.Time, error) {
	left := deadline.Sub(now)
	if left <= 0 {
		return time.Time{}, context.DeadlineExceeded
	}
	timeout := left / time.Duration(addrsRemaining)
	const saneMinimum = 2 * time.Second
	if timeout < saneMinimum {
		timeout = min(left, saneMinimum)
	}
	return now.Add(timeout), nil
}

func (d *Dialer) dialOne(ctx context.Context, e *engine.Engine, k netKind, network string, t target) (net.Conn, error) {
	fail := func(call string, err error) error {
		return opError("dial", call, network, d.LocalAddr, t.addr, err)
	}
	cat := engine.CatConnection
	if k.sotype == unix.SOCK_DGRAM {
		cat = engine.CatDatagram
	}
	var s *engine.Socket
	var err error
	if k.sotype == unix.SOCK_STREAM && t.family != unix.AF_UNIX {
		s, err = streamSocket(e, t.family, d.MultipathTCP(), cat)
	} else {
		s, err = e.Socket(t.family, k.sotype, 0, cat)
	}
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
	if d.ControlContext != nil {
		if err := d.ControlContext(ctx, familyNetwork(network, t.family), t.addr.String(), rawConn{s: s, net: network}); err != nil {
			return nil, fail("control", err)
		}
	} else if d.Control != nil {
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
