//go:build linux

package gonet

import (
	"context"
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

var bg = context.Background()

// conn is what every connection type shares: an engine socket and its
// addresses. Every connection holds one, idle ones included, so it names
// its network by index (48 bytes, not 64).
type conn struct {
	s      *engine.Socket
	laddr  net.Addr // immutable
	raddr  net.Addr // immutable; nil for an unconnected datagram socket
	netIdx uint8    // immutable: the network, in networks
	stream bool     // immutable
}

// networks are the networks a conn can be of.
var networks = [...]string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket"}

// networkIndex is network's index in networks. Every constructor's
// network has passed a check for one of them already.
func networkIndex(network string) uint8 {
	for i, n := range networks {
		if n == network {
			return uint8(i)
		}
	}
	panic("gonet: a conn of unknown network " + network)
}

// network is the network the conn was made for, as net names it.
func (c *conn) network() string { return networks[c.netIdx] }

//go:noinline
func (c *conn) readErr(err error) error {
	return opError("read", "read", c.network(), c.laddr, c.raddr, err)
}

// readFromErr is readErr for ReadFrom, whose syscall net names
// recvfrom.
//
//go:noinline
func (c *conn) readFromErr(err error) error {
	return opError("read", "recvfrom", c.network(), c.laddr, c.raddr, err)
}

//go:noinline
func (c *conn) writeErr(err error) error {
	return opError("write", "write", c.network(), c.laddr, c.raddr, err)
}

// Read reads from the connection. It returns io.EOF at the end of a
// stream. A Read cut short by a deadline or Close returns only after the
// kernel has let go of b.
func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		// As net's (internal/poll.FD.Read): a zero-length Read returns
		// at once on any socket, without a syscall, so that it neither
		// waits for nor takes a datagram; but a closed conn fails.
		if c.s.Closed() {
			return 0, c.readErr(net.ErrClosed)
		}
		return 0, nil
	}
	n, err := c.s.Read(b)
	if err != nil {
		return n, c.readErr(err)
	}
	if n == 0 && c.stream {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, or returns the count written and why it stopped.
// Concurrent Writes never interleave.
func (c *conn) Write(b []byte) (int, error) {
	n, err := c.s.Write(b)
	if err != nil {
		return n, c.writeErr(err)
	}
	return n, nil
}

// readMsg is one recvmsg(2) for ReadMsgUDP and ReadMsgUnix. Where b is
// empty and oob is not, on any socket but a datagram one, it reads into a
// byte of its own, as net does through syscall.Recvmsg: there control data
// travels with data.
func (c *conn) readMsg(b, oob []byte, flags int) (n, oobn, mflags int, from engine.Addr, err error) {
	if len(b) == 0 && len(oob) > 0 && c.s.Type() != unix.SOCK_DGRAM {
		b = make([]byte, 1)
	}
	n, oobn, mflags, from, err = c.s.RecvMsgFrom(bg, b, oob, flags, 0)
	return n, oobn, mflags, from, opError("read", "recvmsg", c.network(), c.laddr, c.raddr, err)
}

// writeMsg is one sendmsg(2) for WriteMsgUDP and WriteMsgUnix, made by
// send, which names the destination. Where b is empty and oob is not, on
// any socket but a datagram one, it sends one zero byte and reports none,
// as net does through syscall.SendmsgN. The error is the engine's, for
// the caller to wrap.
func (c *conn) writeMsg(b, oob []byte, send func(p, oob []byte) (int, error)) (n, oobn int, err error) {
	p := b
	if len(b) == 0 && len(oob) > 0 && c.s.Type() != unix.SOCK_DGRAM {
		p = []byte{0}
	}
	n, err = send(p, oob)
	if err != nil {
		return 0, 0, err
	}
	if len(b) == 0 {
		n = 0
	}
	return n, len(oob), nil
}

// Close closes the connection; pending Reads and Writes return
// net.ErrClosed.
func (c *conn) Close() error {
	return opError("close", "close", c.network(), c.laddr, c.raddr, c.s.Close())
}

// LocalAddr returns the local address.
func (c *conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines; pending calls see the change.
func (c *conn) SetDeadline(t time.Time) error {
	if c.s.Closed() {
		return opError("set", "", c.network(), c.laddr, c.raddr, net.ErrClosed)
	}
	c.s.SetReadDeadline(t)
	c.s.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline for Read; a pending Read sees the change.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.s.Closed() {
		return opError("set", "", c.network(), c.laddr, c.raddr, net.ErrClosed)
	}
	c.s.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.s.Closed() {
		return opError("set", "", c.network(), c.laddr, c.raddr, net.ErrClosed)
	}
	c.s.SetWriteDeadline(t)
	return nil
}

// SetReadBuffer sets SO_RCVBUF.
func (c *conn) SetReadBuffer(bytes int) error {
	return c.setInt("set", unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets SO_SNDBUF.
func (c *conn) SetWriteBuffer(bytes int) error {
	return c.setInt("set", unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

func (c *conn) setInt(op string, level, opt, v int) error {
	return opError(op, "setsockopt", c.network(), c.laddr, c.raddr, c.s.SetsockoptInt(level, opt, v))
}

// SyscallConn returns the raw connection. See the package doc for what its
// Read and Write wait on.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if c.s.Closed() {
		return nil, opError("syscallconn", "", c.network(), c.laddr, c.raddr, net.ErrClosed)
	}
	return rawConn{c.s, c.network(), c.laddr, c.raddr}, nil
}

// TCPConn is a TCP connection on the engine, with *net.TCPConn's methods.
type TCPConn struct{ conn }

// CloseRead shuts down the reading side.
func (c *TCPConn) CloseRead() error {
	return opError("close", "shutdown", c.network(), c.laddr, c.raddr, c.s.Shutdown(unix.SHUT_RD))
}

// CloseWrite shuts down the writing side: the peer reads EOF.
func (c *TCPConn) CloseWrite() error {
	return opError("close", "shutdown", c.network(), c.laddr, c.raddr, c.s.Shutdown(unix.SHUT_WR))
}

// SetNoDelay sets TCP_NODELAY; it is on by default, as with net.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	return c.setInt("set", unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(noDelay))
}

// SetKeepAlive turns TCP keep-alives on or off.
func (c *TCPConn) SetKeepAlive(keepalive bool) error {
	return c.setInt("set", unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(keepalive))
}

// SetKeepAlivePeriod sets the idle time before the first probe, as net's:
// zero means 15 seconds, a negative value changes nothing.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	return setKeepAliveIdle(c.setter(), d)
}

// SetKeepAliveConfig sets keep-alive on or off, and its idle time,
// interval and count, as (*net.TCPConn).SetKeepAliveConfig: a zero field
// means net's default (15 s, 15 s, 9), a negative one leaves the kernel's.
func (c *TCPConn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return setKeepAliveConfig(c.setter(), config)
}

// setter is setInt as the keep-alive helpers take it.
func (c *TCPConn) setter() func(level, opt, v int) error {
	return func(level, opt, v int) error { return c.setInt("set", level, opt, v) }
}

// SetLinger sets SO_LINGER, as (*net.TCPConn).SetLinger. With a timeout,
// Close then waits for the peer, as net's does, on its own thread (see the
// engine's uringBackend.destroy).
func (c *TCPConn) SetLinger(sec int) error {
	l := unix.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	err := c.s.Setsockopt(unix.SOL_SOCKET, unix.SO_LINGER, (*[unix.SizeofLinger]byte)(unsafe.Pointer(&l))[:])
	return opError("set", "setsockopt", c.network(), c.laddr, c.raddr, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rawConn is syscall.RawConn over an engine socket. Its errors are
// *net.OpError with Op "raw-control", "raw-read" or "raw-write", as net's.
type rawConn struct {
	s            *engine.Socket
	net          string
	laddr, raddr net.Addr
}

func (r rawConn) Control(f func(fd uintptr)) error {
	err := r.s.Control(func(fd int) error { f(uintptr(fd)); return nil })
	return opError("raw-control", "", r.net, r.laddr, r.raddr, err)
}

func (r rawConn) Read(f func(fd uintptr) (done bool)) error {
	return opError("raw-read", "", r.net, r.laddr, r.raddr, r.s.RawRead(f))
}

func (r rawConn) Write(f func(fd uintptr) (done bool)) error {
	return opError("raw-write", "", r.net, r.laddr, r.raddr, r.s.RawWrite(f))
}

// newConn wraps a connected engine socket.
func newConn(s *engine.Socket, network string, family int, raddr net.Addr) net.Conn {
	if family == unix.AF_UNIX {
		return newUnixConn(s, network, raddr)
	}
	s.RawWaitsInNetpoller() // uring, at more than one P: raw waits park in the netpoller, as net's
	return &TCPConn{conn{s: s, netIdx: networkIndex(network), laddr: localAddr(s, network), raddr: raddr, stream: true}}
}
