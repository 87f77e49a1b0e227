//go:build linux && !android

package loop

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// Request kinds, in the top byte of user_data. The rest is the connection's
// table index and generation, so a CQE for a reused slot is dropped.
const (
	kindAccept = iota + 1
	kindRecv
	kindSend
	kindCancel
	kindClose
	kindWake
	kindRetry       // back-off timer
	kindTimerCancel // a timer's cancel at teardown
	kindSendGroup   // UDP: a send of several datagrams with UDP_SEGMENT
	kindLinger      // the timer of the first lingering connection
)

func udata(kind uint8, id, gen uint32) uint64 {
	return uint64(kind)<<56 | uint64(gen&0xFFFFFF)<<32 | uint64(id)
}

// uringLoop is one event loop on its own ring, owned by one goroutine locked
// to its OS thread: SINGLE_ISSUER and DEFER_TASKRUN need one submitter, and
// the owner both submits and reaps in one io_uring_enter per batch.
type uringLoop struct {
	s    *Server
	lnFd int
	ring loopRing

	control // tasks and the stop flag, from any goroutine

	// Owned by the loop goroutine.
	conns   []*Conn
	gens    []uint32
	free    []uint32
	dirty   []*Conn
	rearm   []*Conn // receives ended by -ENOBUFS, re-armed after buffers return
	lingers lingerQueue
	accept  bool // multishot accept armed
	// Polling before a wait (Config.Spin): after a poll that found
	// nothing, the next backoff waits skip it (1, 2, 4, ... 64).
	skip, backoff int

	// Receive buffers: nbufs of bufSize in bufMem, handed to the kernel
	// through the provided buffer ring in brMem (Linux 5.19+). Both are
	// mmap'd: the kernel owns a buffer from adding until its CQE.
	bufSize int
	nbufs   uint32
	bufMem  []byte
	brMem   []byte // ring entries, then 64 bytes for the timers' timespecs
	br      uring.BufRing
}

const bgid = 0

// ringOps are the ops a loop issues; its ring is restricted to these, and
// to the SQE flags in ringSQEFlags (engine.EnableRestricted).
var ringOps = []engine.RingOp{
	{Op: uring.IORING_OP_ACCEPT},       // armAccept: multishot, Linux 5.19+
	{Op: uring.IORING_OP_POLL_ADD},     // armWake: multishot poll on the eventfd
	{Op: uring.IORING_OP_RECV},         // armRecv: multishot into the buffer ring
	{Op: uring.IORING_OP_SEND},         // flush
	{Op: uring.IORING_OP_TIMEOUT},      // accept back-off, linger
	{Op: uring.IORING_OP_ASYNC_CANCEL}, // end, stop
	{Op: uring.IORING_OP_CLOSE},        // end
}

// faultFirstPages makes the first page of each buffer of a receive pool
// resident now, where every receive into it lands: the buffer ring hands
// out every buffer in turn, so under load these pages soon would be, and
// they are the loop's memory, not its connections' (before, a pool of 4
// KiB buffers was faulted in as connections came, and counted as theirs).
// The rest of a large buffer stays unfaulted until a large message needs
// it.
func faultFirstPages(pool []byte, stride int) {
	for off := 0; off < len(pool); off += stride {
		pool[off] = 0
	}
}

// ringSQEFlags are the SQE flags a loop sets: buffer selection on receives,
// and the hard link from a connection's cancel to its close.
const ringSQEFlags = uring.IOSQE_BUFFER_SELECT | uring.IOSQE_IO_HARDLINK

func newURingLoop(s *Server, lnFd int) (loopRunner, error) {
	l := &uringLoop{s: s, lnFd: lnFd, bufSize: s.cfg.BufferSize, nbufs: uint32(s.cfg.Buffers)}
	var err error
	if err = l.tasks.open(); err != nil {
		return nil, err
	}
	if l.bufMem, err = unix.Mmap(-1, 0, l.bufSize*int(l.nbufs), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		l.tasks.close()
		return nil, err
	}
	faultFirstPages(l.bufMem, l.bufSize)
	if l.brMem, err = unix.Mmap(-1, 0, int(l.nbufs)*uring.SizeofBuf+64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		unix.Munmap(l.bufMem)
		l.tasks.close()
		return nil, err
	}
	l.br = uring.NewBufRing(l.brMem, l.nbufs)
	tail := int(l.nbufs) * uring.SizeofBuf
	l.ring.retry = loopTimer{kind: kindRetry, ts: (*uring.Timespec)(unsafe.Pointer(&l.brMem[tail]))}
	l.ring.linger = loopTimer{kind: kindLinger, ts: (*uring.Timespec)(unsafe.Pointer(&l.brMem[tail+int(unsafe.Sizeof(uring.Timespec{}))]))}
	return l, nil
}

