//go:build linux && !android

package engine

import (
	"os"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// The socket calls on the ring. Where the probe (or KSOCKET_FEATURES) says
// the kernel lacks an op, the call makes the plain syscall instead; those
// calls never block, so nothing is lost but a few syscalls.

func init() {
	// The ops this file issues; a restricted ring allows these and the
	// other files' (restrict.go), when the kernel has them.
	engineUses(
		RingOp{uring.IORING_OP_SOCKET, "SOCKET"},
		RingOp{uring.IORING_OP_BIND, "BIND"},
		RingOp{uring.IORING_OP_LISTEN, "LISTEN"},
		RingOp{uring.IORING_OP_CONNECT, ""},
		RingOp{uring.IORING_OP_ACCEPT, ""},
		RingOp{uring.IORING_OP_SEND, ""},
		RingOp{uring.IORING_OP_SENDMSG, ""},
		RingOp{uring.IORING_OP_RECV, ""},
		RingOp{uring.IORING_OP_RECVMSG, ""},
		RingOp{uring.IORING_OP_POLL_ADD, ""}, // rawIO, unix datagram sends
		RingOp{uring.IORING_OP_URING_CMD, "SOCKOPT"},
		RingOp{uring.IORING_OP_ASYNC_CANCEL, ""}, // evict
		RingOp{uring.IORING_OP_CLOSE, "CLOSE"},
		RingOp{uring.IORING_OP_SPLICE, "SPLICE"},
	)
}

var noWait = &waitSpec{}

func (b *uringBackend) name() string { return "uring" }
func (b *uringBackend) info() *Info  { return &b.inf }

// fdFlags are the flags of every kernel socket of this backend. The fd is
// non-blocking, as net's are, whatever the Berkeley user asked for: a
// syscall.RawConn callback that calls read(2) must get EAGAIN, not block
// its thread past deadlines and Close. A user's SOCK_NONBLOCK lives in
// Socket.nonblock instead.
//
// Ring ops mostly ignore O_NONBLOCK: they try without waiting and then
// wait on the ring's own poll. But an op the kernel hands to an io-wq
// worker (a poll that fired for data another reader took first, say) runs
// the blocking path, where recvmsg(2), sendmsg(2), accept(2) and
// connect(2) do read O_NONBLOCK, and end with EAGAIN or EINPROGRESS. A
// blocking call then waits for readiness on the ring and tries again, as
// net does (see wouldBlock); the Berkeley semantics stay blocking.
const fdFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// wouldBlock reports whether err is an EAGAIN that the fd's own O_NONBLOCK
// caused in a call that must wait: the user asked for neither
// SOCK_NONBLOCK nor MSG_DONTWAIT.
func wouldBlock(s *Socket, flags int, err error) bool {
	return err == unix.EAGAIN && !s.nonblock && flags&unix.MSG_DONTWAIT == 0
}

// pollWait waits on the ring until s is ready for events, or the wait
// ends (deadline, timeout, context, Close). It returns the events the
// kernel reported.
func (b *uringBackend) pollWait(s *Socket, w *waitSpec, events uint32) (uint32, error) {
	r, err := b.do(s, w, func(sqe *uring.SQE, _ *opState) { sqe.PrepPollAdd(s.fd, events) })
	if err != nil {
		return 0, err
	}
	b.put(r)
	return uint32(r.res), nil
}

func (b *uringBackend) socket(domain, typ, proto int) (int, error) {
	typ |= fdFlags
	if !b.useSocket {
		return unix.Socket(domain, typ, proto)
	}
	r, err := b.do(nil, noWait, func(sqe *uring.SQE, _ *opState) {
		sqe.PrepSocket(domain, typ, proto) // IORING_OP_SOCKET: Linux 5.19+
	})
	if err != nil {
		return -1, err
	}
	b.put(r)
	return int(r.res), nil
}

// simple runs an op that needs nothing back but its result.
func (b *uringBackend) simple(s *Socket, w *waitSpec, prep func(*uring.SQE, *opState)) error {
	r, err := b.do(s, w, prep)
	if err == nil {
		b.put(r)
	}
	return err
}

func (b *uringBackend) bind(s *Socket, sa unix.Sockaddr) error {
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		return err
	}
	if !b.useBind {
		return bindRaw(s.fd, &raw, n)
	}
	return b.simple(s, noWait, func(sqe *uring.SQE, st *opState) {
		st.k.sa = raw
		sqe.PrepBind(s.fd, unsafe.Pointer(&st.k.sa), n) // IORING_OP_BIND: Linux 6.11+
	})
}

