//go:build linux && !android

package engine

import (
	"net"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// A UDP socket that opted in with Socket.QueueDatagrams receives, on the
// uring backend, through one multishot IORING_OP_RECVMSG (Linux 6.0+) kept
// armed while its readers want datagrams. The kernel writes each datagram,
// with its sender, into a buffer of its ring's provided buffer ring; the
// reaper queues the buffer on the socket and wakes a reader, which copies
// the datagram out and gives the buffer back. A burst of datagrams then
// costs no syscall per datagram: one reap takes them all.
//
// What the program sees is what recvfrom(2) gives, with these differences:
//   - Datagrams leave the kernel's receive queue before a read asks for
//     them: up to dgramQueueMax per socket, then the multishot is
//     cancelled and the kernel's queue holds the rest, as it does without
//     one. A later read arms it again.
//   - Every buffer holds the largest UDP datagram, so nothing is cut short
//     that the reader's buffer could hold. The buffers are mapped once per
//     ring on first use (dgramBufs × dgramBufSize of address space); only
//     the pages datagrams touch become resident.
//   - A zero-length datagram ends the multishot (the kernel's choice);
//     the read that takes it arms it again.
//   - An error the kernel reports for the socket (ECONNREFUSED on a
//     connected one, from an ICMP port unreachable) ends the multishot
//     whether a read waits or not, and goes to the front of the queue for
//     the next read, as the kernel's receive reports a socket error before
//     the datagrams it holds; without the multishot the next send(2) could
//     have reported it. Once the socket is off the queue, a read that
//     takes what the queue held asks the kernel for such an error first,
//     as does one while no multishot is armed to bring it (the queue at
//     its bound, or starved of buffers).
//   - The first read that asks for more than data and sender (control
//     data, flags, a non-blocking socket, a raw read through RawConn or
//     a RecvMmsg batch) takes the socket off the queue for good: the multishot is
//     cancelled, and the datagrams already queued go, oldest first, to the
//     ring reads that follow. They were received with no room for control
//     data, so they carry none, and MSG_CTRUNC where the kernel had some
//     (recvmsg(2) with a zero msg_controllen). A raw read sees only what
//     came after them.
//   - When the ring's buffers run out (other sockets hold them), the
//     multishot ends with ENOBUFS and the next read is an ordinary
//     single-shot receive; the one after arms again.
//
// Close cancels the multishot with the socket's other ops, waits for its
// final CQE, and gives every queued buffer back.

const (
	dgramBufs     = 256 // buffers per ring: a power of two, at most 32768
	dgramQueueMax = 128 // datagrams queued on one socket before the multishot is cancelled
	dgramNameLen  = unix.SizeofSockaddrInet6
	dgramHdrLen   = uring.SizeofRecvmsgOut + dgramNameLen
	// dgramBufSize holds the header, the sender and the largest datagram
	// that IPv4 or IPv6 carries without jumbograms.
	dgramBufSize = (dgramHdrLen + 65535 + 63) &^ 63
	dgramBgid    = 0
)

// dgramPool is a ring's datagram buffers. Guarded by the shard's mu.
type dgramPool struct {
	br   uring.BufRing
	ents []byte // br's entries, mmap'd and registered at setup
	mem  []byte // the buffers, mmap'd on first use; nil before
	held int    // buffers the kernel filled that are not given back yet
}

// newDgramPool maps the entries of a buffer ring for ring, to be
// registered before the ring is restricted.
func newDgramPool(ring *uring.Ring) (*dgramPool, error) {
	ents, err := unix.Mmap(-1, 0, dgramBufs*uring.SizeofBuf, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	p := &dgramPool{ents: ents, br: uring.NewBufRing(ents, dgramBufs)}
	if err := ring.RegisterBufRing(p.br.Addr(), dgramBufs, dgramBgid); err != nil {
		unix.Munmap(ents)
		return nil, err
	}
	return p, nil
}

// fill maps the buffers and hands them all to the kernel, once.
//
// Preconditions: the shard's mu is held.
func (p *dgramPool) fill() error {
	if p.mem != nil {
		return nil
	}
	mem, err := unix.Mmap(-1, 0, dgramBufs*dgramBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	// A huge page would make one small datagram cost 2 MiB of memory.
	unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	p.mem = mem
	for bid := range uint16(dgramBufs) {
		p.br.Add(bid, unsafe.Pointer(&mem[int(bid)*dgramBufSize]), dgramBufSize)
	}
	p.br.Publish()
	return nil
}

// give returns buffer bid to the kernel.
//
// Preconditions: the shard's mu is held.
func (p *dgramPool) give(bid uint16) {
	p.held--
	p.br.Add(bid, unsafe.Pointer(&p.mem[int(bid)*dgramBufSize]), dgramBufSize)
	p.br.Publish()
}

// dgramQueue is a socket's multishot receive and what it received.
// Guarded by the socket's home ring's shard.mu.
type dgramQueue struct {
	multishot
	ready   []dgram // received, oldest first, that no read has taken
	off     bool    // the socket left the queue for good
	starved bool    // the last multishot ended for want of buffers
}

// dgram is one entry of a queue: a buffer the kernel filled, or how a
// multishot ended that a read must see.
type dgram struct {
	res int32  // the CQE's res: bytes written into the buffer, or -errno
	bid uint16 // the buffer, if buf
	buf bool
}

// queueFor returns s's queue, making it on first use.
//
// Preconditions: the shard's mu is held.
func queueFor(s *Socket) *dgramQueue {
	if s.dq == nil {
		s.dq = &dgramQueue{multishot: multishot{more: make(chan struct{}, 1)}}
	}
	return s.dq
}

// multishotDgrams reports whether s's ring has the buffers for a
// multishot datagram receive.
func multishotDgrams(s *Socket) bool {
	b, ok := s.e.b.(*uringBackend)
	return ok && b.shardOf(s).dgrams != nil
}

// queues reports whether s asked for a datagram queue and its ring has
// the buffers for one.
func (b *uringBackend) queues(s *Socket) bool {
	return s.has(optQueueDgrams) && b.shardOf(s).dgrams != nil
}

// queuedRead reports whether a receive on a socket that queues goes
// through the queue: data and sender only, on a blocking socket.
func queuedRead(s *Socket, oob []byte, flags int) bool {
	return len(oob) == 0 && flags == 0 && !s.nonblock
}

// recvQueued is a receive from s's queue, arming the multishot when the
// queue runs low. ok is false when the read must be a single-shot receive
// instead: the socket left the queue, or the ring ran out of buffers.
func (b *uringBackend) recvQueued(s *Socket, p []byte, from bool, w *waitSpec) (r received, ok bool, err error) {
	sh := b.shardOf(s)
	var wt waiter
	defer wt.stop()
	for {
		sh.mu.Lock()
		if s.cancelQueued || s.Closed() {
			sh.mu.Unlock()
			return r, true, net.ErrClosed
		}
		q := queueFor(s)
		if q.off {
			// Pass the wake-up on to the next waiting reader, and let
			// the multishot end, so that takeLeft sees all it took.
			q.signal()
			sh.mu.Unlock()
			sh.awaitEnd(&q.multishot)
			return r, false, nil
		}
		if len(q.ready) > 0 {
			if !q.armed && q.ready[0].buf && s.has(optMayErr) {
				// No multishot is there to bring the socket's error
				// (a queue at its bound, or starved): the kernel may
				// hold one, which its receive reports before the
				// datagrams it holds, and so before those queued
				// here before it came. Only a connected socket gets
				// them, or one that set IP_RECVERR (optMayErr either
				// way; one set through the raw fd is not seen), so an
				// unconnected server's reads at the
				// bound ask nothing (measured, asking on every
				// socket: 1.10 syscalls a datagram against 1.04, 16
				// flows, bench -points udp-f16).
				if err := pendingError(s.fd); err != nil {
					sh.mu.Unlock()
					return r, true, err
				}
			}
			r, err = sh.takeLocked(q, [][]byte{p}, from, 0)
			submit := sh.ownerMovedLocked(&q.multishot)
			if !q.armed && len(q.ready) <= dgramQueueMax/2 && sh.armDgramLocked(s, q) == nil {
				submit = true
			}
			if submit {
				sh.submitAndUnlock()
			} else {
				sh.mu.Unlock()
			}
			return r, true, err
		}
		if !q.armed {
			if q.starved {
				// This read goes single-shot; the next waiting one
				// finds nothing armed, and arms.
				q.starved = false
				q.signal()
				sh.mu.Unlock()
				return r, false, nil
			}
			if err := sh.armDgramLocked(s, q); err != nil {
				// Closed, or out of memory for the buffers or a
				// slot: a single-shot receive reports the one and
				// may get by without the other.
				sh.mu.Unlock()
				return r, false, nil
			}
			if !q.armed {
				// The socket left its queue while the arm made room
				// in the SQ: the next pass takes the way out.
				sh.submitAndUnlock()
				continue
			}
			sh.submitAndUnlock()
		} else {
			sh.mu.Unlock()
		}
		if polled, err := sh.waitQueuePolled(s, q, w); polled {
			if err != nil {
				return r, true, err
			}
			continue
		}
		if err := wt.waitLazy(s, w, q.more); err != nil {
			return r, true, err
		}
	}
}

// waitQueuePolled is a queue reader's polled wait: where the reader would
// otherwise wait on q.more for the reaper, which the netpoller wakes on
// the eventfd and which then wakes the reader, the reader itself parks in
// the netpoller on the ring's fd, with the eventfd muted, and reaps the
// ring at each wake-up, as an op waiting alone does (pollAloneLocked). It
// may when nothing but multishots is in flight on the ring, nobody else
// reaps, submits or waits on it, and the wait ends for nothing but the
// socket's read deadline and Close. It ends when q holds an entry, the
// multishot has ended (Close's cancel ends it) or been armed again under
// another user_data, another op is in flight on the ring, its reap queued
// an SQE (submitted as it ends), or the deadline passes: the reader has no
// op for the deadline to cancel, so the ring's pollWaker stands on the
// deadline's list in its place, and the deadline moves the ring file's
// read deadline into the past (cancelPendLocked). It reports false,
// having waited for nothing, where it may not wait so.
//
// What it saves is the reaper's hop: a datagram woke the reaper's
// goroutine, and the reaper the reader (in-process ping-pong at one P, one
// flow: a sixth of a round trip).
func (sh *shard) waitQueuePolled(s *Socket, q *dgramQueue, w *waitSpec) (polled bool, err error) {
	if sh.rrc == nil || w.mode == 0 || !w.plain() {
		return false, nil
	}
	sh.mu.Lock()
	if !q.armed || q.cancelling || q.off || len(q.ready) > 0 || s.Closed() || sh.inflight != sh.idle ||
		!sh.quietLocked() || sh.ring.SQPending() > 0 || !sh.ring.SetEventfdDisabled(true) {
		sh.mu.Unlock()
		return false, nil
	}
	sh.polling = true
	sh.polledUD = q.ud
	sh.polledSock = s
	sh.polls++
	sh.mu.Unlock()

	d := s.deadline(w.mode)
	if d.enlist(&sh.pollWaker) {
		sh.rrc.Read(sh.queuePollStepF)
		if d.delist(&sh.pollWaker) {
			err = os.ErrDeadlineExceeded
			sh.rfile.SetReadDeadline(time.Time{}) // before another wait may poll
		}
	} else {
		err = os.ErrDeadlineExceeded
	}
	sh.mu.Lock()
	sh.polledSock = nil
	sh.stopPollingLocked(noSelf)
	// A reap may have queued a multishot's cancel (a queue at its bound,
	// dgramCQELocked, acceptCQELocked) with nobody poked to submit it, as
	// the reaper's dispatch would: submit it here.
	sh.submitAndUnlock()
	return true, err
}

// queuePollStep is waitQueuePolled's look at the ring, at each of its
// wake-ups: it reaps the ring for everyone, the polled multishot's CQEs
// included, and reports whether the wait is over. A method value made
// once per ring (queuePollStepF), on the polled socket that the ring
// keeps, so that a wait allocates nothing.
func (sh *shard) queuePollStep(uintptr) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.polling = false // this reap takes the polled multishot's CQEs too
	wake := sh.reapLocked(noSelf, nil)
	sh.polling = true
	sh.batch = len(wake)
	if len(wake) > 0 {
		sh.mu.Unlock()
		wakeAll(wake)
		sh.mu.Lock()
	}
	s := sh.polledSock
	q := s.dq
	// While wakeAll ran unlocked, another reader may have armed the
	// multishot again, under a new user_data, that reapLocked does not
	// keep in the CQ for this wait: the wait must end and start again
	// on it. A cancel queued by this reap (a queue at its bound) is
	// submitted as the wait ends.
	return len(q.ready) > 0 || !q.armed || q.ud != sh.polledUD || q.off || s.Closed() ||
		sh.inflight != sh.idle || sh.ring.SQPending() > 0
}

// recvBatch takes s off its queue for RecvMmsg, and serves the batch from
// what the queue held, if anything. A batch is not served from the queue:
// recvmmsg(2) took 64 datagrams for less CPU than the multishot spent
// receiving them one CQE each (gonet's ReadBatch echoing 1,200 B
// datagrams, 16 flows: 4.2 against 5.8 µs of server CPU a datagram).
func (b *uringBackend) recvBatch(s *Socket, msgs []Mmsg, flags int, _ waitSpec) (int, bool, error) {
	if !b.queues(s) {
		return 0, false, nil
	}
	b.leaveQueue(s)
	return b.takeLeftBatch(s, msgs, flags, true)
}

var (
	_ batchQueue  = (*uringBackend)(nil)
	_ firstOnRing = (*uringBackend)(nil)
	_ turnOnRing  = (*uringBackend)(nil)
)

func (b *uringBackend) ringTurn(s *Socket) bool { return !s.has(optRecvNow) }

// recvTurn is a read-ahead turn's wait (turnOnRing): one ring receive
// into p, with the sender and MSG_* flags if from.
func (b *uringBackend) recvTurn(s *Socket, p []byte, from bool, w waitSpec) (received, error) {
	want := recvData
	if from {
		want = recvMsg
	}
	return b.recv(s, p, nil, 0, want, w)
}

// takesFirst reports whether recvFirst serves m on s: not a message of
// more than one buffer, nor on a socket whose raw waits are in the
// netpoller.
func (b *uringBackend) takesFirst(s *Socket, m *Mmsg) bool {
	return len(m.Buffers) <= 1 && !s.has(optRawNetpoll)
}

// recvFirst receives a blocking batch's first datagram, once recvmmsg(2)
// has found none, with one IORING_OP_RECVMSG into m: the datagram comes
// with the completion, where a wait for readiness (IORING_OP_POLL_ADD)
// needed a second recvmmsg(2) to take it, one syscall of three a
// datagram at one flow in ping-pong.
func (b *uringBackend) recvFirst(s *Socket, m *Mmsg, flags int, w waitSpec) error {
	var p []byte
	if len(m.Buffers) == 1 {
		p = m.Buffers[0]
	}
	r, err := b.recv(s, p, m.OOB, flags, recvMsg, w)
	if err != nil {
		return err
	}
	m.N, m.OOBN, m.Flags = r.n, r.oobn, r.flags
	m.Addr = sockaddrInto(m.Addr, &r.from.raw, r.from.n)
	return nil
}

// takeBatchLocked takes up to len(msgs) queued datagrams (with MSG_PEEK,
// the oldest into each, as recvmmsg(2) peeks it). An error or end of input is returned on its own, by the next
// call after the datagrams before it, as recvmmsg(2) does.
//
// Preconditions: sh.mu is held; q.ready is not empty.
func (sh *shard) takeBatchLocked(q *dgramQueue, msgs []Mmsg, from bool, flags int) (n int, err error) {
	for n < len(msgs) && len(q.ready) > 0 && (n == 0 || q.ready[0].buf) {
		m := &msgs[n]
		var r received
		r, err = sh.takeLocked(q, m.Buffers, from, flags)
		m.N, m.OOBN, m.Flags = r.n, 0, r.flags
		if from {
			m.Addr = sockaddrInto(m.Addr, &r.from.raw, r.from.n)
		} else {
			m.Addr = nil
		}
		if err != nil {
			return n, err
		}
		n++ // with MSG_PEEK the same datagram again, as recvmmsg(2) peeks it into each
	}
	return n, nil
}

// takeLocked takes the oldest entry of q (with MSG_PEEK, leaves it there)
// and scatters its datagram over bufs, as recvmsg(2) with flags would;
// with from, it reports the sender.
//
// Preconditions: sh.mu is held; q.ready is not empty.
func (sh *shard) takeLocked(q *dgramQueue, bufs [][]byte, from bool, flags int) (r received, err error) {
	d := q.ready[0]
	// An error goes with MSG_PEEK too: sock_error clears it.
	if flags&unix.MSG_PEEK == 0 || !d.buf && d.res < 0 {
		q.ready = q.ready[:copy(q.ready, q.ready[1:])]
	}
	if len(q.ready) > 0 {
		q.signal() // for the next waiting read
	}
	if !d.buf {
		if d.res < 0 {
			return r, unix.Errno(-d.res)
		}
		return r, nil // the receive side was shut down
	}
	buf := sh.dgrams.mem[int(d.bid)*dgramBufSize:][:d.res]
	out := (*uring.RecvmsgOut)(unsafe.Pointer(&buf[0]))
	payload := buf[dgramHdrLen+out.ControlLen:]
	for _, p := range bufs {
		r.n += copy(p, payload[r.n:])
	}
	r.flags = int(out.Flags)
	if int(out.PayloadLen) > r.n {
		r.flags |= unix.MSG_TRUNC
		if flags&unix.MSG_TRUNC != 0 {
			r.n = int(out.PayloadLen)
		}
	}
	if from {
		r.from.n = min(out.NameLen, dgramNameLen)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.from.raw)), r.from.n), buf[uring.SizeofRecvmsgOut:])
	}
	if flags&unix.MSG_PEEK == 0 {
		sh.dgrams.give(d.bid)
	}
	return r, nil
}

