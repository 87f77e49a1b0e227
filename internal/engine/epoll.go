//go:build linux

package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The epoll backend: non-blocking sockets parked in Go's own netpoller
// through os.File and syscall.RawConn, so no OS thread blocks per op. It runs
// where io_uring is blocked (containers, gVisor, Android, io_uring_disabled).

type epollBackend struct {
	inf Info
}

func newEpoll(inf *Info) *epollBackend {
	inf.RingCalls = nil
	inf.SysCalls = []string{"socket", "bind", "listen", "connect", "accept", "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "close", "setsockopt", "getsockopt", "getsockname", "getpeername", "splice", "sendfile"}
	return &epollBackend{inf: *inf}
}

// epollState is a socket's epoll-backend half.
type epollState struct {
	file *os.File
	rc   syscall.RawConn

	// turn lets one op at a time run in each direction, as in Go's net,
	// so a context cancel has exactly one op to interrupt. An op waiting
	// for its turn still ends with its own context, timeout or deadline,
	// or Close.
	turn [2]turn

	// ops are each direction's send or receive, owned by whoever holds
	// the turn; tries are their try methods, bound once at attach, so a
	// send or receive allocates no closure (measured: 14 allocations a
	// round trip before, and 0.89x net's ping-pong at 64 connections).
	ops   [2]epollOp
	tries [2]func(fd uintptr) bool

	// The file's deadlines are derived from these; guarded by mu.
	mu       sync.Mutex
	userDL   [2]time.Time // SetReadDeadline/SetWriteDeadline
	opExpire [2]time.Time // the current or last op's own timeout (see expireLeft)
	kicked   [2]bool      // a context cancel forced the deadline into the past
	opSeq    [2]uint64    // numbers the ops with a context; a kick applies to its own op only

	// expireLeft says that opExpire still holds the timeout of an op that
	// has ended. An op leaves its timeout in the file's deadline, and the
	// next op in its direction, which holds the turn as it did, replaces
	// it with its own or takes it out: a receive with a timeout, the
	// common case (SO_RCVTIMEO), so sets the deadline once, where it set
	// it and then took it out again: the Berkeley API's Recvfrom/Sendto
	// ping-pong with SO_RCVTIMEO, 16 flows at one P, went from 0.90x to
	// 0.95x net (in-process, medians of 8 alternated runs).
	expireLeft [2]atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

var aLongTimeAgo = time.Unix(1, 0)

func dir(mode byte) int {
	if mode == 'r' {
		return 0
	}
	return 1
}

// applyLocked sets the file's deadline for direction d from the user's
// deadline, the op's timeout and any kick.
//
// Preconditions: ep.mu is held.
func (ep *epollState) applyLocked(d int) {
	t := ep.userDL[d]
	if e := ep.opExpire[d]; !e.IsZero() && (t.IsZero() || e.Before(t)) {
		t = e
	}
	if ep.kicked[d] {
		t = aLongTimeAgo
	}
	if d == 0 {
		ep.file.SetReadDeadline(t)
	} else {
		ep.file.SetWriteDeadline(t)
	}
}

func (b *epollBackend) name() string { return "epoll" }
func (b *epollBackend) info() *Info  { return &b.inf }

func (b *epollBackend) socket(domain, typ, proto int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_NONBLOCK, proto)
}

func (b *epollBackend) attach(s *Socket) error {
	ep, err := newEpollState(s, os.NewFile(uintptr(s.fd), "socket"))
	if err != nil {
		return err
	}
	s.ep.Store(ep)
	return nil
}

// newEpollState makes s's netpoller half on f, which holds s's fd or a
// duplicate of it. On error it closes f.
func newEpollState(s *Socket, f *os.File) (*epollState, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	ep := &epollState{file: f, rc: rc}
	for d := range ep.turn {
		ep.turn[d].wake = make(chan struct{}, 1)
		ep.ops[d].s = s
		ep.tries[d] = ep.ops[d].try
	}
	return ep, nil
}

// close closes the file, once: the poller wakes every pending op, and
// Close on a non-blocking os.File waits until they have left.
func (ep *epollState) close() {
	ep.closeOnce.Do(func() { ep.closeErr = ep.file.Close() })
}

// epollOp is one send or receive: its arguments, then what the last
// attempt reported.
type epollOp struct {
	s     *Socket // immutable
	send  bool
	want  recvWant // a receive's: what it returns besides the data
	p     []byte
	oob   []byte // control data; with it, sendmsg or recvmsg
	flags int
	addr  Addr // a send's destination (zero: none), a receive's sender
	again bool // a try said EAGAIN: the next follows a wait

	n      int // bytes sent or received
	oobn   int // receive: bytes of control data
	mflags int // receive: the message's MSG_* flags
	err    error
}

// try makes one attempt; it reports whether the op is done (not EAGAIN on
// a socket that waits).
func (op *epollOp) try(ufd uintptr) bool {
	fd, s := int(ufd), op.s
	switch {
	case op.send && len(op.oob) == 0:
		op.n, op.err = sendtoRaw(fd, op.p, &op.addr.raw, op.addr.n, op.flags) // no msghdr to copy in
	case op.send:
		op.n, op.err = sendmsgRaw(fd, op.p, op.oob, &op.addr.raw, op.addr.n, op.flags)
	case op.want == recvMsg || len(op.oob) > 0:
		op.recvMsg(fd)
	case op.want == recvSender:
		op.n, op.err = recvfromRaw(fd, op.p, op.flags, &op.addr)
	default:
		op.n, op.err = recvRaw(fd, op.p, op.flags)
	}
	waits := !s.nonblock && op.flags&unix.MSG_DONTWAIT == 0
	if !op.send && op.err == unix.EAGAIN && waits && s.datagramReadShut(fd, op.again) {
		// A blocking datagram recv returns 0 once the read side is
		// shut down; a non-blocking one keeps saying EAGAIN.
		op.n, op.oobn, op.mflags, op.addr, op.err = 0, 0, 0, Addr{}, nil
	}
	op.again = op.err == unix.EAGAIN
	return !op.again || !waits
}

// recvMsg is try's recvmsg(2), out of try: its result, sender included,
// would otherwise take room in the frame of every try, which an idle
// connection's reader keeps on its stack (past 2 KiB, net's size, it
// doubles).
//
//go:noinline
func (op *epollOp) recvMsg(fd int) {
	var r received
	r, op.err = recvmsgRaw(fd, op.p, op.oob, op.flags)
	op.n, op.oobn, op.mflags, op.addr = r.n, r.oobn, r.flags, r.from
}

// ctl runs a non-blocking call with the fd held open.
func (b *epollBackend) ctl(s *Socket, f func(fd int) error) error {
	var err error
	if cerr := s.ep.Load().rc.Control(func(fd uintptr) { err = f(int(fd)) }); cerr != nil {
		return pollErr(s, cerr)
	}
	return err
}

func (b *epollBackend) control(s *Socket, f func(fd int) error) error { return b.ctl(s, f) }

func (b *epollBackend) rawIO(s *Socket, wv waitSpec, f func(fd uintptr) bool) error {
	w := &wv
	return b.wait(s, w, f)
}

// wait runs try until it reports done, parking in the netpoller between
// attempts. It honours the socket's deadline, the op's timeout and ctx.
func (b *epollBackend) wait(s *Socket, w *waitSpec, try func(fd uintptr) bool) error {
	return s.ep.Load().wait(s, w, try)
}

// wait is epollBackend.wait on ep, s's netpoller half: on the uring
// backend, that of a socket whose raw waits are in the netpoller.
func (ep *epollState) wait(s *Socket, w *waitSpec, try func(fd uintptr) bool) error {
	d := dir(w.mode)
	if err := ep.take(s, w, d); err != nil {
		return err
	}
	defer ep.give(d)
	return ep.run(s, w, d, try)
}

// turn is one direction's right to run an op. Taking a free turn is one
// compare-and-swap; only an op that finds it held waits, on wake. (A
// channel holding the token cost a channel receive and send an op:
// measured, 1% of the CPU of an in-process ping-pong.)
type turn struct {
	held    atomic.Bool
	waiters atomic.Int32  // ops in take's slow path
	wake    chan struct{} // capacity 1: a give's nudge to the waiters
}

// take waits for direction d's turn; give hands it back.
func (ep *epollState) take(s *Socket, w *waitSpec, d int) error {
	t := &ep.turn[d]
	if t.held.CompareAndSwap(false, true) {
		return nil
	}
	// A give that ran before waiters counted us left held false, so the
	// swap below sees it; one after nudges wake. A nudge nobody takes
	// stays in wake and only costs a later waiter one more swap.
	t.waiters.Add(1)
	defer t.waiters.Add(-1)
	wt := newWaiter(s, w)
	defer wt.stop()
	for !t.held.CompareAndSwap(false, true) {
		if err := wt.wait(t.wake, s.closingCh()); err != nil {
			return err
		}
	}
	return nil
}

func (ep *epollState) give(d int) {
	t := &ep.turn[d]
	t.held.Store(false)
	if t.waiters.Load() > 0 {
		select {
		case t.wake <- struct{}{}:
		default: // a nudge is already there
		}
	}
}

// expire puts the timeout of the op in direction d, zero for none, into
// the file's deadline; the op's caller holds d's turn. The timeout stays
// there after the op (expireLeft).
func (ep *epollState) expire(d int, t time.Time) {
	if t.IsZero() && !ep.expireLeft[d].Load() {
		return
	}
	ep.mu.Lock()
	ep.opExpire[d] = t
	ep.applyLocked(d)
	ep.mu.Unlock()
	ep.expireLeft[d].Store(!t.IsZero())
}

// run is wait with the turn held.
func (ep *epollState) run(s *Socket, w *waitSpec, d int, try func(fd uintptr) bool) error {
	ep.expire(d, w.expire)
	var cancelled *atomic.Bool // only a call with a context can be cancelled
	if w.ctx != nil && w.ctx.Done() != nil {
		cancelled = new(atomic.Bool)
		ep.mu.Lock()
		ep.opSeq[d]++
		seq := ep.opSeq[d]
		ep.mu.Unlock()
		stop := context.AfterFunc(w.ctx, func() {
			ep.mu.Lock()
			if ep.opSeq[d] == seq { // the op has not ended yet
				cancelled.Store(true)
				ep.kicked[d] = true
				ep.applyLocked(d)
			}
			ep.mu.Unlock()
		})
		defer func() {
			if stop() {
				return
			}
			// The kick ran, or is running: it may not have taken mu
			// yet. Ending the op's sequence number makes a late kick do
			// nothing, and undoes one that was done.
			ep.mu.Lock()
			ep.opSeq[d]++
			if ep.kicked[d] {
				ep.kicked[d] = false
				ep.applyLocked(d)
			}
			ep.mu.Unlock()
		}()
	}
	var err error
	if d == 0 {
		err = ep.rc.Read(try)
	} else {
		err = ep.rc.Write(try)
	}
	if err == nil {
		return nil
	}
	if cancelled != nil && cancelled.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		return w.ctx.Err()
	}
	return pollErr(s, err)
}