func (b *uringBackend) listen(s *Socket, backlog int) error {
	if !b.useListen {
		return unix.Listen(s.fd, backlog)
	}
	return b.simple(s, noWait, func(sqe *uring.SQE, _ *opState) {
		sqe.PrepListen(s.fd, backlog) // IORING_OP_LISTEN: Linux 6.11+
	})
}

func (b *uringBackend) connect(s *Socket, sa unix.Sockaddr, wv waitSpec) error {
	w := &wv
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		return err
	}
	if s.nonblock {
		// A non-blocking connect reports EINPROGRESS; the ring would wait.
		return connectRaw(s.fd, &raw, n)
	}
	err = b.simple(s, w, func(sqe *uring.SQE, st *opState) {
		st.k.sa = raw
		sqe.PrepConnect(s.fd, unsafe.Pointer(&st.k.sa), n)
	})
	if err != unix.EINPROGRESS {
		return err // EALREADY too: a blocking connect(2) says it at once
	}
	// Run by an io-wq worker on the non-blocking fd (fdFlags): wait for
	// the outcome and read it, as a non-blocking connect(2)'s caller does.
	if _, err := b.pollWait(s, w, unix.POLLOUT); err != nil {
		return err
	}
	if soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		if err == nil {
			err = unix.Errno(soerr)
		}
		return err
	}
	return nil
}

func (b *uringBackend) disconnect(s *Socket) error {
	return b.simple(s, noWait, func(sqe *uring.SQE, st *opState) {
		st.k.sa = unix.RawSockaddrAny{} // family AF_UNSPEC
		sqe.PrepConnect(s.fd, unsafe.Pointer(&st.k.sa), unix.SizeofSockaddrInet4)
	})
}

func (b *uringBackend) accept(s *Socket, wv waitSpec) (int, unix.Sockaddr, error) {
	w := &wv
	if s.nonblock && !b.useAcceptDontwait {
		nfd, sa, err := unix.Accept4(s.fd, fdFlags)
		return nfd, sa, err
	}
	if !s.nonblock && s.has(optQueueAccepts) {
		return b.acceptQueued(s, w)
	}
	for {
		nfd, sa, err := b.acceptOnce(s, w)
		if !wouldBlock(s, 0, err) {
			return nfd, sa, err
		}
		if _, err := b.pollWait(s, w, unix.POLLIN); err != nil {
			return -1, nil, err
		}
	}
}

func (b *uringBackend) acceptOnce(s *Socket, w *waitSpec) (int, unix.Sockaddr, error) {
	r, err := b.do(s, w, func(sqe *uring.SQE, st *opState) {
		st.k.salen = unix.SizeofSockaddrAny
		sqe.PrepAccept(s.fd, unsafe.Pointer(&st.k.sa), &st.k.salen, fdFlags)
		if s.nonblock {
			sqe.Ioprio = uring.IORING_ACCEPT_DONTWAIT // Linux 6.10+
		}
	})
	if err != nil {
		return -1, nil, err
	}
	sa := sockaddrFrom(&r.st.k.sa, r.st.k.salen)
	b.put(r)
	return int(r.res), sa, nil
}

// maxIO caps one op's length: the SQE length field is 32 bits, and the
// kernel moves at most MAX_RW_COUNT per call anyway.
const maxIO = 1 << 30

// ioBuf returns the address and length that the kernel is to use for p,
// the data of the op in st: with area (dataArea's answer) the slot's area
// there, into which a send's data is copied now and out of which finish
// copies a plain receive's; with noArea p itself, pinned until the final
// CQE. recv says which way the data goes.
//
// A Pin and its Unpin each take the lock of the slice's span, and at two
// Ps the small buffers of different connections share spans, so the
// lock's line passes between the CPUs: measured on in-process 64 B
// ping-pong, pinning took 6% of the CPU at 64 connections and two Ps, and
// leaving it out made a round trip 4-10% faster, against the copy's few
// nanoseconds. The slot's own fields carry the data, not an area of its
// own: one of 256 bytes made every idle connection 0.47 KiB bigger (bench
// -points idle, 10,000 connections: 5.00 KiB against net's 4.57).
func ioBuf(st *opState, p []byte, recv bool, area uintptr) (unsafe.Pointer, uint32) {
	if area == noArea {
		return pinBuf(st, p)
	}
	st.warm = true
	b := st.k.area(area, len(p))
	if recv {
		st.buf, st.bounced = unsafe.Pointer(&p[0]), uint16(len(p))
	} else {
		copy(b, p)
	}
	return unsafe.Pointer(&b[0]), uint32(len(p))
}