func (l *uringLoop) addDirty(c *Conn) { l.dirty = append(l.dirty, c) }

// setup creates the ring on the calling (locked) thread.
func (l *uringLoop) setup() error {
	ring, err := newLoopRing(&l.br, l.nbufs, ringOps, ringSQEFlags)
	l.ring.Ring = ring // closed by discard
	if err != nil {
		return err
	}
	for i := range l.nbufs {
		l.recycle(uint16(i))
	}
	l.publish()
	l.armAccept()
	l.armWake()
	return nil
}

func (l *uringLoop) sqe() *uring.SQE { return l.ring.sqe() }

// newLoopRing sets up a loop's ring on the calling (locked) thread, with
// br registered as buffer group bgid unless br is nil, restricted to ops
// and sqeFlags. On error the ring, if any, is returned for the caller to
// close.
func newLoopRing(br *uring.BufRing, nbufs uint32, ops []engine.RingOp, sqeFlags uint8) (*uring.Ring, error) {
	p := uring.Params{Flags: uring.IORING_SETUP_CQSIZE, CqEntries: 4 * 4096}
	optional := uint32(uring.IORING_SETUP_SUBMIT_ALL | uring.IORING_SETUP_COOP_TASKRUN | uring.IORING_SETUP_TASKRUN_FLAG |
		uring.IORING_SETUP_SINGLE_ISSUER | uring.IORING_SETUP_DEFER_TASKRUN) // 6.1+, dropped first on EINVAL
	// Created disabled, restricted to ops once set up, then enabled on
	// this thread, which SINGLE_ISSUER makes the ring's only issuer.
	optional |= engine.DisabledSetupFlag()
	ring, err := uring.Setup(4096, &p, optional)
	if err != nil {
		return nil, fmt.Errorf("loop: io_uring_setup: %w", err)
	}
	// A registered ring fd saves an fd lookup per enter (Linux 5.18+); the
	// loop's thread is locked, so the per-thread registration holds.
	ring.RegisterRingFd()
	if br != nil {
		if err := ring.RegisterBufRing(br.Addr(), nbufs, bgid); err != nil {
			return ring, fmt.Errorf("loop: provided buffer ring (Linux 5.19+): %w", err)
		}
	}
	// Restricted where the engine's ring is (ksocket probe says which).
	if _, _, err := engine.EnableRestricted(ring, ops, sqeFlags); err != nil {
		return ring, fmt.Errorf("loop: %w", err)
	}
	return ring, nil
}

// loopRing is a loop's ring, with the CQEs that sqe moved off a full CQ
// so that the kernel would take more SQEs while a handler ran. next hands
// them out first, in order.
type loopRing struct {
	*uring.Ring
	backlog []uring.CQE
	err     error     // the ring failed: sqe hands out scratch
	scratch uring.SQE // an SQE the kernel never sees
	retry   loopTimer // the back-off timer (kindRetry)
	linger  loopTimer // stream loops: the first linger's end (kindLinger)
}

// loopTimer is a one-shot IORING_OP_TIMEOUT, armed at most once at a time.
// The kernel may read ts, in the loop's mmap'd memory, until the timer's
// CQE; teardown cancels the timers and waits for them.
type loopTimer struct {
	kind  uint8 // its CQE's
	armed bool
	ts    *uring.Timespec
}

// arm starts t, whose CQE comes after d (at least 1ms) or on its cancel.
func (r *loopRing) arm(t *loopTimer, d time.Duration) {
	t.armed = true
	d = max(d, time.Millisecond)
	*t.ts = uring.Timespec{Sec: int64(d / time.Second), Nsec: int64(d % time.Second)}
	sqe := r.sqe()
	sqe.Opcode = uring.IORING_OP_TIMEOUT
	sqe.Fd = -1
	sqe.Addr = uint64(uintptr(unsafe.Pointer(t.ts)))
	sqe.Len = 1
	sqe.UserData = udata(t.kind, 0, 0)
}

