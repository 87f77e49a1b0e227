//go:build linux && !android

package uring

import "unsafe"

// Prep methods fill an SQE the way liburing's io_uring_prep_* helpers do.
// Pointer arguments are stored as addresses: the memory behind them must stay
// valid and unmoved until the request's final CQE.

func (sqe *SQE) prepRW(op uint8, fd int, addr unsafe.Pointer, n uint32, off uint64) {
	sqe.Opcode = op
	sqe.Fd = int32(fd)
	sqe.Addr = uint64(uintptr(addr))
	sqe.Len = n
	sqe.Off = off
}

// PrepNop prepares IORING_OP_NOP.
func (sqe *SQE) PrepNop() { sqe.Opcode = IORING_OP_NOP }

// PrepSocket prepares IORING_OP_SOCKET (Linux 5.19+); the CQE carries the new
// fd. flags must be 0.
func (sqe *SQE) PrepSocket(domain, typ, proto int) {
	sqe.prepRW(IORING_OP_SOCKET, domain, nil, uint32(proto), uint64(typ))
}

// PrepBind prepares IORING_OP_BIND (Linux 6.11+).
func (sqe *SQE) PrepBind(fd int, sa unsafe.Pointer, salen uint32) {
	sqe.prepRW(IORING_OP_BIND, fd, sa, 0, uint64(salen))
}

// PrepListen prepares IORING_OP_LISTEN (Linux 6.11+).
func (sqe *SQE) PrepListen(fd, backlog int) {
	sqe.prepRW(IORING_OP_LISTEN, fd, nil, uint32(backlog), 0)
}

// PrepConnect prepares IORING_OP_CONNECT (Linux 5.5+).
func (sqe *SQE) PrepConnect(fd int, sa unsafe.Pointer, salen uint32) {
	sqe.prepRW(IORING_OP_CONNECT, fd, sa, 0, uint64(salen))
}

// PrepAccept prepares IORING_OP_ACCEPT (Linux 5.5+). sa and salen may be nil;
// otherwise *salen holds the size of sa on entry. flags are accept4 flags.
func (sqe *SQE) PrepAccept(fd int, sa unsafe.Pointer, salen *uint32, flags int) {
	sqe.prepRW(IORING_OP_ACCEPT, fd, sa, 0, uint64(uintptr(unsafe.Pointer(salen))))
	sqe.OpFlags = uint32(flags)
}

// PrepSend prepares IORING_OP_SEND (Linux 5.6+).
func (sqe *SQE) PrepSend(fd int, buf unsafe.Pointer, n uint32, flags int) {
	sqe.prepRW(IORING_OP_SEND, fd, buf, n, 0)
	sqe.OpFlags = uint32(flags)
}

// PrepRecv prepares IORING_OP_RECV (Linux 5.6+).
func (sqe *SQE) PrepRecv(fd int, buf unsafe.Pointer, n uint32, flags int) {
	sqe.prepRW(IORING_OP_RECV, fd, buf, n, 0)
	sqe.OpFlags = uint32(flags)
}

// PrepSendmsg prepares IORING_OP_SENDMSG (Linux 5.3+); msg is a struct msghdr.
func (sqe *SQE) PrepSendmsg(fd int, msg unsafe.Pointer, flags int) {
	sqe.prepRW(IORING_OP_SENDMSG, fd, msg, 1, 0)
	sqe.OpFlags = uint32(flags)
}

// PrepRecvmsg prepares IORING_OP_RECVMSG (Linux 5.3+); msg is a struct msghdr.
func (sqe *SQE) PrepRecvmsg(fd int, msg unsafe.Pointer, flags int) {
	sqe.prepRW(IORING_OP_RECVMSG, fd, msg, 1, 0)
	sqe.OpFlags = uint32(flags)
}

// PrepClose prepares IORING_OP_CLOSE (Linux 5.6+).
func (sqe *SQE) PrepClose(fd int) {
	sqe.prepRW(IORING_OP_CLOSE, fd, nil, 0, 0)
}

// PrepSplice prepares IORING_OP_SPLICE (Linux 5.7+): splice(2) of n bytes
// from fdIn at offIn to fdOut at offOut, where an offset of -1 means the
// file's own position (and is the only one a pipe or socket takes). The
// offsets are values, not pointers: the kernel reads nothing of ours.
func (sqe *SQE) PrepSplice(fdIn int, offIn int64, fdOut int, offOut int64, n uint32, flags uint32) {
	sqe.prepRW(IORING_OP_SPLICE, fdOut, nil, n, uint64(offOut))
	sqe.Addr = uint64(offIn)
	sqe.SpliceFdIn = int32(fdIn)
	sqe.OpFlags = flags
}