// noArea is dataArea's answer for data that is pinned.
const noArea = 0

// dataArea returns where an op whose slot is free from off on (plainArea,
// toArea) carries p there: off if p fits, else noArea. Its answer also
// says which free list the op's slot comes from (alloc's warm).
func dataArea(p []byte, off uintptr) uintptr {
	if len(p) == 0 || len(p) > int(unsafe.Sizeof(kslot{})-off) {
		return noArea
	}
	return off
}

// pinBuf pins p for the op in st and returns its address and length,
// whatever its size: for data that does not fit its slot (ioBuf), for a
// receive whose count need not be what the kernel wrote (MSG_TRUNC: TCP
// discards the bytes it counts and writes none), which finish must not
// copy out of the slot, and for a send whose pages the kernel keeps past
// the CQE (MSG_ZEROCOPY).
func pinBuf(st *opState, p []byte) (unsafe.Pointer, uint32) {
	if len(p) == 0 {
		return nil, 0
	}
	p = p[:min(len(p), maxIO)]
	st.pin.Pin(&p[0])
	st.buf = unsafe.Pointer(&p[0])
	return unsafe.Pointer(&p[0]), uint32(len(p))
}

func (b *uringBackend) send(s *Socket, p, oob []byte, flags int, to Addr, wv waitSpec) (int, error) {
	w := &wv
	flags |= unix.MSG_NOSIGNAL
	if s.nonblock {
		flags |= unix.MSG_DONTWAIT
	}
	if s.domain == unix.AF_UNIX && s.sotype != unix.SOCK_STREAM && flags&unix.MSG_DONTWAIT == 0 {
		// unix_dgram_sendmsg copies the data out of the iovec before it
		// finds the peer's queue full; io_uring's retry after EAGAIN then
		// sends from the spent iovec, an empty datagram. Wait for room
		// and send without waiting, each time with a fresh request.
		//
		// For a socket with no connected peer, POLLOUT speaks of its own
		// send buffer only, not of the destination's queue
		// (unix_dgram_poll), so a send can fail again right after the
		// poll. From the second round on, a growing pause keeps this loop
		// from spinning, and lets the deadline end it.
		pause := time.Duration(0)
		for {
			n, err := b.sendOnce(s, p, oob, flags|unix.MSG_DONTWAIT, &to, w)
			if err != unix.EAGAIN {
				return n, err
			}
			if pause > 0 {
				if err := b.sleep(s, w, pause); err != nil {
					return 0, err
				}
			}
			pause = min(max(2*pause, 50*time.Microsecond), 10*time.Millisecond)
			if _, err := b.pollWait(s, w, unix.POLLOUT); err != nil {
				return 0, err
			}
		}
	}
	if s.has(optSendNow) {
		if n, done, err := sendDatagramNow(s, p, oob, flags, &to); done {
			return n, err
		}
	}
	for {
		n, err := b.sendOnce(s, p, oob, flags, &to, w)
		if !wouldBlock(s, flags, err) {
			return n, err
		}
		if _, err := b.pollWait(s, w, unix.POLLOUT); err != nil {
			return 0, err
		}
	}
}

// write is send with no flags, destination, control data, timeout or
// context, which on a stream keeps going until all of p is sent. Like read
// it keeps its frames few and small, and leaves anything unusual to send.
func (b *uringBackend) write(s *Socket, p []byte) (int, error) {
	if s.nonblock || s.domain == unix.AF_UNIX && s.sotype != unix.SOCK_STREAM || s.has(optSendNow) {
		return b.writeSlow(s, p)
	}
	sh := b.shardOf(s)
	total := 0
	for {
		idx, st, pending, err := sh.startIO(s, &writeWait, uring.IORING_OP_SEND, p[total:], unix.MSG_NOSIGNAL)
		if err != nil {
			return total, err
		}
		if pending {
			err = sh.await(&s.wdl, idx, st)
		}
		n, err := sh.result(s, idx, st, err)
		if wouldBlock(s, 0, err) {
			n, err = b.writeSlow(s, p[total:])
		}
		total += n
		if err != nil || s.sotype != unix.SOCK_STREAM || total >= len(p) {
			return total, err
		}
	}
}

