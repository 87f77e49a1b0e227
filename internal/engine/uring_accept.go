//go:build linux && !android

package engine

import (
	"net"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// A listener that opted in with Socket.QueueAccepts accepts through one
// multishot IORING_OP_ACCEPT kept armed between Accept calls: every
// connection the kernel completes becomes a CQE, and the reaper queues its
// fd on the listener. A burst of clients is then taken in one reaper round
// instead of one connection per round; with single-shot accepts, a listener
// among 200 busy connections took 5 ms per connection (TestAcceptUnderLoad).
//
// What changes for the program:
//   - Connections are accepted before Accept asks for them. Once
//     acceptQueueMax wait, the multishot is cancelled and the kernel's
//     backlog holds the rest, as it does without a queue. Each time the
//     kernel runs the accept it empties the backlog, so the queue can
//     overshoot the bound by what the backlog held at that moment.
//   - The kernel reads RLIMIT_NOFILE when the multishot is armed
//     (io_accept_prep), so a lower limit set later applies from the next
//     arming on. When fds run out the multishot ends with EMFILE, the next
//     Accept returns it, and the one after that arms again.
//   - The peer's address comes from getpeername(2): a multishot accept has
//     nowhere to write one address per connection.
//
// Close cancels the multishot with every other op on the socket, waits for
// its final CQE, and closes the fds nobody took.

func init() {
	engineUses(
		RingOp{uring.IORING_OP_ACCEPT, ""}, // multishot: Linux 5.19+
		RingOp{uring.IORING_OP_ASYNC_CANCEL, ""},
	)
}

// acceptQueueMax bounds the connections accepted ahead of Accept calls.
const acceptQueueMax = 128

// acceptQueued is Accept on a listener with a queue.
func (b *uringBackend) acceptQueued(s *Socket, w *waitSpec) (int, unix.Sockaddr, error) {
	sh := b.shardOf(s)
	wt := newWaiter(s, w)
	defer wt.stop()
	for {
		sh.mu.Lock()
		if s.cancelQueued || s.Closed() {
			sh.mu.Unlock()
			return -1, nil, net.ErrClosed
		}
		q := s.acc
		if q == nil {
			q = &acceptQueue{multishot: multishot{more: make(chan struct{}, 1)}}
			s.acc = q
		}
		if len(q.ready) > 0 {
			fd := q.ready[0]
			q.ready = q.ready[:copy(q.ready, q.ready[1:])]
			if len(q.ready) > 0 || q.err != nil {
				q.signal() // for the next waiting Accept
			}
			if sh.ownerMovedLocked(&q.multishot) {
				sh.submitAndUnlock()
			} else {
				sh.mu.Unlock()
			}
			return fd, peerName(fd, s.domain), nil
		}
		if err := q.err; err != nil {
			q.err = nil
			sh.mu.Unlock()
			return -1, nil, err
		}
		if !q.armed {
			if err := sh.armAcceptLocked(s, q); err != nil {
				sh.mu.Unlock()
				return -1, nil, err
			}
			sh.submitAndUnlock()
		} else {
			sh.mu.Unlock()
		}

		if err := wt.wait(q.more, s.closingCh()); err != nil {
			return -1, nil, err
		}
	}
}

// armAcceptLocked queues the listener's multishot accept. It points at no
// memory of ours, so its slot only carries the user_data. Making room in
// the SQ may drop mu; if another Accept armed the multishot meanwhile, it
// does nothing.
//
// Preconditions: sh.mu is held; !q.armed.
func (sh *shard) armAcceptLocked(s *Socket, q *acceptQueue) error {
	if err := sh.roomToArmLocked(s); err != nil || q.armed {
		return err
	}
	idx, st, err := sh.slots.alloc(false)
	if err != nil {
		return err
	}
	st.acc = q
	sqe := sh.sqeLocked()
	sqe.PrepAcceptMultishot(s.fd, fdFlags)
	sh.armedLocked(&q.multishot, idx, st, sqe)
	return nil
}

// roomToArmLocked makes room in the SQ for arming a multishot on s. Making
// room may drop mu: if Close came meanwhile it returns net.ErrClosed, and
// the caller checks again whether another goroutine armed the multishot.
//
// Preconditions: sh.mu is held.
func (sh *shard) roomToArmLocked(s *Socket) error {
	sh.sqRoomLocked()
	if s.cancelQueued {
		return net.ErrClosed
	}
	return nil
}

// armedLocked records the multishot in slot idx, whose SQE is queued: an
// idle op, which does not keep the ring busy (see launchAndUnlock).
//
// Whoever arms submits right after (submitAndUnlock), on this thread,
// unless the reaper takes the SQE along (at one P, after its Gosched,
// also on this thread but for a rare hand-off) or another goroutine is in
// io_uring_enter. That one submits the SQE from its own thread, which at
// one P has lost the P in the enter and sleeps after it: owner 0 names no
// thread, so the next look (ownerMovedLocked) cancels the multishot, for a
// take to arm it again where it runs.
//
// Preconditions: sh.mu is held.
func (sh *shard) armedLocked(m *multishot, idx uint32, st *opState, sqe *uring.SQE) {
	st.idle = true
	sqe.UserData = userData(idx, st.gen)
	m.ud = sqe.UserData
	m.armed, m.cancelling = true, false
	m.ended = make(chan struct{})
	m.owner, m.seen = 0, 0
	if !sh.entering {
		m.owner = unix.Gettid()
	}
	sh.inflight++
	sh.idle++
	sh.setBusyLocked()
}

// endedLocked records the final CQE of the multishot in slot idx and
// frees the slot.
//
// Preconditions: sh.mu is held.
func (sh *shard) endedLocked(m *multishot, idx uint32, st *opState) {
	m.armed = false
	sh.notifyLocked(nil, m.ended)
	sh.inflight--
	sh.idle--
	sh.setBusyLocked()
	st.acc, st.dq = nil, nil
	st.done = true
	sh.slots.release(idx, st)
}

// cancelLocked queues the cancel of an armed multishot whose queue is
// full, once. With the SQ full it queues nothing, and the next CQE tries
// again.
//
// Preconditions: sh.mu is held.
func (sh *shard) cancelLocked(m *multishot) {
	if m.cancelling {
		return
	}
	if sqe := sh.ring.GetSQE(); sqe != nil {
		sqe.PrepCancel(m.ud, 0)
		sqe.UserData = cancelUserData
		m.cancelling = true
	}
}

// ownerCheck is how many takes from a multishot's queue pass between looks
// at which thread takes (gettid(2), a cheap syscall).
const ownerCheck = 32

// ownerMovedLocked cancels m if the calls that take what it queues run on
// another thread than the one that submitted it, as it finds every
// ownerCheck takes; it reports whether it queued the cancel, for the
// caller to submit. The kernel runs each completion as task work on the
// thread that submitted the multishot, and wakes it for that when it
// sleeps. At one P, where the datagram queue is used, the thread that
// runs Go code changes when the runtime hands the P on from a blocked
// syscall, and the one left behind sleeps: then every completion woke it.
// A listener queues at any GOMAXPROCS: there, with goroutines moving
// between threads, the check also cancels and re-arms now and then (at
// two Ps, one accept loop: about once in 65-85 accepts, at no measured
// cost).
// Measured at one P: in-process UDP ping-pong at one flow had 0.7 context
// switches a round trip, and took 27-39k against 16k ns; a net/http
// server under wrk with a new connection per request (16,300 a second)
// had a sleeping thread woken 9,466 times in 2 s by accepts, and with the
// check went from 11.2-13.3k to 13.2-13.7k requests/s. Cancelled, the
// multishot is armed again by the next take that finds it ended, on the
// taking thread; what it had completed stays queued, and the rest waits in
// the kernel.
//
// Preconditions: sh.mu is held.
func (sh *shard) ownerMovedLocked(m *multishot) bool {
	if m.seen++; m.seen < ownerCheck {
		return false
	}
	m.seen = 0
	if !m.armed || m.cancelling || unix.Gettid() == m.owner {
		return false
	}
	sh.cancelLocked(m)
	return m.cancelling
}

// acceptCQELocked takes one CQE of a multishot accept.
//
// Preconditions: sh.mu is held; st.acc != nil and the CQE is st's.
func (sh *shard) acceptCQELocked(idx uint32, st *opState, res int32, flags uint32) {
	q := st.acc
	if res >= 0 {
		q.ready = append(q.ready, int(res))
	}
	if flags&uring.IORING_CQE_F_MORE == 0 {
		// The final CQE: the multishot ended, by our cancel, by Close's,
		// or by an error such as EMFILE, which the next Accept returns.
		// EAGAIN is not an error: the listener's fd is non-blocking
		// (fdFlags), and the next Accept arms again.
		if res < 0 && res != -int32(unix.ECANCELED) && res != -int32(unix.EAGAIN) {
			q.err = unix.Errno(-res)
		}
		sh.endedLocked(&q.multishot, idx, st)
	} else if len(q.ready) >= acceptQueueMax {
		// Nobody is taking them: leave the rest in the kernel's backlog.
		sh.cancelLocked(&q.multishot)
	}
	sh.notifyLocked(&q.multishot, nil)
}

// awaitEnd waits until m, if armed, has had its final CQE.
func (sh *shard) awaitEnd(m *multishot) {
	sh.mu.Lock()
	armed, ended := m.armed, m.ended
	sh.mu.Unlock()
	if armed {
		<-ended
	}
}

// cancelUserData marks CQEs nobody waits for: the cancels of multishot
// accepts. It is out of every slot's range.
const cancelUserData = ^uint64(0)

// drainAccepts waits for the listener's multishot accept to end, which
// Close's cancel makes it do, and closes the connections nobody took.
func (b *uringBackend) drainAccepts(s *Socket) {
	sh := b.shardOf(s)
	sh.mu.Lock()
	q := s.acc
	sh.mu.Unlock()
	if q == nil {
		return
	}
	sh.awaitEnd(&q.multishot)
	sh.mu.Lock()
	fds := q.ready
	q.ready = nil
	sh.mu.Unlock()
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// peerName returns the address of fd's peer: a zero address of the family
// if it is gone already.
func peerName(fd, domain int) unix.Sockaddr {
	if domain == unix.AF_UNIX {
		// x/sys names an unnamed peer "@", as net does.
		if sa, err := unix.Getpeername(fd); err == nil {
			return sa
		}
		return &unix.SockaddrUnix{}
	}
	if raw, n, err := sockName(fd, true); err == nil {
		if sa := sockaddrFrom(&raw, n); sa != nil {
			return sa
		}
	}
	switch domain {
	case unix.AF_INET:
		return &unix.SockaddrInet4{}
	case unix.AF_INET6:
		return &unix.SockaddrInet6{}
	}
	return &unix.SockaddrUnix{}
}
