//go:build linux && !android

// Package uring is the io_uring ring itself: the kernel ABI, setup with flag
// fallback, the mmap'd submission and completion queues, io_uring_enter,
// io_uring_register and the opcode probe.
//
// It holds no policy and starts no goroutines. A Ring is not safe for
// concurrent use: the engine (internal/engine) serializes access to the SQ
// and CQ. Only Enter may run concurrently with other methods, because the
// kernel takes its own lock for submission; Enter only reads the published
// part of the SQ (mayBlock).
//
// Memory that an SQE points at is the caller's business; see the ownership
// rule in DESIGN.md. This package never lets a Go pointer reach the kernel
// except for the duration of a synchronous call.
package uring

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is one io_uring instance with its queues mapped.
type Ring struct {
	fd       int
	enterFd  int    // what Enter passes: fd, or the registered index
	enterFlg uint32 // IORING_ENTER_REGISTERED_RING once registered
	flags    uint32 // setup flags the kernel accepted
	features uint32 // IORING_FEAT_* reported by setup

	sqMem, cqMem, sqeMem []byte // mappings; cqMem aliases sqMem with FEAT_SINGLE_MMAP

	// Submission queue. kHead is written by the kernel, kTail by us.
	sqKHead   *uint32
	sqKTail   *uint32
	sqKFlags  *uint32
	sqArray   unsafe.Pointer // nil with IORING_SETUP_NO_SQARRAY
	sqMask    uint32
	sqEntries uint32
	sqes      unsafe.Pointer
	sqeHead   uint32 // first SQE not yet published to the kernel
	sqeTail   uint32 // next SQE to hand out

	// Completion queue. kTail is written by the kernel, kHead by us.
	cqKHead     *uint32
	cqKTail     *uint32
	cqKFlags    *uint32 // nil before Linux 5.8
	cqKOverflow *uint32
	cqMask      uint32
	cqEntries   uint32
	cqes        unsafe.Pointer
}

// Setup creates a ring with room for entries SQEs. p.Flags must be accepted
// as given; bits of optional are tried too, and on EINVAL the highest
// remaining optional bit is dropped and setup retried, so an older kernel gets
// the best ring it can make. On success p holds what the kernel returned.
func Setup(entries uint32, p *Params, optional uint32) (*Ring, error) {
	required := p.Flags
	for {
		try := *p
		try.Flags = required | optional
		fd, err := setup(entries, &try)
		if err == nil {
			*p = try
			r, err := newRing(fd, p)
			if err != nil {
				unix.Close(fd)
				return nil, err
			}
			return r, nil
		}
		if err != unix.EINVAL || optional == 0 {
			return nil, err
		}
		optional &^= 1 << (31 - leadingZeros32(optional))
	}
}

func leadingZeros32(x uint32) int {
	n := 0
	for i := 31; i >= 0 && x&(1<<i) == 0; i-- {
		n++
	}
	return n
}

func setup(entries uint32, p *Params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func newRing(fd int, p *Params) (*Ring, error) {
	r := &Ring{fd: fd, enterFd: fd, flags: p.Flags, features: p.Features}
	sqSize := int(p.SqOff.Array + p.SqEntries*4)
	cqSize := int(p.CqOff.Cqes + p.CqEntries*SizeofCQE)
	single := p.Features&IORING_FEAT_SINGLE_MMAP != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	r.sqMem, err = unix.Mmap(fd, IORING_OFF_SQ_RING, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	if single {
		r.cqMem = r.sqMem
	} else {
		r.cqMem, err = unix.Mmap(fd, IORING_OFF_CQ_RING, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			r.unmap()
			return nil, err
		}
	}
	r.sqeMem, err = unix.Mmap(fd, IORING_OFF_SQES, int(p.SqEntries*SizeofSQE), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.unmap()
		return nil, err
	}

	sq := unsafe.Pointer(&r.sqMem[0])
	r.sqKHead = (*uint32)(unsafe.Add(sq, p.SqOff.Head))
	r.sqKTail = (*uint32)(unsafe.Add(sq, p.SqOff.Tail))
	r.sqKFlags = (*uint32)(unsafe.Add(sq, p.SqOff.Flags))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.SqOff.RingMask))
	r.sqEntries = *(*uint32)(unsafe.Add(sq, p.SqOff.RingEntries))
	if p.Flags&IORING_SETUP_NO_SQARRAY == 0 {
		r.sqArray = unsafe.Add(sq, p.SqOff.Array)
	}
	r.sqes = unsafe.Pointer(&r.sqeMem[0])
	// The SQ tail may not start at zero after IORING_REGISTER_RESIZE_RINGS;
	// a fresh ring starts wherever the kernel says.
	r.sqeHead = *r.sqKTail
	r.sqeTail = r.sqeHead

	cq := unsafe.Pointer(&r.cqMem[0])
	r.cqKHead = (*uint32)(unsafe.Add(cq, p.CqOff.Head))
	r.cqKTail = (*uint32)(unsafe.Add(cq, p.CqOff.Tail))
	r.cqKOverflow = (*uint32)(unsafe.Add(cq, p.CqOff.Overflow))
	if p.CqOff.Flags != 0 {
		r.cqKFlags = (*uint32)(unsafe.Add(cq, p.CqOff.Flags))
	}
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.CqOff.RingMask))
	r.cqEntries = *(*uint32)(unsafe.Add(cq, p.CqOff.RingEntries))
	r.cqes = unsafe.Add(cq, p.CqOff.Cqes)
	return r, nil
}

