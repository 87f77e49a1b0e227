//go:build linux

package engine

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batches of datagrams: recvmmsg(2) and sendmmsg(2).
//
// A batch is one syscall made on the caller's thread, without waiting,
// and a wait only when the first message cannot move, with deadlines,
// timeouts, contexts and Close honoured as for every op. On epoll, and on
// the uring backend for a socket whose raw waits are in the netpoller
// (RawWaitsInNetpoller), that is a wait for readiness in the netpoller.
// Otherwise on the uring backend a receive waits with one
// IORING_OP_RECVMSG for the first datagram (recvFirst), and a send with
// an IORING_OP_POLL_ADD. The kernel holds none of the caller's memory
// once the syscall returns.

// Mmsg is one message of a batch. RecvMmsg fills a *unix.SockaddrInet4 or
// *unix.SockaddrInet6 found in Addr in place, when the sender is of its
// family, and otherwise sets a new one (nil where there is no sender): a
// caller that reuses its messages allocates nothing for their senders.
// Messages must not share one such Addr, or each ends with the last
// sender written into it.
type Mmsg struct {
	Buffers [][]byte      // the data, scattered or gathered over these
	OOB     []byte        // control messages: to send, or room to receive them
	Addr    unix.Sockaddr // SendMmsg: the destination (nil: the peer); RecvMmsg: the sender, see above
	N       int           // bytes of data moved
	OOBN    int           // RecvMmsg: bytes of control data received
	Flags   int           // RecvMmsg: the message's MSG_* flags
}

// RecvMmsg receives up to len(msgs) datagrams with recvmmsg(2), waiting
// until at least one is there, and returns how many it filled in.
func (s *Socket) RecvMmsg(ctx context.Context, msgs []Mmsg, flags int, timeout time.Duration) (int, error) {
	return s.batch(ctx, 'r', msgs, flags, timeout, false)
}

// RecvMmsgMore is RecvMmsg for a later round of a blocking batch, one
// that already has datagrams to return: when the kernel holds a socket
// error (poll(2) says POLLERR) it returns 0 and ErrErrorHeld, leaving the
// error there for the next call, as the kernel's own recvmmsg(2) keeps an
// error it meets after a datagram (do_recvmmsg). A receive would take and
// clear it, with nothing left to report it by. An error that comes
// between that look and the receive is still taken.
func (s *Socket) RecvMmsgMore(ctx context.Context, msgs []Mmsg, flags int, timeout time.Duration) (int, error) {
	return s.batch(ctx, 'r', msgs, flags, timeout, true)
}

// ErrErrorHeld is RecvMmsgMore's answer when the kernel holds a socket
// error for the next call.
var ErrErrorHeld = errors.New("engine: a socket error waits for the next call")

// SendMmsg sends msgs with sendmmsg(2), waiting until the first can go,
// and returns how many went: fewer than len(msgs) when the socket's
// buffer filled, or an error stopped it after the first.
func (s *Socket) SendMmsg(ctx context.Context, msgs []Mmsg, flags int, timeout time.Duration) (int, error) {
	return s.batch(ctx, 'w', msgs, flags, timeout, false)
}

