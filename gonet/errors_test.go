//go:build linux

package gonet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
	"golang.org/x/sys/unix"
)

// impl is one implementation of net's constructors. The error tests run
// package net next to gonet, so each expectation is checked against the
// standard library it copies.
type impl struct {
	name         string
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	dialTimeout  func(network, address string, timeout time.Duration) (net.Conn, error)
	listen       func(network, address string) (net.Listener, error)
	listenPacket func(network, address string) (net.PacketConn, error)
}

var (
	netImpl = impl{
		name:         "net",
		dial:         (&net.Dialer{}).DialContext,
		dialTimeout:  net.DialTimeout,
		listen:       net.Listen,
		listenPacket: net.ListenPacket,
	}
	gonetImpl = impl{
		name: "gonet",
		dial: DialContext,
		dialTimeout: func(network, address string, timeout time.Duration) (net.Conn, error) {
			return (&Dialer{Timeout: timeout}).Dial(network, address)
		},
		listen:       Listen,
		listenPacket: ListenPacket,
	}
	impls = []impl{netImpl, gonetImpl}
)

// checkOpError checks that err is a *net.OpError for op, with Net set and
// Err the sentinel want itself, as package net returns it.
func checkOpError(t *testing.T, err error, op string, want error) {
	t.Helper()
	oe, ok := err.(*net.OpError)
	if !ok {
		t.Errorf("%s: error %T %v, want *net.OpError", op, err, err)
		return
	}
	if oe.Op != op {
		t.Errorf("%v: Op = %q, want %q", err, oe.Op, op)
	}
	if oe.Net == "" {
		t.Errorf("%v: Net is empty", err)
	}
	if oe.Err != want {
		t.Errorf("%v: Err = %#v, want %v", err, oe.Err, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("errors.Is(%v, %v) = false", err, want)
	}
}

// checkSyscallOpError checks that err is a *net.OpError for op around an
// *os.SyscallError for call (any call if empty) that errors.Is errno.
func checkSyscallOpError(t *testing.T, err error, op, call string, errno syscall.Errno) {
	t.Helper()
	oe, ok := err.(*net.OpError)
	if !ok {
		t.Errorf("%s: error %T %v, want *net.OpError", op, err, err)
		return
	}
	if oe.Op != op {
		t.Errorf("%v: Op = %q, want %q", err, oe.Op, op)
	}
	if oe.Net == "" {
		t.Errorf("%v: Net is empty", err)
	}
	se, ok := oe.Err.(*os.SyscallError)
	if !ok {
		t.Errorf("%v: Err is %T, want *os.SyscallError", err, oe.Err)
	} else if call != "" && se.Syscall != call {
		t.Errorf("%v: Syscall = %q, want %q", err, se.Syscall, call)
	}
	if !errors.Is(err, errno) {
		t.Errorf("errors.Is(%v, %v) = false", err, errno)
	}
}

// connPair connects a client from cli to a server from srv over network and
// returns both ends; they are closed when the test ends.
func connPair(t *testing.T, srv, cli impl, network, address string) (client, server net.Conn) {
	t.Helper()
	if network == "unix" {
		address = filepath.Join(t.TempDir(), "s")
	}
	ln, err := srv.listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = cli.dial(t.Context(), network, dialAddr(ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// dialAddr is the address to dial to reach a listener at a: a wildcard IP
// is reached through 127.0.0.1.
func dialAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ta.Port}).String()
	}
	return a.String()
}

func skipNetwork(t *testing.T, network string) {
	t.Helper()
	switch network {
	case "tcp6", "udp6":
		if !nettest.SupportsIPv6() {
			t.Skip("no IPv6 on this machine")
		}
	case "tcp", "udp":
		if !supportsDualStack() {
			t.Skip("no dual-stack sockets on this machine")
		}
	}
}