func (r *Ring) unmap() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.cqMem != nil && (len(r.sqMem) == 0 || &r.cqMem[0] != &r.sqMem[0]) {
		unix.Munmap(r.cqMem)
	}
	r.cqMem = nil
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
		r.sqMem = nil
	}
}

// Close unmaps the queues and closes the ring. The kernel cancels whatever is
// still in flight; callers must have drained their own ops first.
func (r *Ring) Close() error {
	r.unmap()
	return unix.Close(r.fd)
}

// Fd returns the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// Flags returns the setup flags the kernel accepted.
func (r *Ring) Flags() uint32 { return r.flags }

// Features returns the IORING_FEAT_* bits the kernel reported.
func (r *Ring) Features() uint32 { return r.features }

// SQEntries and CQEntries return the queue sizes.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the completion queue size.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// GetSQE returns the next free SQE, zeroed, or nil when the SQ is full. The
// SQE becomes visible to the kernel at the next FlushSQ.
func (r *Ring) GetSQE() *SQE {
	// Acquire: the kernel's store of kHead happens after it finished reading
	// the SQEs before it, so those slots are ours again.
	head := atomic.LoadUint32(r.sqKHead)
	if r.sqeTail-head >= r.sqEntries {
		return nil
	}
	sqe := (*SQE)(unsafe.Add(r.sqes, uintptr(r.sqeTail&r.sqMask)*SizeofSQE))
	*sqe = SQE{}
	r.sqeTail++
	return sqe
}

// FlushSQ publishes the SQEs handed out since the last flush and returns how
// many SQEs the kernel has yet to consume.
func (r *Ring) FlushSQ() uint32 {
	if r.sqArray != nil {
		for i := r.sqeHead; i != r.sqeTail; i++ {
			*(*uint32)(unsafe.Add(r.sqArray, uintptr(i&r.sqMask)*4)) = i & r.sqMask
		}
	}
	r.sqeHead = r.sqeTail
	// Release: the SQE contents written above must be visible to the kernel
	// before it sees the new tail.
	atomic.StoreUint32(r.sqKTail, r.sqeTail)
	return r.sqeTail - atomic.LoadUint32(r.sqKHead)
}

// SQSpace returns how many SQEs GetSQE can hand out before the SQ is full.
func (r *Ring) SQSpace() uint32 {
	// Acquire, as in GetSQE: slots before the kernel's head are free.
	return r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqKHead))
}

// SQPending returns how many SQEs were handed out but not yet flushed.
func (r *Ring) SQPending() uint32 { return r.sqeTail - r.sqeHead }

// SQFlags returns the kernel's IORING_SQ_* flags.
func (r *Ring) SQFlags() uint32 { return atomic.LoadUint32(r.sqKFlags) }

// CQReady returns how many CQEs are waiting to be consumed. It may be
// called concurrently with the goroutine that consumes them, as a hint:
// both indices are loaded atomically.
func (r *Ring) CQReady() uint32 {
	// Acquire: CQE contents are written before the kernel's tail store.
	return atomic.LoadUint32(r.cqKTail) - atomic.LoadUint32(r.cqKHead)
}

// PeekCQE returns the oldest unconsumed CQE, or nil. It stays valid until
// CQAdvance.
func (r *Ring) PeekCQE() *CQE {
	head := *r.cqKHead
	if atomic.LoadUint32(r.cqKTail) == head {
		return nil
	}
	return (*CQE)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*SizeofCQE))
}

