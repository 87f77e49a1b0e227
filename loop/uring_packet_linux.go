//go:build linux && !android

package loop

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// uringPacketLoop is one UDP event loop on its own ring. Datagrams arrive
// through one multishot IORING_OP_RECVMSG into a provided buffer ring
// (Linux 6.0+); where KSOCKET_FEATURES masks RECVMSG_MULTISHOT, or the
// kernel is older, through single-shot RECVMSGs, one in flight per buffer
// up to singleRecvs. WriteTo copies each reply into a send slab; when the
// iteration ends, the replies are grouped (gso_linux.go) and each group
// is prepared as one send, so that the replies of one batch go to the
// kernel in the enter that waits for the next. A group of one is an
// IORING_OP_SEND with a destination address (Linux 6.1+; IORING_OP_SENDMSG
// before); a larger one an IORING_OP_SENDMSG with UDP_SEGMENT.
type uringPacketLoop struct {
	s    *PacketServer
	pc   *PacketConn
	ring loopRing

	control // tasks and the stop flag, from any goroutine

	// Owned by the loop goroutine.
	armed   bool  // the multishot recvmsg is in flight
	rearm   bool  // arm it once this reap has given its buffers back
	single  bool  // single-shot receives, one per buffer (no RECVMSG_MULTISHOT)
	recvs   int   // single: receives in flight
	idle    []int // single: buffers with no receive, after an error
	sendto  bool  // IORING_OP_SEND takes the address (SENDTO)
	stopped bool  // teardown has begun: no more handlers
	out     sendSlabs
	queued  []queuedSend // this iteration's replies, in WriteTo's order
	gso     gsoGrouper

	// Receive buffers, each the kernel's io_uring_recvmsg_out, the sender
	// and up to room bytes of datagram; stride apart in bufMem.
	room, stride int
	nbufs        uint32
	bufMem       []byte
	brMem        []byte // ring entries (or single's msghdrs), then msg and ts
	br           uring.BufRing
	msg          *unix.Msghdr // the multishot's: room for the sender only
}

const packetHdrLen = uring.SizeofRecvmsgOut + packetNameLen

// queuedSend is a reply that WriteTo put in a send slab: the record at off
// in slab id, holding n bytes.
type queuedSend struct {
	id, off, n int
}

// packetRingOps are the ops a UDP loop issues, and the only ones its ring
// allows where rings are restricted.
var packetRingOps = []engine.RingOp{
	{Op: uring.IORING_OP_RECVMSG},      // armRecv: multishot, Linux 6.0+
	{Op: uring.IORING_OP_SEND},         // writeTo: with an address, Linux 6.1+
	{Op: uring.IORING_OP_SENDMSG},      // writeTo before 6.1
	{Op: uring.IORING_OP_POLL_ADD},     // armWake
	{Op: uring.IORING_OP_TIMEOUT},      // receive back-off
	{Op: uring.IORING_OP_ASYNC_CANCEL}, // teardown
}

// singleRecvs caps the single-shot receives in flight.
const singleRecvs = 64

// A single-shot receive's msghdr and iovec, kept in brMem.
const (
	singleMsgSize = 128
	singleIovOff  = 64
)

func newURingPacketLoop(s *PacketServer, pc *PacketConn) (packetLoop, error) {
	l := &uringPacketLoop{s: s, pc: pc, nbufs: uint32(s.cfg.Buffers), room: s.cfg.BufferSize, out: sendSlabs{cur: -1}}
	l.gso.init()
	l.stride = (packetHdrLen + l.room + 63) &^ 63
	l.sendto = engine.Usable("SENDTO")
	if l.single = !engine.Usable("RECVMSG_MULTISHOT"); l.single {
		l.nbufs = min(l.nbufs, singleRecvs)
	}
	var err error
	if err = l.tasks.open(); err != nil {
		return nil, err
	}
	// Only the pages a datagram touches become resident; no huge pages,
	// or one small datagram would make 2 MiB resident.
	if l.bufMem, err = unix.Mmap(-1, 0, l.stride*int(l.nbufs), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		l.tasks.close()
		return nil, err
	}
	unix.Madvise(l.bufMem, unix.MADV_NOHUGEPAGE)
	faultFirstPages(l.bufMem, l.stride)
	if l.brMem, err = unix.Mmap(-1, 0, int(l.nbufs)*singleMsgSize+128, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		unix.Munmap(l.bufMem)
		l.tasks.close()
		return nil, err
	}
	l.br = uring.NewBufRing(l.brMem, l.nbufs)
	tail := int(l.nbufs) * singleMsgSize // room for either use of the head
	l.msg = (*unix.Msghdr)(unsafe.Pointer(&l.brMem[tail]))
	l.msg.Namelen = packetNameLen
	l.ring.retry = loopTimer{kind: kindRetry, ts: (*uring.Timespec)(unsafe.Pointer(&l.brMem[tail+64]))}
	return l, nil
}

