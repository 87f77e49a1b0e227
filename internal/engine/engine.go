//go:build linux

// Package engine is ksocket's completion engine, the counterpart of the WSK
// provider that KSOCKET sat on. It owns socket objects, runs their operations
// to completion, enforces deadlines and cancellation, and keeps every piece of
// memory the kernel was given alive until the kernel gives it back.
//
// Two backends sit behind one Socket type:
//
//   - uring: one shared io_uring per process. Callers fill SQEs under a mutex;
//     one reaper goroutine, parked in Go's netpoller on an eventfd the ring
//     signals, wakes waiters in batches and submits what they queued in one
//     io_uring_enter. An op that is alone in flight waits in the kernel on its
//     caller's thread instead, which saves the hand-off (see
//     ../shared/reference/engine-experiment.md for the measurements).
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
	// send makes one send; to may be nil.
	send(s *Socket, b []byte, flags int, to unix.Sockaddr, w waitSpec) (int, error)
	// recv makes one receive; with from it also returns the peer and uses
	// recvmsg. It returns the MSG_* flags the kernel reported.
	recv(s *Socket, b []byte, flags int, from bool, w waitSpec) (int, unix.Sockaddr, int, error)
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

// waitSpec says when a pending op must stop waiting.
type waitSpec struct {
	ctx    context.Context // nil or never-done: no context
	expire time.Time       // non-zero: a per-op timeout, as SO_RCVTIMEO gives
	mode   byte            // 'r' or 'w': which socket deadline applies
}

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
	return e.newSocket(fd, domain, st, typ&unix.SOCK_NONBLOCK != 0, cat)
}

func (e *Engine) newSocket(fd, domain, sotype int, nonblock bool, cat Category) (*Socket, error) {
	s := &Socket{e: e, fd: fd, domain: domain, sotype: sotype, nonblock: nonblock, closing: make(chan struct{}), drained: make(chan struct{})}
	s.cat.Store(uint32(cat))
	if err := e.b.attach(s); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}