// batch is RecvMmsg or SendMmsg; spare, receiving, leaves a socket error
// the kernel holds where it is (RecvMmsgMore).
func (s *Socket) batch(ctx context.Context, mode byte, msgs []Mmsg, flags int, timeout time.Duration, spare bool) (int, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	if err := s.deadline(mode).errIfExpired(); err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if mode == 'w' {
		s.sendMu.Lock()
		defer s.sendMu.Unlock()
	}
	if mode == 'r' && flags&unix.MSG_ERRQUEUE != 0 {
		// recvmmsg(2) never waits for the error queue, as recv(2) does
		// not (Socket.recv): an entry there does not make the socket
		// readable, so a wait could last forever.
		flags |= unix.MSG_DONTWAIT
	}
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: mode}
	if mode == 'r' && s.has(optReadAhead) && flags&unix.MSG_ERRQUEUE == 0 {
		// A batch is not served by reading ahead, for the reason
		// recvBatch gives for the multishot queue.
		s.leaveAhead()
		if n, err := s.takeAheadBatch(msgs, flags, true); n > 0 || err != nil {
			return s.batchMore(msgs, n, flags, err)
		}
	}
	if q, ok := s.e.b.(batchQueue); ok && mode == 'r' {
		if n, ok, err := q.recvBatch(s, msgs, flags, w); ok {
			return s.batchMore(msgs, n, flags, err)
		}
	}
	b, err := newMmsgBatch(msgs, mode == 'w')
	if err != nil {
		return 0, err
	}
	defer b.free()
	b.s, b.trap, b.flags = s, unix.SYS_RECVMMSG, flags|unix.MSG_DONTWAIT
	if mode == 'w' {
		b.trap, b.flags = unix.SYS_SENDMMSG, b.flags|unix.MSG_NOSIGNAL
	}
	b.waits = !s.nonblock && flags&unix.MSG_DONTWAIT == 0
	b.spare, b.held = spare, false
	if r, ok := s.e.b.(firstOnRing); ok && mode == 'r' && b.waits && !spare && r.takesFirst(s, &msgs[0]) {
		n, e := b.call(uintptr(s.fd), b.trap, b.flags)
		switch {
		case e == unix.EAGAIN:
			if err := r.recvFirst(s, &msgs[0], flags&^unix.MSG_WAITFORONE, w); err != nil {
				return 0, err
			}
			return 1, nil
		case e != 0:
			return 0, errnoErr(e)
		}
		b.results(msgs[:n], true)
		return n, nil
	}
	if err := s.e.b.rawIO(s, w, b.try); err != nil {
		return 0, err
	}
	if b.held {
		return 0, ErrErrorHeld
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	b.results(msgs[:b.n], mode == 'r')
	return b.n, nil
}

// batchMore fills the rest of a receive batch, whose first n messages
// came from the socket's datagram queue, with what the kernel holds now,
// without waiting: the datagrams that came after the socket left the
// queue, which a recvmmsg(2) would have returned in the same call. A
// socket that may hold an error (optMayErr) stops at the queue's: the
// kernel's recvmmsg(2) keeps an error it meets after a datagram for the
// next call, and a second call here, finding it first, would clear it
// with nothing to report it by; so such a socket's batch returns only
// the queue's datagrams, fewer than recvmmsg(2) could have. With MSG_PEEK
// the queue filled the batch with copies of its oldest datagram.
func (s *Socket) batchMore(msgs []Mmsg, n, flags int, err error) (int, error) {
	if err != nil || n == 0 || n == len(msgs) || flags&unix.MSG_PEEK != 0 || s.has(optMayErr) {
		return n, err
	}
	rest := msgs[n:]
	b, err := newMmsgBatch(rest, false)
	if err != nil {
		return n, nil
	}
	defer b.free()
	k, e := b.call(uintptr(s.fd), unix.SYS_RECVMMSG, flags|unix.MSG_DONTWAIT)
	if e != 0 {
		// EAGAIN: nothing more there. (A socket error, which would be
		// lost here, reaches only a socket with optMayErr.)
		return n, nil
	}
	b.results(rest[:k], true)
	return n + k, nil
}

// firstOnRing is a backend that can wait for a blocking batch's first
// datagram with a receive of its own, once recvmmsg(2) has found none,
// rather than for readiness; takesFirst says whether it does for m on s.
type firstOnRing interface {
	takesFirst(s *Socket, m *Mmsg) bool
	recvFirst(s *Socket, m *Mmsg, flags int, w waitSpec) error
}

// batchQueue is a backend that can serve a batch receive from a socket's
// datagram queue (QueueDatagrams). ok is false when the batch must be a
// recvmmsg(2) instead.
type batchQueue interface {
	recvBatch(s *Socket, msgs []Mmsg, flags int, w waitSpec) (n int, ok bool, err error)
}

