//go:build linux

package engine

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading ahead. A UDP socket that asked for a datagram queue
// (QueueDatagrams), where the ring's multishot receive does not serve it
// (the epoll backend; on the uring backend a socket whose turns wait on
// the ring, and the others at more than one P or without the multishot),
// reads ahead instead. A plain receive (data and sender,
// no flags, on a blocking socket) that finds nothing read ahead makes one
// recvmmsg(2) for its own datagram and up to aheadSlots-1 more, which the
// socket keeps in buffers of its own; the plain receives after it take
// those without a syscall. Under load one syscall then serves many
// datagrams, where each receive made its own; datagrams that come one at
// a time cost a recvmmsg(2) each, as they cost a recvmsg(2), and on the
// uring backend the recvmmsg(2) that finds nothing is followed by a ring
// receive of the datagram (turnOnRing), and the turns after it skip their
// recvmmsg(2) for a while (tryFirst).
//
// One reader at a time calls the kernel: it holds the socket's turn.
// Other readers wait for what it brings back, or for the turn, with their
// deadlines, timeouts, contexts and Close in force; so with one reader
// the datagrams come out in the kernel's order.
//
// What the program sees is what recvfrom(2) gives, with the differences
// of the multishot queue (uring_dgram.go):
//   - Datagrams leave the kernel's receive queue before a read asks for
//     them: up to aheadSlots-1 per socket.
//   - The first read that asks for more than data and sender (control
//     data, flags, a non-blocking socket, a raw read through RawConn, a
//     RecvMmsg batch) takes the socket off reading ahead for good, and
//     the datagrams already read ahead go, oldest first, to the reads
//     that follow. They were received with no room for control data, so
//     they carry none, and MSG_CTRUNC where the kernel had some. A raw
//     read sees only what came after them.
//   - A socket error (ECONNREFUSED on a connected socket, from an ICMP
//     port unreachable) comes out after the datagrams read ahead before
//     it arrived, where the kernel's receive reports it before those it
//     holds: asking for one before each datagram would cost a syscall
//     each. Once off reading ahead, a read asks first, as the kernel does.
//
// The buffers hold the largest UDP datagram each, so nothing is cut short
// that the reader's buffer could hold. They are mapped at the socket's
// first receive that finds a datagram already waiting, a sign that more
// may follow (a client whose every receive waits for its reply never
// maps them), as aheadSlots-1 times aheadSlotSize of address space, of
// which only the pages datagrams touch become resident; Close unmaps
// them.

const (
	aheadSlots = 16 // messages of one recvmmsg(2): the reader's own and aheadSlots-1 ahead
	// aheadSlotSize holds the largest datagram that IPv4 or IPv6 carries
	// without jumbograms.
	aheadSlotSize = 64 << 10
	// aheadQuietMax bounds the ring turns in a row that skip their
	// recvmmsg(2) after tries that found nothing (tryFirst).
	aheadQuietMax = 8
)

// readAhead is a socket's read-ahead state, made by its first read.
type readAhead struct {
	mu   sync.Mutex
	more chan struct{} // capacity 1: a nudge to a waiting reader that datagrams are there, or the turn is free
	busy bool          // a reader holds the turn: it is in recvmmsg(2), waits to make it, or waits in a ring receive of its own datagram (turnOnRing)
	off  bool          // the socket stopped reading ahead, for good

	// The datagrams read ahead, oldest first: messages head to end-1 of
	// the last recvmmsg(2). Message 0 was the turn holder's.
	head, end int

	// The recvmmsg(2) of the turn. Message 0 points at the turn holder's
	// buffer for the length of its turn, the others into mem.
	hdrs  [aheadSlots]unix.Mmsghdr
	iovs  [aheadSlots]unix.Iovec
	names [aheadSlots]unix.RawSockaddrAny
	mem   []byte // the buffers of messages 1 on, mmap'd; nil before the first burst

	// The turn's attempts, for rawIO: try is attempt, bound once.
	try   func(fd uintptr) bool
	s     *Socket
	tries int        // attempts of this turn so far
	again bool       // the last attempt found nothing: the next follows a wait
	n     int        // what the last attempt's recvmmsg(2) returned
	errno unix.Errno // and its error
	skip  int        // ring turns still to skip their try (tryFirst)
	quiet int        // turns the next empty try makes skip
}

