//go:build linux

package engine

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket is one kernel socket driven by the engine. All methods are safe for
// concurrent use. Close waits until every pending op has received its final
// completion, so the kernel fd is never closed, nor its number reused, while
// the kernel may still touch a buffer of an op on it.
type Socket struct {
	e        *Engine
	fd       int  // kernel fd; immutable, valid until destroy
	domain   int  // AF_INET, AF_INET6, AF_UNIX, ...; immutable
	sotype   int  // SOCK_STREAM, SOCK_DGRAM, ...; immutable
	nonblock bool // SOCK_NONBLOCK was asked for: EAGAIN instead of waiting; immutable

	// cancelQueued is backend state (below), kept here where it packs.
	cancelQueued bool          // uring: the FD|ALL cancel of Close is queued; guarded by the home ring's shard.mu
	proto        uint16        // see Protocol; 16 bits, as struct sock's sk_protocol; immutable
	cat          atomic.Uint32 // Category; changes once, from CatUnified

	// state counts the ops in progress; closedBit marks Close. The last op
	// to leave after Close closes drained.
	// Both channels are made only when someone waits on them, so an idle
	// socket holds neither; a closed one stands in once Close has passed.
	state   atomic.Int64
	closing atomic.Pointer[chan struct{}] // closed when Close starts; see closingCh
	drained atomic.Pointer[chan struct{}] // closed when the last op leaves after Close

	opts atomic.Uint32 // the opt* bits: the ways of working a caller chose
	home uint32        // uring: index of the socket's ring, where all its ops go; set by attach, then immutable

	sendMu sync.Mutex // serializes whole Sends, so their bytes stay contiguous

	rdl, wdl deadline // read and write deadlines (SetReadDeadline and friends)

	// Backend state, guarded by the backend (and home and cancelQueued,
	// above).
	acc *acceptQueue               // uring: the multishot accept of QueueAccepts; guarded by the home ring's shard.mu
	dq  *dgramQueue                // uring: the multishot receive of QueueDatagrams; guarded by the home ring's shard.mu
	ra  atomic.Pointer[readAhead]  // the read-ahead of QueueDatagrams where no multishot serves it; made by the first read
	ep  atomic.Pointer[epollState] // epoll: the socket's netpoller half; uring: the same for raw waits, made by the first (RawWaitsInNetpoller)
}

// One Socket is held by every connection, idle ones included: its fields
// are ordered so that it packs into the 208-byte size class, not 224.
var _ [208 - unsafe.Sizeof(Socket{})]byte

const closedBit = 1 << 62

// The bits of Socket.opts.
const (
	optQueueAccepts uint32 = 1 << iota // QueueAccepts was called
	optQueueDgrams                     // QueueDatagrams was called on a UDP socket; cleared once it has left the queue and drained it
	optSendNow                         // SendDatagramsNow was called on a UDP socket
	optRawNetpoll                      // RawWaitsInNetpoller was called
	optRecvNow                         // ReceiveDatagramsNow was called on a UDP socket
	optReadShut                        // Shutdown was called for the read side, or Adopt found it shut (datagramReadShut)
	optLinger                          // SO_LINGER is on with a timeout above 0: set through Setsockopt, on the listener it was accepted from, or found by Adopt
	optReadAhead                       // QueueDatagrams was called on a UDP socket that no multishot serves; cleared once it has stopped reading ahead and drained
	optMayErr                          // a datagram socket that Connect connected, that Adopt took, or that set IP_RECVERR: the kernel may hold an ICMP error for it (recvQueued, batchMore)
)

// has reports whether opt is set.
func (s *Socket) has(opt uint32) bool { return s.opts.Load()&opt != 0 }

// Fd returns the kernel descriptor. It is valid until Close returns.
func (s *Socket) Fd() int { return s.fd }

// Type returns the socket type without SOCK_NONBLOCK and SOCK_CLOEXEC.
func (s *Socket) Type() int { return s.sotype }