// writeSlow is one send through send, which also waits out the EAGAIN of
// an io-wq worker, honours SOCK_NONBLOCK, handles unix datagrams and
// sends datagrams now (SendDatagramsNow).
//
//go:noinline
func (b *uringBackend) writeSlow(s *Socket, p []byte) (int, error) {
	return b.send(s, p, nil, 0, Addr{}, writeWait)
}

// sleep waits for d, or until the op's deadline, timeout or context ends
// it, or Close.
func (b *uringBackend) sleep(s *Socket, w *waitSpec, d time.Duration) error {
	wt := newWaiter(s, w)
	defer wt.stop()
	up := make(chan struct{})
	t := time.AfterFunc(d, func() { close(up) })
	defer t.Stop()
	return wt.wait(up, s.closingCh())
}

// sendDatagramNow sends with sendto(2) or sendmsg(2) without waiting, for a
// socket that opted in with SendDatagramsNow; done is false when the
// socket had no room and the caller should wait on the ring.
func sendDatagramNow(s *Socket, p, oob []byte, flags int, to *Addr) (int, bool, error) {
	var n int
	var err error
	if len(oob) == 0 {
		n, err = sendtoRaw(s.fd, p, &to.raw, to.n, flags|unix.MSG_DONTWAIT) // no msghdr to copy in
	} else {
		n, err = sendmsgRaw(s.fd, p, oob, &to.raw, to.n, flags|unix.MSG_DONTWAIT)
	}
	if err == unix.EAGAIN && flags&unix.MSG_DONTWAIT == 0 {
		return 0, false, nil
	}
	return n, true, err
}

// sendOnce is one SEND request, with the destination in the SQE where the
// kernel takes one there (6.1), or SENDMSG with control data or before:
// SEND spares the kernel copying in a msghdr. Measured on the Berkeley
// API's Recvfrom/Sendto echo of 64 B datagrams at 16 flows, one P, three
// alternating rounds: 115.5k against 117.1k datagrams/s, within noise.
func (b *uringBackend) sendOnce(s *Socket, p, oob []byte, flags int, to *Addr, w *waitSpec) (int, error) {
	n := to.n
	plain, addr2 := n == 0 && len(oob) == 0, len(oob) == 0 && b.useSendto
	area := uintptr(noArea) // with MSG_ZEROCOPY, or a msghdr filling the slot
	switch {
	case flags&unix.MSG_ZEROCOPY != 0:
		// The kernel holds zerocopy pages past the CQE, until its
		// notification: not the slot's, which the next op overwrites.
	case plain:
		area = dataArea(p, plainArea)
	case addr2:
		area = dataArea(p, toArea)
	}
	r, err := b.shardOf(s).doData(s, w, area != noArea, func(sqe *uring.SQE, st *opState) {
		addr, l := ioBuf(st, p, false, area)
		if plain {
			sqe.PrepSend(s.fd, addr, l, flags)
			return
		}
		k := st.k
		k.sa = to.raw
		if addr2 {
			sqe.PrepSend(s.fd, addr, l, flags)
			sqe.Off = uint64(uintptr(unsafe.Pointer(&k.sa))) // addr2: the destination
			*(*uint16)(unsafe.Pointer(&sqe.SpliceFdIn)) = uint16(n)
			return
		}
		k.msg = rawMsghdr{namelen: n}
		if n > 0 {
			k.msg.name = uintptr(unsafe.Pointer(&k.sa))
		}
		setMsgBufs(st, addr, l, oob)
		sqe.PrepSendmsg(s.fd, unsafe.Pointer(&k.msg), flags)
	})
	if err != nil {
		return 0, err
	}
	b.put(r)
	return int(r.res), nil
}