// setup creates the ring on the calling (locked) thread, as the TCP loop's.
func (l *uringPacketLoop) setup() error {
	br := &l.br
	if l.single {
		br = nil
	}
	ring, err := newLoopRing(br, l.nbufs, packetRingOps, uring.IOSQE_BUFFER_SELECT)
	l.ring.Ring = ring // closed by discard
	if err != nil {
		return err
	}
	if l.single {
		for i := range int(l.nbufs) {
			l.armSingle(i)
		}
	} else {
		for i := range l.nbufs {
			l.recycle(uint16(i))
		}
		l.br.Publish()
		l.armRecv()
	}
	sqe := l.sqe()
	sqe.PrepPollMultishot(l.tasks.efd, unix.POLLIN)
	sqe.UserData = udata(kindWake, 0, 0)
	return nil
}

func (l *uringPacketLoop) sqe() *uring.SQE { return l.ring.sqe() }

func (l *uringPacketLoop) armRecv() {
	sqe := l.sqe()
	sqe.PrepRecvmsgMultishot(l.pc.fd, unsafe.Pointer(l.msg), bgid, 0)
	sqe.UserData = udata(kindRecv, 0, 0)
	l.armed = true
}

// armSingle queues a single-shot receive into buffer i, whose sender
// goes where the multishot would have put it.
func (l *uringPacketLoop) armSingle(i int) {
	buf := l.bufMem[i*l.stride:][:l.stride]
	iov := (*unix.Iovec)(unsafe.Pointer(&l.brMem[i*singleMsgSize+singleIovOff]))
	iov.Base = &buf[packetHdrLen]
	iov.SetLen(l.room)
	msg := (*unix.Msghdr)(unsafe.Pointer(&l.brMem[i*singleMsgSize]))
	*msg = unix.Msghdr{Name: &buf[uring.SizeofRecvmsgOut], Namelen: packetNameLen, Iov: iov, Iovlen: 1}
	sqe := l.sqe()
	// MSG_TRUNC: the result is the datagram's whole length, as the
	// multishot's header reports it.
	sqe.PrepRecvmsg(l.pc.fd, unsafe.Pointer(msg), unix.MSG_TRUNC)
	sqe.UserData = udata(kindRecv, uint32(i), 0)
	l.recvs++
}

func (l *uringPacketLoop) recycle(bid uint16) {
	l.br.Add(bid, unsafe.Pointer(&l.bufMem[int(bid)*l.stride]), uint32(l.stride))
}

func (l *uringPacketLoop) run() (err error) {
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
		l.flushSends()
		if err := l.ring.wait(l.ring.FlushSQ()); err != nil &&
			err != unix.ETIME && err != unix.EINTR && err != unix.EBUSY && err != unix.EAGAIN {
			return fmt.Errorf("loop: io_uring_enter: %w", err)
		}
		l.reap()
	}
	return nil
}

// reap handles every CQE there is, then gives the buffers back and re-arms
// the receive if it ended.
func (l *uringPacketLoop) reap() {
	for {
		ud, res, flags, ok := l.ring.next()
		if !ok {
			break
		}
		switch uint8(ud >> 56) {
		case kindRecv:
			if l.single {
				l.onSingle(int(uint32(ud)), res)
			} else {
				l.onRecv(res, flags)
			}
		case kindSend:
			l.onSend(ud, res)
		case kindSendGroup:
			l.onSendGroup(ud, res)
		case kindWake:
			if flags&uring.IORING_CQE_F_MORE == 0 && !l.stopped {
				sqe := l.sqe()
				sqe.PrepPollMultishot(l.tasks.efd, unix.POLLIN)
				sqe.UserData = udata(kindWake, 0, 0)
			}
			l.runTasks()
		case kindRetry:
			l.rearm = true
		}
	}
	if l.single {
		if l.rearm && !l.stopped {
			l.rearm = false
			for _, i := range l.idle {
				l.armSingle(i)
			}
			l.idle = l.idle[:0]
		}
		return
	}
	l.br.Publish()
	if l.rearm && !l.armed && !l.stopped {
		l.rearm = false
		l.armRecv()
	}
}