// mmsgBatch is the kernel's view of a batch. Its typed pointers keep the
// caller's buffers reachable for the length of the syscall. Batches are
// pooled: one a call cost three allocations, about 10 KiB for 64
// messages.
type mmsgBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny

	// The call, for attempt, and what its last try reported. try is
	// attempt bound once per pooled batch, so that a call makes no closure: one
	// over the call's variables cost four allocations a batch.
	s     *Socket
	trap  uintptr // SYS_RECVMMSG or SYS_SENDMMSG
	flags int
	waits bool // a blocking call: EAGAIN means wait
	n     int
	errno unix.Errno
	again bool // the last try said EAGAIN: the next follows a wait
	spare bool // leave a socket error the kernel holds (RecvMmsgMore)
	held  bool // a try found one, and left it
	try   func(fd uintptr) bool
}

var mmsgBatches = sync.Pool{New: func() any {
	b := new(mmsgBatch)
	b.try = b.attempt
	return b
}}

// attempt makes one try of the batch's call on fd, for rawIO; it reports
// whether the call is done.
func (b *mmsgBatch) attempt(fd uintptr) bool {
	if b.spare && errorHeld(int(fd)) {
		b.held = true
		return true
	}
	b.n, b.errno = b.call(fd, b.trap, b.flags)
	if b.errno == unix.EAGAIN && b.waits && b.trap == unix.SYS_RECVMMSG && b.s.datagramReadShut(int(fd), b.again) {
		// A blocking recvmmsg(2) takes a datagram of 0 bytes, with no
		// sender, from a socket whose read side is shut down
		// (__skb_recv_datagram), where the non-blocking one made here
		// keeps saying EAGAIN: and no wait would end it, the netpoller's
		// readiness being edge-triggered (and reset as RawRead starts),
		// where a POLL_ADD fires at once and the loop spins. As
		// epollOp.try does for a single receive.
		h := &b.hdrs[0]
		h.Len, h.Hdr.Namelen, h.Hdr.Flags = 0, 0, 0
		h.Hdr.SetControllen(0)
		b.n, b.errno = 1, 0
	}
	b.again = b.errno == unix.EAGAIN
	return !b.again || !b.waits
}

// grow returns s resized to n, zeroed.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func newMmsgBatch(msgs []Mmsg, send bool) (*mmsgBatch, error) {
	niov := 0
	for i := range msgs {
		niov += len(msgs[i].Buffers)
	}
	b := mmsgBatches.Get().(*mmsgBatch)
	b.hdrs = grow(b.hdrs, len(msgs))
	b.iovs = grow(b.iovs, niov)
	b.names = grow(b.names, len(msgs))
	iov := b.iovs
	for i := range msgs {
		m, h := &msgs[i], &b.hdrs[i].Hdr
		if k := len(m.Buffers); k > 0 {
			for j, p := range m.Buffers {
				if len(p) > 0 {
					iov[j].Base = &p[0]
					iov[j].SetLen(len(p))
				}
			}
			h.Iov = &iov[0]
			h.SetIovlen(k)
			iov = iov[k:]
		}
		if len(m.OOB) > 0 {
			h.Control = &m.OOB[0]
			h.SetControllen(len(m.OOB))
		}
		switch {
		case !send:
			h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			h.Namelen = unix.SizeofSockaddrAny
		case m.Addr != nil:
			n, err := putSockaddr(m.Addr, &b.names[i])
			if err != nil {
				b.free()
				return nil, err
			}
			h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			h.Namelen = n
		}
	}
	return b, nil
}

// results copies what the kernel reported into msgs.
func (b *mmsgBatch) results(msgs []Mmsg, recv bool) {
	for i := range msgs {
		m, h := &msgs[i], &b.hdrs[i]
		m.N = int(h.Len)
		if recv {
			m.OOBN = int(h.Hdr.Controllen)
			m.Flags = int(h.Hdr.Flags)
			m.Addr = sockaddrInto(m.Addr, &b.names[i], h.Hdr.Namelen)
		}
	}
}

// call makes the batch's one recvmmsg(2) or sendmmsg(2) (trap) on fd.
func (b *mmsgBatch) call(fd, trap uintptr, flags int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), uintptr(flags), 0, 0)
	return int(r), e
}

// free drops the batch's pointers to the caller's memory and pools it.
func (b *mmsgBatch) free() {
	clear(b.hdrs)
	clear(b.iovs)
	b.s, b.n, b.errno, b.again = nil, 0, 0, false
	mmsgBatches.Put(b)
}