// TestDialRefused checks that a dial to a closed port fails with
// *net.OpError{Op: "dial"} around *os.SyscallError{"connect", ECONNREFUSED},
// naming the network and the address dialed.
func TestDialRefused(t *testing.T) {
	for _, tt := range []struct{ network, host string }{{"tcp4", "127.0.0.1"}, {"tcp6", "::1"}} {
		for _, im := range impls {
			t.Run(tt.network+"/impl="+im.name, func(t *testing.T) {
				skipNetwork(t, tt.network)
				addr := refusedAddr(t, tt.host)
				c, err := im.dial(t.Context(), tt.network, addr)
				if err == nil {
					c.Close()
					t.Fatalf("dial %s succeeded with nothing listening", addr)
				}
				checkSyscallOpError(t, err, "dial", "connect", syscall.ECONNREFUSED)
				oe, ok := err.(*net.OpError)
				if !ok {
					return
				}
				if oe.Net != tt.network {
					t.Errorf("Net = %q, want %q", oe.Net, tt.network)
				}
				if a, ok := oe.Addr.(*net.TCPAddr); !ok || a.String() != addr {
					t.Errorf("Addr = %#v, want *net.TCPAddr %s", oe.Addr, addr)
				}
				if oe.Source != nil {
					t.Errorf("Source = %v, want nil (no local address was asked for)", oe.Source)
				}
				if ne, ok := err.(net.Error); !ok || ne.Timeout() {
					t.Errorf("%v: Timeout() true or not a net.Error", err)
				}
			})
		}
	}
}

// refusedAddr returns host and a port nobody listens on: a raw socket binds
// it and never listens, and holds it until the test ends. (A closed
// listener's port could be taken meanwhile by another test's server, of
// this binary or another.)
func refusedAddr(t *testing.T, host string) string {
	t.Helper()
	ip := net.ParseIP(host)
	fam, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Addr: [16]byte(ip.To16())})
	if ip4 := ip.To4(); ip4 != nil {
		fam, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte(ip4)}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := 0
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		port = b.Port
	case *unix.SockaddrInet6:
		port = b.Port
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// TestDialCanceledContext checks that a dial with an already-cancelled
// context fails with context.Canceled, even to a live listener.
func TestDialCanceledContext(t *testing.T) {
	for _, im := range impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			ln, err := im.listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			c, err := im.dial(ctx, "tcp4", ln.Addr().String())
			if err == nil {
				c.Close()
				t.Fatal("dial with a cancelled context succeeded")
			}
			checkDialCtxError(t, im, err, context.Canceled)
		})
	}
}

// checkDialCtxError checks the error of a dial whose context ended: want
// is context.Canceled or context.DeadlineExceeded. Package net, the
// reference, may instead report os.ErrDeadlineExceeded when its poller's
// copy of the context deadline fires before the context does (see
// netFD.connect); both are timeouts.
func checkDialCtxError(t *testing.T, im impl, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) && !(im.name == "net" && want == context.DeadlineExceeded && errors.Is(err, os.ErrDeadlineExceeded)) {
		t.Errorf("dial error %v: errors.Is(err, %v) = false", err, want)
	}
	oe, ok := err.(*net.OpError)
	if !ok {
		t.Fatalf("dial error %T %v, want *net.OpError", err, err)
	}
	if oe.Op != "dial" {
		t.Errorf("Op = %q, want \"dial\"", oe.Op)
	}
	timeout := want == context.DeadlineExceeded
	if ne, ok := err.(net.Error); !ok || ne.Timeout() != timeout {
		t.Errorf("%v: Timeout() = %v, want %v", err, ok && ne.Timeout(), timeout)
	}
}