// setMsgBufs points the slot's msghdr at the data (already pinned by
// ioBuf) and at oob, which it pins.
func setMsgBufs(st *opState, addr unsafe.Pointer, l uint32, oob []byte) {
	k := st.k
	k.iov = rawIovec{base: uintptr(addr), len: uintptr(l)}
	k.msg.iov, k.msg.iovlen = uintptr(unsafe.Pointer(&k.iov)), 1
	if len(oob) > 0 {
		st.pin.Pin(&oob[0])
		st.oob = unsafe.Pointer(&oob[0])
		k.msg.control, k.msg.controllen = uintptr(unsafe.Pointer(&oob[0])), uintptr(len(oob))
	}
}

func (b *uringBackend) recv(s *Socket, p, oob []byte, flags int, want recvWant, wv waitSpec) (received, error) {
	from := want.sender()
	w := &wv
	if b.queues(s) {
		if queuedRead(s, oob, flags) {
			if r, ok, err := b.recvQueued(s, p, from, w); ok {
				return r, err
			}
		} else if flags&unix.MSG_ERRQUEUE == 0 {
			b.leaveQueue(s)
		}
		if r, ok, err := b.takeLeft(s, p, flags, from); ok {
			return r, err
		}
	} else if s.has(optRecvNow) && flags&unix.MSG_ERRQUEUE == 0 {
		if r, done, err := b.recvDatagramNow(s, p, oob, flags, want, w); done {
			return r, err
		}
	}
	if s.nonblock {
		flags |= unix.MSG_DONTWAIT
	}
	shut := false
	for {
		r, err := b.recvOnce(s, p, oob, flags, from, w)
		if !wouldBlock(s, flags, err) || flags&unix.MSG_ERRQUEUE != 0 {
			return r, err
		}
		if shut {
			// Readable for its shut-down receive side, yet empty: a
			// blocking receive returns 0 there, where a non-blocking
			// one says EAGAIN (__skb_recv_datagram: a datagram socket
			// after shutdown(SHUT_RD)).
			return received{}, nil
		}
		ev, err := b.pollWait(s, w, unix.POLLIN|unix.POLLRDHUP)
		if err != nil {
			return received{}, err
		}
		shut = ev&(unix.POLLRDHUP|unix.POLLHUP) != 0
	}
}

// recvDatagramNow is recv for a socket that receives datagrams now
// (ReceiveDatagramsNow): one receive now (recvRawMsg), and where that
// found nothing and the receive must wait, on a socket whose raw waits are
// in the netpoller, the whole receive as the epoll backend makes it, on the
// socket's netpoller half; otherwise done is false and the caller should
// wait on the ring. The netpoller half, a duplicate of the fd, is made for
// a wait only, as rawIO makes it: a receive that needs none (a datagram
// there, MSG_DONTWAIT, SOCK_NONBLOCK) costs no fd.
func (b *uringBackend) recvDatagramNow(s *Socket, p, oob []byte, flags int, want recvWant, w *waitSpec) (r received, done bool, err error) {
	netpoll := s.has(optRawNetpoll)
	ep := s.ep.Load()
	if !netpoll || ep == nil {
		r, err = recvRawMsg(s.fd, p, oob, flags|unix.MSG_DONTWAIT, want)
		if err != unix.EAGAIN || s.nonblock || flags&unix.MSG_DONTWAIT != 0 {
			return r, true, err
		}
		if !netpoll {
			return received{}, false, nil
		}
		if ep, _ = b.pollHalf(s); ep == nil {
			// No fd for the netpoller half (at the fd limit, say): the
			// ring's way.
			return received{}, false, nil
		}
	}
	r, err = ep.recv(s, p, oob, flags, want, w)
	return r, true, err
}

// read is recv with no flags, sender, control data, timeout or context:
// how an idle connection waits. It keeps its frames few and small (see
// await), and leaves anything unusual to recv.
func (b *uringBackend) read(s *Socket, p []byte) (int, error) {
	if s.nonblock || b.queues(s) || s.has(optRecvNow) {
		return b.readSlow(s, p)
	}
	sh := b.shardOf(s)
	idx, st, pending, err := sh.startIO(s, &readWait, uring.IORING_OP_RECV, p, 0)
	if err != nil {
		return 0, err
	}
	if pending {
		err = sh.await(&s.rdl, idx, st)
	}
	n, err := sh.result(s, idx, st, err)
	if wouldBlock(s, 0, err) {
		return b.readSlow(s, p)
	}
	return n, err
}

// result is finish for an op whose result is a count, freeing its slot.
func (sh *shard) result(s *Socket, idx uint32, st *opState, reason error) (int, error) {
	r, err := sh.finish(s, idx, st, reason)
	if err != nil {
		return 0, err
	}
	sh.put(r)
	return int(r.res), nil
}

