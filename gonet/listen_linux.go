//go:build linux

package gonet

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// ListenConfig mirrors net.ListenConfig.
type ListenConfig struct {
	// Control, if set, is called after the socket is created and before it
	// is bound.
	Control func(network, address string, c syscall.RawConn) error
	// KeepAlive is the keep-alive idle time of accepted TCP connections:
	// zero means 15 seconds, a negative value turns keep-alives off. It is
	// ignored if KeepAliveConfig.Enable is true.
	KeepAlive time.Duration
	// KeepAliveConfig, if Enable is true, is the keep-alive configuration
	// of accepted connections.
	KeepAliveConfig net.KeepAliveConfig

	mptcp mptcpStatus // SetMultipathTCP
}

// Listen announces on the local address, as net.Listen. The networks are
// tcp, tcp4, tcp6 and unix.
func Listen(network, address string) (net.Listener, error) {
	var lc ListenConfig
	return lc.Listen(context.Background(), network, address)
}

// ListenPacket announces on the local address, as net.ListenPacket. The
// networks are udp, udp4, udp6 and unixgram.
func ListenPacket(network, address string) (net.PacketConn, error) {
	var lc ListenConfig
	return lc.ListenPacket(context.Background(), network, address)
}

// Listen announces on the local address.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	k, err := parseNetwork(network)
	if err != nil || k.sotype == unix.SOCK_DGRAM {
		if err == nil {
			err = net.UnknownNetworkError(network)
		}
		return nil, opError("listen", "listen", network, nil, nil, err)
	}
	s, t, err := lc.bind(ctx, k, network, address, engine.CatListen)
	if err != nil {
		return nil, err
	}
	if t.family != unix.AF_UNIX {
		// Linux copies these from the listener into every socket it
		// accepts (sk_clone_lock), so Accept makes no call for them.
		s.SetsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		setConnKeepAlive(s, lc.KeepAlive, lc.KeepAliveConfig)
	}
	if err := s.Listen(listenBacklog()); err != nil {
		s.Close()
		return nil, opError("listen", "listen", network, nil, t.addr, err)
	}
	s.QueueAccepts() // uring: one multishot accept serves every Accept
	l := newListener(s, network, t.family)
	if t.family == unix.AF_UNIX {
		ul := &UnixListener{l}
		ul.path, ul.unlink = address, true
		return ul, nil
	}
	return &TCPListener{l}, nil
}

// ListenPacket announces on the local address.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	k, err := parseNetwork(network)
	if err != nil || k.sotype != unix.SOCK_DGRAM {
		if err == nil {
			err = net.UnknownNetworkError(network)
		}
		return nil, opError("listen", "listen", network, nil, nil, err)
	}
	s, t, err := lc.bind(ctx, k, network, address, engine.CatDatagram)
	if err != nil {
		return nil, err
	}
	return newPacketConn(s, network, t.family, nil).(net.PacketConn), nil
}

// bind creates a socket for the first address address resolves to and
// binds it.
func (lc *ListenConfig) bind(ctx context.Context, k netKind, network, address string, cat engine.Category) (*engine.Socket, target, error) {
	fail := func(call string, addr net.Addr, err error) error {
		return opError("listen", call, network, nil, addr, err)
	}
	e, err := engine.Default()
	if err != nil {
		return nil, target{}, fail("socket", nil, err)
	}
	targets, err := resolve(ctx, k, network, address, true)
	if err != nil {
		return nil, target{}, fail("listen", nil, err)
	}
	t := targets[0]
	var s *engine.Socket
	if k.sotype == unix.SOCK_STREAM && t.family != unix.AF_UNIX {
		s, err = streamSocket(e, t.family, lc.MultipathTCP(), cat)
	} else {
		s, err = e.Socket(t.family, k.sotype, 0, cat)
	}
	if err != nil {
		return nil, t, fail("socket", t.addr, err)
	}
	if t.family == unix.AF_INET6 {
		// Dual stack for "tcp"/"udp", IPv6 only for "tcp6"/"udp6".
		s.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(k.family == unix.AF_INET6))
	}
	if t.family != unix.AF_UNIX && k.sotype == unix.SOCK_STREAM {
		s.SetsockoptInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if lc.Control != nil {
		if err := lc.Control(familyNetwork(network, t.family), t.addr.String(), rawConn{s: s, net: network}); err != nil {
			s.Close()
			return nil, t, fail("control", t.addr, err)
		}
	}
	sa := t.sa
	if k.sotype == unix.SOCK_DGRAM {
		var err error
		if sa, err = multicastListen(s, sa); err != nil {
			s.Close()
			return nil, t, fail("setsockopt", t.addr, err)
		}
	}
	if err := s.Bind(sa); err != nil {
		s.Close()
		return nil, t, fail("bind", t.addr, err)
	}
	return s, t, nil
}