// pollErr turns the poller's errors into the engine's sentinels.
func pollErr(s *Socket, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	if s.Closed() {
		return net.ErrClosed
	}
	return err
}

func (b *epollBackend) bind(s *Socket, sa unix.Sockaddr) error {
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		return err
	}
	return b.ctl(s, func(fd int) error { return bindRaw(fd, &raw, n) })
}

func (b *epollBackend) listen(s *Socket, backlog int) error {
	return b.ctl(s, func(fd int) error { return unix.Listen(fd, backlog) })
}

// tcpClose is TCP_CLOSE, the state tcp_info reports for a closed socket
// (include/net/tcp_states.h).
const tcpClose = 7

func (b *epollBackend) connect(s *Socket, sa unix.Sockaddr, wv waitSpec) error {
	w := &wv
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		return err
	}
	err = b.ctl(s, func(fd int) error { return connectRaw(fd, &raw, n) })
	if err != unix.EINPROGRESS || s.nonblock {
		return err
	}
	// Wait until writable, then read SO_ERROR, as Go's net does (it cites
	// golang.org/issue/7474 for not calling connect again).
	var cerr error
	werr := b.wait(s, w, func(ufd uintptr) bool {
		fd := int(ufd)
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			cerr = err
			return true
		}
		switch e := unix.Errno(v); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0, unix.EISCONN:
			if _, err := unix.Getpeername(fd); err == nil {
				cerr = nil
				return true
			}
			if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && ti.State == tcpClose {
				// The attempt ended without an error, say a socket
				// connecting to itself after shutdown(SHUT_WR); a
				// blocking connect(2) says ECONNABORTED then. Waiting
				// on would be forever: no further event comes.
				cerr = unix.ECONNABORTED
				return true
			}
			return false
		default:
			cerr = e
			return true
		}
	})
	if werr != nil {
		return werr
	}
	if cerr == nil {
		// connect(2) once more moves the socket from "connecting" to
		// "connected", so that a further Connect gets EISCONN, as after
		// a blocking connect.
		b.ctl(s, func(fd int) error { return connectRaw(fd, &raw, n) })
	}
	return cerr
}