// readSlow is read through recv, which also waits out the EAGAIN of an
// io-wq worker (see fdFlags) and honours SOCK_NONBLOCK.
//
//go:noinline
func (b *uringBackend) readSlow(s *Socket, p []byte) (int, error) {
	r, err := b.recv(s, p, nil, 0, recvData, readWait)
	return r.n, err
}

// recvOnce is one RECV request, or RECVMSG for the sender or control data.
func (b *uringBackend) recvOnce(s *Socket, p, oob []byte, flags int, from bool, w *waitSpec) (received, error) {
	msg := from || len(oob) > 0
	// A msghdr fills the slot, and TCP writes none of what MSG_TRUNC
	// counts, which finish would copy out.
	area := uintptr(noArea)
	if !msg && flags&unix.MSG_TRUNC == 0 {
		area = dataArea(p, plainArea)
	}
	r, err := b.shardOf(s).doData(s, w, area != noArea, func(sqe *uring.SQE, st *opState) {
		addr, l := ioBuf(st, p, true, area)
		if !msg {
			sqe.PrepRecv(s.fd, addr, l, flags)
			return
		}
		k := st.k
		k.msg = rawMsghdr{name: uintptr(unsafe.Pointer(&k.sa)), namelen: unix.SizeofSockaddrAny}
		setMsgBufs(st, addr, l, oob)
		sqe.PrepRecvmsg(s.fd, unsafe.Pointer(&k.msg), flags)
	})
	if err != nil {
		return received{}, err
	}
	got := received{n: int(r.res)}
	if msg {
		k := r.st.k
		got.from = Addr{raw: k.sa, n: k.msg.namelen}
		got.flags = int(k.msg.flags)
		got.oobn = int(k.msg.controllen)
	}
	b.put(r)
	return got, nil
}

// splice is one IORING_OP_SPLICE, or splice(2) where the op is masked or
// the caller did not ask for the ring; into s it waits for room, out of s
// for data, on the ring between tries. The kernel runs every splice
// request on an io-wq worker: a hop that pays for itself on a file's
// megabytes, not on a socket's few bytes. (Where the op is masked, and
// at more than one P, SendFile does not come here: it makes sendfile(2).)
func (b *uringBackend) splice(s *Socket, in int, offIn int64, out int, n int, wv waitSpec, ring bool) (int, error) {
	w := &wv
	for {
		var k int
		var err error
		if ring && b.useSplice {
			var r opResult
			r, err = b.do(s, w, func(sqe *uring.SQE, _ *opState) {
				sqe.PrepSplice(in, offIn, out, -1, uint32(n), spliceFlags)
			})
			if err == nil {
				k = int(r.res)
				b.put(r)
			}
		} else {
			k, err = spliceRaw(in, offIn, out, n)
		}
		if err != unix.EAGAIN || (out != s.fd && in != s.fd) {
			return k, err
		}
		events := uint32(unix.POLLOUT)
		if in == s.fd {
			events = unix.POLLIN | unix.POLLRDHUP
		}
		if _, err := b.pollWait(s, w, events); err != nil {
			return 0, err
		}
	}
}

// spliceOp reports whether SendFile may use IORING_OP_SPLICE (Linux
// 5.7+): the kernel has it and KSOCKET_FEATURES does not mask it.
func (b *uringBackend) spliceOp() bool { return b.useSplice }

// shutdown is shutdown(2) on every kernel, though Linux 5.11 has
// IORING_OP_SHUTDOWN. The kernel runs that op on an io-wq worker, always,
// and frees the request, and with it the op's reference to the socket's
// file, by task work on the thread that entered the ring for it. Under
// COOP_TASKRUN nothing interrupts that thread for it, so when it sleeps or
// runs Go code the reference can outlive a Close by milliseconds: the
// socket is not released, and its peer sees no FIN or RST, until then
// (FuzzDifferentialSequence's seed 60566ff7c544d0c4, at GOMAXPROCS=2).
// shutdown(2) never blocks and skips the worker's hand-off.
func (b *uringBackend) shutdown(s *Socket, how int) error {
	err := unix.Shutdown(s.fd, how)
	if how != unix.SHUT_WR && b.queues(s) {
		// A multishot stays armed and silent on a shut-down receive
		// side, where a read must return 0: reads go single-shot from
		// here on. (ENOTCONN, on an unconnected UDP socket, still shut
		// the receive side.)
		b.leaveQueue(s)
	}
	return err
}