// fullBacklog returns the address of a TCP listener whose accept queue is
// full: it listens with a backlog of 1 and never accepts, and is filled
// until a connect times out. A further SYN is dropped, so a dial to it hangs
// until its context ends, all on loopback.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
	for range 16 {
		c, err := net.DialTimeout("tcp4", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the backlog: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the accept queue never filled; cannot make a dial hang on loopback")
	return ""
}

// TestDialContextEndsMidDial checks that a dial hanging on a full backlog
// ends when its context is cancelled or its deadline passes, with
// context.Canceled or context.DeadlineExceeded (and Timeout() for the
// latter), promptly.
func TestDialContextEndsMidDial(t *testing.T) {
	addr := fullBacklog(t)
	tests := []struct {
		name string
		dial func(im impl) (net.Conn, error)
		want error
	}{
		{"cancel", func(im impl) (net.Conn, error) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			return im.dial(ctx, "tcp4", addr)
		}, context.Canceled},
		{"deadline", func(im impl) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			return im.dial(ctx, "tcp4", addr)
		}, context.DeadlineExceeded},
		{"short-deadline", func(im impl) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Microsecond)
			defer cancel()
			return im.dial(ctx, "tcp4", addr)
		}, context.DeadlineExceeded},
		{"dialer-timeout", func(im impl) (net.Conn, error) {
			return im.dialTimeout("tcp4", addr, 100*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		for _, im := range impls {
			t.Run(tt.name+"/impl="+im.name, func(t *testing.T) {
				start := time.Now()
				c, err := tt.dial(im)
				if err == nil {
					c.Close()
					t.Fatal("dial to a full backlog succeeded")
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("dial took %v to notice its context", d)
				}
				checkDialCtxError(t, im, err, tt.want)
			})
		}
	}
}

// TestClosedConnErrors checks that Read, Write, Close, SetDeadline and the
// raw conn's Control on a closed conn fail with net.ErrClosed in net's
// shape.
func TestClosedConnErrors(t *testing.T) {
	for _, network := range []string{"tcp4", "unix"} {
		for _, im := range impls {
			t.Run(network+"/impl="+im.name, func(t *testing.T) {
				c, _ := connPair(t, im, im, network, "127.0.0.1:0")
				rc, err := c.(syscall.Conn).SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err = c.Read(make([]byte, 8))
				checkOpError(t, err, "read", net.ErrClosed)
				_, err = c.Write([]byte("x"))
				checkOpError(t, err, "write", net.ErrClosed)
				checkOpError(t, c.Close(), "close", net.ErrClosed)
				if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
					t.Errorf("SetDeadline: %v, want net.ErrClosed", err)
				}
				if err := rc.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
					t.Errorf("RawConn.Control: %v, want net.ErrClosed", err)
				}
			})
		}
	}
}

// TestPastDeadlineErrors checks that Read and Write past their deadlines
// fail with os.ErrDeadlineExceeded, Timeout() true, in net's shape.
func TestPastDeadlineErrors(t *testing.T) {
	for _, network := range []string{"tcp4", "unix"} {
		for _, im := range impls {
			t.Run(network+"/impl="+im.name, func(t *testing.T) {
				c, _ := connPair(t, im, im, network, "127.0.0.1:0")
				c.SetReadDeadline(time.Now().Add(-time.Second))
				_, err := c.Read(make([]byte, 8))
				checkOpError(t, err, "read", os.ErrDeadlineExceeded)
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Errorf("Read: %v: Timeout() false", err)
				}
				c.SetWriteDeadline(time.Now().Add(-time.Second))
				_, err = c.Write([]byte("x"))
				checkOpError(t, err, "write", os.ErrDeadlineExceeded)
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Errorf("Write: %v: Timeout() false", err)
				}
			})
		}
	}
}

// TestListenAddrInUse checks that listening on a taken address fails with
// *net.OpError{Op: "listen"} around *os.SyscallError{"bind", EADDRINUSE}.
func TestListenAddrInUse(t *testing.T) {
	for _, tt := range []struct{ network, address string }{
		{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"unix", ""},
		{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"unixgram", ""},
	} {
		for _, im := range impls {
			t.Run(tt.network+"/impl="+im.name, func(t *testing.T) {
				skipNetwork(t, tt.network)
				addr := tt.address
				if addr == "" {
					addr = filepath.Join(t.TempDir(), "s")
				}
				listen := func(addr string) (io.Closer, net.Addr, error) {
					if tt.network == "tcp4" || tt.network == "tcp6" || tt.network == "unix" {
						ln, err := im.listen(tt.network, addr)
						if err != nil {
							return nil, nil, err
						}
						return ln, ln.Addr(), nil
					}
					c, err := im.listenPacket(tt.network, addr)
					if err != nil {
						return nil, nil, err
					}
					return c, c.LocalAddr(), nil
				}
				first, taken, err := listen(addr)
				if err != nil {
					t.Fatal(err)
				}
				defer first.Close()
				second, _, err := listen(taken.String())
				if err == nil {
					second.Close()
					t.Fatalf("second listen on %v succeeded", taken)
				}
				checkSyscallOpError(t, err, "listen", "bind", syscall.EADDRINUSE)
			})
		}
	}
}

