//go:build linux && !android

package engine

import (
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// The uring backend: one shared ring per process.
//
// Submission: a caller takes mu, fills an SQE, publishes it and, unless the
// reaper is dispatching, calls io_uring_enter itself after dropping mu.
// While the reaper dispatches, callers only queue; the reaper submits the
// whole batch in one enter once the goroutines it woke have queued their
// next requests.
//
// Completion: the reaper goroutine parks in Go's netpoller on an eventfd
// registered with the ring (IORING_REGISTER_EVENTFD) and wakes waiters in
// FIFO batches. Waking is left to the reaper on purpose: a submitter that
// woke other waiters built a chain of runnext hand-offs that starved the
// rest (engine-experiment.md, lesson 3).
//
// Inline wait: an op alone in flight (pending accepts aside) is submitted and waited for in one
// io_uring_enter on its caller's thread, with the eventfd muted
// (IORING_CQ_EVENTFD_DISABLED), for at most inlineWait. At one connection
// this halves the syscalls per op (lesson 1). Whoever waits inline reaps for
// everyone while it does.

// kslot is the kernel half of an op slot. It lives in mmap'd memory, so it
// never moves and the GC never frees it; the kernel may read or write it
// until the op's final CQE.
//
// It holds no Go pointer types: the GC does not scan this memory, and a
// pointer store here would run the write barrier on whatever stale value the
// slot last held, which the GC may already have freed ("found bad pointer in
// Go heap"). Addresses are stored as plain integers instead.
type kslot struct {
	sa    unix.RawSockaddrAny
	salen uint32
	_     uint32
	msg   rawMsghdr
	iov   rawIovec
	ts    uring.Timespec
	arg   uring.GeteventsArg
	opt   [16]byte // setsockopt/getsockopt value
}

// rawIovec is struct iovec with integer fields.
type rawIovec struct {
	base uintptr // void *iov_base
	len  uintptr // size_t iov_len
}

// rawMsghdr is struct msghdr with integer fields.
type rawMsghdr struct {
	name       uintptr // void *msg_name
	namelen    uint32  // socklen_t msg_namelen
	iov        uintptr // struct iovec *msg_iov
	iovlen     uintptr // size_t msg_iovlen
	control    uintptr // void *msg_control
	controllen uintptr // size_t msg_controllen
	flags      int32   // int msg_flags
}

var (
	_ [unix.SizeofMsghdr - unsafe.Sizeof(rawMsghdr{})]byte
	_ [unsafe.Sizeof(rawMsghdr{}) - unix.SizeofMsghdr]byte
	_ [unix.SizeofIovec - unsafe.Sizeof(rawIovec{})]byte
	_ [unsafe.Sizeof(rawIovec{}) - unix.SizeofIovec]byte
)

const (
	kslotSize     = 256
	slotsPerChunk = 256
)

var _ [kslotSize - unsafe.Sizeof(kslot{})]byte // kslot must fit its stride

// opState is the Go half of an op slot. The Pinner and the caller's slice
// live here, on the Go heap, where the GC sees them: a Pinner kept only in
// mmap'd memory would look unreachable, and its finalizer would unpin early
// and panic.
type opState struct {
	k        *kslot         // kernel half; immutable
	ch       chan struct{}  // capacity 1: the reaper's wake-up; immutable
	gen      uint32         // bumped on free; guarded by mu
	done     bool           // final CQE reaped; guarded by mu
	tokened  bool           // a wake-up was (or will be) sent on ch; guarded by mu
	detached bool           // nobody waits (cancels): the reaper frees it; guarded by mu
	idle     bool           // an accept, not counted as busy for inline waits; guarded by mu
	acc      *acceptQueue   // a listener's multishot accept: CQEs go to its queue; guarded by mu
	res      int32          // CQE res; valid once done
	cflags   uint32         // CQE flags; valid once done
	pin      runtime.Pinner // pins buf until the final CQE
	buf      []byte         // the caller's slice, kept reachable until the final CQE
}

type slotChunk [slotsPerChunk]opState

func userData(idx, gen uint32) uint64 { return uint64(gen)<<32 | uint64(idx) }

// noSelf is a slot index that no op has.
const noSelf = ^uint32(0)

type uringBackend struct {
	ring *uring.Ring
	inf  Info

	// Which calls go through the ring; immutable after setup.
	useSocket, useBind, useListen, useShutdown, useClose bool
	useSetsockopt, useGetsockopt, useAcceptDontwait      bool

	inlineWait time.Duration // longest inline wait; 0 turns it off

	efd *os.File        // eventfd the ring signals; the reaper parks on it
	erc syscall.RawConn // efd's RawConn

	mu       sync.Mutex
	inflight int          // SQEs queued or submitted whose CQE is not reaped
	idle     int          // of inflight, the accepts: they wait for long stretches
	batch    int          // waiters the last reap woke; more than one means others are runnable
	reaping  bool         // the reaper is dispatching: callers only queue
	entering bool         // a goroutine is in io_uring_enter submitting: others only queue
	inline   bool         // a caller waits in the kernel, eventfd muted
	free     []uint32     // free slot indices
	chunks   []*slotChunk // Go halves, never moved
	kmem     [][]byte     // kernel halves, mmap'd, never unmapped
}

// slot returns slot idx. Chunks never move, so the pointer stays valid
// without mu.
func (b *uringBackend) slot(idx uint32) *opState {
	return &b.chunks[idx/slotsPerChunk][idx%slotsPerChunk]
}

func (b *uringBackend) nslots() uint32 { return uint32(len(b.chunks) * slotsPerChunk) }

func (b *uringBackend) slotCount() (inUse, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	total = int(b.nslots())
	return total - len(b.free), total
}

// allocLocked returns a free slot, growing the table by a chunk if needed.
//
// Preconditions: b.mu is held.
func (b *uringBackend) allocLocked() (uint32, *opState, error) {
	if len(b.free) == 0 {
		mem, err := unix.Mmap(-1, 0, slotsPerChunk*kslotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return 0, nil, err
		}
		c := new(slotChunk)
		base := b.nslots()
		for i := range c {
			c[i].k = (*kslot)(unsafe.Pointer(&mem[i*kslotSize]))
			c[i].ch = make(chan struct{}, 1)
		}
		b.chunks = append(b.chunks, c)
		b.kmem = append(b.kmem, mem)
		for i := slotsPerChunk - 1; i >= 0; i-- {
			b.free = append(b.free, base+uint32(i))
		}
	}
	idx := b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	return idx, b.slot(idx), nil
}

// freeLocked returns a slot whose final CQE has been reaped.
//
// Preconditions: b.mu is held; st.done.
func (b *uringBackend) freeLocked(idx uint32, st *opState) {
	st.pin.Unpin()
	st.buf = nil
	st.done, st.tokened, st.detached, st.idle = false, false, false, false
	st.gen++
	b.free = append(b.free, idx)
}

// sqeLocked returns a zeroed SQE, submitting the queue if it is full.
//
// Preconditions: b.mu is held.
func (b *uringBackend) sqeLocked() *uring.SQE {
	for {
		if sqe := b.ring.GetSQE(); sqe != nil {
			return sqe
		}
		n := b.ring.FlushSQ()
		if _, err := b.ring.Enter(n, 0, 0, nil); err != nil {
			// EAGAIN or EBUSY: the kernel is short of memory or CQ room.
			// Reap to make room, and try again.
			b.mu.Unlock()
			runtime.Gosched()
			b.mu.Lock()
		}
	}
}

// submitAndUnlock publishes the queued SQEs and hands them to the kernel,
// then drops mu. Only one goroutine submits at a time: concurrent
// io_uring_enter calls contend on the kernel's uring_lock (measured: a third
// of all CPU time spinning in mutex_spin_on_owner), so while one submits,
// the others only queue and the submitter loops until the queue is empty.
// While the reaper dispatches, it submits for everyone afterwards.
//
// Preconditions: b.mu is held.
func (b *uringBackend) submitAndUnlock() {
	if b.reaping || b.entering {
		b.mu.Unlock()
		return
	}
	b.entering = true
	for {
		n := b.ring.FlushSQ()
		if n == 0 {
			break
		}
		b.mu.Unlock()
		_, err := b.ring.Enter(n, 0, 0, nil)
		b.mu.Lock()
		if err != nil {
			// EAGAIN or EBUSY: let the reaper retry once CQEs drain.
			b.entering = false
			b.mu.Unlock()
			b.poke()
			return
		}
	}
	b.entering = false
	b.mu.Unlock()
}

// poke wakes the reaper.
func (b *uringBackend) poke() {
	one := [8]byte{1}
	b.erc.Write(func(fd uintptr) bool {
		unix.Write(int(fd), one[:])
		return true
	})
}

// opResult is a finished op whose slot is still held, so that the caller can
// read what the kernel wrote into the slot's kernel half. put releases it.
type opResult struct {
	idx   uint32
	st    *opState
	res   int32
	flags uint32
}

func (b *uringBackend) put(r opResult) {
	b.mu.Lock()
	b.freeLocked(r.idx, r.st)
	b.mu.Unlock()
}

// do runs one op to its final CQE. prep fills the SQE and the slot; it must
// pin whatever caller memory the SQE points at. s may be nil for ops not on
// a socket yet. The error is the wait's reason (ErrClosed, deadline, ctx) or
// the CQE's errno; on error the slot is already released.
func (b *uringBackend) do(s *Socket, w *waitSpec, prep func(sqe *uring.SQE, st *opState)) (opResult, error) {
	b.mu.Lock()
	if s != nil && s.cancelQueued {
		b.mu.Unlock()
		return opResult{}, net.ErrClosed
	}
	idx, st, err := b.allocLocked()
	if err != nil {
		b.mu.Unlock()
		return opResult{}, err
	}
	sqe := b.sqeLocked()
	prep(sqe, st)
	sqe.UserData = userData(idx, st.gen)
	b.inflight++
	if sqe.Opcode == uring.IORING_OP_ACCEPT {
		st.idle = true
		b.idle++
	}

	// A listener's pending accept does not count: a server with one client
	// always has one, and the client's ops should still wait inline. But
	// if the last reap woke several waiters, they are runnable and have not
	// queued their next ops yet: an inline wait would hold the P they need
	// (measured: at 64 connections, 1ms stalls and half the throughput).
	if b.inflight-b.idle == 1 && b.batch <= 1 && !st.idle && !b.reaping && !b.inline && !b.entering && b.inlineWait > 0 && (w.ctx == nil || w.ctx.Done() == nil) {
		if wait := b.inlineBudget(s, w); wait > 0 {
			b.waitInline(idx, st, wait) // drops and retakes mu
		}
	}
	if !st.done {
		b.submitAndUnlock()
		return b.park(s, idx, st, w)
	}
	b.mu.Unlock()
	return b.finish(s, idx, st, nil)
}

// inlineBudget returns how long an inline wait may last: inlineWait, cut
// short by the op's deadline and timeout.
func (b *uringBackend) inlineBudget(s *Socket, w *waitSpec) time.Duration {
	d := b.inlineWait
	var t time.Time
	if s != nil && w.mode != 0 {
		t = s.deadline(w.mode).when()
	}
	if !w.expire.IsZero() && (t.IsZero() || w.expire.Before(t)) {
		t = w.expire
	}
	if !t.IsZero() {
		d = min(d, time.Until(t))
	}
	return d
}

// waitInline submits everything queued and waits in the kernel, on this
// thread, until a CQE arrives or wait passes. It reaps for everyone.
//
// Preconditions: b.mu is held; the op in slot idx is the only one in flight
// but for accepts.
func (b *uringBackend) waitInline(idx uint32, st *opState, wait time.Duration) {
	b.inline = true
	b.ring.SetEventfdDisabled(true)
	n := b.ring.FlushSQ()
	b.mu.Unlock()

	k := st.k
	k.ts = timespecOf(wait)
	k.arg = uring.GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(&k.ts)))}
	b.ring.Enter(n, 1, uring.IORING_ENTER_GETEVENTS|uring.IORING_ENTER_EXT_ARG, &k.arg)

	b.mu.Lock()
	b.inline = false
	b.ring.SetEventfdDisabled(false)
	// Reap after unmuting: CQEs posted while muted raised no signal.
	wake := b.reapLocked(idx, nil)
	b.batch = len(wake)
	if len(wake) > 0 {
		b.mu.Unlock()
		wakeAll(wake)
		b.mu.Lock()
	}
	if st.done && st.tokened {
		// The reaper took our CQE while we were in the kernel.
		b.mu.Unlock()
		<-st.ch
		b.mu.Lock()
	}
}