// armDgramLocked queues s's multishot receive. The msghdr it points at,
// in its slot, says how much room each buffer leaves for the sender and
// for control data (none). Making room in the SQ may drop mu; if another
// reader armed the multishot meanwhile, or the socket left its queue, it
// does nothing.
//
// Preconditions: sh.mu is held; !q.armed.
func (sh *shard) armDgramLocked(s *Socket, q *dgramQueue) error {
	if err := sh.dgrams.fill(); err != nil {
		return err
	}
	if err := sh.roomToArmLocked(s); err != nil || q.armed || q.off {
		return err
	}
	idx, st, err := sh.slots.alloc(false)
	if err != nil {
		return err
	}
	st.dq = q
	k := st.k
	k.msg = rawMsghdr{name: uintptr(unsafe.Pointer(&k.sa)), namelen: dgramNameLen}
	sqe := sh.sqeLocked()
	sqe.PrepRecvmsgMultishot(s.fd, unsafe.Pointer(&k.msg), dgramBgid, 0)
	sh.armedLocked(&q.multishot, idx, st, sqe)
	q.starved = false
	return nil
}

// dgramCQELocked takes one CQE of a multishot receive.
//
// Preconditions: sh.mu is held; st.dq != nil and the CQE is st's.
func (sh *shard) dgramCQELocked(idx uint32, st *opState, res int32, flags uint32) {
	q := st.dq
	if flags&uring.IORING_CQE_F_BUFFER != 0 {
		q.ready = append(q.ready, dgram{res: res, bid: uint16(flags >> uring.IORING_CQE_BUFFER_SHIFT), buf: true})
		sh.dgrams.held++
	}
	if flags&uring.IORING_CQE_F_MORE == 0 {
		// The final CQE: the multishot ended, by our cancel, by
		// Close's, for want of buffers, with an error the next read
		// returns (ECONNREFUSED on a connected socket, as recvmsg(2)
		// reports an ICMP error once), or with a datagram: the kernel
		// ends it at one of zero length. The read that takes the
		// datagram arms it again.
		switch {
		case flags&uring.IORING_CQE_F_BUFFER != 0, res == -int32(unix.ECANCELED):
		case res == -int32(unix.ENOBUFS):
			q.starved = true
		case res < 0:
			// The socket's error (sock_error in __skb_recv_udp) goes
			// before the datagrams queued ahead of it, as the kernel's
			// receive reports it before those in its queue.
			q.ready = slices.Insert(q.ready, 0, dgram{res: res})
		default:
			q.ready = append(q.ready, dgram{res: res})
		}
		sh.endedLocked(&q.multishot, idx, st)
	} else if len(q.ready) >= dgramQueueMax {
		// Nobody is taking them: leave the rest in the kernel's queue.
		sh.cancelLocked(&q.multishot)
	}
	sh.notifyLocked(&q.multishot, nil)
}