// TestAcceptAfterClose checks that Close ends a pending Accept promptly,
// and that Accept on a closed listener fails, with net.ErrClosed.
func TestAcceptAfterClose(t *testing.T) {
	for _, im := range impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			ln, err := im.listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					c.Close()
				}
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			if err := ln.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-errc:
				checkOpError(t, err, "accept", net.ErrClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("Accept still pending 5s after Close")
			}
			_, err = ln.Accept()
			checkOpError(t, err, "accept", net.ErrClosed)
			checkOpError(t, ln.Close(), "close", net.ErrClosed)
		})
	}
}

// TestUnknownNetwork checks that an unknown network fails every
// constructor with *net.OpError around net.UnknownNetworkError, and that a
// network of the wrong kind fails too.
func TestUnknownNetwork(t *testing.T) {
	tests := []struct {
		name    string
		op      string
		call    func(im impl) error
		unknown bool // the error is net.UnknownNetworkError
	}{
		{"dial-tcp5", "dial", func(im impl) error {
			_, err := im.dial(context.Background(), "tcp5", "127.0.0.1:1")
			return err
		}, true},
		{"listen-tcp5", "listen", func(im impl) error {
			_, err := im.listen("tcp5", "127.0.0.1:0")
			return err
		}, true},
		{"listenpacket-udp5", "listen", func(im impl) error {
			_, err := im.listenPacket("udp5", "127.0.0.1:0")
			return err
		}, true},
		// net says "unexpected address type" for these; any listen
		// error will do.
		{"listen-udp", "listen", func(im impl) error {
			_, err := im.listen("udp", "127.0.0.1:0")
			return err
		}, false},
		{"listenpacket-tcp", "listen", func(im impl) error {
			_, err := im.listenPacket("tcp", "127.0.0.1:0")
			return err
		}, false},
	}
	for _, tt := range tests {
		for _, im := range impls {
			t.Run(tt.name+"/impl="+im.name, func(t *testing.T) {
				err := tt.call(im)
				if err == nil {
					t.Fatal("succeeded")
				}
				oe, ok := err.(*net.OpError)
				if !ok {
					t.Fatalf("error %T %v, want *net.OpError", err, err)
				}
				if oe.Op != tt.op {
					t.Errorf("Op = %q, want %q", oe.Op, tt.op)
				}
				if !tt.unknown {
					return
				}
				var une net.UnknownNetworkError
				if !errors.As(err, &une) {
					t.Errorf("%v: Err is %T, want net.UnknownNetworkError", err, oe.Err)
				}
			})
		}
	}
}