// aheadState returns s's read-ahead state, making it on first use.
func (s *Socket) aheadState() *readAhead {
	if ra := s.ra.Load(); ra != nil {
		return ra
	}
	ra := &readAhead{more: make(chan struct{}, 1), s: s}
	ra.try = ra.attempt
	for i := range ra.hdrs {
		h := &ra.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&ra.names[i]))
		h.Iov = &ra.iovs[i]
		h.SetIovlen(1)
	}
	if !s.ra.CompareAndSwap(nil, ra) {
		return s.ra.Load()
	}
	return ra
}

// nudge lets one waiting reader look again.
func (ra *readAhead) nudge() {
	select {
	case ra.more <- struct{}{}:
	default:
	}
}

// recvAhead is a plain receive on a socket that reads ahead. ok is false
// when the socket has stopped reading ahead: the caller serves the
// receive as it would without, after takeAhead.
func (s *Socket) recvAhead(p []byte, from bool, w *waitSpec) (r received, ok bool, err error) {
	ra := s.aheadState()
	var wt waiter
	defer wt.stop()
	for {
		ra.mu.Lock()
		switch {
		case ra.off:
			ra.mu.Unlock()
			ra.nudge() // for the next waiting reader, which leaves too
			return r, false, nil
		case ra.head < ra.end:
			r = ra.takeLocked([][]byte{p}, from, 0)
			// Another waiting reader may go on: to the next datagram,
			// or, with none left and the turn free, to the turn.
			next := ra.head < ra.end || !ra.busy
			ra.mu.Unlock()
			if next {
				ra.nudge()
			}
			return r, true, nil
		case !ra.busy:
			ra.busy = true
			ra.mu.Unlock()
			r, err = s.aheadTurn(ra, p, from, w)
			return r, true, err
		}
		ra.mu.Unlock()
		if err := wt.waitLazy(s, w, ra.more); err != nil {
			return r, true, err
		}
	}
}

// aheadTurn is the turn holder's receive: recvmmsg(2) into p and the
// buffers ahead, waiting for the first datagram as any receive does.
func (s *Socket) aheadTurn(ra *readAhead, p []byte, from bool, w *waitSpec) (r received, err error) {
	if len(p) > 0 {
		ra.iovs[0].Base = &p[0]
		ra.iovs[0].SetLen(len(p))
	}
	ra.tries, ra.again = 0, false
	onRing := false // the datagram came with a ring receive's completion
	if t, ok := s.e.b.(turnOnRing); !ok || !t.ringTurn(s) {
		err = s.e.b.rawIO(s, *w, ra.try)
	} else if !ra.tryFirst(s.fd) {
		// Nothing there, or lately nothing was: wait in a ring
		// receive of this datagram, into p itself.
		r, err = t.recvTurn(s, p, from, *w)
		onRing = true
	}
	ra.iovs[0] = unix.Iovec{} // p is the caller's again

	ra.mu.Lock()
	ra.busy = false
	if !onRing && err == nil && ra.errno != 0 {
		err = ra.errno
	}
	if !onRing && err == nil {
		h := &ra.hdrs[0]
		r = received{n: int(h.Len), flags: int(h.Hdr.Flags)}
		if from {
			r.from = Addr{raw: ra.names[0], n: h.Hdr.Namelen}
		}
	}
	ra.mu.Unlock()
	ra.nudge() // the turn is free, and datagrams may be there
	return r, err
}

// turnOnRing is a backend whose receives wait on the ring (uring): there
// a turn that finds nothing waits in a receive of its own datagram, which
// comes with the completion, where a wait for readiness in the netpoller
// also needed a second recvmmsg(2) to take it. Measured at two Ps, through
// the Berkeley API's Recvfrom and Sendto: in-process UDP ping-pong at 16
// flows (go test -bench UDPPingPong -cpu 1,2 ., where no datagram waits
// for a receive) did 0.75x net with the wait in the netpoller, 1.12x with
// it on the ring, and 1.39x with a ring receive per datagram and no
// reading ahead; the separate-process echo at 16 flows (bench -points
// udp-f16,udp-f1, where datagrams queue up) 1.20x, 1.04-1.21x and
// 0.81-0.87x; at one flow 0.96x, 1.00-1.13x and 1.10-1.18x.
//
// ringTurn says whether it does for s: not for a socket whose receives
// are syscalls first (ReceiveDatagramsNow, gonet's), which would try once
// more before it waited.
type turnOnRing interface {
	ringTurn(s *Socket) bool
	recvTurn(s *Socket, p []byte, from bool, w waitSpec) (received, error)
}