// Domain returns the socket's address family.
func (s *Socket) Domain() int { return s.domain }

// Protocol returns the socket's protocol: for an adopted socket the
// kernel's answer (SO_PROTOCOL), for one made by Engine.Socket the protocol
// asked for. 0 means not known: the type's default was asked for, or the
// socket was accepted, which may differ from its listener (an MPTCP
// listener accepts a plain TCP socket from a client without MPTCP).
func (s *Socket) Protocol() int { return int(s.proto) }

// Nonblock reports whether the socket was created with SOCK_NONBLOCK.
func (s *Socket) Nonblock() bool { return s.nonblock }

// Category returns the socket's current category.
func (s *Socket) Category() Category { return Category(s.cat.Load()) }

// Engine returns the engine the socket belongs to.
func (s *Socket) Engine() *Engine { return s.e }

// acquire registers an op; it fails once Close has started.
func (s *Socket) acquire() bool {
	for {
		v := s.state.Load()
		if v&closedBit != 0 {
			return false
		}
		if s.state.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

func (s *Socket) release() {
	if s.state.Add(-1) == closedBit {
		// Close waits on drained, or is about to: if it has not made
		// the channel yet, it finds ours, closed, and does not wait.
		if !s.drained.CompareAndSwap(nil, &closedCh) {
			close(*s.drained.Load())
		}
	}
}

// closedCh is a closed channel, for closing and drained once Close has
// passed them, and for a deadline that passed with no channel.
var closedCh = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// closingCh returns a channel that is closed when Close starts.
func (s *Socket) closingCh() <-chan struct{} {
	if p := s.closing.Load(); p != nil {
		return *p
	}
	c := make(chan struct{})
	if s.closing.CompareAndSwap(nil, &c) {
		return c
	}
	return *s.closing.Load() // Close got there first: closedCh
}

// Close cancels every pending op, waits for their final completions, and
// closes the kernel socket. A second Close returns net.ErrClosed.
func (s *Socket) Close() error {
	for {
		v := s.state.Load()
		if v&closedBit != 0 {
			return net.ErrClosed
		}
		if s.state.CompareAndSwap(v, v|closedBit) {
			if p := s.closing.Swap(&closedCh); p != nil {
				close(*p)
			}
			s.e.b.evict(s)
			if v != 0 {
				// The last op to leave closes drained; if it has left
				// already, it stored closedCh there.
				c := make(chan struct{})
				if s.drained.CompareAndSwap(nil, &c) {
					<-c
				}
			}
			break
		}
	}
	s.rdl.stop()
	s.wdl.stop()
	s.freeAhead()
	return s.e.b.destroy(s)
}

// Closed reports whether Close has started.
func (s *Socket) Closed() bool { return s.state.Load()&closedBit != 0 }

// Bind binds the socket to sa.
func (s *Socket) Bind(sa unix.Sockaddr) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	return s.e.b.bind(s, sa)
}

// Listen marks the socket as listening; a unified socket becomes a listen
// socket.
func (s *Socket) Listen(backlog int) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	if err := s.e.b.listen(s, backlog); err != nil {
		return err
	}
	s.cat.CompareAndSwap(uint32(CatUnified), uint32(CatListen))
	return nil
}

// Connect connects the socket; a unified socket becomes a connection socket.
// ctx may be nil. timeout > 0 bounds the wait as SO_SNDTIMEO does.
func (s *Socket) Connect(ctx context.Context, sa unix.Sockaddr, timeout time.Duration) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	if err := s.wdl.errIfExpired(); err != nil {
		return err
	}
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'w'}
	if err := s.e.b.connect(s, sa, w); err != nil {
		if s.sotype == unix.SOCK_STREAM && !s.nonblock && connectFailed(err) {
			// Both backends connect without blocking and read the outcome
			// from SO_ERROR, which leaves the socket half-connected; a
			// blocking connect(2) disconnects it, and later calls (Listen,
			// a second Connect) expect that.
			s.e.b.disconnect(s)
		}
		return err
	}
	s.cat.CompareAndSwap(uint32(CatUnified), uint32(CatConnection))
	if s.sotype != unix.SOCK_STREAM {
		s.opts.Or(optMayErr)
	}
	return nil
}