func (b *epollBackend) disconnect(s *Socket) error {
	var raw unix.RawSockaddrAny // family AF_UNSPEC
	return b.ctl(s, func(fd int) error { return connectRaw(fd, &raw, unix.SizeofSockaddrInet4) })
}

func (b *epollBackend) accept(s *Socket, wv waitSpec) (int, unix.Sockaddr, error) {
	w := &wv
	var nfd int
	var sa unix.Sockaddr
	var aerr error
	werr := b.wait(s, w, func(fd uintptr) bool {
		nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if aerr == unix.ECONNABORTED {
			return false // the peer gave up before we got to it: next one
		}
		return aerr != unix.EAGAIN || s.nonblock
	})
	if werr != nil {
		return -1, nil, werr
	}
	return nfd, sa, aerr
}

func (b *epollBackend) send(s *Socket, p, oob []byte, flags int, to Addr, wv waitSpec) (int, error) {
	w, ep := &wv, s.ep.Load()
	if err := ep.take(s, w, 1); err != nil {
		return 0, err
	}
	defer ep.give(1)
	op := &ep.ops[1]
	op.send, op.p, op.oob, op.flags, op.addr, op.again = true, p, oob, flags|unix.MSG_NOSIGNAL, to, false
	defer func() { op.p, op.oob = nil, nil }() // the caller's buffers are not ours to keep
	if err := ep.run(s, w, 1, ep.tries[1]); err != nil {
		return 0, err
	}
	return op.n, op.err
}

