//go:build linux

// Package engine is ksocket's completion engine, the counterpart of the WSK
// provider that KSOCKET sat on. It owns socket objects, runs their operations
// to completion, enforces deadlines and cancellation, and keeps every piece of
// memory the kernel was given alive until the kernel gives it back.
//
// Two backends sit behind one Socket type:
//
//   - uring: a set of rings, one per P at start-up (KSOCKET_RINGS sets the
//     number), each a shard with its own mutex, op slots, eventfd and reaper.
//     A socket's ops all go to its home ring, picked at random when it is
//     made among the first GOMAXPROCS rings, as GOMAXPROCS is then.
//     Callers fill SQEs under the ring's mutex; the ring's reaper
//     goroutine, parked in Go's netpoller on the eventfd, wakes waiters in
//     batches and submits what they queued in one io_uring_enter, and
//     before it parks serves the next ring's completions too. A caller
//     that enters the ring itself does so with the eventfd muted and
//     reaps right after: a send with room or a receive with data ends in
//     that one enter, with no wake-up and no hand-off, and the CQEs of
//     others it finds go to the reaper to wake. An op that must wait and
//     is alone in flight on its ring waits without the reaper: it parks
//     in the netpoller on the ring's own fd and reaps the ring at each
//     wake-up (pollAloneLocked), so the netpoller wakes it directly, as
//     it wakes a reader of package net. With
//     KSOCKET_INLINE_WAIT set (off by default: see defaultInlineWait), an
//     op alone in flight in the engine waits in the kernel on its caller's
//     thread instead, which saves the hand-off (engine-experiment.md has
//     the one-core measurements). Files: uring.go the set of rings,
//     uring_slots.go op slots, uring_submit.go submission, uring_reap.go
//     delivery, uring_ops.go the socket calls, uring_setup.go setup,
//     restrict.go the rings' restrictions.
//   - epoll: non-blocking sockets parked in Go's own netpoller through
//     os.File and syscall.RawConn, used where io_uring is blocked.
//
// The backend is chosen once per process from KSOCKET_BACKEND (auto, uring or
// epoll). The root package (the Berkeley API), gonet, loop and
// internal/resolv call this package; it calls internal/uring.
//
// Errors are bare unix.Errno values, or one of the sentinels net.ErrClosed
// (the socket was closed), os.ErrDeadlineExceeded (a deadline or per-op
// timeout passed) and the context's own error.
//
// # Waiting, and an idle connection's memory
//
// An op that nothing but its socket's deadline and Close can end (Read,
// Write, and every call with no timeout and no context that can end)
// waits for its final CQE with a plain receive on its slot's channel
// (shard.await), or, alone on its ring, parked on the ring's fd in the
// netpoller, as a net.Conn's reader is on its socket. The deadline keeps a list of those ops and, when it
// passes, cancels each on its ring; Close cancels them by fd. Only a call
// with a timeout or a context selects (shard.park). Read and Write also
// start their ops without a closure (shard.startIO). A goroutine blocked
// in Read so keeps about 0.7 KiB of frames, and an idle connection's
// goroutine stays on Go's smallest stack, 2 KiB, as in net; with the
// select below a dozen frames it needed 4 KiB (TestIdleConnStack). The
// select also cost time: 64-connection ping-pong went from about 7,300 to
// 5,800 ns a round trip at two Ps.
//
// # What ops still share, and 64 cores
//
// Nothing is written by every op of the process. What an op touches:
//
//   - Its ring's shard (shared with the 1/N of sockets that live there):
//     the shard mutex, held for an SQE fill or a reap; the SQ and CQ cache
//     lines; the kernel's per-ring uring_lock in io_uring_enter; the
//     ring's reaper goroutine. At 64 rings each sees 1/64 of the ops, and
//     the reaper's batching keeps enters per op low (64-connection
//     ping-pong: about 0.5 io_uring_enter per round trip at one and two Ps).
//     Sockets are spread at random, so a ring's load is even on average;
//     a few hot connections on one ring share it as on a one-ring engine.
//   - Its op slot: a Go half (channel, Pinner) and a kernel half, each the
//     op's alone while it runs; the free list is per ring.
//   - Its data's span, if the data is pinned: Pin and Unpin each take the
//     span's lock, and small buffers of many connections share a span.
//     Small data is copied through the slot's unused fields instead
//     (ioBuf): at 64 connections and two Ps, pinning took 6% of the CPU.
//   - busyRings, one atomic word: read by an op alone on its ring (light
//     load only), written only when a ring goes between idle and busy.
//     Under load every ring stays busy, so nobody writes it.
//   - Read-only after setup: the ring list, the op lists, the feature mask.
//     Shared clean cache lines cost nothing to many readers.
//   - Go's runtime: the netpoller's one epoll instance (an epoll_ctl per
//     socket and two per ring, for its eventfd and its fd, and the
//     wake-ups of parked reapers, as for every net.Conn), per-P timers for
//     deadlines, and the scheduler. The kernel wakes a ring's fd on every
//     CQE, muted or not, so a thread asleep in epoll_wait is woken for the
//     CQEs of enters that reap for themselves too (measured at one
//     connection and two Ps: 0.5 such wake-ups a round trip, against the
//     0.8 futex wake-ups that the reaper's hop cost).
//   - The kernel: the rings share one io-wq worker pool
//     (IORING_SETUP_ATTACH_WQ), used only by ops punted to a worker; the
//     socket tables and the loopback device, as for net.
//   - The thread that submitted it. An op that waits for its socket
//     (a receive on an empty one) ends as task work on the thread that
//     entered the ring for it, under the ring's uring_lock, whichever Go
//     M that is by then: one running Go code takes it at its next
//     syscall, one asleep is woken for it. At two Ps, 64-connection
//     ping-pong spent 6.4% of its CPU spinning on that lock
//     (mutex_spin_on_owner under io_handle_tw_list, perf record), and
//     one connection switched threads 0.77 times a round trip, where
//     net's two spinning Ms did not sleep (756 switches in 100,000 round
//     trips; perf stat -e sched:sched_switch). DEFER_TASKRUN, which runs
//     task work only when the ring's one issuer asks, needs that one
//     issuer, and Go moves goroutines between threads. At 64 cores the
//     lock is still per ring, so its contention is that of the threads
//     that submit to one ring, not of all of them; the wake-ups of idle
//     threads grow with the threads the scheduler parks.
//
// Measured here (2 CPUs), in-process ping-pong, 64 B, 64 connections:
// one ring is 0.9x its one-P throughput at two Ps; a ring per P is
// 1.6-1.8x (go test -bench PingPong -cpu 1,2 . ./gonet). What a second P
// gives follows how long a cache line takes to pass between the two
// vCPUs, which the host changes from hour to hour (bench times it before
// each round). Over one half hour, gonet at two Ps took 3,840-3,915 ns
// a round trip (1.4x one P; net 1.7-1.8x) while a line passed in 60-81
// ns, and a median of 6,900 (6,155-8,684: 0.8x; net 1.4x) while it took
// 200-250 ns. By the difference, a round trip passes about 19 lines
// between the CPUs on the engine's side, against about 14 on net's: the
// shard mutex, the SQ and CQ lines, the op slot, the channel a waiter is
// woken on, written on one CPU and next on the other. Fewer of them is
// what would make two Ps pay on such a host. With 64 Ps the
// per-ring share falls to 1/64, and the remaining shared words are either
// read-only or written on idle/busy transitions, so contention does not
// grow with cores; what grows is the number of reapers parked in the
// netpoller, one per ring, and the number of rings a conversation's two
// ends can be split over, which the reaper's help for the next ring
// covers only for neighbours.
package engine

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Category is what a socket was created for, as with WSK's socket categories.
// It is fixed at creation, except that CatUnified becomes CatConnection or
// CatListen after the first successful Connect or Listen.
type Category uint8