// connectFailed reports whether err ended a connection attempt in the
// kernel, after which connect(2) would have reset the socket.
func connectFailed(err error) bool {
	switch err {
	case unix.ECONNREFUSED, unix.ETIMEDOUT, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.ECONNRESET, unix.ECONNABORTED:
		return true
	}
	return false
}

// Accept waits for a connection and returns it as a connection socket.
func (s *Socket) Accept(ctx context.Context, timeout time.Duration) (*Socket, unix.Sockaddr, error) {
	if !s.acquire() {
		return nil, nil, net.ErrClosed
	}
	defer s.release()
	if err := s.rdl.errIfExpired(); err != nil {
		return nil, nil, err
	}
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'r'}
	fd, sa, err := s.e.b.accept(s, w)
	if err != nil {
		return nil, nil, err
	}
	ns, err := s.e.newSocket(fd, s.domain, s.sotype, false, CatConnection)
	if err != nil {
		return nil, nil, err
	}
	if s.has(optLinger) {
		ns.opts.Or(optLinger) // the kernel copies the listener's SO_LINGER
	}
	return ns, sa, nil
}

// QueueAccepts lets a listener accept ahead of Accept calls. On the uring
// backend Accept then takes connections from a multishot accept kept armed
// on the listener, so a burst of clients costs one ring round instead of
// one round each (see uring_accept.go for what else changes); elsewhere it
// does nothing. Servers want it; the Berkeley API keeps accept(2)'s
// one-at-a-time semantics.
func (s *Socket) QueueAccepts() { s.opts.Or(optQueueAccepts) }

// QueueDatagrams lets a UDP socket receive ahead of its reads: its plain
// receives (data and sender, no flags, on a blocking socket) then take
// datagrams the socket received before they asked, so that a burst costs
// one syscall or ring round instead of one each. On the uring backend at
// GOMAXPROCS=1 (when it is called), a socket whose receives try a syscall
// first (ReceiveDatagramsNow, called before) is served by a multishot
// receive kept armed on it (uring_dgram.go); every other socket reads
// ahead with recvmmsg(2) (readahead.go). What the program sees is what
// recvfrom(2) gives but for what those files list. On other sockets it
// does nothing. gonet's UDP conns want it, and the Berkeley API's UDP
// sockets, which take themselves off the queue before any call that could
// tell the difference (datagramQueue in ksocket.go).
//
// At more Ps the multishot lost: the kernel completes its datagrams as
// task work on the thread that armed it, and with more Ps that thread is
// often asleep, so each datagram woke it. Measured, gonet's 64 B echo at
// GOMAXPROCS=2 (bench -points udp-f1,udp-f16 -procs 1,2): one flow 0.77x
// net with the multishot, 1.12-1.19x with a receive per read; 16 flows
// 0.99x and 1.08-1.16x. At one P too the thread that runs Go code changes
// now and then, and the multishot is then armed again on the new one
// (ownerMovedLocked). Reading ahead did better at two Ps: 16 flows went
// from 0.68-0.95x net (a receive per read) to 1.11-1.75x, at 7.9-9.7
// against 11.8-14.3 us of server CPU a datagram (bench -points
// udp-f16,udp-f1,udp1200-f16 -procs 2, three alternating rounds); one flow
// stayed at net's rate. At one P it depends on the wait of a turn that
// finds nothing. Where that is a ring receive (turnOnRing, the Berkeley
// API's sockets) and turns after one that found nothing skip their
// recvmmsg(2) (tryFirst), reading ahead beat the multishot at 16 flows:
// the Recvfrom/Sendto echo did a median 1.20x net (1.09-1.30x) against
// 1.02x (1.01-1.27x); one flow stayed above net's rate, a median 1.13x
// against 1.16x, at 28-31 against 22-30 us of server CPU a datagram (net
// 30-43), and the in-process ping-pong at one P fell from 1.37x and 2.16x
// net to 1.19x and 2.02x (one flow and 16). gonet's turns
// (ReceiveDatagramsNow) wait for readiness after a recvmmsg(2) that found
// nothing, at one P in a ring poll (rawIO), and take the datagram with a
// second recvmmsg(2), which at one flow cost 33-44 us a datagram against
// the multishot's 30-36, so its conns keep the multishot at one P.
func (s *Socket) QueueDatagrams() {
	if s.sotype != unix.SOCK_DGRAM || s.domain != unix.AF_INET && s.domain != unix.AF_INET6 {
		return
	}
	if runtime.GOMAXPROCS(0) == 1 && s.has(optRecvNow) && multishotDgrams(s) {
		s.opts.Or(optQueueDgrams)
		return
	}
	s.opts.Or(optReadAhead)
}