// tryFirst is a ring turn's recvmmsg(2) before it waits on the ring; it
// reports whether that took the turn's datagram. A try that finds nothing
// costs a syscall for no datagram, so after one the next turn skips its
// try, after a second in a row the next two, then four, up to
// aheadQuietMax; a try that finds a datagram ends the run. Datagrams that
// come one at a time then cost about one ring receive each, and a burst
// is read ahead again within aheadQuietMax receives of its start.
func (ra *readAhead) tryFirst(fd int) bool {
	if ra.skip > 0 {
		ra.skip--
		return false
	}
	if ra.try(uintptr(fd)) {
		ra.quiet = 0
		return true
	}
	ra.quiet = min(max(2*ra.quiet, 1), aheadQuietMax)
	ra.skip = ra.quiet
	return false
}

// attempt makes one recvmmsg(2) of the turn on fd without waiting, for
// rawIO; it reports whether the turn is done. The datagrams after the
// first become the read-ahead ones at once, under mu, so a reader that
// finds the socket off reading ahead finds every one of them there.
func (ra *readAhead) attempt(fd uintptr) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	vlen := 1
	if ra.mem != nil && !ra.off {
		vlen = aheadSlots
	}
	for i := range vlen {
		ra.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&ra.hdrs[0])), uintptr(vlen), unix.MSG_DONTWAIT, 0, 0)
	ra.n, ra.errno = int(n), e
	if e == unix.EAGAIN && ra.s.datagramReadShut(int(fd), ra.again) {
		// A blocking receive takes a datagram of 0 bytes, with no
		// sender, from a socket whose read side is shut down, as
		// mmsgBatch.attempt explains.
		h := &ra.hdrs[0]
		h.Len, h.Hdr.Namelen, h.Hdr.Flags = 0, 0, 0
		ra.n, ra.errno = 1, 0
	}
	ra.again = ra.errno == unix.EAGAIN
	ra.tries++
	if ra.errno != 0 {
		return !ra.again
	}
	ra.head, ra.end = 1, ra.n
	if ra.tries == 1 && ra.mem == nil && !ra.off {
		ra.mapLocked() // a datagram was waiting: more may follow
	}
	return true
}

// mapLocked maps the buffers ahead. Without them (mmap failed), reads go
// on one datagram each.
//
// Preconditions: ra.mu is held.
func (ra *readAhead) mapLocked() {
	mem, err := unix.Mmap(-1, 0, (aheadSlots-1)*aheadSlotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return
	}
	// A huge page would make a few small datagrams cost 2 MiB.
	unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	ra.mem = mem
	for i := 1; i < aheadSlots; i++ {
		ra.iovs[i].Base = &ra.slot(i)[0]
		ra.iovs[i].SetLen(aheadSlotSize)
	}
}

// slot returns the buffer of message i, from 1.
func (ra *readAhead) slot(i int) []byte {
	return ra.mem[(i-1)*aheadSlotSize:][:aheadSlotSize]
}

// takeLocked takes the oldest datagram read ahead (with MSG_PEEK, leaves
// it there) and scatters it over bufs, as recvmsg(2) with flags would;
// with from, it reports the sender.
//
// Preconditions: ra.mu is held; ra.head < ra.end.
func (ra *readAhead) takeLocked(bufs [][]byte, from bool, flags int) received {
	i := ra.head
	h := &ra.hdrs[i]
	data := ra.slot(i)[:h.Len]
	r := received{flags: int(h.Hdr.Flags)}
	for _, p := range bufs {
		r.n += copy(p, data[r.n:])
	}
	if int(h.Len) > r.n {
		r.flags |= unix.MSG_TRUNC
		if flags&unix.MSG_TRUNC != 0 {
			r.n = int(h.Len)
		}
	}
	if from {
		r.from = Addr{raw: ra.names[i], n: h.Hdr.Namelen}
	}
	if flags&unix.MSG_PEEK == 0 {
		ra.head++
	}
	return r
}