// park waits for the op's wake-up, cancelling the op if its deadline,
// timeout or context ends first. It always waits for the final CQE.
func (b *uringBackend) park(s *Socket, idx uint32, st *opState, w *waitSpec) (opResult, error) {
	wt := newWaiter(s, w)
	defer wt.stop()
	reason := wt.wait(st.ch, nil)
	if reason == nil {
		return b.finish(s, idx, st, nil)
	}
	b.cancel(idx, st)
	<-st.ch
	return b.finish(s, idx, st, reason)
}

func init() {
	engineUses(RingOp{uring.IORING_OP_ASYNC_CANCEL, ""}) // cancel
}

// cancel asks the kernel to cancel the op in slot idx (by user_data). The
// cancel's own CQE is reaped and dropped by whoever reaps.
func (b *uringBackend) cancel(idx uint32, st *opState) {
	b.mu.Lock()
	if st.done {
		b.mu.Unlock()
		return
	}
	cidx, cst, err := b.allocLocked()
	if err != nil {
		// No memory for a cancel: the op completes on its own (data,
		// peer close, or Close's FD cancel).
		b.mu.Unlock()
		return
	}
	cst.detached = true
	sqe := b.sqeLocked()
	sqe.PrepCancel(userData(idx, st.gen), 0)
	sqe.UserData = userData(cidx, cst.gen)
	b.inflight++
	b.submitAndUnlock()
}