// CQAdvance marks n CQEs consumed.
func (r *Ring) CQAdvance(n uint32) {
	// Release: our reads of the CQEs complete before the kernel may reuse them.
	atomic.StoreUint32(r.cqKHead, *r.cqKHead+n)
}

// CQOverflow returns the kernel's count of CQEs dropped for lack of space
// (only without IORING_FEAT_NODROP).
func (r *Ring) CQOverflow() uint32 { return atomic.LoadUint32(r.cqKOverflow) }

// SetEventfdDisabled sets or clears IORING_CQ_EVENTFD_DISABLED (Linux 5.8+).
// It reports whether the kernel has the flag word.
func (r *Ring) SetEventfdDisabled(disabled bool) bool {
	if r.cqKFlags == nil {
		return false
	}
	for {
		old := atomic.LoadUint32(r.cqKFlags)
		v := old &^ IORING_CQ_EVENTFD_DISABLED
		if disabled {
			v |= IORING_CQ_EVENTFD_DISABLED
		}
		if old == v || atomic.CompareAndSwapUint32(r.cqKFlags, old, v) {
			return true
		}
	}
}

// Enter calls io_uring_enter. EINTR is retried: when the kernel returns it,
// nothing was submitted. arg, when not nil, must point to memory that does
// not move (mmap'd, or a heap object kept alive), as must arg.Ts; flags must
// then include IORING_ENTER_EXT_ARG. A wait that times out returns ETIME.
//
// An enter that waits for nothing (minComplete 0) is a raw syscall: it
// does not tell the scheduler that the thread is in a syscall. Such an
// enter issues requests, each without blocking (the kernel arms a poll or
// hands to io-wq what would block), and runs the thread's pending task
// work; at most it waits briefly for the ring's lock while another thread
// enters. Told, the scheduler woke sysmon when it slept, and sysmon took
// the P of an enter that ran past 20 us (a batch, or a send to loopback
// that runs the peer's receive) and handed it to another thread: that
// cost a futex wake and a thread switch, and moved the P off the thread
// where the ring's multishots complete. Measured on the separate-process 64 B echo at one connection,
// one P: the Berkeley API went from 15.0-15.8k to 18.9-19.2k round trips/s
// (net 18.5-18.7k), at 36 against 49-53 us of server CPU each; gonet from
// 13.9-15.8k to 16.7-16.9k; at 64 connections, and in net/http at 64
// connections, it changed nothing beyond the noise. An enter that waits
// is a syscall as any other, and so is one that submits an op that may
// sleep in the kernel (mayBlock).
//
// It returns the number of SQEs consumed.
func (r *Ring) Enter(toSubmit, minComplete, flags uint32, arg *GeteventsArg) (int, error) {
	var argp, argsz uintptr
	if arg != nil {
		argp, argsz = uintptr(unsafe.Pointer(arg)), SizeofGeteventsArg
	}
	fd, fl := uintptr(r.enterFd), uintptr(flags|r.enterFlg)
	for {
		var n uintptr
		var errno unix.Errno
		if minComplete == 0 && !r.mayBlock(toSubmit) {
			n, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, fd, uintptr(toSubmit), 0, fl, argp, argsz)
		} else {
			n, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, fd, uintptr(toSubmit), uintptr(minComplete), fl, argp, argsz)
		}
		if errno == unix.EINTR {
			continue
		}
		runtime.KeepAlive(arg)
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}

// mayBlock reports whether one of the n SQEs from the kernel's head is an
// op whose issue, or the task work it leaves on the entering thread, may
// sleep: a CLOSE that drops a socket's last reference runs its release
// (tcp_close) as task work before the enter returns, and with SO_LINGER
// that waits for the peer up to the linger time (a raw enter held its P
// meanwhile, until sysmon's preemption signal cut the linger short after
// about 10 ms, or for the whole linger with GODEBUG=asyncpreemptoff=1); a
// setsockopt (URING_CMD) may take rtnl_lock (multicast joins); BIND,
// CONNECT and SOCKET may walk a unix socket's path or load a protocol's
// module. None of them is on the path of a read or a write.
//
// It looks at what is published (up to the SQ tail) and no further: with
// another thread entering the ring at the same time (the engine's
// sqRoomLocked while a submitter is in the kernel), the head may have
// moved since the caller's FlushSQ, and the slots past the tail may be
// being filled. For the same reason the answer is a snapshot: an enter
// racing another one may submit SQEs published after the look.
func (r *Ring) mayBlock(n uint32) bool {
	h := atomic.LoadUint32(r.sqKHead)
	t := atomic.LoadUint32(r.sqKTail)
	if t-h < n {
		n = t - h
	}
	for j := range min(n, r.sqEntries) {
		i := (h + j) & r.sqMask
		if r.sqArray != nil {
			i = *(*uint32)(unsafe.Add(r.sqArray, uintptr(i)*4)) & r.sqMask
		}
		switch (*SQE)(unsafe.Add(r.sqes, uintptr(i)*SizeofSQE)).Opcode {
		case IORING_OP_CLOSE, IORING_OP_URING_CMD, IORING_OP_BIND, IORING_OP_CONNECT, IORING_OP_SOCKET:
			return true
		}
	}
	return false
}

