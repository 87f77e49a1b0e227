//go:build linux && !android

package engine

import (
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ksocket-go/ksocket/internal/uring"
)

// The uring backend: a set of rings, one per P at start-up
// (KSOCKET_RINGS overrides). Each ring is a shard with its own lock, op
// slots, eventfd and reaper, so no ring, lock or goroutine is shared by
// every op of the process: two threads entering one ring contend for the
// kernel's uring_lock, which at GOMAXPROCS=2 made one shared ring slower
// than at 1 (issue 9, measured in DESIGN.md).
//
// Every socket has a home ring, picked at random when it is made (among
// the first GOMAXPROCS rings, where a process lowered GOMAXPROCS after
// start-up); all its ops go there. That keeps Close's cancel by fd
// (IORING_ASYNC_CANCEL_FD searches one ring) and the one-send-in-flight
// rule on one ring, and spreads a server's connections over the rings
// whatever P accepted them.
// Ops on no socket (socket creation, close after drain) go to a random ring.
//
// Within a shard, as before:
//
// Submission: a caller takes mu, fills an SQE, publishes it and, unless the
// reaper is dispatching, calls io_uring_enter itself after dropping mu.
// While the reaper dispatches, callers only queue; the reaper submits the
// whole batch in one enter once the goroutines it woke have queued their
// next requests (uring_submit.go). Either enters with the eventfd muted
// and reaps right after: a send with room or a receive with data
// completes inside that enter, and its caller goes on with no signal, no
// wake-up of a netpoller thread and no hand-off from the reaper (measured
// at GOMAXPROCS=2: a third less server CPU per 64 KiB message streamed,
// and a quarter less per round trip at one connection).
//
// Completion: the reaper goroutine parks in Go's netpoller on an eventfd
// registered with the ring (IORING_REGISTER_EVENTFD) and wakes waiters in
// FIFO batches. Waking is left to the reaper on purpose: a submitter that
// woke other waiters built a chain of runnext hand-offs that starved the
// rest (engine-experiment.md, lesson 3) (uring_reap.go). So a submitter
// that reaps others' CQEs only records them, on the handoff list, and
// pokes the reaper to wake them.
//
// Polled wait: an op that must wait while it is alone in flight on its
// ring (pending accepts and multishots aside) waits in the netpoller on
// a duplicate of the ring's fd, with the eventfd muted, and reaps the
// ring at each wake-up, waking others as the reaper would, until its op
// ends or another op must wait too; then the reaper takes over again
// (pollAloneLocked). Its CQE stays in the CQ until it reaps it: the
// kernel reports the ring's fd readable only while the CQ holds entries.
// A datagram queue's reader, which has no op of its own, waits so too
// when nothing but multishots is in flight on the ring, until its queue
// holds a datagram (waitQueuePolled).
//
// Inline wait: an op alone in flight on its ring (pending accepts aside)
// is submitted and waited for in one io_uring_enter on its caller's
// thread, with the eventfd muted (IORING_CQ_EVENTFD_DISABLED), for at most
// inlineWait. At one connection this halves the syscalls per op (lesson
// 1). Whoever waits inline reaps for everyone on that ring while it does.

type uringBackend struct {
	inf Info

	// Which calls go through the ring; immutable after setup.
	useSocket, useBind, useListen, useClose, useSplice bool
	useSetsockopt, useGetsockopt, useAcceptDontwait    bool
	useSendto                                          bool // IORING_OP_SEND takes a destination (6.1)

	inlineWait time.Duration // longest inline wait; 0 turns it off

	// muteEnters lets a caller enter with the eventfd muted and reap
	// after (submitOwnAndUnlock): on Linux 6.0 and later, where the
	// kernel reads the mute flag only after a full barrier that follows
	// publishing the CQ tail, so an unmute-then-look never misses a CQE
	// that raised no signal. 5.19 reads the flag with no barrier between.
	muteEnters bool

	shards []*shard // immutable after setup
	// perP: the rings were sized by GOMAXPROCS (no KSOCKET_RINGS), so
	// new sockets go to the first GOMAXPROCS of them (pick).
	perP bool

	// busyRings counts the rings with an op in flight (accepts aside). A
	// ring writes it only when it goes from idle to busy or back, so
	// under load, when every ring stays busy, nobody writes it.
	busyRings atomic.Int32
}