// LeaveDatagramQueue takes a socket off the datagram queue that
// QueueDatagrams gave it, for good, and waits until the multishot receive
// has ended: later receives, and the raw reads of RawRead, go to the
// kernel. A read-ahead turn in progress is not waited for: it takes no
// more ahead, but a turn that waits for its own datagram (in a ring
// receive, or for readiness) still takes the next one. Datagrams the
// queue took before then come out of the next Recv or RecvMmsg, not of a
// raw read, which sees only what the kernel holds; a caller that will
// read raw calls it before it reads at all (gonet's SyscallConn).
// Elsewhere it does nothing.
func (s *Socket) LeaveDatagramQueue() {
	if !s.acquire() {
		return
	}
	defer s.release()
	leaveDatagramQueue(s)
	if s.has(optReadAhead) {
		s.leaveAhead()
	}
}

// RawWaitsInNetpoller makes the socket's raw waits on the uring backend
// (RawRead, RawWrite, RecvMmsg and SendMmsg, and sendfile(2) copies) park
// in Go's netpoller, as net's do, instead of in a ring POLL_ADD request,
// when the process runs at more than one P: on a duplicate of the fd,
// registered at the first such wait and closed by Close. A raw read or
// write is a plain syscall either way; only the wait changes. The
// netpoller readies the waiter itself, where a POLL_ADD's completion runs
// as task work on the thread that submitted it, at two Ps often asleep,
// and reaches the waiter through the ring's reaper. Measured at two Ps
// (bench -points udp-f1,udp-f16 -procs 2, gonet's ReadBatch and
// WriteBatch): one flow went from 0.71x to 1.01x net, at 45 against 63 us
// of server CPU a datagram, and 16 flows from 0.95x to 0.99x net-mmsg;
// quic-go's 16 MiB transfer over gonet went up by a tenth. At one P the
// ring's waits, which its reaper batches, did better at 16 flows (1.19x
// against 0.96x net-mmsg), so there they stay. The functions called get
// the socket's own fd. Elsewhere it does nothing. The Berkeley API calls
// it for every socket too: its Recvmmsg and Sendmmsg echo at two Ps and one
// flow went from 0.62x to 0.88x net (0.99x net-mmsg), at 35 against 77 us
// of server CPU a datagram; its other calls are ring ops, which this
// leaves alone.
func (s *Socket) RawWaitsInNetpoller() {
	if runtime.GOMAXPROCS(0) > 1 {
		s.opts.Or(optRawNetpoll)
	}
}