// retryLater arms the 100ms back-off timer, unless it is armed, whose CQE
// (kindRetry) tells the loop to try again what failed: an accept or a
// receive that ended with an error, which retrying at once could spin on.
func (r *loopRing) retryLater() {
	if !r.retry.armed {
		r.arm(&r.retry, 100*time.Millisecond)
	}
}

// cancelTimers cancels the armed timers; their CQEs still come.
func (r *loopRing) cancelTimers() {
	for _, t := range [...]*loopTimer{&r.retry, &r.linger} {
		if t.armed {
			sqe := r.sqe()
			sqe.PrepCancel(udata(t.kind, 0, 0), 0)
			sqe.UserData = udata(kindTimerCancel, 0, 0)
		}
	}
}

// timing reports whether a timer is armed.
func (r *loopRing) timing() bool { return r.retry.armed || r.linger.armed }

// sqe returns a zeroed SQE, submitting the queue when it is full. When the
// kernel takes nothing (EBUSY: no CQ room for what it would complete;
// EAGAIN: short of memory), it moves the CQ's entries to the backlog and
// tries again after a pause: the loop is the ring's only reaper, and may
// be inside a handler. Once the ring has failed otherwise, it returns a
// scratch SQE that is never submitted.
func (r *loopRing) sqe() *uring.SQE {
	for {
		if sqe := r.GetSQE(); sqe != nil {
			return sqe
		}
		_, err := r.Submit()
		switch err {
		case nil, unix.EINTR:
		case unix.EBUSY, unix.EAGAIN:
			for cqe := r.PeekCQE(); cqe != nil; cqe = r.PeekCQE() {
				r.backlog = append(r.backlog, *cqe)
				r.CQAdvance(1)
			}
			time.Sleep(time.Millisecond)
		default:
			// The ring is broken: what is prepared now goes nowhere,
			// and the teardown's drain reports the error.
			r.err = err
			r.scratch = uring.SQE{}
			return &r.scratch
		}
	}
}

// enterFault, when set, is the error the loops' waits return instead of
// entering the ring: tests make a ring fail with it.
var enterFault atomic.Pointer[error]

// wait submits n SQEs and waits for at least one CQE, unless the backlog
// holds some: those are the loop's to handle first, and no further CQE
// may come until it does (a reply, a re-armed receive).
func (r *loopRing) wait(n uint32) error {
	if err := enterFault.Load(); err != nil {
		return *err
	}
	min := uint32(1)
	if len(r.backlog) > 0 {
		min = 0
	}
	_, err := r.Enter(n, min, uring.IORING_ENTER_GETEVENTS, nil)
	return err
}

// spin polls the ring for up to Config.Spin before the loop would sleep
// in io_uring_enter, unless it is backing off: a loop that sleeps is woken
// by whoever completes its next request, and that wake-up costs the
// waker. A poll that finds nothing doubles the number of waits, up to
// 64, that skip polling; one that finds work resets it. So a loop whose
// requests come further apart than Spin (one connection), or whose
// clients share its CPU and cannot run while it polls, soon polls before
// one wait in 64.
func (l *uringLoop) spin() {
	if l.skip > 0 {
		l.skip--
		return
	}
	if l.ring.poll(time.Now().Add(l.s.cfg.Spin)) {
		l.backoff = 0
		return
	}
	l.backoff = min(max(2*l.backoff, 1), 64)
	l.skip = l.backoff
}

// poll reports whether the kernel has work for the loop, task work for
// its thread (IORING_SQ_TASKRUN: a receive's data, under DEFER_TASKRUN),
// CQEs held back on a full CQ (IORING_SQ_CQ_OVERFLOW: the enter flushes
// them) or CQEs, by end, polling for it until then.
func (r *loopRing) poll(end time.Time) bool {
	for i := 1; ; i++ {
		if r.CQReady() > 0 || r.SQFlags()&(uring.IORING_SQ_TASKRUN|uring.IORING_SQ_CQ_OVERFLOW) != 0 {
			return true
		}
		if i%16 == 0 && time.Now().After(end) {
			return false
		}
	}
}