func (b *epollBackend) recv(s *Socket, p, oob []byte, flags int, want recvWant, wv waitSpec) (received, error) {
	return s.ep.Load().recv(s, p, oob, flags, want, &wv)
}

// recv is epollBackend.recv on ep, s's netpoller half: on the uring
// backend, that of a socket that receives datagrams now and waits in the
// netpoller (uringBackend.recvDatagramNow).
func (ep *epollState) recv(s *Socket, p, oob []byte, flags int, want recvWant, w *waitSpec) (received, error) {
	if err := ep.take(s, w, 0); err != nil {
		return received{}, err
	}
	defer ep.give(0)
	op := &ep.ops[0]
	op.send, op.want, op.p, op.oob, op.flags, op.again = false, want, p, oob, flags, false
	op.oobn, op.mflags, op.addr.n = 0, 0, 0 // what the try for want does not set
	defer func() { op.p, op.oob = nil, nil }()
	if err := ep.run(s, w, 0, ep.tries[0]); err != nil {
		return received{}, err
	}
	if op.err != nil {
		return received{}, op.err
	}
	return received{n: op.n, oobn: op.oobn, flags: op.mflags, from: op.addr}, nil
}

// read is recv with no flags, sender, control data, timeout or context:
// how an idle connection waits, with no more frames above the netpoller's
// than it needs.
func (b *epollBackend) read(s *Socket, p []byte) (int, error) {
	ep := s.ep.Load()
	if err := ep.take(s, &readWait, 0); err != nil {
		return 0, err
	}
	ep.expire(0, time.Time{})
	op := &ep.ops[0]
	op.send, op.want, op.p, op.oob, op.flags, op.again = false, recvData, p, nil, 0, false
	err := ep.rc.Read(ep.tries[0])
	n, rerr := op.n, op.err
	op.p = nil
	ep.give(0)
	if err != nil {
		return 0, pollErr(s, err)
	}
	return n, rerr
}