// ReceiveDatagramsNow lets a UDP socket's receives on the uring backend
// try recvmsg(2) without waiting first (recvfrom(2) where neither control
// data nor MSG_* flags are asked for: RecvFrom, Recv without the sender),
// as SendDatagramsNow does for sends. With a datagram there, as under
// load there is, one syscall ends the receive, where a ring op also
// filled an SQE, took a slot and pinned the buffers. Where there is none,
// the wait is in Go's netpoller if the socket's raw waits are
// (RawWaitsInNetpoller: more than one P), and otherwise a ring receive,
// which takes the datagram when it comes. What the call returns
// is that syscall's either way. gonet's UDP conns want it, for the reads
// their queue (QueueDatagrams) does not serve. Measured with the Berkeley
// API's Recvfrom and Sendto made to call it and SendDatagramsNow (bench
// -points udp-f1,udp-f16 -procs 1,2, berkeley-single): 16 flows 0.77x ->
// 0.98x net at one P and 0.97x -> 1.12x at two, one flow 0.68x -> 1.03x at
// two. The Berkeley API does not: its calls are ring ops, but for the
// recvmmsg(2) of a receive that reads ahead (QueueDatagrams). On other
// sockets, for the reads a socket's datagram queue serves,
// and elsewhere it does nothing.
func (s *Socket) ReceiveDatagramsNow() {
	if s.sotype == unix.SOCK_DGRAM && (s.domain == unix.AF_INET || s.domain == unix.AF_INET6) {
		s.opts.Or(optRecvNow)
	}
}

// SendDatagramsNow lets a UDP socket's sends on the uring backend try
// sendto(2) (sendmsg(2) with control data) without waiting first, and use
// the ring only to wait for room. A datagram send is done the moment the
// kernel takes it, so the ring op only added the reaper's hand-off back to
// the sender: gonet's ReadFrom/WriteTo echo of 64 B datagrams over 16
// flows went from 144k to 188k datagrams/s, and from 6.8 to 5.2 us of
// server CPU each. On other sockets and elsewhere it does nothing. gonet's
// UDP conns want it; the Berkeley API keeps every socket call on the ring.
func (s *Socket) SendDatagramsNow() {
	if s.sotype == unix.SOCK_DGRAM && (s.domain == unix.AF_INET || s.domain == unix.AF_INET6) {
		s.opts.Or(optSendNow)
	}
}

// acceptQueue is a listener's multishot accept. Guarded by the listener's
// home ring's shard.mu.
type acceptQueue struct {
	multishot
	ready []int // accepted fds that no Accept has taken yet
	err   error // why the last multishot ended, for the next Accept
}

// multishot is what a queue of the uring backend keeps of the multishot
// request that fills it. Guarded like the queue.
type multishot struct {
	armed      bool          // the multishot is in flight
	cancelling bool          // its cancel is queued
	ud         uint64        // its user_data while armed
	more       chan struct{} // capacity 1: the queue changed
	ended      chan struct{} // closed by the final CQE of the armed multishot
	owed       bool          // on its shard's owed list for a signal (shard.notifyLocked)

	// owner is the thread that submitted the multishot, 0 if unknown:
	// the kernel runs its completions as task work there. seen counts
	// the takes since the taking thread was last compared with it
	// (shard.ownerMovedLocked).
	owner int
	seen  uint8
}

func (m *multishot) signal() {
	select {
	case m.more <- struct{}{}:
	default:
	}
}

// startSend takes s for a send, as every send begins: s held open, its
// send lock taken, so that concurrent sends never interleave, and s
// neither closed nor past its write deadline. endSend undoes it.
func (s *Socket) startSend() error {
	if !s.acquire() {
		return net.ErrClosed
	}
	s.sendMu.Lock()
	err := s.wdl.errIfExpired()
	if s.Closed() {
		err = net.ErrClosed
	}
	if err != nil {
		s.endSend()
	}
	return err
}

func (s *Socket) endSend() {
	s.sendMu.Unlock()
	s.release()
}

// Send writes b. On a blocking stream socket it keeps going until all of b
// is sent, a deadline or timeout passes (returning the count so far), or an
// error occurs; concurrent Sends never interleave. Elsewhere it makes one
// send. to, when not nil, is the destination (sendto).
func (s *Socket) Send(ctx context.Context, b []byte, flags int, to unix.Sockaddr, timeout time.Duration) (int, error) {
	if flags == 0 && to == nil && plain(ctx, timeout) {
		return s.Write(b)
	}
	a, err := SockaddrAddr(to)
	return s.sendTo(ctx, b, flags, a, err, timeout)
}

