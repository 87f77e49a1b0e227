//go:build linux

package gonet

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keepAliveState reads SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT from c's socket.
func keepAliveState(t *testing.T, c syscall.Conn) string {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on, idle, intvl, cnt int
	var gerr error
	rc.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := unix.GetsockoptInt(int(fd), level, opt)
			if err != nil && gerr == nil {
				gerr = err
			}
			return v
		}
		on = get(unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle = get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		intvl = get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		cnt = get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
	})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return fmt.Sprintf("on=%d idle=%ds intvl=%ds cnt=%d", on, idle, intvl, cnt)
}

var keepAliveConfigs = []net.KeepAliveConfig{
	{},
	{Enable: true},
	{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3},
	{Enable: true, Idle: 1500 * time.Millisecond, Interval: time.Nanosecond},
	{Enable: true, Idle: -1, Interval: -1, Count: -1},
	{Enable: false, Idle: 40 * time.Second},
}

// TestKeepAliveDifferential sets the same keep-alive settings on a gonet
// conn and a net conn and compares what the kernel reports: through
// SetKeepAliveConfig and SetKeepAlivePeriod, and as Dialer and
// ListenConfig apply KeepAlive and KeepAliveConfig to new connections.
func TestKeepAliveDifferential(t *testing.T) {
	// pair dials a listener of l's kind with dial and returns both ends.
	type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)
	type listenFunc func(ctx context.Context, network, address string) (net.Listener, error)
	pair := func(t *testing.T, listen listenFunc, dial dialFunc) (client, server net.Conn) {
		ln, err := listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := dial(context.Background(), "tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	netPair := func(t *testing.T) (net.Conn, net.Conn) {
		return pair(t, (&net.ListenConfig{}).Listen, (&net.Dialer{}).DialContext)
	}
	ourPair := func(t *testing.T) (net.Conn, net.Conn) {
		return pair(t, (&ListenConfig{}).Listen, (&Dialer{}).DialContext)
	}
	for i, cfg := range keepAliveConfigs {
		t.Run(fmt.Sprintf("SetKeepAliveConfig/%d", i), func(t *testing.T) {
			nc, _ := netPair(t)
			oc, _ := ourPair(t)
			if err := nc.(*net.TCPConn).SetKeepAliveConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if err := oc.(*TCPConn).SetKeepAliveConfig(cfg); err != nil {
				t.Fatal(err)
			}
			if n, o := keepAliveState(t, nc.(*net.TCPConn)), keepAliveState(t, oc.(*TCPConn)); n != o {
				t.Errorf("%+v: net %s, gonet %s", cfg, n, o)
			}
		})
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 25 * time.Second, -1} {
		t.Run(fmt.Sprintf("SetKeepAlivePeriod/%v", d), func(t *testing.T) {
			nc, _ := netPair(t)
			oc, _ := ourPair(t)
			nc.(*net.TCPConn).SetKeepAlivePeriod(d)
			oc.(*TCPConn).SetKeepAlivePeriod(d)
			if n, o := keepAliveState(t, nc.(*net.TCPConn)), keepAliveState(t, oc.(*TCPConn)); n != o {
				t.Errorf("net %s, gonet %s", n, o)
			}
		})
	}
	for _, period := range []time.Duration{0, 30 * time.Second, -1} {
		for i, cfg := range keepAliveConfigs {
			t.Run(fmt.Sprintf("new/KeepAlive=%v/config=%d", period, i), func(t *testing.T) {
				nd := &net.Dialer{KeepAlive: period, KeepAliveConfig: cfg}
				nl := &net.ListenConfig{KeepAlive: period, KeepAliveConfig: cfg}
				od := &Dialer{KeepAlive: period, KeepAliveConfig: cfg}
				ol := &ListenConfig{KeepAlive: period, KeepAliveConfig: cfg}
				nc, ns := pair(t, nl.Listen, nd.DialContext)
				oc, os := pair(t, ol.Listen, od.DialContext)
				for _, side := range []struct {
					name     string
					net, our syscall.Conn
				}{{"dialed", nc.(*net.TCPConn), oc.(*TCPConn)}, {"accepted", ns.(*net.TCPConn), os.(*TCPConn)}} {
					n, o := keepAliveState(t, side.net), keepAliveState(t, side.our)
					if n != o {
						t.Errorf("%s: net %s, gonet %s", side.name, n, o)
					}
					t.Logf("%s: %s", side.name, o)
				}
			})
		}
	}
}