// next returns the next CQE to handle, the backlog's first; ok is false
// when there is none.
func (r *loopRing) next() (ud uint64, res int32, flags uint32, ok bool) {
	if len(r.backlog) > 0 {
		c := r.backlog[0]
		r.backlog = r.backlog[1:]
		if len(r.backlog) == 0 {
			r.backlog = nil
		}
		ud, res, flags = c.UserData, c.Res, c.Flags
	} else {
		cqe := r.PeekCQE()
		if cqe == nil {
			return 0, 0, 0, false
		}
		ud, res, flags = cqe.UserData, cqe.Res, cqe.Flags
		r.CQAdvance(1)
	}
	switch uint8(ud >> 56) {
	case kindRetry:
		r.retry.armed = false
	case kindLinger:
		r.linger.armed = false
	}
	return ud, res, flags, true
}

// leaked keeps loops whose ring failed while the kernel still owned their
// memory: their pinned buffers must never be collected.
var leaked struct {
	sync.Mutex
	loops []any
}

// leak keeps l forever, and returns the error that Serve reports for it.
func leak(l any, err error) error {
	leaked.Lock()
	leaked.loops = append(leaked.loops, l)
	leaked.Unlock()
	return fmt.Errorf("loop: the ring failed while requests were in flight; their buffers are leaked: %w", err)
}

func (l *uringLoop) armAccept() {
	sqe := l.sqe()
	// Multishot accept: Linux 5.19+.
	sqe.PrepAcceptMultishot(l.lnFd, unix.SOCK_CLOEXEC)
	sqe.UserData = udata(kindAccept, 0, 0)
	l.accept = true
}

func (l *uringLoop) armWake() {
	sqe := l.sqe()
	sqe.PrepPollMultishot(l.tasks.efd, unix.POLLIN)
	sqe.UserData = udata(kindWake, 0, 0)
}

func (l *uringLoop) armRecv(c *Conn) {
	sqe := l.sqe()
	// Multishot recv on the provided buffer ring: Linux 6.0+.
	sqe.PrepRecvMultishot(c.fd, bgid, 0)
	sqe.UserData = udata(kindRecv, c.id, l.gens[c.id])
	c.ops++
}

// recycle gives buffer bid back to the kernel (made visible by publish).
func (l *uringLoop) recycle(bid uint16) {
	l.br.Add(bid, unsafe.Pointer(&l.bufMem[int(bid)*l.bufSize]), uint32(l.bufSize))
}

// publish makes recycled buffers visible to the kernel.
func (l *uringLoop) publish() { l.br.Publish() }

func (l *uringLoop) newConn(fd int) *Conn {
	var id uint32
	if n := len(l.free); n > 0 {
		id = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		id = uint32(len(l.conns))
		l.conns = append(l.conns, nil)
		l.gens = append(l.gens, 0)
	}
	c := &Conn{l: l, fd: fd, id: id}
	if sa, err := unix.Getpeername(fd); err == nil {
		c.raddr = sockaddrTCP(sa)
	}
	l.conns[id] = c
	return c
}

func (l *uringLoop) lookup(ud uint64) *Conn {
	id, gen := uint32(ud), uint32(ud>>32)&0xFFFFFF
	if int(id) >= len(l.conns) || l.gens[id]&0xFFFFFF != gen {
		return nil
	}
	return l.conns[id]
}

func (l *uringLoop) run() (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := l.setup(); err != nil {
		l.discard()
		return err
	}
	defer func() {
		if terr := l.teardown(); err == nil {
			err = terr
		}
	}()
	for !l.stopping.Load() {
		l.flush()
		n := l.ring.FlushSQ()
		if n == 0 && l.s.cfg.Spin > 0 && l.s.cfg.Loops == 1 {
			l.spin()
		}
		if err := l.ring.wait(n); err != nil && err != unix.ETIME {
			if err != unix.EBUSY && err != unix.EAGAIN {
				return fmt.Errorf("loop: io_uring_enter: %w", err)
			}
		}
		l.reap()
	}
	return nil
}

// reap handles every CQE there is, then returns the used buffers.
func (l *uringLoop) reap() {
	for {
		ud, res, flags, ok := l.ring.next()
		if !ok {
			break
		}
		more := flags&uring.IORING_CQE_F_MORE != 0
		switch uint8(ud >> 56) {
		case kindAccept:
			l.onAccept(res, more)
		case kindRecv:
			l.onRecv(ud, res, flags, more)
		case kindSend:
			l.onSend(ud, res)
		case kindCancel, kindClose:
			if c := l.lookup(ud); c != nil {
				c.ops--
				l.opDone(c)
			}
		case kindWake:
			if !more {
				l.armWake()
			}
			l.runTasks()
		case kindRetry:
			if !l.accept {
				l.armAccept()
			}
		case kindLinger:
			l.armLinger()
		}
	}
	l.publish()
	for _, c := range l.rearm {
		if !c.closed || c.lingering {
			l.armRecv(c)
		}
	}
	clear(l.rearm)
	l.rearm = l.rearm[:0]
}