func (l *uringPacketLoop) onRecv(res int32, flags uint32) {
	if flags&uring.IORING_CQE_F_BUFFER != 0 {
		bid := uint16(flags >> uring.IORING_CQE_BUFFER_SHIFT)
		if res >= 0 && !l.stopped {
			buf := l.bufMem[int(bid)*l.stride:][:l.stride]
			out := (*uring.RecvmsgOut)(unsafe.Pointer(&buf[0]))
			from := addrPortFrom(unsafe.Pointer(&buf[uring.SizeofRecvmsgOut]), min(out.NameLen, packetNameLen))
			// The kernel reports the datagram's whole length; the
			// buffer may hold more than room (its stride is rounded).
			l.pc.truncated = out.Flags&unix.MSG_TRUNC != 0 || int(out.PayloadLen) > l.room
			l.s.h.OnPacket(l.pc, buf[packetHdrLen:][:min(int(out.PayloadLen), l.room)], from)
			l.pc.truncated = false
		}
		l.recycle(bid)
	}
	if flags&uring.IORING_CQE_F_MORE != 0 {
		return
	}
	// The multishot ended: on -ENOBUFS (every buffer was in the CQ; they
	// are back once this reap ends), after a zero-length datagram (the
	// kernel's choice), for lack of CQ room, or on an error.
	l.armed = false
	switch {
	case l.stopped:
	case res >= 0 || res == -int32(unix.ENOBUFS):
		l.rearm = true
	default:
		l.ring.retryLater()
	}
}

// onSingle handles the completion of the single-shot receive into buffer
// i, and queues the next.
func (l *uringPacketLoop) onSingle(i int, res int32) {
	l.recvs--
	if l.stopped {
		return
	}
	if res < 0 {
		l.ring.retryLater() // once for all the idle buffers
		l.idle = append(l.idle, i)
		return
	}
	buf := l.bufMem[i*l.stride:][:l.stride]
	msg := (*unix.Msghdr)(unsafe.Pointer(&l.brMem[i*singleMsgSize]))
	from := addrPortFrom(unsafe.Pointer(&buf[uring.SizeofRecvmsgOut]), min(msg.Namelen, packetNameLen))
	l.pc.truncated = int(res) > l.room
	l.s.h.OnPacket(l.pc, buf[packetHdrLen:][:min(int(res), l.room)], from)
	l.pc.truncated = false
	l.armSingle(i)
}

// writeTo copies the datagram and its destination into a send slab, which
// keeps them until the CQE; flushSends prepares the send.
func (l *uringPacketLoop) writeTo(b []byte, to *unix.RawSockaddrInet6, tolen uint32) error {
	if l.stopped {
		return unix.ESHUTDOWN
	}
	id, off, rec, err := l.out.put(len(b))
	if err != nil {
		return err
	}
	*(*unix.RawSockaddrInet6)(unsafe.Pointer(&rec[0])) = *to
	*(*uint32)(unsafe.Pointer(&rec[sendRecLen])) = tolen
	copy(rec[sendRecHdr:], b)
	l.queued = append(l.queued, queuedSend{id: id, off: off, n: len(b)})
	l.gso.add(to, tolen, len(b), false)
	return nil
}

// record returns the bytes of the send record at off in slab id.
func (l *uringPacketLoop) record(id, off int) []byte { return l.out.slabs[id].mem[off:] }

// flushSends prepares the sends of this iteration's replies: one per group.
func (l *uringPacketLoop) flushSends() {
	if len(l.queued) == 0 {
		return
	}
	for _, g := range l.gso.groups {
		if g.count == 1 || !l.prepGroup(g) {
			for i := g.first; i >= 0; i = l.gso.next[i] {
				l.prepSend(l.queued[i])
			}
		}
	}
	l.queued = l.queued[:0]
	l.gso.reset()
}

// prepSend prepares the send of one queued reply.
func (l *uringPacketLoop) prepSend(q queuedSend) {
	rec := l.record(q.id, q.off)
	tolen := *(*uint32)(unsafe.Pointer(&rec[sendRecLen]))
	// A zero-length datagram's record may end where its slab does: no
	// byte at sendRecHdr to point at, and none to send.
	var p unsafe.Pointer
	if q.n > 0 {
		p = unsafe.Pointer(&rec[sendRecHdr])
	}
	sqe := l.sqe()
	if l.sendto {
		sqe.PrepSend(l.pc.fd, p, uint32(q.n), 0)
		sqe.Off = uint64(uintptr(unsafe.Pointer(&rec[0]))) // addr2: the destination
		*(*uint16)(unsafe.Pointer(&sqe.SpliceFdIn)) = uint16(tolen)
	} else {
		iov := (*unix.Iovec)(unsafe.Pointer(&rec[sendRecIov]))
		iov.Base = (*byte)(p)
		iov.SetLen(q.n)
		msg := (*unix.Msghdr)(unsafe.Pointer(&rec[sendRecMsg]))
		*msg = unix.Msghdr{Name: &rec[0], Namelen: tolen, Iov: iov, Iovlen: 1}
		sqe.PrepSendmsg(l.pc.fd, unsafe.Pointer(msg), 0)
	}
	sqe.UserData = udata(kindSend, uint32(q.off), uint32(q.id))
}

