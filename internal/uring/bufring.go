//go:build linux && !android

package uring

import (
	"sync/atomic"
	"unsafe"
)

// BufRing is the application's side of a provided buffer ring
// (IORING_REGISTER_PBUF_RING, Linux 5.19+): entries the kernel takes
// buffers from, and a tail only the application moves. Its memory is the
// caller's: page-aligned, mapped for as long as the ring is registered.
// It is not safe for concurrent use.
type BufRing struct {
	mem  []byte // the entries
	mask uint32
	tail uint16 // the next entry to fill; published by Publish
	bid0 uint16 // Bid of entry 0, which shares a word with the tail
}

// NewBufRing lays a ring of entries (a power of two) over mem, which holds
// at least entries*SizeofBuf bytes.
func NewBufRing(mem []byte, entries uint32) BufRing {
	return BufRing{mem: mem[:entries*SizeofBuf], mask: entries - 1}
}

// Addr returns the address to register.
func (br *BufRing) Addr() unsafe.Pointer { return unsafe.Pointer(&br.mem[0]) }

// Add queues buffer bid, n bytes at addr, for the kernel; Publish makes
// what was added visible.
func (br *BufRing) Add(bid uint16, addr unsafe.Pointer, n uint32) {
	i := uint32(br.tail) & br.mask
	e := (*Buf)(unsafe.Pointer(&br.mem[i*SizeofBuf]))
	e.Addr = uint64(uintptr(addr))
	e.Len = n
	if i == 0 {
		br.bid0 = bid
	} else {
		e.Bid = bid
	}
	br.tail++
}

// Publish makes the added buffers visible to the kernel: one release store
// of the ring's 16-bit tail. Go has no 16-bit atomics, so it stores the
// aligned word that holds the tail and entry 0's Bid, which only the
// application writes.
func (br *BufRing) Publish() {
	word := (*uint32)(unsafe.Pointer(&br.mem[BufRingTailOffset-2]))
	var v uint32
	if littleEndian {
		v = uint32(br.bid0) | uint32(br.tail)<<16
	} else {
		v = uint32(br.bid0)<<16 | uint32(br.tail)
	}
	atomic.StoreUint32(word, v)
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// RecvmsgOut is struct io_uring_recvmsg_out: what a multishot recvmsg
// writes at the start of each buffer, followed by the sender (NameLen
// bytes of room as the msghdr asked, whatever the name's length), the
// control data (likewise) and the payload.
type RecvmsgOut struct {
	NameLen    uint32 // the sender's full length, which may exceed the room
	ControlLen uint32 // bytes of control data written
	PayloadLen uint32 // the datagram's full length, which may exceed the room
	Flags      uint32 // msg_flags: MSG_TRUNC, MSG_CTRUNC, ...
}

// SizeofRecvmsgOut is the size of struct io_uring_recvmsg_out.
const SizeofRecvmsgOut = 16

var _ [SizeofRecvmsgOut]byte = [unsafe.Sizeof(RecvmsgOut{})]byte{}

// PrepRecvmsgMultishot prepares a multishot IORING_OP_RECVMSG (Linux 6.0+)
// into buffers of group bgid. The kernel reads msg's namelen and
// controllen for the room it leaves in each buffer; msg has no iovec.
func (sqe *SQE) PrepRecvmsgMultishot(fd int, msg unsafe.Pointer, bgid uint16, flags int) {
	sqe.PrepRecvmsg(fd, msg, flags)
	sqe.Ioprio = IORING_RECV_MULTISHOT
	sqe.Flags |= IOSQE_BUFFER_SELECT
	sqe.BufIndex = bgid
}