// write is send with no flags, destination, control data, timeout or
// context, which on a blocking stream keeps going until all of p is sent.
func (b *epollBackend) write(s *Socket, p []byte) (int, error) {
	ep := s.ep.Load()
	if err := ep.take(s, &writeWait, 1); err != nil {
		return 0, err
	}
	ep.expire(1, time.Time{})
	op := &ep.ops[1]
	op.send, op.oob, op.flags, op.addr.n, op.again = true, nil, unix.MSG_NOSIGNAL, 0, false
	total := 0
	var err error
	for {
		op.p = p[total:]
		if err = ep.rc.Write(ep.tries[1]); err != nil {
			err = pollErr(s, err)
			break
		}
		total += max(op.n, 0)
		if err = op.err; err != nil || s.sotype != unix.SOCK_STREAM || s.nonblock || total >= len(p) {
			break
		}
	}
	op.p = nil
	ep.give(1)
	return total, err
}

// datagramReadShut reports whether a blocking receive on s that found
// nothing (EAGAIN on fd, after a wait if waited) must end as the kernel's
// blocking receive would, with 0: the read side of s, a datagram socket,
// is shut down. Such a read side is shut only by shutdown(2) on the
// socket (no peer does it, as for streams), so it asks the kernel only
// after s's own Shutdown (or one seen at Adopt), and after a wait, which
// shutdown(2) through another descriptor of the socket ends. One made
// there before the receive started is not seen, and the receive waits, as
// net's do after any shutdown. Asking on every wait cost one poll(2) in
// four syscalls of a datagram ping-pong.
func (s *Socket) datagramReadShut(fd int, waited bool) bool {
	return s.sotype != unix.SOCK_STREAM && (waited || s.has(optReadShut)) && readShutdown(fd)
}

// readShutdown reports whether fd's read side is shut down (POLLRDHUP).
func readShutdown(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n == 1 && pfd[0].Revents&unix.POLLRDHUP != 0
}

// splice is splice(2); into s it waits in the netpoller while the send
// buffer is full, out of s while there is nothing to read. (SendFile does
// not come here: it makes sendfile(2).)
func (b *epollBackend) splice(s *Socket, in int, offIn int64, out int, n int, wv waitSpec, _ bool) (int, error) {
	if out != s.fd && in != s.fd {
		return spliceRaw(in, offIn, out, n)
	}
	var k int
	var serr error
	err := b.rawIO(s, wv, func(fd uintptr) bool {
		k, serr = spliceRaw(in, offIn, out, n)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return k, serr
}

func (b *epollBackend) shutdown(s *Socket, how int) error {
	return b.ctl(s, func(fd int) error { return unix.Shutdown(fd, how) })
}

func (b *epollBackend) setsockopt(s *Socket, level, opt int, val []byte) error {
	return b.ctl(s, func(fd int) error { return setsockoptRaw(fd, level, opt, val) })
}

func (b *epollBackend) getsockoptInt(s *Socket, level, opt int) (int, error) {
	var v int
	err := b.ctl(s, func(fd int) error {
		var err error
		v, err = unix.GetsockoptInt(fd, level, opt)
		return err
	})
	return v, err
}

func (b *epollBackend) setDeadline(s *Socket, mode byte, t time.Time) {
	ep, d := s.ep.Load(), dir(mode)
	ep.mu.Lock()
	ep.userDL[d] = t
	ep.applyLocked(d)
	ep.mu.Unlock()
	s.deadline(mode).store(t)
}

// evict closes the file (epollState.close).
func (b *epollBackend) evict(s *Socket) { s.ep.Load().close() }

func (b *epollBackend) destroy(s *Socket) error { return s.ep.Load().closeErr }