// A group's record, after the header (unused): its msghdr, the UDP_SEGMENT
// control message, the iovecs of its datagrams, then their queuedSends,
// which onSendGroup finds again from the msghdr's iovlen.
const groupMsg = sendRecHdr

// prepGroup prepares g as one send with UDP_SEGMENT, from a record of its
// own; false if there is no room for one (g then goes datagram by
// datagram). Each datagram's record stays queued in its slab until the
// group's CQE.
func (l *uringPacketLoop) prepGroup(g gsoGroup) bool {
	iovOff := groupMsg + int(unsafe.Sizeof(unix.Msghdr{})) + gsoCmsgSpace
	memOff := iovOff + g.count*int(unsafe.Sizeof(unix.Iovec{}))
	id, off, rec, err := l.out.put(memOff + g.count*int(unsafe.Sizeof(queuedSend{})) - sendRecHdr)
	if err != nil {
		return false
	}
	iovs := unsafe.Slice((*unix.Iovec)(unsafe.Pointer(&rec[iovOff])), g.count)
	mems := unsafe.Slice((*queuedSend)(unsafe.Pointer(&rec[memOff])), g.count)
	k := 0
	for i := g.first; i >= 0; i = l.gso.next[i] {
		q := l.queued[i]
		iovs[k].Base = &l.record(q.id, q.off)[sendRecHdr]
		iovs[k].SetLen(q.n)
		mems[k] = q
		k++
	}
	first := l.record(mems[0].id, mems[0].off)
	cmsg := rec[groupMsg+int(unsafe.Sizeof(unix.Msghdr{})):][:gsoCmsgSpace]
	putSegmentCmsg(cmsg, g.seg)
	msg := (*unix.Msghdr)(unsafe.Pointer(&rec[groupMsg]))
	*msg = unix.Msghdr{Name: &first[0], Namelen: *(*uint32)(unsafe.Pointer(&first[sendRecLen])), Iov: &iovs[0], Control: &cmsg[0]}
	msg.SetIovlen(g.count)
	msg.SetControllen(len(cmsg))
	sqe := l.sqe()
	sqe.PrepSendmsg(l.pc.fd, unsafe.Pointer(msg), 0)
	sqe.UserData = udata(kindSendGroup, uint32(off), uint32(id))
	return true
}

func (l *uringPacketLoop) onSend(ud uint64, res int32) {
	id, off := int(uint32(ud>>32)&0xFFFFFF), int(uint32(ud))
	if res < 0 && !l.stopped {
		to := addrPortFrom(unsafe.Pointer(&l.out.slabs[id].mem[off]), packetNameLen)
		l.s.h.OnSendError(l.pc, to, unix.Errno(-res))
	}
	l.out.done(id)
}

// onSendGroup ends a group's send. If the kernel refused it, its
// datagrams go again one by one, each to get its own verdict.
func (l *uringPacketLoop) onSendGroup(ud uint64, res int32) {
	id, off := int(uint32(ud>>32)&0xFFFFFF), int(uint32(ud))
	rec := l.record(id, off)
	msg := (*unix.Msghdr)(unsafe.Pointer(&rec[groupMsg]))
	n := int(msg.Iovlen)
	memOff := groupMsg + int(unsafe.Sizeof(unix.Msghdr{})) + gsoCmsgSpace + n*int(unsafe.Sizeof(unix.Iovec{}))
	mems := unsafe.Slice((*queuedSend)(unsafe.Pointer(&rec[memOff])), n)
	if res < 0 && !l.stopped {
		l.gso.refused(unix.Errno(-res), mems[0].n)
		for _, q := range mems {
			l.prepSend(q) // its record stays queued for this send
		}
	} else {
		for _, q := range mems {
			l.out.done(q.id)
		}
	}
	l.out.done(id)
}