// leaveDatagramQueue is Socket.LeaveDatagramQueue.
func leaveDatagramQueue(s *Socket) {
	if b, ok := s.e.b.(*uringBackend); ok && b.queues(s) {
		b.leaveQueue(s)
	}
}

// leaveQueue takes s off its queue for good, as the first receive that
// the queue cannot serve does, and waits until the multishot has ended.
// The datagrams it queued stay, for takeLeft.
func (b *uringBackend) leaveQueue(s *Socket) {
	sh := b.shardOf(s)
	sh.mu.Lock()
	q := queueFor(s)
	if q.off {
		sh.mu.Unlock()
		sh.awaitEnd(&q.multishot) // another caller's cancel may be in flight
		return
	}
	q.off = true
	if !q.armed {
		sh.mu.Unlock()
		return
	}
	ended := q.ended
	if !q.cancelling {
		q.cancelling = true
		sqe := sh.sqeLocked()
		sqe.PrepCancel(q.ud, 0)
		sqe.UserData = cancelUserData
	}
	sh.submitAndUnlock() // the cancel must go now: nothing else may submit
	<-ended
}

// takeLeft serves a receive from what s's queue held when it left, if
// anything: the data, the sender if asked for, no control data (oobn 0).
// MSG_PEEK leaves the datagram queued; MSG_TRUNC returns its full length.
func (b *uringBackend) takeLeft(s *Socket, p []byte, flags int, from bool) (received, bool, error) {
	m := [1]Mmsg{{Buffers: [][]byte{p}}}
	_, ok, err := b.takeLeftBatch(s, m[:], flags, from)
	r := received{n: m[0].N, flags: m[0].Flags}
	if m[0].Addr != nil {
		r.from, _ = SockaddrAddr(m[0].Addr)
	}
	return r, ok, err
}