// TestCloseWriteEOF checks half-close: after CloseWrite the peer reads the
// data and then io.EOF, can still reply, and a Write on the closed side
// fails with EPIPE; after CloseRead, Read returns io.EOF.
func TestCloseWriteEOF(t *testing.T) {
	type halfCloser interface {
		CloseRead() error
		CloseWrite() error
	}
	for _, network := range []string{"tcp4", "tcp6", "unix"} {
		for _, im := range impls {
			t.Run(network+"/impl="+im.name, func(t *testing.T) {
				skipNetwork(t, network)
				addr := "127.0.0.1:0"
				if network == "tcp6" {
					addr = "[::1]:0"
				}
				c, s := connPair(t, im, im, network, addr)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				s.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte("request")); err != nil {
					t.Fatal(err)
				}
				if err := c.(halfCloser).CloseWrite(); err != nil {
					t.Fatalf("CloseWrite: %v", err)
				}
				got, err := io.ReadAll(s)
				if err != nil || string(got) != "request" {
					t.Fatalf("server read %q, %v; want \"request\" then EOF", got, err)
				}
				if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Errorf("server Read after EOF = %d, %v; want 0, io.EOF", n, err)
				}
				if _, err := s.Write([]byte("response")); err != nil {
					t.Fatalf("server reply after the client's CloseWrite: %v", err)
				}
				buf := make([]byte, 16)
				n, err := io.ReadAtLeast(c, buf, len("response"))
				if err != nil || string(buf[:n]) != "response" {
					t.Fatalf("client read %q, %v; want \"response\"", buf[:n], err)
				}
				_, err = c.Write([]byte("more"))
				checkSyscallOpError(t, err, "write", "", syscall.EPIPE)

				if err := c.(halfCloser).CloseRead(); err != nil {
					t.Fatalf("CloseRead: %v", err)
				}
				if n, err := c.Read(buf); n != 0 || err != io.EOF {
					t.Errorf("Read after CloseRead = %d, %v; want 0, io.EOF", n, err)
				}
			})
		}
	}
}

// tcpOptions is what *net.TCPConn offers to tune a connection.
type tcpOptions interface {
	SetNoDelay(bool) error
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
	SyscallConn() (syscall.RawConn, error)
}

// getsockopt reads an int option through the conn's SyscallConn.
func getsockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatalf("Control: %v", err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, gerr)
	}
	return v
}

