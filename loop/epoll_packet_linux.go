//go:build linux

package loop

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollPacketBatch is how many datagrams one recvmmsg or sendmmsg moves.
const epollPacketBatch = 64

// epollPacketLoop is one UDP event loop on epoll: recvmmsg(2) while the
// socket is readable, and the replies of each batch in sendmmsg(2) calls
// when it ends, grouped for segmentation offload as on io_uring.
type epollPacketLoop struct {
	s    *PacketServer
	pc   *PacketConn
	epfd int

	control // tasks and the stop flag, from any goroutine

	// Owned by the loop goroutine.
	events  []unix.EpollEvent
	in      []unix.Mmsghdr // recvmmsg's, each with one buffer and a name
	inIov   []unix.Iovec
	inNames []unix.RawSockaddrInet6
	inMem   []byte // epollPacketBatch buffers of room bytes, mmap'd
	room    int

	// Queued replies: their bytes in outData, in order.
	out      []queuedDatagram
	outData  []byte
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec
	cmsgs    []byte           // the groups' UDP_SEGMENT control messages
	gso      gsoGrouper       // the groups of the replies being sent
	scratch  []queuedDatagram // group's, to put the replies in order
	spare    []byte           // keep's, for the bytes of the replies left
	split    []gsoGroup       // flush's, for a refused group's single sends
	waitOut  bool             // the socket had no room: wait for EPOLLOUT
	outArmed bool             // EPOLLOUT is in the socket's epoll events
	stopped  bool
}

type queuedDatagram struct {
	off, n int
	to     unix.RawSockaddrInet6
	tolen  uint32
}

func newEpollPacketLoop(s *PacketServer, pc *PacketConn) (packetLoop, error) {
	l := &epollPacketLoop{s: s, pc: pc, room: s.cfg.BufferSize, events: make([]unix.EpollEvent, 8)}
	l.gso.init()
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if err = l.tasks.open(); err != nil {
		unix.Close(l.epfd)
		return nil, err
	}
	if l.inMem, err = unix.Mmap(-1, 0, epollPacketBatch*l.room, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		l.discard()
		return nil, err
	}
	for _, fd := range []int{pc.fd, l.tasks.efd} {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			l.discard()
			return nil, err
		}
	}
	l.in = make([]unix.Mmsghdr, epollPacketBatch)
	l.inIov = make([]unix.Iovec, epollPacketBatch)
	l.inNames = make([]unix.RawSockaddrInet6, epollPacketBatch)
	for i := range l.in {
		l.inIov[i].Base = &l.inMem[i*l.room]
		l.inIov[i].SetLen(l.room)
		l.in[i].Hdr.Iov = &l.inIov[i]
		l.in[i].Hdr.Iovlen = 1
		l.in[i].Hdr.Name = (*byte)(unsafe.Pointer(&l.inNames[i]))
	}
	return l, nil
}

func (l *epollPacketLoop) run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.discard()
	for !l.stopping.Load() {
		l.flush()
		n, err := unix.EpollWait(l.epfd, l.events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("loop: epoll_wait: %w", err)
		}
		for _, ev := range l.events[:n] {
			if int(ev.Fd) == l.tasks.efd {
				var b [8]byte
				unix.Read(l.tasks.efd, b[:])
				l.runTasks()
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				l.waitOut = false // flush tries again, and re-arms if need be
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLERR) != 0 {
				l.receive()
			}
		}
	}
	l.stopped = true
	return nil
}

// receive reads batches until the socket is empty.
func (l *epollPacketLoop) receive() {
	for !l.stopping.Load() {
		for i := range l.in {
			l.in[i].Hdr.Namelen = packetNameLen
			l.in[i].Hdr.Flags = 0
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(l.pc.fd), uintptr(unsafe.Pointer(&l.in[0])), uintptr(len(l.in)), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return // EAGAIN; nothing else is expected on an unconnected socket
		}
		for i := range int(r) {
			m := &l.in[i]
			from := addrPortFrom(unsafe.Pointer(&l.inNames[i]), min(m.Hdr.Namelen, packetNameLen))
			l.pc.truncated = m.Hdr.Flags&unix.MSG_TRUNC != 0
			l.s.h.OnPacket(l.pc, l.inMem[i*l.room:][:min(int(m.Len), l.room)], from)
		}
		l.pc.truncated = false
		if int(r) < len(l.in) {
			return
		}
	}
}

func (l *epollPacketLoop) writeTo(b []byte, to *unix.RawSockaddrInet6, tolen uint32) error {
	if l.stopped {
		return unix.ESHUTDOWN
	}
	if len(l.outData)+len(b) > maxQueuedBytes {
		return unix.ENOBUFS
	}
	l.out = append(l.out, queuedDatagram{off: len(l.outData), n: len(b), to: *to, tolen: tolen})
	l.outData = append(l.outData, b...)
	return nil
}

