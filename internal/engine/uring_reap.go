//go:build linux && !android

package engine

import (
	"net"
	"os"
	"runtime"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// Delivery from one ring: the reaper, and the waits that end in a CQE.

// park waits for the op's wake-up, cancelling the op if its deadline,
// timeout or context ends first. It always waits for the final CQE.
func (sh *shard) park(s *Socket, idx uint32, st *opState, w *waitSpec) (opResult, error) {
	wt := newWaiter(s, w)
	defer wt.stop()
	reason := wt.wait(st.ch, nil)
	if reason == nil {
		return sh.finish(s, idx, st, nil)
	}
	sh.cancel(idx, st)
	<-st.ch
	return sh.finish(s, idx, st, reason)
}

// await is park for an op with no timeout or context, of which there is
// one at a time per idle connection: a plain receive on st.ch, no select,
// while the deadline d, if it passes, cancels the op from its timer. So a
// goroutine blocked here has few and small frames above it, and fits Go's
// smallest stack, as one blocked in net's Read does. It returns the
// deadline if that cut the op short; like park, it always waits for the
// final CQE.
func (sh *shard) await(d *deadline, idx uint32, st *opState) error {
	if !d.enlist(st) {
		if st.polled && sh.endPolled(idx, st) {
			return os.ErrDeadlineExceeded // it ended meanwhile: no wake-up comes
		}
		sh.cancel(idx, st)
		<-st.ch
		return os.ErrDeadlineExceeded
	}
	if !st.polled || !sh.waitPolled(idx, st) {
		<-st.ch
	}
	if d.delist(st) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// pollAloneLocked reports whether an op just submitted and found pending,
// whose waiter will call await, waits for its CQE in the netpoller, on
// the ring's fd, in place of the reaper: when it is the only op in flight
// on its ring (pending accepts and multishots aside), and nobody else
// reaps. If so it mutes the eventfd and marks the ring polling, and the
// op reaps the ring until it ends or another op joins it (waitPolled).
// An accept never waits polled, as it never waits inline: it is not
// counted in flight, so with one other op in flight it would find itself
// alone, and its goroutine would reap for that op for as long as the
// accept lasts, with nothing saved (TestPolledNotAccept).
//
// What it saves is the reaper's hop. A reaper parked in the netpoller is
// woken there, then wakes the waiter with a channel send, and at two Ps
// that send (goready, then wakep) also wakes an idle thread to look for
// work: measured, 0.77 futex wake-ups a round trip at one connection, where
// net's reader, woken by the netpoller, runs on the thread that polled.
// An op parked on the ring's fd is that reader.
//
// Preconditions: sh.mu is held, and the eventfd is not muted.
func (sh *shard) pollAloneLocked(idx uint32, st *opState) bool {
	if sh.rrc == nil || !sh.aloneLocked(st) || sh.ring.SQPending() > 0 {
		return false
	}
	if !sh.ring.SetEventfdDisabled(true) {
		return false
	}
	sh.polling = true
	sh.polledUD = userData(idx, st.gen)
	sh.polls++
	return true
}

// waitPolled waits in the netpoller, on the ring's fd, for the polled op
// in slot idx, reaping the ring at each CQE, until the op ends or another
// op is in flight on the ring; then it hands the ring back to the
// reaper. It reports whether the op ended in its own reap; if not, its
// wake-up comes on st.ch, as in await.
func (sh *shard) waitPolled(idx uint32, st *opState) (own bool) {
	sh.rrc.Read(sh.pollStepF)
	// If the netpoller failed (it does not), the op goes back to the
	// reaper here.
	return sh.endPolled(idx, st)
}

// endPolled ends the polled wait of the op in slot idx, if it still
// waits polled, and reports whether the op ended in its owner's reap,
// so that no wake-up comes on st.ch.
func (sh *shard) endPolled(idx uint32, st *opState) (own bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st.polled {
		sh.endPolledLocked(idx, st)
	}
	return st.done && !st.tokened
}

// pollStep is waitPolled's look at the ring, made at each of its
// wake-ups: a method value made once per ring, so that a wait allocates
// nothing. It reports whether the wait is over.
func (sh *shard) pollStep(uintptr) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	idx := uint32(sh.polledUD)
	st := sh.slots.slot(idx)
	sh.reapForAllLocked(idx)
	if !st.done && sh.inflight-sh.idle == 1 {
		return false // still alone: wait for the next CQE
	}
	sh.endPolledLocked(idx, st)
	return true
}

// endPolledLocked hands the ring back to the reaper from the polled op in
// slot idx.
//
// Preconditions: sh.mu is held, st.polled set; mu is dropped and retaken.
func (sh *shard) endPolledLocked(idx uint32, st *opState) {
	st.polled = false
	sh.stopPollingLocked(idx)
}

// stopPollingLocked hands the ring back to the reaper from the wait that
// polls on its fd: an op's, in slot self, or a datagram queue reader's
// (self noSelf).
//
// Preconditions: sh.mu is held, sh.polling set; mu is dropped and retaken.
func (sh *shard) stopPollingLocked(self uint32) {
	sh.polling = false
	sh.ring.SetEventfdDisabled(false)
	sh.reapForAllLocked(self) // CQEs posted while muted raised no signal
}

// enlist puts st on d's pend list. It reports false, listing nothing, if
// the deadline has passed already: the op must cancel itself.
//
// An op that finds the list empty is put there with a CAS, not under mu,
// and marked dlOne; a socket's direction seldom has two ops waiting, and
// the mutex's lock and unlock on both sides of every wait cost 3-5% of a
// round trip (64 B ping-pong). The firer sets past, then looks at pend;
// enlist puts st in pend, then reads past. Go's atomics are sequentially
// consistent, so at least one sees the other: the firer finds st and
// cancels it, or enlist finds the deadline passed and takes st back (if
// the firer took it first, it is cancelled as if listed in time). Others
// go on the list under mu, in front: so an op marked dlOne is always the
// list's last, and when it is first it is alone.
func (d *deadline) enlist(st *opState) bool {
	st.dlGen, st.dlFired = st.gen, false
	st.dlPrev, st.dlNext = nil, nil
	st.dlOne = true // before the CAS that shows st to the firer
	if d.pend.CompareAndSwap(nil, st) {
		if !d.past.Load() && !d.expired() {
			return true
		}
		return !d.pend.CompareAndSwap(st, nil)
	}
	st.dlOne = false
	d.mu.Lock()
	defer d.mu.Unlock()
	// The timer runs on the monotonic clock and expired on the wall
	// clock: after a step back of the wall clock, a deadline that has
	// fired is not expired yet. Its channel, closed and not replaced
	// since (set replaces a closed one), says it has passed either way.
	if p := d.ch.Load(); d.expired() || p != nil && closed(*p) {
		return false
	}
	for {
		// A lone dlOne op may leave meanwhile, or one come: both CAS.
		head := d.pend.Load()
		st.dlNext = head
		if d.pend.CompareAndSwap(head, st) {
			if head != nil {
				head.dlPrev = st
			}
			return true
		}
	}
}

// delist takes st off d's pend list and reports whether the deadline
// cancelled it.
func (d *deadline) delist(st *opState) (fired bool) {
	if st.dlOne && d.pend.CompareAndSwap(st, nil) {
		// Alone, and not taken by the firer, which takes the whole
		// list before it marks an op: so not fired.
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// The op behind first: once pend is it, a lone dlOne op may leave
	// by its CAS, and its slot be reused, without mu.
	if next := st.dlNext; next != nil {
		next.dlPrev = st.dlPrev
	}
	if st.dlPrev != nil {
		st.dlPrev.dlNext = st.dlNext
	} else {
		d.pend.CompareAndSwap(st, st.dlNext) // not if the firer took the list
	}
	st.dlPrev, st.dlNext = nil, nil
	return st.dlFired
}

// cancelPendLocked cancels every op on d's pend list, on its ring; a
// ring's pollWaker there ends its polled queue wait (waitQueuePolled).
// It takes the whole list off pend with one swap before it looks at any
// op: a lone dlOne op may leave by its CAS at any moment (delist, or
// enlist taking itself back), and its slot (or the ring's pollWaker) go on
// to wait on another deadline, so a head merely loaded may no longer be
// this deadline's. Once taken, no op of the list can leave by its CAS
// (pend is not it), so each leaves under mu, unlinking itself from the
// taken list, and reads dlFired there.
//
// Preconditions: d.mu is held.
func (d *deadline) cancelPendLocked() {
	for st := d.pend.Swap(nil); st != nil; st = st.dlNext {
		st.dlFired = true
		if st == &st.sh.pollWaker {
			st.sh.rfile.SetReadDeadline(aLongTimeAgo) // ends waitQueuePolled's wait
		} else {
			st.sh.cancelGen(st.idx, st.dlGen)
		}
	}
}

// finish turns the final CQE into a result. reason is why the wait was cut
// short, if it was.
func (sh *shard) finish(s *Socket, idx uint32, st *opState, reason error) (opResult, error) {
	r := opResult{sh: sh, idx: idx, st: st, res: st.res, flags: st.cflags}
	if r.res >= 0 {
		// A result, even after a cancel, is authoritative: the bytes moved.
		if r.res > 0 && st.bounced > 0 {
			n := min(int(r.res), int(st.bounced)) // res <= len: MSG_TRUNC pins
			copy(unsafe.Slice((*byte)(st.buf), n), st.k.area(plainArea, n))
		}
		return r, nil
	}
	sh.put(r)
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
// Preconditions: sh.mu is held.
func (sh *shard) reapLocked(self uint32, wake []*opState) []*opState {
	sh.owing = self != noSelf
	defer func() { sh.owing = false }()
	for {
		// A CQ found full may be overflowing at this moment: a poster
		// that read the head before we moved it puts its CQE on the
		// kernel's overflow list and sets IORING_SQ_CQ_OVERFLOW, maybe
		// after the check below, and raises no signal, since the tail
		// does not move. The flush below, under the lock that poster
		// holds, catches it.
		full := sh.ring.CQReady() >= sh.ring.CQEntries()
		for cqe := sh.ring.PeekCQE(); cqe != nil; cqe = sh.ring.PeekCQE() {
			ud, res, flags := cqe.UserData, cqe.Res, cqe.Flags
			if sh.polling && ud == sh.polledUD && uint32(ud) != self {
				// A polled op's CQE stays for its owner: the ring's
				// fd reports its wake-up only while the CQ holds it
				// (pollAloneLocked).
				sh.setBusyLocked()
				return wake
			}
			sh.ring.CQAdvance(1)
			idx, gen := uint32(ud), uint32(ud>>32)
			if idx >= sh.slots.len() {
				continue
			}
			st := sh.slots.slot(idx)
			if st.acc != nil && st.gen == gen {
				sh.acceptCQELocked(idx, st, res, flags)
				continue
			}
			if st.dq != nil && st.gen == gen {
				sh.dgramCQELocked(idx, st, res, flags)
				continue
			}
			if st.gen != gen || st.done || flags&uring.IORING_CQE_F_MORE != 0 {
				continue // stale, or not the final CQE
			}
			sh.inflight--
			if st.idle {
				sh.idle--
			}
			st.res, st.cflags, st.done = res, flags, true
			switch {
			case st.detached:
				sh.slots.release(idx, st)
			case idx != self:
				st.tokened = true
				wake = append(wake, st)
			}
		}
		if !full && sh.ring.SQFlags()&uring.IORING_SQ_CQ_OVERFLOW == 0 {
			sh.setBusyLocked()
			return wake
		}
		// More CQEs completed at once than the CQ holds: the kernel keeps
		// the rest in its overflow list (IORING_FEAT_NODROP); an enter
		// with GETEVENTS moves them into the CQ as it drains.
		sh.ring.Enter(0, 0, uring.IORING_ENTER_GETEVENTS, nil)
	}
}

// owedNote is a multishot note that a goroutine's reap for itself
// deferred to the reaper: a signal that m's queue changed, or the close
// of a multishot's ended channel.
type owedNote struct {
	m     *multishot
	ended chan struct{}
}

// notifyLocked signals m's readers that its queue changed, when m is not
// nil, and closes ended, when that is not nil. In the reap of a goroutine
// that reaps for itself (submitOwnAndUnlock, waitInline) it leaves both
// on sh.owed for the reaper: a channel operation there, under the frames
// of a Write or Read, grew the goroutine's stack past Go's smallest, and a
// grown stack never shrinks back while its goroutine waits (measured: one
// in five gonet connections, accepted while others wrote, kept 4 KiB
// stacks; 0.3 KiB per idle connection). The caller pokes the reaper.
//
// Preconditions: sh.mu is held.
func (sh *shard) notifyLocked(m *multishot, ended chan struct{}) {
	if sh.owing {
		if ended != nil || !m.owed {
			if m != nil {
				m.owed = true
			}
			sh.owed = append(sh.owed, owedNote{m: m, ended: ended})
		}
		return
	}
	if ended != nil {
		close(ended)
	}
	if m != nil {
		m.signal()
	}
}

// payOwedLocked sends the notes that submitters' reaps left.
//
// Preconditions: sh.mu is held; not sh.owing.
func (sh *shard) payOwedLocked() {
	for i, n := range sh.owed {
		if n.m != nil {
			n.m.owed = false
		}
		sh.notifyLocked(n.m, n.ended)
		sh.owed[i] = owedNote{}
	}
	sh.owed = sh.owed[:0]
}

// deferredLocked counts what the reaper owes wake-ups for: the ops on
// handoff and the multishot notes on owed.
//
// Preconditions: sh.mu is held.
func (sh *shard) deferredLocked() int { return len(sh.handoff) + len(sh.owed) }

func wakeAll(wake []*opState) {
	for _, st := range wake {
		st.ch <- struct{}{}
	}
}

// reap is the ring's reaper goroutine: parked in the netpoller on the
// eventfd, which the ring signals for every CQE while not muted. It never
// reads the eventfd: Go's epoll is edge-triggered, and each signal is a
// new edge.
//
// Before it parks it helps the next ring of the set: when that ring has
// CQEs and nobody is reaping it, this reaper dispatches them too. Two ends
// of a conversation often live on different rings; without the help, each
// hand-off between them cost a netpoller wake-up of the other ring's
// reaper (measured: 2 epoll_pwait calls and 24-43 µs a round trip at one
// connection, against 14 µs on one ring, where one reaper keeps a
// conversation going without parking).
func (sh *shard) reap() {
	wake := make([]*opState, 0, 256)
	next := sh.b.shards[(sh.idx+1)%len(sh.b.shards)]
	sh.erc.Read(func(uintptr) bool {
		for {
			sh.mu.Lock()
			if sh.dispatchAndUnlock(&wake, true) {
				continue
			}
			if next != sh && next.ring.CQReady() > 0 && next.mu.TryLock() {
				if next.reaping == 0 && !next.inline && !next.polling {
					if next.dispatchAndUnlock(&wake, false) {
						continue
					}
				} else {
					next.mu.Unlock()
				}
			}
			return false // park until the next signal
		}
	})
}

// dispatchAndUnlock reaps the ring and wakes the waiters, lets them queue
// their next requests, and submits them all in one enter. It reports
// whether it woke anyone; either way mu is dropped. own says that the
// caller is this ring's reaper, which reaps it again right after: its
// enter may then go with the eventfd muted (submitMutedAndUnlock). A
// neighbour's reaper moves on and cannot count on that.
//
// Preconditions: sh.mu is held.
func (sh *shard) dispatchAndUnlock(wake *[]*opState, own bool) bool {
	*wake = sh.reapLocked(noSelf, append((*wake)[:0], sh.handoff...))
	clear(sh.handoff)
	sh.handoff = sh.handoff[:0]
	sh.payOwedLocked()
	// Every reap sets the count, one that wakes nobody (multishot CQEs
	// alone) too: a count left from a reap long past kept queue readers
	// from ever waiting polled (quietLocked).
	sh.batch = len(*wake)
	if len(*wake) == 0 {
		sh.submitAndUnlock() // stragglers whose submit failed
		return false
	}
	sh.reaping++
	sh.mu.Unlock()
	wakeAll(*wake)
	clear(*wake)
	// Let the woken goroutines queue their next requests, then submit
	// them all in one enter.
	runtime.Gosched()
	sh.mu.Lock()
	sh.reaping--
	if own {
		sh.submitMutedAndUnlock()
	} else {
		sh.submitAndUnlock()
	}
	return true
}

// submitMutedAndUnlock is submitAndUnlock for the ring's own reaper, which
// reaps again right after: its first enter goes with the eventfd muted
// (enterMutedLocked), so that the completions it brings (sends, receives
// with data) wake no thread for CQEs the reaper is about to see.
//
// Preconditions: sh.mu is held.
func (sh *shard) submitMutedAndUnlock() {
	if !sh.muteLocked() {
		sh.submitAndUnlock()
		return
	}
	err := sh.enterMutedLocked()
	sh.mu.Unlock()
	if err != nil {
		sh.poke()
	}
}