// TestSockopts checks that the setters of *net.TCPConn succeed and that the
// kernel sees them, on both ends, and that new connections get net's
// defaults (TCP_NODELAY, keep-alives every 15 s).
func TestSockopts(t *testing.T) {
	c, s := connPair(t, gonetImpl, gonetImpl, "tcp4", "127.0.0.1:0")
	for _, conn := range []struct {
		name string
		c    net.Conn
	}{{"dialed", c}, {"accepted", s}} {
		t.Run(conn.name, func(t *testing.T) {
			c := conn.c
			o, ok := c.(tcpOptions)
			if !ok {
				t.Fatalf("%T lacks *net.TCPConn's option setters", c)
			}
			check := func(what string, level, opt, want int) {
				t.Helper()
				if got := getsockopt(t, c, level, opt); got != want {
					t.Errorf("%s = %d, want %d", what, got, want)
				}
			}
			check("default TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			check("default SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			check("default TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15)

			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			must("SetNoDelay(false)", o.SetNoDelay(false))
			check("TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 0)
			must("SetNoDelay(true)", o.SetNoDelay(true))
			check("TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			must("SetKeepAlive(false)", o.SetKeepAlive(false))
			check("SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0)
			must("SetKeepAlive(true)", o.SetKeepAlive(true))
			check("SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			must("SetKeepAlivePeriod(7s)", o.SetKeepAlivePeriod(7*time.Second))
			check("TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 7)
			// The kernel doubles SO_RCVBUF and SO_SNDBUF for its
			// bookkeeping, after clamping them to the sysctls
			// net.core.rmem_max and wmem_max: a raw socket says what
			// this machine gives.
			must("SetReadBuffer", o.SetReadBuffer(96<<10))
			check("SO_RCVBUF", unix.SOL_SOCKET, unix.SO_RCVBUF, kernelBufSize(t, unix.SO_RCVBUF, 96<<10))
			must("SetWriteBuffer", o.SetWriteBuffer(80<<10))
			check("SO_SNDBUF", unix.SOL_SOCKET, unix.SO_SNDBUF, kernelBufSize(t, unix.SO_SNDBUF, 80<<10))
		})
	}
}

// kernelBufSize returns what getsockopt(2) reads back after setsockopt(2)
// of v as opt (SO_RCVBUF or SO_SNDBUF) on a new raw TCP socket.
func kernelBufSize(t *testing.T, opt, v int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, v); err != nil {
		t.Fatal(err)
	}
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestKeepAliveConfig checks that Dialer.KeepAlive and
// ListenConfig.KeepAlive set the period, or turn keep-alives off when
// negative.
func TestKeepAliveConfig(t *testing.T) {
	for _, tt := range []struct {
		name   string
		period time.Duration
		on     int
		idle   int // TCP_KEEPIDLE when on
	}{{"period", 30 * time.Second, 1, 30}, {"off", -1, 0, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			lc := ListenConfig{KeepAlive: tt.period}
			ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					t.Error(err)
				}
				accepted <- s
			}()
			d := Dialer{KeepAlive: tt.period}
			c, err := d.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-accepted
			if s == nil {
				t.FailNow()
			}
			defer s.Close()
			for _, conn := range []net.Conn{c, s} {
				if got := getsockopt(t, conn, unix.SOL_SOCKET, unix.SO_KEEPALIVE); got != tt.on {
					t.Errorf("SO_KEEPALIVE = %d, want %d", got, tt.on)
				}
				if tt.on == 1 {
					if got := getsockopt(t, conn, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); got != tt.idle {
						t.Errorf("TCP_KEEPIDLE = %d, want %d", got, tt.idle)
					}
				}
			}
		})
	}
}

// TestSyscallConn checks the raw conn: Control sees the socket, Read and
// Write call their function until it reports done, waiting for readiness
// in between, and Read honours the read deadline in net's shape.
// rawconn_test.go checks the same with plain read(2) and write(2).
func TestSyscallConn(t *testing.T) {
	for _, im := range impls {
		t.Run("impl="+im.name, func(t *testing.T) {
			c, s := connPair(t, im, im, "tcp4", "127.0.0.1:0")
			rc, err := c.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}

			var sa unix.Sockaddr
			var serr error
			if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil || serr != nil {
				t.Fatalf("Control(getsockname): %v, %v", err, serr)
			}
			if port := sa.(*unix.SockaddrInet4).Port; port != c.LocalAddr().(*net.TCPAddr).Port {
				t.Errorf("getsockname port %d, LocalAddr %v", port, c.LocalAddr())
			}

			// Read: the data arrives in pieces, so the function sees
			// EAGAIN and the conn must wait for more.
			const want = "first second third"
			go func() {
				for _, p := range []string{"first ", "second ", "third"} {
					time.Sleep(20 * time.Millisecond)
					s.Write([]byte(p))
				}
			}()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []byte
			buf := make([]byte, 64)
			var rerr error
			err = rc.Read(func(fd uintptr) bool {
				for {
					n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
					if err == unix.EAGAIN {
						return false
					}
					if err != nil || n == 0 {
						rerr = err
						return true
					}
					got = append(got, buf[:n]...)
					if len(got) >= len(want) {
						return true
					}
				}
			})
			if err != nil || rerr != nil || string(got) != want {
				t.Fatalf("RawConn.Read = %q, %v, %v; want %q", got, err, rerr, want)
			}

			// Write more than the socket buffers hold, so the
			// function sees EAGAIN and the conn must wait for room.
			// The buffers are fixed: with the machine's tcp_wmem and
			// tcp_rmem (autotuned, up to sysctl maxima) 8 MB may fit.
			if err := c.(tcpOptions).SetWriteBuffer(64 << 10); err != nil {
				t.Fatal(err)
			}
			if err := s.(tcpOptions).SetReadBuffer(64 << 10); err != nil {
				t.Fatal(err)
			}
			big := make([]byte, 8<<20)
			for i := range big {
				big[i] = byte(i * 7)
			}
			readErr := make(chan error, 1)
			go func() {
				// Start late, so the send buffer fills first.
				time.Sleep(100 * time.Millisecond)
				s.SetReadDeadline(time.Now().Add(10 * time.Second))
				in := make([]byte, len(big))
				_, err := io.ReadFull(s, in)
				if err == nil && string(in) != string(big) {
					err = errors.New("the bytes differ")
				}
				readErr <- err
			}()
			sent, again := 0, 0
			var werr error
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err = rc.Write(func(fd uintptr) bool {
				for sent < len(big) {
					n, err := unix.SendmsgN(int(fd), big[sent:], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
					if err == unix.EAGAIN {
						again++
						return false
					}
					if err != nil {
						werr = err
						return true
					}
					sent += n
				}
				return true
			})
			if err != nil || werr != nil {
				t.Fatalf("RawConn.Write: %v, %v (sent %d)", err, werr, sent)
			}
			if err := <-readErr; err != nil {
				t.Fatalf("peer reading what RawConn.Write sent: %v", err)
			}
			if again == 0 {
				t.Errorf("RawConn.Write never saw EAGAIN; the wait was not exercised")
			}

			// Read with nothing to read ends at the read deadline.
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			err = rc.Read(func(fd uintptr) bool {
				_, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				return err != unix.EAGAIN
			})
			checkOpError(t, err, "raw-read", os.ErrDeadlineExceeded)
		})
	}
}

// TestConnAddrs checks the address types and values of listeners, dialed
// and accepted conns, and packet conns: *net.TCPAddr, *net.UDPAddr and
// *net.UnixAddr, with each end's local address the other's remote one.
func TestConnAddrs(t *testing.T) {
	for _, tt := range []struct {
		network, address string
	}{
		{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"tcp", ":0"}, {"unix", ""},
	} {
		for _, im := range impls {
			t.Run(tt.network+"/impl="+im.name, func(t *testing.T) {
				skipNetwork(t, tt.network)
				addr := tt.address
				if addr == "" {
					addr = filepath.Join(t.TempDir(), "s")
				}
				ln, err := im.listen(tt.network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				accepted := make(chan net.Conn, 1)
				go func() {
					s, err := ln.Accept()
					if err != nil {
						t.Error(err)
					}
					accepted <- s
				}()
				c, err := im.dial(t.Context(), tt.network, dialAddr(ln.Addr()))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				s := <-accepted
				if s == nil {
					t.FailNow()
				}
				defer s.Close()

				if tt.network == "unix" {
					wantType[*net.UnixAddr](t, "Listener.Addr", ln.Addr())
					for what, a := range map[string]net.Addr{
						"client LocalAddr": c.LocalAddr(), "client RemoteAddr": c.RemoteAddr(),
						"server LocalAddr": s.LocalAddr(), "server RemoteAddr": s.RemoteAddr(),
					} {
						if ua := wantType[*net.UnixAddr](t, what, a); ua != nil && ua.Net != "unix" {
							t.Errorf("%s.Net = %q, want \"unix\"", what, ua.Net)
						}
					}
					if !sameAddr(c.RemoteAddr(), ln.Addr()) || !sameAddr(s.LocalAddr(), ln.Addr()) {
						t.Errorf("client RemoteAddr %v, server LocalAddr %v; want the listener's %v", c.RemoteAddr(), s.LocalAddr(), ln.Addr())
					}
					return
				}
				la := wantType[*net.TCPAddr](t, "Listener.Addr", ln.Addr())
				if la != nil && la.Port == 0 {
					t.Errorf("Listener.Addr %v has no port", la)
				}
				for what, a := range map[string]net.Addr{
					"client LocalAddr": c.LocalAddr(), "client RemoteAddr": c.RemoteAddr(),
					"server LocalAddr": s.LocalAddr(), "server RemoteAddr": s.RemoteAddr(),
				} {
					if ta := wantType[*net.TCPAddr](t, what, a); ta != nil && ta.Network() != "tcp" {
						t.Errorf("%s.Network() = %q", what, ta.Network())
					}
				}
				if !sameAddr(c.LocalAddr(), s.RemoteAddr()) {
					t.Errorf("client LocalAddr %v, server RemoteAddr %v; want them equal", c.LocalAddr(), s.RemoteAddr())
				}
				if !sameAddr(s.LocalAddr(), c.RemoteAddr()) {
					t.Errorf("server LocalAddr %v, client RemoteAddr %v; want them equal", s.LocalAddr(), c.RemoteAddr())
				}
				if c.RemoteAddr().String() != dialAddr(ln.Addr()) {
					t.Errorf("client RemoteAddr %v, dialed %v", c.RemoteAddr(), dialAddr(ln.Addr()))
				}
			})
		}
	}
}

// TestPacketConnAddrs checks the addresses of packet conns, listened and
// dialed: *net.UDPAddr or *net.UnixAddr, and the dialed conn's remote
// address is the one dialed.
func TestPacketConnAddrs(t *testing.T) {
	for _, tt := range []struct {
		network, address string
	}{
		{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"unixgram", ""},
	} {
		for _, im := range impls {
			t.Run(tt.network+"/impl="+im.name, func(t *testing.T) {
				skipNetwork(t, tt.network)
				addr := tt.address
				if addr == "" {
					addr = filepath.Join(t.TempDir(), "s")
				}
				srv, err := im.listenPacket(tt.network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				c, err := im.dial(t.Context(), tt.network, srv.LocalAddr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if tt.network == "unixgram" {
					if a := wantType[*net.UnixAddr](t, "LocalAddr", srv.LocalAddr()); a != nil && (a.Name != addr || a.Net != "unixgram") {
						t.Errorf("LocalAddr = %#v, want %s (unixgram)", a, addr)
					}
					if !sameAddr(c.RemoteAddr(), srv.LocalAddr()) {
						t.Errorf("dialed RemoteAddr %v, want %v", c.RemoteAddr(), srv.LocalAddr())
					}
					return
				}
				a := wantType[*net.UDPAddr](t, "LocalAddr", srv.LocalAddr())
				if a != nil && (a.Port == 0 || !a.IP.IsLoopback() || a.Network() != "udp") {
					t.Errorf("LocalAddr = %v, want a loopback address with a port", a)
				}
				wantType[*net.UDPAddr](t, "dialed LocalAddr", c.LocalAddr())
				if !sameAddr(c.RemoteAddr(), srv.LocalAddr()) {
					t.Errorf("dialed RemoteAddr %v, want %v", c.RemoteAddr(), srv.LocalAddr())
				}
				if _, err := c.Write([]byte("hi")); err != nil {
					t.Fatal(err)
				}
				srv.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, from, err := srv.ReadFrom(make([]byte, 8))
				if err != nil || !sameAddr(from, c.LocalAddr()) {
					t.Errorf("ReadFrom: from %v, %v; want the dialed conn's LocalAddr %v", from, err, c.LocalAddr())
				}
			})
		}
	}
}

// wantType checks that a is a non-nil T and returns it (or the zero T).
func wantType[T net.Addr](t *testing.T, what string, a net.Addr) T {
	t.Helper()
	var zero T
	v, ok := a.(T)
	if !ok || any(v) == any(zero) {
		t.Errorf("%s = %#v, want a %T", what, a, zero)
		return zero
	}
	return v
}

// TestUDPAddrAsNet holds udpAddr, the one-allocation form of
// net.UDPAddrFromAddrPort that reads return, to net's answer.
func TestUDPAddrAsNet(t *testing.T) {
	for _, s := range []string{"127.0.0.1:53", "[::1]:443", "[::ffff:10.0.0.1]:9", "[fe80::1%lo]:7", "0.0.0.0:0", "[::]:65535"} {
		ap := netip.MustParseAddrPort(s)
		if got, want := udpAddr(ap), net.UDPAddrFromAddrPort(ap); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want net's %#v", s, got, want)
		}
	}
	if got, want := udpAddr(netip.AddrPort{}), net.UDPAddrFromAddrPort(netip.AddrPort{}); !reflect.DeepEqual(got, want) {
		t.Errorf("zero: %#v, want net's %#v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { udpAddr(netip.MustParseAddrPort("[::1]:443")) }); n != 1 {
		t.Errorf("udpAddr made %v allocations, want 1", n)
	}
}