// teardown cancels the receive and any send still waiting for room, waits
// until the kernel has let go of every buffer, then frees them.
func (l *uringPacketLoop) teardown() error {
	l.stopped = true
	for _, q := range l.queued { // never prepared: dropped, as Close says
		l.out.done(q.id)
	}
	l.queued = l.queued[:0]
	l.gso.reset()
	sqe := l.sqe()
	sqe.PrepCancelFd(l.pc.fd, uring.IORING_ASYNC_CANCEL_ALL)
	sqe.UserData = udata(kindCancel, 0, 0)
	l.ring.cancelTimers()
	busy := func() bool { return l.armed || l.recvs > 0 || l.out.busy() || l.ring.timing() }
	if err := drainRing(&l.ring, busy, l.reap); err != nil {
		// The kernel may still use the buffers and slabs: keep them.
		err = leak(l, err)
		l.bufMem, l.brMem, l.out = nil, nil, sendSlabs{cur: -1}
		l.ring.Close()
		l.tasks.close()
		return err
	}
	l.discard()
	return nil
}

// discard closes the ring and the loop's own fd and frees its memory,
// once; the socket is the server's.
func (l *uringPacketLoop) discard() {
	if l.bufMem == nil {
		return
	}
	if l.ring.Ring != nil {
		l.ring.Close()
	}
	l.tasks.close()
	unix.Munmap(l.bufMem)
	unix.Munmap(l.brMem)
	l.bufMem, l.brMem = nil, nil
	l.out.unmapAll()
}

// sendSlabs holds the datagrams WriteTo queued, in mmap'd slabs, until
// their sends complete. A slab is refilled from its start once every send
// from it has completed.
type sendSlabs struct {
	slabs  []*sendSlab // by id; nil once unmapped
	cur    int         // the slab being filled, or -1
	free   []int
	mapped int
}

type sendSlab struct {
	mem    []byte
	used   int // bytes of records written
	queued int // records written, each with its send
	done   int // of those, sends completed
}

// A record: the destination (room for a sockaddr_in6) and its length, the
// msghdr and iovec of a SENDMSG, then the datagram.
const (
	sendRecLen    = 28
	sendRecMsg    = 32
	sendRecIov    = sendRecMsg + unix.SizeofMsghdr
	sendRecHdr    = sendRecIov + unix.SizeofIovec
	sendSlabSize  = 256 << 10
	keptFreeSlabs = 4
)

// put reserves a record for an n-byte datagram and returns its slab, its
// offset and its bytes.
func (q *sendSlabs) put(n int) (int, int, []byte, error) {
	need := (sendRecHdr + n + 7) &^ 7
	if q.cur >= 0 && q.slabs[q.cur].used+need > sendSlabSize {
		if sl := q.slabs[q.cur]; sl.queued == sl.done {
			sl.used, sl.queued, sl.done = 0, 0, 0
		} else {
			q.cur = -1 // freed by its last send
		}
	}
	if q.cur < 0 {
		id, err := q.take()
		if err != nil {
			return 0, 0, nil, err
		}
		q.cur = id
	}
	sl := q.slabs[q.cur]
	off := sl.used
	sl.used += need
	sl.queued++
	return q.cur, off, sl.mem[off:sl.used], nil
}

func (q *sendSlabs) take() (int, error) {
	if n := len(q.free); n > 0 {
		id := q.free[n-1]
		q.free = q.free[:n-1]
		return id, nil
	}
	if q.mapped+sendSlabSize > maxQueuedBytes {
		return -1, unix.ENOBUFS
	}
	mem, err := unix.Mmap(-1, 0, sendSlabSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return -1, err
	}
	q.mapped += sendSlabSize
	sl := &sendSlab{mem: mem}
	for id, s := range q.slabs {
		if s == nil {
			q.slabs[id] = sl
			return id, nil
		}
	}
	q.slabs = append(q.slabs, sl)
	return len(q.slabs) - 1, nil
}

// done counts a completed send from slab id.
func (q *sendSlabs) done(id int) {
	sl := q.slabs[id]
	sl.done++
	if sl.done < sl.queued {
		return
	}
	sl.used, sl.queued, sl.done = 0, 0, 0
	if id == q.cur {
		return
	}
	if len(q.free) < keptFreeSlabs {
		q.free = append(q.free, id)
		return
	}
	unix.Munmap(sl.mem)
	q.slabs[id] = nil
	q.mapped -= sendSlabSize
}

// busy reports whether a send is still in flight.
func (q *sendSlabs) busy() bool {
	for _, sl := range q.slabs {
		if sl != nil && sl.done < sl.queued {
			return true
		}
	}
	return false
}

func (q *sendSlabs) unmapAll() {
	for id, sl := range q.slabs {
		if sl != nil {
			unix.Munmap(sl.mem)
			q.slabs[id] = nil
		}
	}
	q.free, q.cur, q.mapped = nil, -1, 0
}