func (l *uringLoop) onAccept(res int32, more bool) {
	if !more {
		l.accept = false
	}
	if res < 0 {
		if !more {
			l.ring.retryLater() // EMFILE and friends
		}
		return
	}
	if !more {
		l.armAccept()
	}
	unix.SetsockoptInt(int(res), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := l.newConn(int(res))
	l.s.h.OnOpen(c)
	if !c.closed {
		l.armRecv(c)
	}
}

func (l *uringLoop) onRecv(ud uint64, res int32, flags uint32, more bool) {
	c := l.lookup(ud)
	if flags&uring.IORING_CQE_F_BUFFER != 0 {
		bid := uint16(flags >> uring.IORING_CQE_BUFFER_SHIFT)
		if c != nil && res > 0 && !c.closed && !c.closing {
			l.s.h.OnData(c, l.bufMem[int(bid)*l.bufSize:][:res])
		}
		l.recycle(bid)
	}
	if c == nil {
		return
	}
	if more {
		return
	}
	// The multishot receive ended.
	c.ops--
	switch {
	case res == -int32(unix.ENOBUFS):
		l.rearm = append(l.rearm, c) // back-pressure: re-arm once buffers return
	case c.lingering && res <= 0:
		l.release(c) // the peer's EOF, its reset, or a cancel not the loop's
	case res == 0:
		// The peer shut down its side: send what is pending, then close.
		c.eof, c.closing = true, true
		c.markDirty()
	case res < 0 && res != -int32(unix.ECANCELED):
		l.end(c, unix.Errno(-res))
	case res > 0 && (!c.closed || c.lingering):
		l.rearm = append(l.rearm, c) // ended for lack of CQ room
	default:
		l.opDone(c)
	}
}

func (l *uringLoop) onSend(ud uint64, res int32) {
	c := l.lookup(ud)
	if c == nil {
		return
	}
	c.ops--
	if res < 0 {
		c.pin.Unpin()
		c.sending, c.sendBuf = nil, nil
		l.end(c, unix.Errno(-res))
		l.opDone(c)
		return
	}
	c.sending = c.sending[res:]
	if len(c.sending) > 0 && !c.closed {
		l.send(c) // a short send: the rest, in order
		return
	}
	c.pin.Unpin()
	c.recycle(c.sendBuf)
	c.sending, c.sendBuf = nil, nil
	if len(c.out) > 0 || c.closing {
		c.markDirty()
	}
	l.opDone(c)
}

// flush starts sends for connections with output and closes those whose
// Close has drained.
func (l *uringLoop) flush() {
	// By index, not range: a handler run here (OnClose) may mark other
	// connections dirty, appending to l.dirty, and those must be flushed
	// too; their dirty flag would otherwise keep them off the list.
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		l.dirty[i] = nil
		c.dirty = false
		if c.closed || c.sending != nil {
			continue
		}
		if len(c.out) > 0 {
			c.sending, c.sendBuf, c.out = c.out, c.out, nil
			l.send(c)
			continue
		}
		if c.closing {
			if l.lingers.start(c, l.s) {
				if !l.ring.linger.armed {
					l.armLinger()
				}
			} else {
				l.end(c, nil)
			}
		}
	}
	l.dirty = l.dirty[:0]
}

// armLinger closes the lingering connections whose time is up, and arms
// the linger timer for the next one's, if any.
func (l *uringLoop) armLinger() {
	if next := l.lingers.expire(time.Now(), l.release); !next.IsZero() {
		l.ring.arm(&l.ring.linger, time.Until(next))
	}
}

func (l *uringLoop) send(c *Conn) {
	c.pin.Pin(&c.sending[0])
	sqe := l.sqe()
	sqe.PrepSend(c.fd, unsafe.Pointer(&c.sending[0]), uint32(len(c.sending)), unix.MSG_NOSIGNAL)
	sqe.UserData = udata(kindSend, c.id, l.gens[c.id])
	c.ops++
}