// PrepCancel prepares IORING_OP_ASYNC_CANCEL for the request carrying
// userData (Linux 5.5+).
func (sqe *SQE) PrepCancel(userData uint64, flags uint32) {
	sqe.prepRW(IORING_OP_ASYNC_CANCEL, -1, nil, 0, 0)
	sqe.Addr = userData
	sqe.OpFlags = flags
}

// PrepCancelFd prepares IORING_OP_ASYNC_CANCEL for requests on fd; flags
// gets IORING_ASYNC_CANCEL_FD added (Linux 5.19+).
func (sqe *SQE) PrepCancelFd(fd int, flags uint32) {
	sqe.prepRW(IORING_OP_ASYNC_CANCEL, fd, nil, 0, 0)
	sqe.OpFlags = flags | IORING_ASYNC_CANCEL_FD
}

// PrepLinkTimeout prepares IORING_OP_LINK_TIMEOUT (Linux 5.5+) for the SQE
// before it, which must carry IOSQE_IO_LINK.
func (sqe *SQE) PrepLinkTimeout(ts *Timespec, flags uint32) {
	sqe.prepRW(IORING_OP_LINK_TIMEOUT, -1, unsafe.Pointer(ts), 1, 0)
	sqe.OpFlags = flags
}

// PrepSockCmd prepares a socket IORING_OP_URING_CMD (Linux 6.6+), such as
// SOCKET_URING_OP_SETSOCKOPT (6.7+) or SOCKET_URING_OP_GETSOCKOPT (6.7+,
// SOL_SOCKET only). For getsockopt the CQE carries the option length.
func (sqe *SQE) PrepSockCmd(cmdOp uint32, fd, level, optname int, optval unsafe.Pointer, optlen uint32) {
	sqe.prepRW(IORING_OP_URING_CMD, fd, nil, 0, 0)
	// cmd_op overlays the first 4 bytes of off, level and optname the two
	// halves of addr: store them as u32s so the layout holds on any host.
	*(*uint32)(unsafe.Pointer(&sqe.Off)) = cmdOp
	addr := (*[2]uint32)(unsafe.Pointer(&sqe.Addr))
	addr[0], addr[1] = uint32(level), uint32(optname)
	sqe.SpliceFdIn = int32(optlen)
	sqe.Addr3 = uint64(uintptr(optval))
}

// PrepPollAdd prepares a one-shot IORING_OP_POLL_ADD (Linux 5.1+) for the
// poll(2) events mask (POLLIN, POLLOUT, ...); the CQE carries the events
// that fired.
func (sqe *SQE) PrepPollAdd(fd int, events uint32) {
	sqe.prepRW(IORING_OP_POLL_ADD, fd, nil, 0, 0)
	// poll32_events is the op-flags word; it is stored in the kernel's
	// byte order, which a u32 store on this host gives.
	sqe.OpFlags = events
}

// PrepPollMultishot prepares a multishot IORING_OP_POLL_ADD (Linux 5.13+):
// one CQE with IORING_CQE_F_MORE per readiness event.
func (sqe *SQE) PrepPollMultishot(fd int, events uint32) {
	sqe.PrepPollAdd(fd, events)
	sqe.Len = IORING_POLL_ADD_MULTI
}

// PrepAcceptMultishot prepares a multishot IORING_OP_ACCEPT (Linux 5.19+):
// one CQE per accepted connection, without peer addresses.
func (sqe *SQE) PrepAcceptMultishot(fd int, flags int) {
	sqe.PrepAccept(fd, nil, nil, flags)
	sqe.Ioprio = IORING_ACCEPT_MULTISHOT
}

// PrepRecvMultishot prepares a multishot IORING_OP_RECV (Linux 6.0+) that
// takes its buffers from provided buffer group bgid; each CQE carries
// IORING_CQE_F_BUFFER with the buffer ID in its upper 16 flag bits.
func (sqe *SQE) PrepRecvMultishot(fd int, bgid uint16, flags int) {
	sqe.PrepRecv(fd, nil, 0, flags)
	sqe.Ioprio = IORING_RECV_MULTISHOT
	sqe.Flags |= IOSQE_BUFFER_SELECT
	sqe.BufIndex = bgid
}

// PrepMsgRingData prepares IORING_OP_MSG_RING (Linux 5.18+): it posts a CQE
// with userData and res to the ring ringFd.
func (sqe *SQE) PrepMsgRingData(ringFd int, res uint32, userData uint64) {
	sqe.prepRW(IORING_OP_MSG_RING, ringFd, nil, res, userData)
	sqe.Addr = IORING_MSG_DATA
}
