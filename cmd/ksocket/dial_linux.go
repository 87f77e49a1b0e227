//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/ksocket-go/ksocket"
	"golang.org/x/sys/unix"
)

// dialBerkeley resolves host and port with Getaddrinfo and connects to each
// result in order, through the Berkeley API, until one connects.
func dialBerkeley(ctx context.Context, host, port string, socktype int) (int, error) {
	res, err := ksocket.GetaddrinfoContext(ctx, host, port, &ksocket.Addrinfo{Socktype: socktype})
	if err != nil {
		return -1, fmt.Errorf("resolve %s: %w", net.JoinHostPort(host, port), err)
	}
	var first error
	for _, ai := range res {
		var s int
		if socktype == unix.SOCK_DGRAM {
			s, err = ksocket.SocketDatagram(ai.Family, ai.Socktype, ai.Protocol)
		} else {
			s, err = ksocket.SocketConnection(ai.Family, ai.Socktype, ai.Protocol)
		}
		if err != nil {
			return -1, fmt.Errorf("socket: %w", err)
		}
		err = ksocket.ConnectContext(ctx, s, ai.Addr)
		if err == nil {
			return s, nil
		}
		ksocket.Closesocket(s)
		if first == nil {
			first = fmt.Errorf("connect %s: %w", sockaddrString(ai.Addr), connectErr(err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	return -1, first
}

func connectErr(err error) error {
	switch {
	case errors.Is(err, unix.ETIMEDOUT), errors.Is(err, unix.EINPROGRESS):
		return errors.New("timed out")
	case errors.Is(err, unix.ECANCELED):
		return errors.New("cancelled")
	}
	return err
}

func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return fmt.Sprint(sa)
}

// fdConn is an io.ReadWriter over a Berkeley descriptor.
type fdConn struct{ s int }

func (c fdConn) Read(p []byte) (int, error) {
	n, err := ksocket.Recv(c.s, p, 0)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return 0, errTimeout
		}
		return 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c fdConn) Write(p []byte) (int, error) {
	return ksocket.Send(c.s, p, 0)
}

var errTimeout = errors.New("timed out")

// setTimeouts sets SO_RCVTIMEO and SO_SNDTIMEO on s.
func setTimeouts(s int, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := ksocket.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	return ksocket.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

// parsePort checks a port argument.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, usageErrorf("port %q: want a number from 0 to 65535", s)
	}
	return p, nil
}

// withTimeout bounds ctx by d; zero or less means no bound.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