// takeLeftBatch is takeLeft into up to len(msgs) datagrams (one with
// MSG_PEEK), stopping before an error that is not the first.
func (b *uringBackend) takeLeftBatch(s *Socket, msgs []Mmsg, flags int, from bool) (n int, ok bool, err error) {
	sh := b.shardOf(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	q := s.dq
	if q != nil && q.off && !q.armed && len(q.ready) == 0 {
		// Off the queue and drained for good: later reads skip the
		// queue's locks (quic-go reads with control data every time).
		s.opts.And(^optQueueDgrams)
	}
	if q == nil || len(q.ready) == 0 || flags&unix.MSG_ERRQUEUE != 0 {
		return 0, false, nil
	}
	if q.off {
		// The kernel's receive reports a pending socket error before the
		// datagrams it holds, and clears it (sock_error in
		// __skb_recv_udp): an ICMP error that reached a connected socket
		// after it left the queue comes out before those the queue took,
		// as it would have come before them from the kernel's queue.
		if err := pendingError(s.fd); err != nil {
			return 0, true, err
		}
	}
	n, err = sh.takeBatchLocked(q, msgs, from, flags)
	return n, true, err
}

// drainDgrams waits for s's multishot receive to end, which Close's cancel
// makes it do, and gives back the buffers nobody read.
func (b *uringBackend) drainDgrams(s *Socket) {
	sh := b.shardOf(s)
	sh.mu.Lock()
	q := s.dq
	sh.mu.Unlock()
	if q == nil {
		return
	}
	sh.awaitEnd(&q.multishot)
	sh.mu.Lock()
	for _, d := range q.ready {
		if d.buf {
			sh.dgrams.give(d.bid)
		}
	}
	q.ready = nil
	sh.mu.Unlock()
}