func localAddr(s *engine.Socket, network string) net.Addr {
	if ap, scope, err := s.InetName(false); err == nil {
		return inetAddr(network, ap, scope)
	}
	var sa unix.Sockaddr
	s.Control(func(fd int) (err error) { sa, err = unix.Getsockname(fd); return })
	return sockaddrToAddr(network, sa)
}

// listenBacklog reads net.core.somaxconn, as net does.
var listenBacklog = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return unix.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return unix.SOMAXCONN
	}
	return min(n, 1<<16-1)
})

// listener is what TCPListener and UnixListener share.
type listener struct {
	s         *engine.Socket
	net       string
	family    int
	addr      net.Addr
	path      string // a unix listener's path, from Listen
	unlink    bool   // remove path on Close (SetUnlinkOnClose)
	closeOnce sync.Once
}

func newListener(s *engine.Socket, network string, family int) *listener {
	return &listener{s: s, net: network, family: family, addr: localAddr(s, network)}
}

// TCPListener is a TCP listener on the engine, with *net.TCPListener's
// methods.
type TCPListener struct{ *listener }

// UnixListener is a unix stream or seqpacket listener on the engine, with
// *net.UnixListener's methods.
type UnixListener struct{ *listener }

// AcceptTCP is Accept with the connection's own type.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	c, err := l.Accept()
	if err != nil {
		return nil, err
	}
	return c.(*TCPConn), nil
}

// AcceptUnix is Accept with the connection's own type.
func (l *UnixListener) AcceptUnix() (*UnixConn, error) {
	c, err := l.Accept()
	if err != nil {
		return nil, err
	}
	return c.(*UnixConn), nil
}

// SetUnlinkOnClose sets whether Close removes the socket file, as in net:
// by default a listener that Listen made removes it, and one that
// FileListener adopted does not.
func (l *UnixListener) SetUnlinkOnClose(unlink bool) { l.unlink = unlink }

// Accept waits for the next connection. Accepted TCP connections have
// TCP_NODELAY and keep-alives on, as with net; they inherit both from the
// listener, where Listen set them.
func (l *listener) Accept() (net.Conn, error) {
	s, sa, err := l.s.Accept(bg, 0)
	if err != nil {
		return nil, opError("accept", "accept", l.net, nil, l.addr, err)
	}
	return newConn(s, l.net, l.family, sockaddrToAddr(l.net, sa)), nil
}

// Close stops listening; a pending Accept returns net.ErrClosed.
func (l *listener) Close() error {
	err := l.s.Close()
	if err == nil && l.unlink && l.path != "" && l.path[0] != '@' {
		l.closeOnce.Do(func() { os.Remove(l.path) })
	}
	return opError("close", "close", l.net, nil, l.addr, err)
}

// Addr returns the listener's address.
func (l *listener) Addr() net.Addr { return l.addr }

// SetDeadline sets the deadline for Accept.
func (l *listener) SetDeadline(t time.Time) error {
	if l.s.Closed() {
		return opError("set", "", l.net, nil, l.addr, net.ErrClosed)
	}
	l.s.SetReadDeadline(t)
	return nil
}

// SyscallConn returns the raw listening socket.
func (l *listener) SyscallConn() (syscall.RawConn, error) {
	return rawConn{s: l.s, net: l.net, laddr: l.addr}, nil
}