// finish turns the final CQE into a result. reason is why the wait was cut
// short, if it was.
func (b *uringBackend) finish(s *Socket, idx uint32, st *opState, reason error) (opResult, error) {
	r := opResult{idx: idx, st: st, res: st.res, flags: st.cflags}
	if r.res >= 0 {
		// A result, even after a cancel, is authoritative: the bytes moved.
		return r, nil
	}
	b.put(r)
	errno := unix.Errno(-r.res)
	switch {
	case reason != nil && (errno == unix.ECANCELED || errno == unix.EINTR):
		return r, reason
	case s != nil && s.Closed() && (errno == unix.ECANCELED || errno == unix.EINTR || errno == unix.EBADF):
		return r, net.ErrClosed
	}
	return r, errno
}

// reapLocked consumes every CQE, records results, frees detached slots and
// returns the waiters to wake, appended to wake. The op in slot self (if
// any) is recorded but not woken: its owner is the caller.
//
// Preconditions: b.mu is held.
func (b *uringBackend) reapLocked(self uint32, wake []*opState) []*opState {
	for {
		var n uint32
		for cqe := b.ring.PeekCQE(); cqe != nil; cqe = b.ring.PeekCQE() {
			ud, res, flags := cqe.UserData, cqe.Res, cqe.Flags
			b.ring.CQAdvance(1)
			n++
			idx, gen := uint32(ud), uint32(ud>>32)
			if idx >= b.nslots() {
				continue
			}
			st := b.slot(idx)
			if st.acc != nil && st.gen == gen {
				b.acceptCQELocked(idx, st, res, flags)
				continue
			}
			if st.gen != gen || st.done || flags&uring.IORING_CQE_F_MORE != 0 {
				continue // stale, or not the final CQE
			}
			b.inflight--
			if st.idle {
				b.idle--
			}
			st.res, st.cflags, st.done = res, flags, true
			switch {
			case st.detached:
				b.freeLocked(idx, st)
			case idx != self:
				st.tokened = true
				wake = append(wake, st)
			}
		}
		if b.ring.SQFlags()&uring.IORING_SQ_CQ_OVERFLOW == 0 {
			return wake
		}
		// More CQEs completed at once than the CQ holds: the kernel keeps
		// the rest in its overflow list (IORING_FEAT_NODROP); an enter
		// with GETEVENTS moves them into the CQ as it drains.
		b.ring.Enter(0, 0, uring.IORING_ENTER_GETEVENTS, nil)
	}
}

func wakeAll(wake []*opState) {
	for _, st := range wake {
		st.ch <- struct{}{}
	}
}

// reap is the reaper goroutine: parked in the netpoller on the eventfd,
// which the ring signals for every CQE while not muted. It never reads the
// eventfd: Go's epoll is edge-triggered, and each signal is a new edge.
func (b *uringBackend) reap() {
	wake := make([]*opState, 0, 256)
	b.erc.Read(func(uintptr) bool {
		for {
			b.mu.Lock()
			wake = b.reapLocked(noSelf, wake[:0])
			if len(wake) == 0 {
				b.submitAndUnlock() // stragglers whose submit failed
				return false        // park until the next signal
			}
			b.reaping = true
			b.batch = len(wake)
			b.mu.Unlock()
			wakeAll(wake)
			clear(wake)
			// Let the woken goroutines queue their next requests, then
			// submit them all in one enter.
			runtime.Gosched()
			b.mu.Lock()
			b.reaping = false
			b.submitAndUnlock()
		}
	})
}