// SendTo is Send to an Addr (the zero Addr: none), which costs no
// allocation.
func (s *Socket) SendTo(ctx context.Context, b []byte, flags int, to Addr, timeout time.Duration) (int, error) {
	if flags == 0 && to.n == 0 && plain(ctx, timeout) {
		return s.Write(b)
	}
	return s.sendTo(ctx, b, flags, to, nil, timeout)
}

// sendTo is Send past its fast path. bad is why to could not be encoded,
// if it could not: reported once the socket is known open and within its
// deadline, where the kernel's sendto(2) would find it.
//
//go:noinline
func (s *Socket) sendTo(ctx context.Context, b []byte, flags int, to Addr, bad error, timeout time.Duration) (int, error) {
	if err := s.startSend(); err != nil {
		return 0, err
	}
	defer s.endSend()
	if bad != nil {
		return 0, bad
	}
	// The timeout covers the whole Send, as SO_SNDTIMEO does.
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'w'}
	stream := s.sotype == unix.SOCK_STREAM && !s.nonblock && flags&unix.MSG_DONTWAIT == 0
	total := 0
	for {
		n, err := s.e.b.send(s, b[total:], nil, flags, to, w)
		total += max(n, 0)
		if err != nil {
			return total, err
		}
		if !stream || total >= len(b) {
			return total, nil
		}
	}
}

// Write is Send with no flags, destination, timeout or context: it ends
// early only for the write deadline or Close. Like Read, a goroutine
// blocked in it needs no more than Go's smallest stack.
func (s *Socket) Write(b []byte) (int, error) {
	if err := s.startSend(); err != nil {
		return 0, err
	}
	n, err := s.e.b.write(s, b)
	s.endSend()
	return n, err
}

// SendMsg makes one sendmsg(2) of b with the control messages in oob, to
// the destination to (nil: the connected peer). Unlike Send it never loops
// over a stream: a partial count is the kernel's answer. oob goes with the
// first byte, as the kernel sends it; an empty b sends none on a stream.
func (s *Socket) SendMsg(ctx context.Context, b, oob []byte, flags int, to unix.Sockaddr, timeout time.Duration) (int, error) {
	a, err := SockaddrAddr(to)
	return s.sendMsg(ctx, b, oob, flags, a, err, timeout)
}

// SendMsgTo is SendMsg to an Addr (the zero Addr: the connected peer),
// which costs no allocation.
func (s *Socket) SendMsgTo(ctx context.Context, b, oob []byte, flags int, to Addr, timeout time.Duration) (int, error) {
	return s.sendMsg(ctx, b, oob, flags, to, nil, timeout)
}

// sendMsg is SendMsg; bad is as for sendTo.
func (s *Socket) sendMsg(ctx context.Context, b, oob []byte, flags int, to Addr, bad error, timeout time.Duration) (int, error) {
	if err := s.startSend(); err != nil {
		return 0, err
	}
	defer s.endSend()
	if bad != nil {
		return 0, bad
	}
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'w'}
	return s.e.b.send(s, b, oob, flags, to, w)
}

// Recv makes one receive into b. With from it uses recvmsg and returns the
// peer's address and the message's MSG_* flags (MSG_TRUNC); RecvFrom is
// the cheaper way to the sender alone.
func (s *Socket) Recv(ctx context.Context, b []byte, flags int, from bool, timeout time.Duration) (int, unix.Sockaddr, int, error) {
	if flags == 0 && !from && plain(ctx, timeout) {
		n, err := s.Read(b)
		return n, nil, 0, err
	}
	want := recvData
	if from {
		want = recvMsg
	}
	return s.recvFrom(ctx, b, flags, want, timeout)
}

