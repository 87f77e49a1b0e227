//go:build linux && !android

package engine

import (
	"net"
	"runtime"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// Submission to one ring: slots, SQEs, io_uring_enter, the inline wait and
// cancels.

// opResult is a finished op whose slot is still held, so that the caller can
// read what the kernel wrote into the slot's kernel half. put releases it.
type opResult struct {
	sh    *shard
	idx   uint32
	st    *opState
	res   int32
	flags uint32
}

func (sh *shard) put(r opResult) {
	sh.mu.Lock()
	sh.slots.release(r.idx, r.st)
	sh.mu.Unlock()
}

// sqeLocked returns a zeroed SQE, submitting the queue if it is full. If
// it must wait for the kernel it drops mu meanwhile; a caller that decided
// something under mu makes room with sqRoomLocked first, decides, and
// then takes its SQE, which is then sure not to wait.
//
// Preconditions: sh.mu is held.
func (sh *shard) sqeLocked() *uring.SQE {
	sh.sqRoomLocked()
	return sh.ring.GetSQE()
}

// sqRoomLocked returns once the SQ has room for one SQE, submitting the
// queue if it is full. When the kernel takes nothing (EAGAIN or EBUSY: it
// is short of memory or CQ room), it drops mu so that the reaper can make
// room, and tries again. Room, once there, stays until this holder of mu
// takes it: only holders of mu take SQEs.
//
// Preconditions: sh.mu is held.
func (sh *shard) sqRoomLocked() {
	for sh.ring.SQSpace() == 0 {
		n := sh.ring.FlushSQ()
		if _, err := sh.ring.Enter(n, 0, 0, nil); err != nil {
			sh.mu.Unlock()
			runtime.Gosched()
			sh.mu.Lock()
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
// Preconditions: sh.mu is held.
func (sh *shard) submitAndUnlock() {
	if sh.reaping > 0 || sh.entering {
		sh.mu.Unlock()
		return
	}
	err := sh.enterAllLocked()
	sh.mu.Unlock()
	if err != nil {
		sh.poke() // EAGAIN or EBUSY: let the reaper retry once CQEs drain
	}
}

// muteLocked mutes the eventfd for an enter whose caller reaps after it,
// if the ring allows: nobody else submits or dispatches, no inline wait
// has muted it already, and the kernel orders the mute (muteEnters).
//
// Preconditions: sh.mu is held.
func (sh *shard) muteLocked() bool {
	return sh.b.muteEnters && sh.reaping == 0 && !sh.entering && !sh.inline && (sh.polling || sh.ring.SetEventfdDisabled(true))
}

// enterMutedLocked submits the queue, as enterAllLocked does, with the
// eventfd muted for the first enter only: that one carries the caller's
// op, and a queue that keeps growing must not keep the ring quiet. It
// unmutes before it returns, and the caller then reaps: the kernel checks
// the mute after publishing a CQE, with a full barrier between
// (io_cqring_wake's wq_has_sleeper since 6.7, the completion lock taken by
// the eventfd signal from 6.0 to 6.6), and unmuting is a CAS, so a CQE is
// either seen by that reap or signalled.
//
// Preconditions: as enterAllLocked, and muteLocked reported true.
func (sh *shard) enterMutedLocked() error {
	n := sh.ring.FlushSQ()
	if n == 0 { // the reaper's woken goroutines queued nothing
		sh.unmuteLocked()
		return nil
	}
	sh.entering = true
	sh.mu.Unlock()
	_, err := sh.ring.Enter(n, 0, 0, nil)
	sh.mu.Lock()
	sh.unmuteLocked()
	sh.entering = false
	if err != nil {
		return err
	}
	return sh.enterAllLocked()
}

// unmuteLocked ends an enter's mute, unless a polled op keeps the
// eventfd muted (pollAloneLocked).
//
// Preconditions: sh.mu is held.
func (sh *shard) unmuteLocked() {
	if !sh.polling {
		sh.ring.SetEventfdDisabled(false)
	}
}

// enterAllLocked submits the queue, dropping mu for each enter, until it is
// empty or the kernel refuses. Others who queue meanwhile leave their
// SQEs to it.
//
// Preconditions: sh.mu is held, sh.entering is false; both hold again on
// return.
func (sh *shard) enterAllLocked() error {
	sh.entering = true
	defer func() { sh.entering = false }()
	for {
		n := sh.ring.FlushSQ()
		if n == 0 {
			return nil
		}
		sh.mu.Unlock()
		_, err := sh.ring.Enter(n, 0, 0, nil)
		sh.mu.Lock()
		if err != nil {
			return err
		}
	}
}

// poke wakes the reaper.
func (sh *shard) poke() {
	sh.erc.Write(func(fd uintptr) bool {
		unix.Write(int(fd), eventfdOne)
		return true
	})
}

// eventfdOne is the 8-byte 1 that an eventfd write adds: shared, so that a
// poke allocates nothing. The kernel only reads it.
var eventfdOne = []byte{1, 0, 0, 0, 0, 0, 0, 0}

// do runs one op to its final CQE. prep fills the SQE and the slot; it must
// pin whatever caller memory the SQE points at. s may be nil for ops not on
// a socket yet. The error is the wait's reason (ErrClosed, deadline, ctx) or
// the CQE's errno; on error the slot is already released. Where nothing but
// the socket's deadline can end the wait, it waits as await does, on the
// slot's channel alone; otherwise it selects (park).
func (sh *shard) do(s *Socket, w *waitSpec, prep func(sqe *uring.SQE, st *opState)) (opResult, error) {
	return sh.doData(s, w, false, prep)
}

// doData is do for an op whose data prep puts in its slot (ioBuf) if warm.
func (sh *shard) doData(s *Socket, w *waitSpec, warm bool, prep func(sqe *uring.SQE, st *opState)) (opResult, error) {
	idx, st, pending, err := sh.start(s, w, warm, prep)
	if err != nil {
		return opResult{}, err
	}
	if !pending {
		return sh.finish(s, idx, st, nil)
	}
	if !w.plain() {
		return sh.park(s, idx, st, w)
	}
	if s == nil || w.mode == 0 {
		<-st.ch
		return sh.finish(s, idx, st, nil)
	}
	return sh.finish(s, idx, st, sh.await(s.deadline(w.mode), idx, st))
}

// start queues one op, as do does, and submits it, unless an inline wait
// already saw its final CQE. With pending, the caller must wait for the
// wake-up on st.ch, then finish. On error no slot is held.
func (sh *shard) start(s *Socket, w *waitSpec, warm bool, prep func(sqe *uring.SQE, st *opState)) (idx uint32, st *opState, pending bool, err error) {
	idx, st, sqe, err := sh.reserve(s, warm)
	if err != nil {
		return 0, nil, false, err
	}
	prep(sqe, st)
	return idx, st, sh.launchAndUnlock(s, w, idx, st, sqe), nil
}

// startIO is start for a SEND or RECV of p, without start's closure: the
// path of Read and Write, whose frames stay on the stack of a goroutine
// that blocks in them.
func (sh *shard) startIO(s *Socket, w *waitSpec, opcode uint8, p []byte, flags int) (idx uint32, st *opState, pending bool, err error) {
	area := dataArea(p, plainArea)
	idx, st, sqe, err := sh.reserve(s, area != noArea)
	if err != nil {
		return 0, nil, false, err
	}
	addr, l := ioBuf(st, p, opcode != uring.IORING_OP_SEND, area)
	if opcode == uring.IORING_OP_SEND {
		sqe.PrepSend(s.fd, addr, l, flags)
	} else {
		sqe.PrepRecv(s.fd, addr, l, flags)
	}
	return idx, st, sh.launchAndUnlock(s, w, idx, st, sqe), nil
}

// reserve takes mu, a slot (warm: see alloc) and an SQE for an op on s
// (nil: none yet). On error it holds nothing.
func (sh *shard) reserve(s *Socket, warm bool) (idx uint32, st *opState, sqe *uring.SQE, err error) {
	sh.mu.Lock()
	sh.sqRoomLocked() // first: it may drop mu, and Close may come meanwhile
	if s != nil && s.cancelQueued {
		sh.mu.Unlock()
		return 0, nil, nil, net.ErrClosed
	}
	idx, st, err = sh.slots.alloc(warm)
	if err != nil {
		sh.mu.Unlock()
		return 0, nil, nil, err
	}
	return idx, st, sh.sqeLocked(), nil
}

// launchAndUnlock queues the prepared op in slot idx and submits it, or
// waits for it inline; it reports whether the op is still pending.
//
// Preconditions: sh.mu is held, as reserve left it.
func (sh *shard) launchAndUnlock(s *Socket, w *waitSpec, idx uint32, st *opState, sqe *uring.SQE) (pending bool) {
	sqe.UserData = userData(idx, st.gen)
	sh.inflight++
	if sqe.Opcode == uring.IORING_OP_ACCEPT {
		st.idle = true
		sh.idle++
	}
	sh.setBusyLocked()

	// A listener's pending accept does not count: a server with one client
	// always has one, and the client's ops should still wait inline. But
	// if the last reap woke several waiters, they are runnable and have not
	// queued their next ops yet: an inline wait would hold the P they need
	// (measured: at 64 connections, 1ms stalls and half the throughput).
	if sh.b.inlineWait > 0 && sh.aloneLocked(st) && (w.ctx == nil || w.ctx.Done() == nil) && sh.mayWaitInline() {
		if wait := sh.b.inlineBudget(s, w); wait > 0 {
			sh.waitInline(idx, st, wait) // drops and retakes mu
		}
	}
	if !st.done {
		// Only a waiter that will call await may wait in the netpoller.
		return sh.submitOwnAndUnlock(idx, st, s != nil && w.mode != 0 && w.plain(), s != nil && s.sotype == unix.SOCK_DGRAM)
	}
	sh.mu.Unlock()
	return false
}

// aloneLocked reports whether st, an op just queued, is the only op in
// flight on its ring, pending accepts and multishots aside (those are
// idle ops, and an idle op is never alone), and nobody else submits,
// reaps or waits on the ring: then its caller may wait for the ring
// itself, inline or polled, and reap for everyone.
//
// Preconditions: sh.mu is held.
func (sh *shard) aloneLocked(st *opState) bool {
	return !st.idle && sh.inflight-sh.idle == 1 && sh.quietLocked()
}

// quietLocked reports whether nobody but the caller reaps or waits on the
// ring: no wake-ups owed, no reaper dispatching, nobody waiting inline or
// polled, or entering, and the last reap woke at most one waiter, who may
// submit next (woken ones that have not yet queued their next ops are
// about to need the ring and the P).
//
// Preconditions: sh.mu is held.
func (sh *shard) quietLocked() bool {
	return sh.batch <= 1 && sh.deferredLocked() == 0 && sh.reaping == 0 && !sh.inline && !sh.polling && !sh.entering
}

// submitOwnAndUnlock is submitAndUnlock for a caller whose op, in slot idx,
// may complete in the very enter that submits it: a send with room, a
// receive with data waiting. The eventfd is muted meanwhile, so that the
// CQE the caller is about to see for itself raises no signal: at
// GOMAXPROCS=2 each signal woke a thread parked in the netpoller, and the
// reaper then handed the caller its own result (measured: 0.5 wake-ups per
// round trip at one connection). After the enter the caller reaps: its
// own CQE ends its op on the spot. Others' CQEs, which the mute kept
// quiet, go on the handoff list for the reaper, which alone wakes waiters
// (engine-experiment.md, lesson 3); a multishot accept or receive queues
// its entry, and leaves the signal to its reader on sh.owed for the
// reaper (notifyLocked says why), unless payNotes: then the caller sends
// those signals itself. Every datagram socket's ops ask for that (the
// Berkeley API's, gonet's, unixgram's): when both ends of a conversation
// live on one ring, the datagram a send delivers is reaped by the send's
// own enter, and the reader waiting for it would otherwise wait for the
// reaper's poke, a netpoll and a switch to the reaper (in-process UDP ping-pong at one P, 64 B,
// go test -bench UDPPingPong -cpu 1: one flow 29-37k ns a round trip,
// 22-26k with the signal sent at once; 16 flows 340-379k and 160-164k).
// A datagram socket has no goroutine per peer whose stack must stay small
// while it idles, which is what the reaper's detour protects. It reports
// whether the op is still pending.
//
// Preconditions: sh.mu is held.
func (sh *shard) submitOwnAndUnlock(idx uint32, st *opState, mayPoll, payNotes bool) (pending bool) {
	if !sh.muteLocked() {
		sh.submitAndUnlock()
		return true
	}
	err := sh.enterMutedLocked()
	queued := sh.deferredLocked() // if any, the reaper is poked already
	if sh.ring.CQReady() > 0 || sh.ring.SQFlags()&uring.IORING_SQ_CQ_OVERFLOW != 0 {
		sh.handoff = sh.reapLocked(idx, sh.handoff)
	}
	if payNotes && len(sh.owed) > 0 {
		sh.payOwedLocked()
	}
	// The reap may have queued a cancel (a multishot queue at its
	// limit): the reaper's next pass submits it.
	poke := err != nil || queued == 0 && sh.deferredLocked() > 0 || sh.ring.SQPending() > 0
	pending = !st.done || st.tokened // tokened: a neighbour's reaper took the CQE
	st.polled = pending && !st.tokened && mayPoll && !poke && sh.pollAloneLocked(idx, st)
	sh.mu.Unlock()
	if poke {
		sh.poke()
	}
	return pending
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
// thread, until a CQE arrives or wait passes. It reaps for everyone on the
// ring.
//
// Preconditions: sh.mu is held; the op in slot idx is the only one in
// flight on the ring but for accepts.
func (sh *shard) waitInline(idx uint32, st *opState, wait time.Duration) {
	sh.inline = true
	sh.ring.SetEventfdDisabled(true)
	n := sh.ring.FlushSQ()
	sh.mu.Unlock()

	k := st.k
	k.ts = timespecOf(wait)
	k.arg = uring.GeteventsArg{Ts: uint64(uintptr(unsafe.Pointer(&k.ts)))}
	sh.ring.Enter(n, 1, uring.IORING_ENTER_GETEVENTS|uring.IORING_ENTER_EXT_ARG, &k.arg)

	sh.mu.Lock()
	sh.inline = false
	sh.ring.SetEventfdDisabled(false)
	sh.reapForAllLocked(idx) // CQEs posted while muted raised no signal
	if st.done && st.tokened {
		// The reaper took our CQE while we were in the kernel.
		sh.mu.Unlock()
		<-st.ch
		sh.mu.Lock()
	}
}

// reapForAllLocked reaps the ring for the owner of the op in slot idx,
// which waits inline or polled, and wakes the other waiters it finds, as
// the reaper would: nobody else is reaping.
//
// Preconditions: sh.mu is held; it is dropped and retaken.
func (sh *shard) reapForAllLocked(idx uint32) {
	wake := sh.reapLocked(idx, nil)
	sh.batch = len(wake)
	if owed := len(sh.owed) > 0; owed || len(wake) > 0 {
		sh.mu.Unlock()
		wakeAll(wake)
		if owed {
			sh.poke() // multishot notes (notifyLocked), for the reaper
		}
		sh.mu.Lock()
	}
}

func init() {
	engineUses(RingOp{uring.IORING_OP_ASYNC_CANCEL, ""}) // cancel
}

// cancel asks the kernel to cancel the op in slot idx (by user_data). The
// cancel's own CQE is reaped and dropped by whoever reaps.
//
// The caller owns the op, so its slot cannot be freed meanwhile.
func (sh *shard) cancel(idx uint32, st *opState) { sh.cancelGen(idx, st.gen) }

// cancelGen asks the kernel to cancel the op in slot idx if it is still
// the op of generation gen and has not ended: a deadline's timer, which
// does not own the op, may call it after the op's owner has moved on.
func (sh *shard) cancelGen(idx, gen uint32) {
	sh.mu.Lock()
	if st := sh.slots.slot(idx); st.done || st.gen != gen {
		sh.mu.Unlock()
		return
	}
	// Without a slot for the cancel (mmap failed), the op completes on
	// its own: data, the peer, or Close's cancel by fd.
	sh.submitDetachedAndUnlock(func(sqe *uring.SQE) { sqe.PrepCancel(userData(idx, gen), 0) })
}

// submitDetachedAndUnlock submits an op nobody waits for (a cancel): its
// slot is freed by whoever reaps its CQE. Without a free slot it submits
// nothing.
//
// Preconditions: sh.mu is held.
func (sh *shard) submitDetachedAndUnlock(prep func(sqe *uring.SQE)) {
	idx, st, err := sh.slots.alloc(false)
	if err != nil {
		sh.mu.Unlock()
		return
	}
	st.detached = true
	sqe := sh.sqeLocked()
	prep(sqe)
	sqe.UserData = userData(idx, st.gen)
	sh.inflight++
	sh.setBusyLocked()
	sh.submitAndUnlock()
}