// end ends the connection: OnClose, then release.
func (l *uringLoop) end(c *Conn, err error) {
	if c.closed {
		return
	}
	c.closed, c.err = true, err
	l.s.h.OnClose(c, err)
	l.release(c)
}

// release closes c's fd, OnClose having run: a cancel of its requests
// linked (hard, so it runs whatever the cancel finds) to the close.
func (l *uringLoop) release(c *Conn) {
	c.lingering = false
	sqe := l.sqe()
	sqe.PrepCancelFd(c.fd, uring.IORING_ASYNC_CANCEL_ALL)
	sqe.Flags |= uring.IOSQE_IO_HARDLINK
	sqe.UserData = udata(kindCancel, c.id, l.gens[c.id])
	sqe = l.sqe()
	sqe.PrepClose(c.fd)
	sqe.UserData = udata(kindClose, c.id, l.gens[c.id])
	c.ops += 2
}

// opDone frees a closed connection's slot once its last request is done.
func (l *uringLoop) opDone(c *Conn) {
	if c.closed && c.ops == 0 {
		l.conns[c.id] = nil
		l.gens[c.id]++
		l.free = append(l.free, c.id)
	}
}

// teardown closes every connection and the ring.
func (l *uringLoop) teardown() error {
	for _, c := range l.conns {
		switch {
		case c == nil:
		case c.lingering:
			l.release(c)
		case !c.closed:
			l.end(c, ErrServerClosed)
		}
	}
	sqe := l.sqe()
	sqe.PrepCancelFd(l.lnFd, uring.IORING_ASYNC_CANCEL_ALL)
	l.ring.Submit()
	// Wait for every connection's requests to finish.
	l.ring.cancelTimers()
	if err := drainRing(&l.ring, func() bool { return l.live() > 0 || l.ring.timing() }, l.reapTeardown); err != nil {
		// The kernel may still use the buffers, and the conns' pinned
		// sends: keep them all. The conns' fds stay open too: whether
		// the kernel ran their closes is not known.
		err = leak(l, err)
		l.bufMem, l.brMem = nil, nil
		l.ring.Close()
		unix.Close(l.lnFd)
		l.tasks.close()
		return err
	}
	l.discard()
	return nil
}

// discard closes the ring, the listener and the eventfd and frees the
// buffers, once: after teardown, or for a loop that never ran.
func (l *uringLoop) discard() {
	if l.bufMem == nil {
		return
	}
	if l.ring.Ring != nil {
		l.ring.Close()
	}
	unix.Close(l.lnFd)
	l.tasks.close()
	unix.Munmap(l.bufMem)
	unix.Munmap(l.brMem)
	l.bufMem, l.brMem = nil, nil
}

func (l *uringLoop) live() int {
	n := 0
	for _, c := range l.conns {
		if c != nil {
			n++
		}
	}
	return n
}

// reapTeardown is reap without handlers for new work.
func (l *uringLoop) reapTeardown() {
	for {
		ud, res, flags, ok := l.ring.next()
		if !ok {
			break
		}
		more := flags&uring.IORING_CQE_F_MORE != 0
		c := l.lookup(ud)
		switch uint8(ud >> 56) {
		case kindAccept:
			if res >= 0 {
				unix.Close(int(res))
			}
		case kindRecv:
			if c != nil && !more {
				c.ops--
				l.opDone(c)
			}
		case kindSend:
			if c != nil {
				c.ops--
				c.pin.Unpin()
				l.opDone(c)
			}
		case kindCancel, kindClose:
			if c != nil {
				c.ops--
				l.opDone(c)
			}
		}
	}
}

// drainRing waits in ring's enter until busy reports nothing in flight,
// reaping with reap after each enter. On EAGAIN or EBUSY (the kernel short
// of memory, or of CQ room) it pauses and tries again. If the ring failed
// otherwise, now or before, it returns the error: the kernel may then
// still own the memory the requests point at, and the caller must leak it
// rather than unmap it.
func drainRing(ring *loopRing, busy func() bool, reap func()) error {
	for busy() {
		if ring.err != nil {
			return ring.err
		}
		err := ring.wait(ring.FlushSQ())
		switch err {
		case nil, unix.EINTR, unix.ETIME:
		case unix.EAGAIN, unix.EBUSY:
			time.Sleep(time.Millisecond)
		default:
			return err
		}
		reap()
	}
	return nil
}