// shard is one ring of the set, with everything its ops share.
type shard struct {
	b    *uringBackend
	idx  int
	ring *uring.Ring

	efd *os.File        // eventfd the ring signals; the reaper parks on it
	erc syscall.RawConn // efd's RawConn
	// rrc is the RawConn of rfile, a duplicate of the ring's fd, in the
	// netpoller, which wakes its waiter on every CQE: an op waiting alone
	// on the ring parks there (waitPolled). nil where the netpoller
	// refused the fd: such ops wait for the reaper.
	rfile     *os.File
	rrc       syscall.RawConn
	pollStepF func(uintptr) bool // sh.pollStep, made once
	polledUD  uint64             // the polled op's user_data, while polling; guarded by mu
	// pollWaker stands on a socket's read deadline's pend list for a
	// datagram queue's reader that waits polled (waitQueuePolled), which
	// has no op of its own: when the deadline passes, it moves rfile's
	// read deadline into the past. One at a time, as polling is.
	pollWaker      opState
	polledSock     *Socket            // the socket whose queue's reader waits polled; guarded by mu
	queuePollStepF func(uintptr) bool // sh.queuePollStep, made once

	mu       sync.Mutex
	inflight int        // SQEs queued or submitted whose CQE is not reaped
	idle     int        // of inflight, the accepts: they wait for long stretches
	batch    int        // waiters the last reap woke; more than one means others are runnable
	reaping  int        // reapers dispatching (its own, a neighbour's): callers only queue
	entering bool       // a goroutine is in io_uring_enter submitting: others only queue
	inline   bool       // a caller waits in the kernel, eventfd muted
	polling  bool       // an op waits alone in the netpoller on the ring's fd, eventfd muted (pollAloneLocked)
	polls    int        // ops that have waited polled, for tests
	slots    slotTable  // this ring's op slots
	handoff  []*opState // ops whose CQE a submitter reaped, for the reaper to wake (submitOwnAndUnlock)
	owed     []owedNote // multishot notes a submitter's reap deferred, for the reaper (notifyLocked)
	owing    bool       // the reap in progress is a submitter's: multishot notes go on owed
	dgrams   *dgramPool // buffers of multishot datagram receives; nil where the kernel has none (before 6.0) or KSOCKET_FEATURES masks them

	busy bool // inflight-idle > 0, as counted in b.busyRings; guarded by mu
}

// setBusyLocked keeps b.busyRings up to date.
//
// Preconditions: sh.mu is held.
func (sh *shard) setBusyLocked() {
	if busy := sh.inflight > sh.idle; busy != sh.busy {
		sh.busy = busy
		if busy {
			sh.b.busyRings.Add(1)
		} else {
			sh.b.busyRings.Add(-1)
		}
	}
}

// mayWaitInline reports whether an op alone in flight on this ring may wait
// inline: only if it is alone in the engine, every other ring idle too.
// Alone on its ring is not enough. At GOMAXPROCS=1 the wait holds the only
// P, which the ops on other rings need to go on (measured: 150 µs a round
// trip instead of 14). At 2, it holds a P while the other ring's reaper
// waits for sysmon to take it back (41-47 µs instead of 21 at one
// connection in-process). The check is one atomic load, whatever the
// number of rings.
//
// Preconditions: sh.mu is held; this ring has the op in flight, so it
// counts itself in busyRings.
func (sh *shard) mayWaitInline() bool { return sh.b.busyRings.Load() == 1 }

// pick returns a ring for a new socket, or for an op on none: one of the
// first GOMAXPROCS rings, as GOMAXPROCS is now, where the rings were sized
// by it. A process that lowers GOMAXPROCS after the engine started (a
// test at -cpu 1, the runtime following a smaller CPU quota) then spreads
// its new sockets as one started at that GOMAXPROCS does. Two ends of a
// conversation on two rings cost an enter on each, where one ring takes
// both sides' requests in one: in-process ping-pong at one connection and
// GOMAXPROCS=1 made 4.0 enters a round trip on two rings, 2.1 on one, at
// 18-27 against 14-17 µs. The runtime's random source is per thread, so
// picking shares nothing; reading GOMAXPROCS takes the scheduler's lock,
// once per socket.
func (b *uringBackend) pick() *shard {
	n := len(b.shards)
	if n > 1 && b.perP {
		n = min(n, runtime.GOMAXPROCS(0))
	}
	if n == 1 {
		return b.shards[0]
	}
	return b.shards[rand.IntN(n)]
}

// shardOf returns s's home ring, or a random one for ops on no socket.
func (b *uringBackend) shardOf(s *Socket) *shard {
	if s == nil {
		return b.pick()
	}
	return b.shards[s.home]
}

func (b *uringBackend) attach(s *Socket) error {
	s.home = uint32(b.pick().idx)
	return nil
}

// do runs one op on s's ring (see shard.do).
func (b *uringBackend) do(s *Socket, w *waitSpec, prep func(sqe *uring.SQE, st *opState)) (opResult, error) {
	return b.shardOf(s).do(s, w, prep)
}

// put releases a finished op's slot.
func (b *uringBackend) put(r opResult) { r.sh.put(r) }

func (b *uringBackend) slotCount() (inUse, total int) {
	for _, sh := range b.shards {
		sh.mu.Lock()
		n := int(sh.slots.len())
		inUse += n - len(sh.slots.free) - len(sh.slots.warm)
		total += n
		sh.mu.Unlock()
	}
	return inUse, total
}

// rings returns the number of rings.
func (b *uringBackend) rings() int { return len(b.shards) }