func (b *uringBackend) setsockopt(s *Socket, level, opt int, val []byte) error {
	if !b.useSetsockopt || len(val) > len(kslot{}.opt) {
		return setsockoptRaw(s.fd, level, opt, val)
	}
	return b.simple(s, noWait, func(sqe *uring.SQE, st *opState) {
		copy(st.k.opt[:], val)
		// SOCKET_URING_OP_SETSOCKOPT: Linux 6.7+.
		sqe.PrepSockCmd(uring.SOCKET_URING_OP_SETSOCKOPT, s.fd, level, opt, unsafe.Pointer(&st.k.opt), uint32(len(val)))
	})
}

func (b *uringBackend) getsockoptInt(s *Socket, level, opt int) (int, error) {
	// SOCKET_URING_OP_GETSOCKOPT (Linux 6.7+) serves SOL_SOCKET only; the
	// kernel answers -EOPNOTSUPP for other levels.
	if !b.useGetsockopt || level != unix.SOL_SOCKET {
		return unix.GetsockoptInt(s.fd, level, opt)
	}
	r, err := b.do(s, noWait, func(sqe *uring.SQE, st *opState) {
		st.k.opt = [16]byte{}
		sqe.PrepSockCmd(uring.SOCKET_URING_OP_GETSOCKOPT, s.fd, level, opt, unsafe.Pointer(&st.k.opt), 4)
	})
	if err != nil {
		return 0, err
	}
	v := *(*int32)(unsafe.Pointer(&r.st.k.opt))
	b.put(r)
	return int(v), nil
}

func (b *uringBackend) control(s *Socket, f func(fd int) error) error { return f(s.fd) }

// rawIO waits for readiness with a one-shot IORING_OP_POLL_ADD between
// calls of f, so RawConn users park like every other op; or, on a socket
// whose raw waits are in the netpoller (RawWaitsInNetpoller), there.
func (b *uringBackend) rawIO(s *Socket, wv waitSpec, f func(fd uintptr) bool) error {
	w := &wv
	if w.mode == 'r' && b.queues(s) {
		b.leaveQueue(s) // what it queued waits for the ring's reads
	}
	// A deadline, timeout or context already over refuses the call before
	// f runs, as Go's RawConn and the epoll backend do.
	if err := waitOver(s, w); err != nil {
		return err
	}
	netpoll := s.has(optRawNetpoll)
	if ep := s.ep.Load(); netpoll && ep != nil {
		return netpollRawIO(ep, s, w, f)
	}
	events := uint32(unix.POLLIN | unix.POLLRDHUP)
	if w.mode == 'w' {
		events = unix.POLLOUT
	}
	for polled := false; !f(uintptr(s.fd)); polled = true {
		// A POLL_ADD on a ready socket completes at once, whatever
		// time is left: a callback that leaves the socket ready (data
		// it does not take, a shut-down read side) would spin past the
		// deadline, the timeout and the context, which must end it.
		if err := waitOver(s, w); err != nil {
			return err
		}
		// Nor may it spin before then. Go's netpoller is edge-triggered:
		// a RawConn function that finds a ready socket wanting waits for
		// the socket's next change, a MSG_PEEK for more bytes, say. So
		// this wait moves to the netpoller once a poll said ready to no
		// avail, and a socket whose raw waits are there moves at its
		// first. The duplicate of the fd is made for a wait only: a
		// function that needs none costs no fd. Without one (at the fd
		// limit, say), the wait is on the ring after all.
		if netpoll || polled {
			if ep, _ := b.pollHalf(s); ep != nil {
				return netpollRawIO(ep, s, w, f)
			}
		}
		if _, err := b.pollWait(s, w, events); err != nil {
			return err
		}
	}
	return nil
}

// netpollRawIO is rawIO's wait in the netpoller, on the socket's netpoller
// half ep; f gets the socket's own fd, not the duplicate's.
func netpollRawIO(ep *epollState, s *Socket, w *waitSpec, f func(fd uintptr) bool) error {
	fd := uintptr(s.fd)
	return ep.wait(s, w, func(uintptr) bool { return f(fd) })
}