// RecvFrom makes one recvfrom(2) into b: the data's length and the sender
// as an Addr (zero when the kernel gave none), which costs no allocation.
// It reports no MSG_* flags, and so spares the kernel the msghdr and iovec
// of recvmsg(2) where the receive is a syscall (the epoll backend, and
// ReceiveDatagramsNow): the Berkeley API's Recvfrom and gonet's ReadFrom.
func (s *Socket) RecvFrom(ctx context.Context, b []byte, flags int, timeout time.Duration) (int, Addr, error) {
	r, err := s.recv(ctx, b, nil, flags, recvSender, timeout)
	return r.n, r.from, err
}

// plain reports whether a call with ctx and timeout waits for nothing but
// the socket's deadline and Close: Read and Write serve those.
func plain(ctx context.Context, timeout time.Duration) bool {
	return timeout <= 0 && (ctx == nil || ctx.Done() == nil)
}

//go:noinline
func (s *Socket) recvFrom(ctx context.Context, b []byte, flags int, want recvWant, timeout time.Duration) (int, unix.Sockaddr, int, error) {
	r, err := s.recv(ctx, b, nil, flags, want, timeout)
	return r.n, r.from.Sockaddr(), r.flags, err
}

// RecvMsg makes one recvmsg(2) into b, with room for control messages in
// oob. It returns the data's length, the control data's length, the
// message's MSG_* flags (MSG_TRUNC, MSG_CTRUNC) and the sender, nil when
// the kernel gave none (a connected stream, an unnamed unix peer).
func (s *Socket) RecvMsg(ctx context.Context, b, oob []byte, flags int, timeout time.Duration) (n, oobn, mflags int, from unix.Sockaddr, err error) {
	r, err := s.recv(ctx, b, oob, flags, recvMsg, timeout)
	return r.n, r.oobn, r.flags, r.from.Sockaddr(), err
}

// RecvMsgFrom is RecvMsg returning the sender as an Addr (zero when the
// kernel gave none), which costs no allocation: gonet's datagram reads.
func (s *Socket) RecvMsgFrom(ctx context.Context, b, oob []byte, flags int, timeout time.Duration) (n, oobn, mflags int, from Addr, err error) {
	r, err := s.recv(ctx, b, oob, flags, recvMsg, timeout)
	return r.n, r.oobn, r.flags, r.from, err
}

// Read is Recv with no flags, sender, timeout or context: one receive
// into b, which ends early only for the read deadline or Close. It is how
// an idle connection waits, and a goroutine blocked in it needs no more
// than Go's smallest stack, as one in net's Read does.
func (s *Socket) Read(b []byte) (int, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	if s.rdl.expired() {
		s.release()
		return 0, os.ErrDeadlineExceeded
	}
	var n int
	var err error
	if s.has(optReadAhead) {
		n, err = s.readQueued(b)
	} else {
		n, err = s.e.b.read(s, b)
	}
	s.release()
	return n, err
}

// readQueued is Read on a socket that reads ahead.
//
//go:noinline
func (s *Socket) readQueued(b []byte) (int, error) {
	w := readWait
	r, ok, err := s.recvAheadOr(b, nil, 0, false, &w)
	if !ok {
		return s.e.b.read(s, b)
	}
	return r.n, err
}

func (s *Socket) recv(ctx context.Context, b, oob []byte, flags int, want recvWant, timeout time.Duration) (received, error) {
	if !s.acquire() {
		return received{}, net.ErrClosed
	}
	defer s.release()
	if err := s.rdl.errIfExpired(); err != nil {
		return received{}, err
	}
	if flags&unix.MSG_ERRQUEUE != 0 {
		// recv(2) never waits for the error queue: it returns EAGAIN at
		// once when the queue is empty, and an entry there does not make
		// the socket readable, so waiting could last forever.
		flags |= unix.MSG_DONTWAIT
	}
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'r'}
	if s.has(optReadAhead) {
		if r, ok, err := s.recvAheadOr(b, oob, flags, want.sender(), &w); ok {
			return r, err
		}
	}
	return s.e.b.recv(s, b, oob, flags, want, w)
}