const (
	CatUnified    Category = iota // created by Socket: anything goes until Connect or Listen
	CatConnection                 // SocketConnection, and sockets returned by Accept
	CatListen                     // SocketListen
	CatDatagram                   // SocketDatagram
)

func (c Category) String() string {
	switch c {
	case CatUnified:
		return "unified"
	case CatConnection:
		return "connection"
	case CatListen:
		return "listen"
	case CatDatagram:
		return "datagram"
	}
	return fmt.Sprintf("Category(%d)", uint8(c))
}

// Call names an operation for the category check.
type Call uint8

const (
	CallBind Call = iota
	CallConnect
	CallListen
	CallAccept
	CallSend
	CallRecv
	CallShutdown
	CallSockname
	CallPeername
	CallOption
)

// Allows reports whether a socket of category c may perform call. Everything
// else fails with EOPNOTSUPP before the kernel is asked.
func (c Category) Allows(call Call) bool {
	switch c {
	case CatConnection, CatDatagram:
		return call != CallListen && call != CallAccept
	case CatListen:
		switch call {
		case CallBind, CallListen, CallAccept, CallShutdown, CallSockname, CallOption:
			return true
		}
		return false
	}
	return true
}

// backend is what the uring and epoll implementations provide. Blocking
// methods return only once the kernel has let go of every buffer they passed.
type backend interface {
	name() string
	// socket creates a kernel socket with SOCK_CLOEXEC added.
	socket(domain, typ, proto int) (int, error)
	// attach prepares a new Socket for use (epoll wraps the fd in an os.File).
	attach(s *Socket) error
	bind(s *Socket, sa unix.Sockaddr) error
	listen(s *Socket, backlog int) error
	connect(s *Socket, sa unix.Sockaddr, w waitSpec) error
	// disconnect is connect(AF_UNSPEC): it resets a stream socket whose
	// connect failed, as a blocking connect(2) does on its way out.
	disconnect(s *Socket) error
	accept(s *Socket, w waitSpec) (int, unix.Sockaddr, error)
	// send makes one send; to may be zero (none) and oob nil. With oob
	// it uses sendmsg; with a destination alone, sendto, SEND with the
	// destination in the SQE (6.1+) or sendmsg.
	send(s *Socket, b, oob []byte, flags int, to Addr, w waitSpec) (int, error)
	// recv makes one receive, returning what want asks for; with oob,
	// want is recvMsg.
	recv(s *Socket, b, oob []byte, flags int, want recvWant, w waitSpec) (received, error)
	// read is recv with no flags, sender, control data, timeout or
	// context, waiting with as few stack frames as it can.
	read(s *Socket, b []byte) (int, error)
	// write is send with no flags, destination, control data, timeout or
	// context; on a blocking stream it sends all of b. Like read it waits
	// with few stack frames.
	write(s *Socket, b []byte) (int, error)
	// splice moves up to n bytes from in (at offIn; -1: no offset) to
	// out: a file or s's fd into a pipe, or a pipe into s's fd. It waits
	// while s has nothing to read or no room to send; never otherwise.
	// ring asks for the ring's splice request where there is one; without
	// it the splice is splice(2) on the caller's thread.
	splice(s *Socket, in int, offIn int64, out int, n int, w waitSpec, ring bool) (int, error)
	shutdown(s *Socket, how int) error
	setsockopt(s *Socket, level, opt int, val []byte) error
	getsockoptInt(s *Socket, level, opt int) (int, error)
	// control runs f with the kernel fd held open.
	control(s *Socket, f func(fd int) error) error
	// rawIO calls f until it reports done, waiting for the socket to become
	// readable (mode 'r') or writable ('w') in between.
	rawIO(s *Socket, w waitSpec, f func(fd uintptr) bool) error
	setDeadline(s *Socket, mode byte, t time.Time)
	// evict starts Close: pending ops must finish promptly with ErrClosed.
	evict(s *Socket)
	// destroy closes the kernel fd once no op is left.
	destroy(s *Socket) error
	info() *Info
}