// Submit flushes the SQ and submits everything the kernel has not consumed.
func (r *Ring) Submit() (int, error) {
	n := r.FlushSQ()
	if n == 0 {
		return 0, nil
	}
	return r.Enter(n, 0, 0, nil)
}

// Register calls io_uring_register.
func (r *Ring) Register(opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uintptr(opcode), uintptr(arg), uintptr(nrArgs), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), nil
	}
}

// RegisterEventfd makes the kernel signal efd when CQEs are posted
// (IORING_REGISTER_EVENTFD, Linux 5.2+).
func (r *Ring) RegisterEventfd(efd int) error {
	fd := int32(efd)
	_, err := r.Register(IORING_REGISTER_EVENTFD, unsafe.Pointer(&fd), 1)
	return err
}

// Probe returns the opcodes this kernel supports, indexed by opcode
// (IORING_REGISTER_PROBE, Linux 5.6+).
func (r *Ring) Probe() ([]bool, error) {
	const nops = 256
	buf := make([]byte, SizeofProbeHdr+nops*SizeofProbeOp)
	if _, err := r.Register(IORING_REGISTER_PROBE, unsafe.Pointer(&buf[0]), nops); err != nil {
		return nil, err
	}
	hdr := (*ProbeHdr)(unsafe.Pointer(&buf[0]))
	ops := make([]bool, int(hdr.LastOp)+1)
	for i := 0; i < int(hdr.OpsLen) && i < nops; i++ {
		op := (*ProbeOp)(unsafe.Pointer(&buf[SizeofProbeHdr+i*SizeofProbeOp]))
		if int(op.Op) < len(ops) && op.Flags&IO_URING_OP_SUPPORTED != 0 {
			ops[op.Op] = true
		}
	}
	return ops, nil
}

// RegisterBufRing registers a provided buffer ring of entries Bufs at addr
// (page-aligned memory that stays mapped) as buffer group bgid
// (IORING_REGISTER_PBUF_RING, Linux 5.19+).
func (r *Ring) RegisterBufRing(addr unsafe.Pointer, entries uint32, bgid uint16) error {
	reg := &BufReg{RingAddr: uint64(uintptr(addr)), RingEntries: entries, Bgid: bgid}
	_, err := r.Register(IORING_REGISTER_PBUF_RING, unsafe.Pointer(reg), 1)
	runtime.KeepAlive(reg)
	return err
}

// EnableRings enables a ring set up with IORING_SETUP_R_DISABLED; with
// SINGLE_ISSUER the calling thread becomes the issuer (Linux 5.10+).
func (r *Ring) EnableRings() error {
	_, err := r.Register(IORING_REGISTER_ENABLE_RINGS, nil, 0)
	return err
}

// rsrcUpdate is struct io_uring_rsrc_update.
type rsrcUpdate struct {
	Offset uint32
	Resv   uint32
	Data   uint64
}

// RegisterRingFd registers the ring's fd with the calling thread
// (IORING_REGISTER_RING_FDS, Linux 5.18+), so that Enter skips the fd table
// lookup. The registration belongs to the thread: only a ring entered from
// one locked OS thread may use it.
func (r *Ring) RegisterRingFd() error {
	up := &rsrcUpdate{Offset: ^uint32(0), Data: uint64(r.fd)} // offset -1: any free slot
	if _, err := r.Register(IORING_REGISTER_RING_FDS, unsafe.Pointer(up), 1); err != nil {
		return err
	}
	runtime.KeepAlive(up)
	r.enterFd, r.enterFlg = int(up.Offset), IORING_ENTER_REGISTERED_RING
	return nil
}