// flush sends the queued replies, grouped for segmentation offload
// (gso_linux.go), epollPacketBatch sends a call, until the socket has no
// room; EPOLLOUT then brings the loop back for the rest.
func (l *epollPacketLoop) flush() {
	if l.waitOut || len(l.out) == 0 && !l.outArmed {
		return
	}
	sent := 0
	for sent < len(l.out) { // OnSendError may queue more
		l.group(sent)
		groups := l.gso.groups
		var split []gsoGroup // a refused group's datagrams, to go one by one first
		for len(split) > 0 || len(groups) > 0 {
			q := &groups
			if len(split) > 0 {
				q = &split
			}
			batch := (*q)[:min(len(*q), epollPacketBatch)]
			l.prepBatch(batch)
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(l.pc.fd), uintptr(unsafe.Pointer(&l.hdrs[0])), uintptr(len(l.hdrs)), unix.MSG_DONTWAIT, 0, 0)
			switch {
			case errno == unix.EINTR:
			case errno == unix.EAGAIN:
				l.waitOut = true
				l.watchOut(true)
				l.keep(sent)
				return
			case errno != 0 && batch[0].count > 1:
				// The first send of the batch was refused: its
				// datagrams go again one by one, before the groups
				// after it (split is empty here: it holds only single
				// sends). Groups the refusal now rules out are
				// refused in their turn; nothing is regrouped.
				g := batch[0]
				l.gso.refused(errno, g.seg)
				*q = (*q)[1:]
				l.split = l.split[:0]
				for i := g.first; i <= g.last; i++ {
					n := l.out[i].n
					l.split = append(l.split, gsoGroup{first: i, last: i, count: 1, seg: n, bytes: n, closed: true})
				}
				split = l.split
			case errno != 0:
				// The first datagram of the batch failed: report it,
				// and go on with the next.
				d := l.out[sent]
				sent++
				*q = (*q)[1:]
				l.s.h.OnSendError(l.pc, addrPortFrom(unsafe.Pointer(&d.to), d.tolen), errno)
			default:
				for _, g := range (*q)[:r] {
					sent += g.count
				}
				*q = (*q)[r:]
			}
		}
	}
	l.keep(sent)
	l.watchOut(false)
}

// group puts the queued replies from the from'th on in the order of their
// sends, each group's datagrams in a row, and leaves the groups in l.gso
// with first and last as indexes into l.out.
func (l *epollPacketLoop) group(from int) {
	l.gso.reset()
	rest := l.out[from:]
	for i := range rest {
		l.gso.add(&rest[i].to, rest[i].tolen, rest[i].n, false)
	}
	l.scratch = l.scratch[:0]
	for gi := range l.gso.groups {
		g := &l.gso.groups[gi]
		start := int32(from + len(l.scratch))
		for i := g.first; i >= 0; i = l.gso.next[i] {
			l.scratch = append(l.scratch, rest[i])
		}
		g.first, g.last = start, start+int32(g.count)-1
	}
	copy(rest, l.scratch)
}

// prepBatch fills hdrs with one message per group of batch.
func (l *epollPacketLoop) prepBatch(batch []gsoGroup) {
	l.hdrs, l.iovs = l.hdrs[:0], l.iovs[:0]
	l.cmsgs = l.cmsgs[:0]
	for _, g := range batch {
		for _, d := range l.out[g.first : g.last+1] {
			iov := unix.Iovec{}
			if d.n > 0 {
				iov.Base = &l.outData[d.off]
				iov.SetLen(d.n)
			}
			l.iovs = append(l.iovs, iov)
		}
		if g.count > 1 {
			l.cmsgs = append(l.cmsgs, make([]byte, gsoCmsgSpace)...)
		}
	}
	iov, cm := 0, 0
	for _, g := range batch {
		d := &l.out[g.first]
		h := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&d.to)), Namelen: d.tolen, Iov: &l.iovs[iov]}
		h.SetIovlen(g.count)
		if g.count > 1 {
			c := l.cmsgs[cm:][:gsoCmsgSpace]
			putSegmentCmsg(c, g.seg)
			h.Control = &c[0]
			h.SetControllen(len(c))
			cm += len(c)
		}
		iov += g.count
		l.hdrs = append(l.hdrs, unix.Mmsghdr{Hdr: h})
	}
}

// watchOut adds EPOLLOUT to the socket's events, or takes it out.
func (l *epollPacketLoop) watchOut(on bool) {
	if l.outArmed == on {
		return
	}
	l.outArmed = on
	ev := uint32(unix.EPOLLIN)
	if on {
		ev |= unix.EPOLLOUT
	}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, l.pc.fd, &unix.EpollEvent{Events: ev, Fd: int32(l.pc.fd)})
}

// keep drops the first sent queued replies, and moves the bytes of the
// rest, which group may have put out of the order of outData, to the
// front of it in their new order.
func (l *epollPacketLoop) keep(sent int) {
	if sent == len(l.out) {
		l.out, l.outData = l.out[:0], l.outData[:0]
		return
	}
	n := copy(l.out, l.out[sent:])
	l.out = l.out[:n]
	data := l.spare[:0]
	for i := range l.out {
		d := &l.out[i]
		data = append(data, l.outData[d.off:d.off+d.n]...)
		d.off = len(data) - d.n
	}
	l.outData, l.spare = data, l.outData
}

// discard closes the loop's own fds and frees its buffers, once; the
// socket is the server's.
func (l *epollPacketLoop) discard() {
	if l.epfd < 0 {
		return
	}
	l.tasks.close()
	unix.Close(l.epfd)
	l.epfd = -1
	if l.inMem != nil {
		unix.Munmap(l.inMem)
		l.inMem = nil
	}
}