// recvWant says what a receive returns besides the data.
type recvWant uint8

const (
	recvData   recvWant = iota // the data only: recv(2)
	recvSender                 // and the sender: recvfrom(2)
	recvMsg                    // and the sender, control data and MSG_* flags: recvmsg(2)
)

// sender reports whether the receive returns the sender.
func (w recvWant) sender() bool { return w != recvData }

// received is what one receive returned.
type received struct {
	n     int  // bytes of data
	oobn  int  // bytes of control data
	flags int  // msg_flags: MSG_TRUNC, MSG_CTRUNC, ...
	from  Addr // the sender, when asked for and known
}

// waitSpec says when a pending op must stop waiting.
type waitSpec struct {
	ctx    context.Context // nil or never-done: no context
	expire time.Time       // non-zero: a per-op timeout, as SO_RCVTIMEO gives
	mode   byte            // 'r' or 'w': which socket deadline applies
}

// plain reports whether the wait ends for nothing but the socket's
// deadline and Close: no timeout, no context that can end.
func (w *waitSpec) plain() bool {
	return w.expire.IsZero() && (w.ctx == nil || w.ctx.Done() == nil)
}

// readWait and writeWait are the waitSpecs of Read and Write: the socket's
// deadline, nothing else.
var (
	readWait  = waitSpec{mode: 'r'}
	writeWait = waitSpec{mode: 'w'}
)

// Engine is a backend, chosen once per process.
type Engine struct {
	b backend
}