// leaveAhead takes s off reading ahead, for good: later receives go to
// the kernel once they have taken what was read ahead (takeAhead). A
// turn in progress takes no more ahead.
func (s *Socket) leaveAhead() {
	ra := s.aheadState()
	ra.mu.Lock()
	ra.off = true
	ra.mu.Unlock()
	ra.nudge() // a waiting reader leaves too
}

// takeAhead serves a receive from what s read ahead before it stopped, if
// anything: the data, the sender if asked for, no control data. MSG_PEEK
// leaves the datagram there; MSG_TRUNC returns its full length.
func (s *Socket) takeAhead(p []byte, flags int, from bool) (r received, ok bool, err error) {
	ra := s.leftAhead(flags)
	if ra == nil {
		return r, false, nil
	}
	defer ra.mu.Unlock()
	if err := s.errorAheadLocked(ra); err != nil {
		return r, true, err
	}
	return ra.takeLocked([][]byte{p}, from, flags), true, nil
}

// errorAheadLocked returns the socket's pending error, if it is off
// reading ahead: the kernel's receive reports it, and clears it, before
// the datagrams it holds (sock_error in __skb_recv_udp), and so before
// those read ahead, which it held when the error came.
//
// Preconditions: ra.mu is held.
func (s *Socket) errorAheadLocked(ra *readAhead) error {
	if !ra.off {
		return nil
	}
	return pendingError(s.fd)
}

// takeAheadBatch is takeAhead into up to len(msgs) messages, each
// scattered over its Buffers; with MSG_PEEK each gets the oldest one, as
// recvmmsg(2) peeks the head of the kernel's queue into every message. It
// returns how many it filled.
func (s *Socket) takeAheadBatch(msgs []Mmsg, flags int, from bool) (n int, err error) {
	ra := s.leftAhead(flags)
	if ra == nil {
		return 0, nil
	}
	defer ra.mu.Unlock()
	if err := s.errorAheadLocked(ra); err != nil {
		return 0, err
	}
	for n < len(msgs) && ra.head < ra.end {
		m := &msgs[n]
		r := ra.takeLocked(m.Buffers, from, flags)
		m.N, m.OOBN, m.Flags = r.n, 0, r.flags
		if from {
			m.Addr = sockaddrInto(m.Addr, &r.from.raw, r.from.n)
		} else {
			m.Addr = nil
		}
		n++ // with MSG_PEEK the same datagram again, as recvmmsg(2) peeks it into each
	}
	return n, nil
}

// leftAhead returns s's read-ahead state, locked, if it holds datagrams a
// receive with flags may take; otherwise nil. Once s is off reading ahead
// and drained, it clears optReadAhead, and later reads skip all this.
func (s *Socket) leftAhead(flags int) *readAhead {
	ra := s.ra.Load()
	if ra == nil || flags&unix.MSG_ERRQUEUE != 0 {
		return nil
	}
	ra.mu.Lock()
	if ra.head < ra.end {
		return ra
	}
	if ra.off {
		s.opts.And(^optReadAhead) // no turn adds any once off
	}
	ra.mu.Unlock()
	return nil
}

// freeAhead unmaps s's buffers ahead, once Close has seen every op leave,
// and drops the iovecs that point into them: a Go pointer left into
// unmapped memory, which the runtime may map again for its heap, is one
// the garbage collector may take for a bad pointer into a span.
func (s *Socket) freeAhead() {
	if ra := s.ra.Load(); ra != nil && ra.mem != nil {
		clear(ra.iovs[:])
		unix.Munmap(ra.mem)
		ra.mem = nil
	}
}

// recvPlainAhead reports whether a receive on s that reads ahead is a
// plain one, which reading ahead serves.
func recvPlainAhead(s *Socket, oob []byte, flags int) bool {
	return len(oob) == 0 && flags == 0 && !s.nonblock
}

// recvAheadOr serves a receive on a socket that reads ahead: a plain one
// from what it read ahead; any other takes it off reading ahead for good
// and gets what was read ahead first. ok is false when the backend must
// serve the receive.
func (s *Socket) recvAheadOr(p, oob []byte, flags int, from bool, w *waitSpec) (r received, ok bool, err error) {
	if flags&unix.MSG_ERRQUEUE != 0 {
		return r, false, nil
	}
	if recvPlainAhead(s, oob, flags) {
		if r, ok, err = s.recvAhead(p, from, w); ok {
			return r, true, err
		}
	} else {
		s.leaveAhead()
	}
	return s.takeAhead(p, flags, from)
}