// Shutdown shuts down part of a full-duplex connection.
func (s *Socket) Shutdown(how int) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	if how != unix.SHUT_WR {
		// Before the call, and whatever it returns: on an unconnected
		// UDP socket, shutdown(2) fails with ENOTCONN and still shuts
		// the read side.
		s.opts.Or(optReadShut)
	}
	return s.e.b.shutdown(s, how)
}

// SetsockoptInt sets an int option.
func (s *Socket) SetsockoptInt(level, opt, value int) error {
	v := int32(value)
	return s.Setsockopt(level, opt, (*[4]byte)(unsafe.Pointer(&v))[:])
}

// Setsockopt sets an option from its raw bytes. The socket notes whether
// SO_LINGER now makes close wait (on, with a timeout above 0), for Close
// (uringBackend.destroy), and whether a datagram socket asked for ICMP
// errors (IP_RECVERR, IPV6_RECVERR: optMayErr); one set through the raw
// fd (Control) is not seen.
func (s *Socket) Setsockopt(level, opt int, val []byte) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	if s.sotype != unix.SOCK_STREAM && (level == unix.IPPROTO_IP && opt == unix.IP_RECVERR || level == unix.IPPROTO_IPV6 && opt == unix.IPV6_RECVERR) {
		s.opts.Or(optMayErr) // ICMP errors reach it unconnected too
	}
	err := s.e.b.setsockopt(s, level, opt, val)
	if err == nil && level == unix.SOL_SOCKET && opt == unix.SO_LINGER && len(val) >= unix.SizeofLinger {
		if l := (*unix.Linger)(unsafe.Pointer(&val[0])); l.Onoff != 0 && l.Linger > 0 {
			s.opts.Or(optLinger)
		} else {
			s.opts.And(^optLinger)
		}
	}
	return err
}

// GetsockoptInt reads an int option.
func (s *Socket) GetsockoptInt(level, opt int) (int, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	return s.e.b.getsockoptInt(s, level, opt)
}

// Control runs f with the kernel fd, which stays open until f returns. Use
// it for the syscalls the ring has no op for (getsockname, getpeername,
// getsockopt beyond SOL_SOCKET).
func (s *Socket) Control(f func(fd int) error) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	return s.e.b.control(s, f)
}

// RawRead calls f with the kernel fd until f returns true, waiting for the
// socket to become readable between calls; the read deadline applies. It is
// syscall.RawConn.Read: on the uring backend the wait is an
// IORING_OP_POLL_ADD, or Go's netpoller for a socket that asks
// (RawWaitsInNetpoller); on epoll the netpoller. As under net, f is not
// called once the deadline has passed, and a call of f that finds the
// socket ready yet wants more waits for the socket's next change: on the
// uring backend that wait, after a poll said ready to no avail, is in the
// netpoller too.
func (s *Socket) RawRead(f func(fd uintptr) bool) error {
	return s.rawIO('r', f)
}

// RawWrite is RawRead for writability and the write deadline.
func (s *Socket) RawWrite(f func(fd uintptr) bool) error {
	return s.rawIO('w', f)
}

func (s *Socket) rawIO(mode byte, f func(fd uintptr) bool) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	if mode == 'r' && s.has(optReadAhead) {
		s.leaveAhead() // what it read ahead waits for the receives
	}
	return s.e.b.rawIO(s, waitSpec{mode: mode}, f)
}

// SetReadDeadline sets the deadline for Recv and Accept, including those
// already pending. The zero time means none.
func (s *Socket) SetReadDeadline(t time.Time) { s.e.b.setDeadline(s, 'r', t) }

// SetWriteDeadline sets the deadline for Send and Connect, including those
// already pending.
func (s *Socket) SetWriteDeadline(t time.Time) { s.e.b.setDeadline(s, 'w', t) }

// expiry turns a per-op timeout into an absolute time; zero means none.
func expiry(timeout time.Duration) time.Time {
	if timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(timeout)
}

func (s *Socket) deadline(mode byte) *deadline {
	if mode == 'r' {
		return &s.rdl
	}
	return &s.wdl
}