var (
	defaultOnce   sync.Once
	defaultEngine *Engine
	defaultErr    error
	defaultInfo   *Info
)

// Default returns the process's engine. With KSOCKET_BACKEND=uring and no
// usable io_uring, or an unknown KSOCKET_BACKEND, it returns the reason, and
// keeps returning it.
func Default() (*Engine, error) {
	defaultOnce.Do(func() {
		processMask, _ = parseFeatures(os.Getenv("KSOCKET_FEATURES")) // choose reports a bad value
		defaultEngine, defaultInfo, defaultErr = choose(os.Getenv("KSOCKET_BACKEND"))
	})
	return defaultEngine, defaultErr
}

// Backend returns "uring" or "epoll".
func (e *Engine) Backend() string { return e.b.name() }

// Slots returns how many op slots hold an op and how many exist: the
// uring backend's table grows by chunks and never shrinks, so a climb in
// either is a leak or a high-water mark. The epoll backend has none.
func (e *Engine) Slots() (inUse, total int) {
	if c, ok := e.b.(interface{ slotCount() (int, int) }); ok {
		return c.slotCount()
	}
	return 0, 0
}

// Socket creates a socket of category cat. typ may carry SOCK_NONBLOCK, which
// makes every op on the socket fail with EAGAIN instead of waiting;
// SOCK_CLOEXEC is always added.
func (e *Engine) Socket(domain, typ, proto int, cat Category) (*Socket, error) {
	fd, err := e.b.socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	st := typ &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	s := &Socket{e: e, fd: fd, domain: domain, sotype: st, proto: uint16(proto), nonblock: typ&unix.SOCK_NONBLOCK != 0}
	return e.register(s, cat)
}

// Adopt makes a Socket of a duplicate of fd, a socket made elsewhere (an
// inherited one, or an *os.File's): the duplicate is close-on-exec, and
// O_NONBLOCK is set on the open file both share, as net's FileConn does.
// fd itself stays the caller's. Its domain, type and protocol are the
// kernel's answers (SO_DOMAIN, SO_TYPE, SO_PROTOCOL), and so is the
// category: a listening socket is CatListen, other stream sockets
// CatConnection, the rest CatDatagram.
func (e *Engine) Adopt(fd int) (*Socket, error) {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return nil, os.NewSyscallError("getsockopt", err) // ENOTSOCK for a file
	}
	sotype, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, os.NewSyscallError("getsockopt", err)
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		proto = 0 // not known; nothing is decided by it
	}
	cat := CatDatagram
	if sotype == unix.SOCK_STREAM || sotype == unix.SOCK_SEQPACKET {
		cat = CatConnection
		if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && on != 0 {
			cat = CatListen
		}
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, os.NewSyscallError("fcntl", err)
	}
	s := &Socket{e: e, fd: dup, domain: domain, sotype: sotype, proto: uint16(proto)}
	if sotype == unix.SOCK_STREAM && domain != unix.AF_UNIX {
		if l, err := unix.GetsockoptLinger(dup, unix.SOL_SOCKET, unix.SO_LINGER); err == nil && l.Onoff != 0 && l.Linger > 0 {
			s.opts.Or(optLinger) // for Close: see uringBackend.destroy
		}
	}
	if sotype != unix.SOCK_STREAM {
		s.opts.Or(optMayErr) // connected, perhaps, before it came here
	}
	if sotype != unix.SOCK_STREAM && readShutdown(dup) {
		// Shut down before it came here, by a Shutdown this Socket did
		// not see (gonet's File and FilePacketConn after CloseRead): a
		// blocking receive must ask the kernel at its first EAGAIN
		// (datagramReadShut), since no wait would end.
		s.opts.Or(optReadShut)
	}
	return e.register(s, cat)
}

// newSocket makes a Socket of fd, a socket of unknown protocol (an
// accepted one), in category cat.
func (e *Engine) newSocket(fd, domain, sotype int, nonblock bool, cat Category) (*Socket, error) {
	return e.register(&Socket{e: e, fd: fd, domain: domain, sotype: sotype, nonblock: nonblock}, cat)
}

// register puts s, a new Socket, in category cat and attaches it to the
// backend; if that fails, it closes s's descriptor.
func (e *Engine) register(s *Socket, cat Category) (*Socket, error) {
	s.cat.Store(uint32(cat))
	if err := e.b.attach(s); err != nil {
		unix.Close(s.fd)
		return nil, err
	}
	return s, nil
}
