//go:build linux

package ksocket

import (
	"context"
	"errors"
	"math"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// errno turns an engine error into the Berkeley API's bare unix.Errno.
// onTimeout is what an expired SO_RCVTIMEO or SO_SNDTIMEO means for the call,
// as Linux reports it: EAGAIN for receive and accept, EINPROGRESS for
// connect.
func errno(err error, onTimeout unix.Errno) error {
	if err == nil {
		return nil
	}
	var en unix.Errno
	switch {
	case errors.As(err, &en):
		return en
	case errors.Is(err, net.ErrClosed):
		return unix.EBADF
	case errors.Is(err, os.ErrDeadlineExceeded):
		return onTimeout
	case errors.Is(err, context.Canceled):
		return unix.ECANCELED
	case errors.Is(err, context.DeadlineExceeded):
		return unix.ETIMEDOUT
	}
	return unix.EIO
}

// eng returns the process's engine, or the errno that explains why there is
// none: io_uring's setup errno with KSOCKET_BACKEND=uring, EINVAL for a bad
// KSOCKET_BACKEND or KSOCKET_FEATURES. Probe gives the full reason.
func eng() (*engine.Engine, error) {
	e, err := engine.Default()
	if err != nil {
		var en unix.Errno
		if errors.As(err, &en) {
			return nil, en
		}
		return nil, unix.EINVAL
	}
	return e, nil
}

func newSocket(domain, typ, proto int, cat engine.Category, want ...int) (int, error) {
	if len(want) > 0 {
		base := typ &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
		ok := false
		for _, w := range want {
			ok = ok || base == w
		}
		if !ok {
			return -1, unix.ESOCKTNOSUPPORT
		}
	}
	e, err := eng()
	if err != nil {
		return -1, err
	}
	s, err := e.Socket(domain, typ, proto, cat)
	if err != nil {
		return -1, errno(err, unix.EAGAIN)
	}
	s.RawWaitsInNetpoller() // at more than one P: Recvmmsg and Sendmmsg wait as net's do
	s.QueueDatagrams()      // UDP: plain receives take datagrams received before them (see datagramQueue)
	return install(s), nil
}

// SocketConnection creates a connection socket, like KSOCKET's
// socket_connection: a stream (or seqpacket) socket for Connect, Send and
// Recv. typ may carry SOCK_NONBLOCK; SOCK_CLOEXEC is always set. Any other
// type fails with ESOCKTNOSUPPORT.
func SocketConnection(domain, typ, proto int) (int, error) {
	return newSocket(domain, typ, proto, engine.CatConnection, unix.SOCK_STREAM, unix.SOCK_SEQPACKET)
}

// SocketListen creates a listen socket: Bind, Listen and Accept.
func SocketListen(domain, typ, proto int) (int, error) {
	return newSocket(domain, typ, proto, engine.CatListen, unix.SOCK_STREAM, unix.SOCK_SEQPACKET)
}

// SocketDatagram creates a datagram socket: Bind, Sendto and Recvfrom (and
// Connect, which sets the default peer).
func SocketDatagram(domain, typ, proto int) (int, error) {
	return newSocket(domain, typ, proto, engine.CatDatagram, unix.SOCK_DGRAM)
}

// Socket creates a unified socket, which allows every call until its first
// successful Connect or Listen makes it a connection or listen socket. It is
// POSIX socket(2); KSOCKET split it in three because WSK fixes a socket's
// category at creation.
func Socket(domain, typ, proto int) (int, error) {
	return newSocket(domain, typ, proto, engine.CatUnified)
}

// Connect connects s to sa. On a SOCK_NONBLOCK socket it returns EINPROGRESS
// at once; an expired SO_SNDTIMEO also gives EINPROGRESS, as on Linux.
func Connect(s int, sa unix.Sockaddr) error {
	return ConnectContext(context.Background(), s, sa)
}

// ConnectContext is Connect bounded by ctx: ECANCELED when ctx is canceled,
// ETIMEDOUT when its deadline passes.
func ConnectContext(ctx context.Context, s int, sa unix.Sockaddr) error {
	e, err := lookup(s, engine.CallConnect)
	if err != nil {
		return err
	}
	e.s.LeaveDatagramQueue() // a connected one hears of ICMP errors (see datagramQueue)
	return errno(e.s.Connect(ctx, sa, e.timeout(unix.SO_SNDTIMEO)), unix.EINPROGRESS)
}

// Bind binds s to sa. KSOCKET bound every socket to 0.0.0.0 before
// connecting; ksocket binds only when asked.
func Bind(s int, sa unix.Sockaddr) error {
	e, err := lookup(s, engine.CallBind)
	if err != nil {
		return err
	}
	return errno(e.s.Bind(sa), unix.EAGAIN)
}

// Listen makes s a listening socket with the given backlog.
func Listen(s int, backlog int) error {
	e, err := lookup(s, engine.CallListen)
	if err != nil {
		return err
	}
	return errno(e.s.Listen(backlog), unix.EAGAIN)
}

// Accept waits for a connection on s and returns it as a new connection
// socket, with the peer's address.
func Accept(s int) (int, unix.Sockaddr, error) {
	return AcceptContext(context.Background(), s)
}

// AcceptContext is Accept bounded by ctx.
func AcceptContext(ctx context.Context, s int) (int, unix.Sockaddr, error) {
	e, err := lookup(s, engine.CallAccept)
	if err != nil {
		return -1, nil, err
	}
	ns, sa, err := e.s.Accept(ctx, e.timeout(unix.SO_RCVTIMEO))
	if err != nil {
		return -1, nil, errno(err, unix.EAGAIN)
	}
	ns.RawWaitsInNetpoller() // as newSocket: every Berkeley socket's batches wait alike
	return install(ns), sa, nil
}

// Send sends buf on a connected socket. On a blocking stream socket it sends
// all of buf unless flags (MSG_DONTWAIT) or SO_SNDTIMEO say otherwise, and
// concurrent Sends on one socket never interleave their bytes. When
// SO_SNDTIMEO expires it returns the bytes sent so far, or EAGAIN if none.
func Send(s int, buf []byte, flags int) (int, error) {
	if flags == 0 {
		return write(s, buf)
	}
	return SendtoContext(context.Background(), s, buf, flags, nil)
}

// write is Send with no flags: the engine's Write where SO_SNDTIMEO is not
// set, whose frames a goroutine blocked in it keeps on its stack fewer and
// smaller than SendtoContext's.
func write(s int, buf []byte) (int, error) {
	e, err := lookup(s, engine.CallSend)
	if err != nil {
		return 0, err
	}
	if e.timeout(unix.SO_SNDTIMEO) > 0 {
		return SendtoContext(context.Background(), s, buf, 0, nil)
	}
	n, err := e.s.Write(buf)
	if err != nil {
		return n, errno(err, unix.EAGAIN)
	}
	return n, nil
}

// SendContext is Send bounded by ctx.
func SendContext(ctx context.Context, s int, buf []byte, flags int) (int, error) {
	return SendtoContext(ctx, s, buf, flags, nil)
}

// Sendto sends buf to the address to; with to nil it is Send.
func Sendto(s int, buf []byte, flags int, to unix.Sockaddr) (int, error) {
	return SendtoContext(context.Background(), s, buf, flags, to)
}

// SendtoContext is Sendto bounded by ctx.
func SendtoContext(ctx context.Context, s int, buf []byte, flags int, to unix.Sockaddr) (int, error) {
	e, err := lookup(s, engine.CallSend)
	if err != nil {
		return 0, err
	}
	n, err := e.s.Send(ctx, buf, flags, to, e.timeout(unix.SO_SNDTIMEO))
	if errors.Is(err, os.ErrDeadlineExceeded) && n > 0 {
		return n, nil
	}
	return n, errno(err, unix.EAGAIN)
}

// Recv receives into buf and returns the byte count, 0 at end of stream.
// A zero-length Recv on a stream socket returns (0, nil) at once, where the
// kernel would block until data arrives: a documented deviation. Its errors
// are still the kernel's: ENOTCONN, or EAGAIN under MSG_DONTWAIT with no
// data. When SO_RCVTIMEO expires it returns EAGAIN.
func Recv(s int, buf []byte, flags int) (int, error) {
	if flags == 0 && len(buf) > 0 {
		return read(s, buf)
	}
	return RecvContext(context.Background(), s, buf, flags)
}

// read is Recv with no flags into a non-empty buf: the engine's Read where
// SO_RCVTIMEO is not set, with fewer and smaller frames than RecvContext's
// (see write).
func read(s int, buf []byte) (int, error) {
	e, err := lookup(s, engine.CallRecv)
	if err != nil {
		return 0, err
	}
	if e.timeout(unix.SO_RCVTIMEO) > 0 {
		return RecvContext(context.Background(), s, buf, 0)
	}
	n, err := e.s.Read(buf)
	if err != nil {
		return n, errno(err, unix.EAGAIN)
	}
	return n, nil
}

// RecvContext is Recv bounded by ctx.
func RecvContext(ctx context.Context, s int, buf []byte, flags int) (int, error) {
	e, err := lookup(s, engine.CallRecv)
	if err != nil {
		return 0, err
	}
	if len(buf) == 0 && e.s.Type() == unix.SOCK_STREAM {
		return 0, recvNothing(ctx, e.s, flags)
	}
	n, _, _, err := e.s.Recv(ctx, buf, flags, false, e.timeout(unix.SO_RCVTIMEO))
	return n, errno(err, unix.EAGAIN)
}

// recvNothing is a zero-length Recv on a stream, asked without waiting:
// the kernel still answers for its errors (ENOTCONN, or EAGAIN where the
// caller asked not to wait), and where it would wait for data it cannot
// copy, ours returns. (Out of RecvContext, whose frame a blocked Recv
// keeps on its goroutine's stack.)
//
//go:noinline
func recvNothing(ctx context.Context, s *engine.Socket, flags int) error {
	_, _, _, err := s.Recv(ctx, nil, flags|unix.MSG_DONTWAIT, false, 0)
	if err == unix.EAGAIN && flags&unix.MSG_DONTWAIT == 0 && !s.Nonblock() {
		err = nil
	}
	return errno(err, unix.EAGAIN)
}

// Recvfrom receives into buf and returns the sender's address (nil on a
// connected stream socket). KSOCKET's recvfrom sent instead of receiving;
// this one receives.
func Recvfrom(s int, buf []byte, flags int) (int, unix.Sockaddr, error) {
	return RecvfromContext(context.Background(), s, buf, flags)
}

// RecvfromContext is Recvfrom bounded by ctx.
func RecvfromContext(ctx context.Context, s int, buf []byte, flags int) (int, unix.Sockaddr, error) {
	e, err := lookup(s, engine.CallRecv)
	if err != nil {
		return 0, nil, err
	}
	n, from, err := e.s.RecvFrom(ctx, buf, flags, e.timeout(unix.SO_RCVTIMEO))
	if err != nil {
		if len(buf) == 0 && e.s.Type() == unix.SOCK_STREAM && errors.Is(err, os.ErrDeadlineExceeded) {
			// tcp_recvmsg with nothing to copy reports 0, not EAGAIN,
			// when the timeout ends the wait.
			return 0, nil, nil
		}
		return 0, nil, errno(err, unix.EAGAIN)
	}
	return n, from.Sockaddr(), nil
}

// Closesocket closes s. Calls blocked on s from other goroutines return
// EBADF; Closesocket returns once the kernel has released every buffer they
// passed. The descriptor may then be reused. A second Closesocket returns
// EBADF.
func Closesocket(s int) error {
	return errno(remove(s), unix.EAGAIN)
}

// Shutdown shuts down the read side, the write side, or both (SHUT_RD,
// SHUT_WR, SHUT_RDWR).
func Shutdown(s int, how int) error {
	e, err := lookup(s, engine.CallShutdown)
	if err != nil {
		return err
	}
	return errno(e.s.Shutdown(how), unix.EAGAIN)
}

// Getsockname returns the address s is bound to.
func Getsockname(s int) (unix.Sockaddr, error) {
	e, err := lookup(s, engine.CallSockname)
	if err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	err = e.s.Control(func(fd int) (err error) {
		sa, err = unix.Getsockname(fd)
		return err
	})
	return sa, errno(err, unix.EAGAIN)
}

// Getpeername returns the address of the peer s is connected to.
func Getpeername(s int) (unix.Sockaddr, error) {
	e, err := lookup(s, engine.CallPeername)
	if err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	err = e.s.Control(func(fd int) (err error) {
		sa, err = unix.Getpeername(fd)
		return err
	})
	return sa, errno(err, unix.EAGAIN)
}

// SetsockoptInt sets an integer option.
func SetsockoptInt(s, level, opt, value int) error {
	e, err := lookup(s, engine.CallOption)
	if err != nil {
		return err
	}
	leaveQueueFor(e.s, level, opt)
	return errno(e.s.SetsockoptInt(level, opt, value), unix.EAGAIN)
}

// GetsockoptInt reads an integer option.
func GetsockoptInt(s, level, opt int) (int, error) {
	e, err := lookup(s, engine.CallOption)
	if err != nil {
		return 0, err
	}
	v, err := e.s.GetsockoptInt(level, opt)
	return v, errno(err, unix.EAGAIN)
}

// SetsockoptTimeval sets a timeval option. SO_RCVTIMEO and SO_SNDTIMEO are
// enforced by ksocket itself, because the kernel applies neither to io_uring
// ops nor to non-blocking sockets: on expiry Recv, Recvfrom and Accept fail
// with EAGAIN, Connect with EINPROGRESS, and Send returns what it sent (or
// EAGAIN if nothing).
func SetsockoptTimeval(s, level, opt int, tv *unix.Timeval) error {
	e, err := lookup(s, engine.CallOption)
	if err != nil {
		return err
	}
	if tv == nil {
		return unix.EFAULT
	}
	leaveQueueFor(e.s, level, opt)
	// The kernel validates the value (EDOM for a bad tv_usec) and keeps a
	// copy that getsockopt(2) on the fd shows.
	v := *tv
	err = e.s.Setsockopt(level, opt, (*[unsafe.Sizeof(v)]byte)(unsafe.Pointer(&v))[:])
	if err != nil {
		return errno(err, unix.EAGAIN)
	}
	if level == unix.SOL_SOCKET && (opt == unix.SO_RCVTIMEO || opt == unix.SO_SNDTIMEO) {
		d, stored := timevalTimeout(v)
		if opt == unix.SO_RCVTIMEO {
			e.rcvtimeo.Store(int64(d))
			e.rcvtv.Store(&stored)
		} else {
			e.sndtimeo.Store(int64(d))
			e.sndtv.Store(&stored)
		}
	}
	return nil
}

// datagramQueue: a UDP socket of the Berkeley API has a datagram queue
// (engine.Socket.QueueDatagrams): its plain receives (data and sender, no
// flags, on a blocking socket: Recv, Recvfrom, and Recvmsg with no room for
// control data) take datagrams the socket received before they asked. A
// receive that finds nothing queued makes one recvmmsg(2) for its own
// datagram and up to 15 more, once a receive has found a datagram
// waiting; finding none, it waits for its datagram in one ring receive on
// the uring backend, in the netpoller on epoll, and on the ring the next
// receives skip the recvmmsg(2) for a while (engine tryFirst). What they
// return is what recvfrom(2) returns. The datagrams leave the kernel's
// receive queue before a receive asks for them (up to 15), and would
// carry no control data, so the socket leaves the queue for good, and
// receives are single receives of one datagram each, before any call that
// could tell the difference:
//   - a receive with flags (MSG_PEEK, MSG_TRUNC, MSG_DONTWAIT), with room for
//     control data, on a non-blocking socket, or a Recvmmsg;
//   - Connect, after which the kernel reports ICMP errors to the socket's
//     next call, which reading ahead would take instead of a Sendto;
//   - setting any option but those keepsDatagramQueue lists: one could ask
//     for control data (IP_PKTINFO, SO_TIMESTAMP) or errors (IP_RECVERR).
//
// At two Ps, where each receive was one ring op, reading ahead took the
// Recvfrom/Sendto echo at 16 flows from 0.81-0.87x net to 1.04-1.21x, at
// 9.0-11.9 against 12.6-14.1 us of server CPU a datagram, and one flow
// stayed at net's rate (1.00-1.13x against 1.10-1.18x; bench -impls
// net,berkeley -points udp-f16,udp-f1 -procs 2, builds alternated). On
// the epoll backend, where each was one recvfrom(2), the echo went from
// 0.89-1.24x to 1.19-1.24x at one and two Ps, at 1.1 against 2.1 syscalls
// a datagram. Skipping the recvmmsg(2) that finds nothing after one that
// did took the echo at 16 flows and two Ps from 0.91-1.27x to 1.18-1.38x.
// At one P the uring backend served these sockets with the ring's
// multishot receive before; reading ahead took 16 flows there from
// 1.01-1.27x to 1.09-1.30x (median 1.02x to 1.20x), and one flow from
// 1.07-1.31x to 0.94-1.16x (median 1.16x to 1.13x) at 28-31 against
// 22-30 us of server CPU a datagram (net 30-43). The in-process
// ping-pong (go test -bench UDPPingPong -cpu 1,2 .), where no datagram
// ever waits, did 1.37x and 2.16x net at one P with the multishot, 1.19x
// and 2.02x reading ahead (one flow and 16); at two Ps the skip took it
// from 0.75x and 1.20x to 0.85x and 1.29x.
//
// Datagrams the queue took before it left come out first, in order, with
// the flags and sender recvmsg(2) would give them, and after a socket
// error the kernel holds, as its receive reports one first. A Recvmmsg
// that takes them goes on to what the kernel holds, without waiting, but
// for a connected socket or one that set IP_RECVERR (engine batchMore):
// there it returns only them, with MSG_WAITFORONE or MSG_DONTWAIT fewer
// than recvmmsg(2) could. Two things
// still differ for them: a control message asked for after they were
// taken is not there, and SO_PEEK_OFF does not apply to them (MSG_PEEK
// reads each from its start).

// leaveQueueFor takes s off its datagram queue before setting option opt
// at level, unless keepsDatagramQueue says the option changes nothing a
// receive could see.
func leaveQueueFor(s *engine.Socket, level, opt int) {
	if !keepsDatagramQueue(level, opt) {
		s.LeaveDatagramQueue()
	}
}

// keepsDatagramQueue reports whether setting opt at level leaves what a
// receive returns as it was: timeouts, buffer sizes, address reuse and
// broadcast, and what the socket sends (TTL, TOS, hop limit).
func keepsDatagramQueue(level, opt int) bool {
	switch level {
	case unix.SOL_SOCKET:
		switch opt {
		case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO, unix.SO_RCVBUF, unix.SO_SNDBUF,
			unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST, unix.SO_PRIORITY:
			return true
		}
	case unix.IPPROTO_IP:
		return opt == unix.IP_TTL || opt == unix.IP_TOS
	case unix.IPPROTO_IPV6:
		return opt == unix.IPV6_UNICAST_HOPS || opt == unix.IPV6_TCLASS || opt == unix.IPV6_V6ONLY
	}
	return false
}

// immediate is the timeout of a negative timeval: the kernel stores it as
// zero jiffies, and calls fail at once as on a non-blocking socket.
const immediate = time.Nanosecond

// timevalTimeout is the kernel's reading of an SO_RCVTIMEO or SO_SNDTIMEO
// value (sock_set_timeout in net/core/sock.c): a negative one reads back as
// {0, 0} but times out at once; {0, 0} and values too large to count are
// "never". It returns the timeout (0: never) and the value getsockopt shows.
func timevalTimeout(tv unix.Timeval) (time.Duration, unix.Timeval) {
	if tv.Sec < 0 {
		return immediate, unix.Timeval{}
	}
	const maxSec = int64(math.MaxInt64/time.Second) - 1
	if int64(tv.Sec) >= maxSec {
		return 0, tv
	}
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond, tv
}

// GetsockoptTimeval reads a timeval option. For SO_RCVTIMEO and SO_SNDTIMEO
// it returns the value last set through SetsockoptTimeval, exactly.
func GetsockoptTimeval(s, level, opt int) (*unix.Timeval, error) {
	e, err := lookup(s, engine.CallOption)
	if err != nil {
		return nil, err
	}
	if level == unix.SOL_SOCKET && (opt == unix.SO_RCVTIMEO || opt == unix.SO_SNDTIMEO) {
		p := e.rcvtv.Load()
		if opt == unix.SO_SNDTIMEO {
			p = e.sndtv.Load()
		}
		if p == nil {
			return &unix.Timeval{}, nil
		}
		tv := *p
		return &tv, nil
	}
	var tv *unix.Timeval
	err = e.s.Control(func(fd int) (err error) {
		tv, err = unix.GetsockoptTimeval(fd, level, opt)
		return err
	})
	return tv, errno(err, unix.EAGAIN)
}