// waitOver is why w may not wait again, its socket's deadline or its own
// timeout passed or its context done; nil if it may.
func waitOver(s *Socket, w *waitSpec) error {
	if err := s.deadline(w.mode).errIfExpired(); err != nil {
		return err
	}
	if !w.expire.IsZero() && !time.Now().Before(w.expire) {
		return os.ErrDeadlineExceeded
	}
	if w.ctx != nil {
		return w.ctx.Err()
	}
	return nil
}

func (b *uringBackend) setDeadline(s *Socket, mode byte, t time.Time) {
	dl := s.deadline(mode)
	dl.set(t)
	if ep := s.ep.Load(); ep != nil {
		// Raw waits in the netpoller follow it too. Racing setters each
		// apply the latest deadline, so the file ends with the last.
		d := dir(mode)
		ep.mu.Lock()
		ep.userDL[d] = dl.when()
		ep.applyLocked(d)
		ep.mu.Unlock()
	}
}

// pollHalf returns s's netpoller half for raw waits, making it at the
// first: an os.File on a duplicate of the fd, parked in Go's netpoller as
// the epoll backend's sockets are (the duplicate shares the open file,
// which is non-blocking already). Close's evict closes it.
func (b *uringBackend) pollHalf(s *Socket) (*epollState, error) {
	if ep := s.ep.Load(); ep != nil {
		return ep, nil
	}
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	ep, err := newEpollState(s, os.NewFile(uintptr(dup), "socket"))
	if err != nil {
		return nil, err
	}
	if !s.ep.CompareAndSwap(nil, ep) {
		ep.close() // another wait made it first
		return s.ep.Load(), nil
	}
	// The deadlines set until now are the ring's: copy them, under
	// ep.mu, as setDeadline applies them from now on.
	ep.mu.Lock()
	ep.userDL = [2]time.Time{s.rdl.when(), s.wdl.when()}
	ep.applyLocked(0)
	ep.applyLocked(1)
	ep.mu.Unlock()
	if s.Closed() {
		ep.close() // Close's evict may have looked before ep was there
	}
	return ep, nil
}

// evict queues one ASYNC_CANCEL for every op on the socket (FD|ALL, Linux
// 5.19+) on its home ring. Ops queue their SQEs under that ring's mu and
// check cancelQueued there, so every op the cancel must catch is ahead of
// it in the SQ, and no op can start after it.
func (b *uringBackend) evict(s *Socket) {
	if ep := s.ep.Load(); ep != nil {
		ep.close() // raw waits in the netpoller end with ErrClosed
	}
	sh := b.shardOf(s) // the cancel searches this ring only: the socket's home
	sh.mu.Lock()
	s.cancelQueued = true
	// Without a slot for it (mmap failed), pending ops end with their
	// deadlines or the peer.
	sh.submitDetachedAndUnlock(func(sqe *uring.SQE) { sqe.PrepCancelFd(s.fd, uring.IORING_ASYNC_CANCEL_ALL) })
}

// destroy closes the kernel socket: with the ring's CLOSE, but for a
// socket whose SO_LINGER makes close wait (optLinger), which close(2)
// closes on the caller's thread. The release of a lingering socket waits
// for its peer, and CLOSE runs that release on whichever thread entered
// the ring for it, at the end of the enter: another goroutine's or the
// reaper's, whose enter then held up every op of the ring for the linger
// (TestCloseLinger: a second connection went 1 s without a round trip).
// close(2) waits on the closing goroutine's own thread, which the
// scheduler sees blocked. A linger set through the raw fd (Control, a
// Dialer's or ListenConfig's Control) is not seen, and such a socket
// still closes on the ring: asking the kernel at every close would take a
// getsockopt, outside the ring or as one more ring op.
func (b *uringBackend) destroy(s *Socket) error {
	b.drainAccepts(s)
	b.drainDgrams(s)
	if !b.useClose || s.has(optLinger) {
		return unix.Close(s.fd)
	}
	return b.simple(nil, noWait, func(sqe *uring.SQE, _ *opState) {
		sqe.PrepClose(s.fd)
	})
}

// timespecOf converts d for the kernel; negative durations become zero.
func timespecOf(d time.Duration) uring.Timespec {
	if d < 0 {
		d = 0
	}
	return uring.Timespec{Sec: int64(d / time.Second), Nsec: int64(d % time.Second)}
}
