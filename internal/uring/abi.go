//go:build linux && !android

package uring

import "unsafe"

// The io_uring ABI, written the x/sys way: names keep the kernel's spelling.
//
// Source: include/uapi/linux/io_uring.h as of Linux 6.18, read from
// ColinIanKing/linux-next, commit 39ccbd9467e31a0b798b195558764288ec003feb.
// That tree is a 6.19-merge-window linux-next: it also has IORING_SETUP_SQE_MIXED,
// IORING_OP_NOP128, IORING_OP_URING_CMD128 and IORING_CQE_F_SOCK_FULL, which
// entered after 6.18 (SQE_MIXED is commit 1cba30bf9fdd of 2025-10-16, after
// 6.18-rc1; SOCK_FULL was queued for-6.19 on 2025-11-05) and are left out here.
// What 6.18 itself added to the header (IORING_SETUP_CQE_MIXED,
// IORING_CQE_F_SKIP, IORING_CQE_F_32, IORING_REGISTER_QUERY) is taken from Jens
// Axboe's "[GIT PULL] io_uring changes for 6.18-rc1" (io-uring list,
// 2025-09-29, tag for-6.18/io_uring-20250929). The copies of
// torvalds/linux and axboe/liburing that could be read were older than 6.16, so
// they were not used.
//
// Every constant below except SOCKET_URING_OP_GETSOCKNAME (6.19) was compiled
// with gcc against a transcription of that header and compared; the 138 that
// the Debian 6.1 header (/usr/include/linux/io_uring.h) also defines matched it
// too, apart from IORING_OP_LAST. Nothing here is generated from the 6.1 header, which lacks
// IORING_OP_BIND, IORING_OP_LISTEN and SOCKET_URING_OP_*.
// abi_test.go checks every size and offset against the 6.18 layout.

// Setup flags (io_uring_params.flags).
const (
	IORING_SETUP_IOPOLL             = 1 << 0
	IORING_SETUP_SQPOLL             = 1 << 1
	IORING_SETUP_SQ_AFF             = 1 << 2
	IORING_SETUP_CQSIZE             = 1 << 3  // Linux 5.5+
	IORING_SETUP_CLAMP              = 1 << 4  // Linux 5.6+
	IORING_SETUP_ATTACH_WQ          = 1 << 5  // Linux 5.6+
	IORING_SETUP_R_DISABLED         = 1 << 6  // Linux 5.10+
	IORING_SETUP_SUBMIT_ALL         = 1 << 7  // Linux 5.18+
	IORING_SETUP_COOP_TASKRUN       = 1 << 8  // Linux 5.19+
	IORING_SETUP_TASKRUN_FLAG       = 1 << 9  // Linux 5.19+
	IORING_SETUP_SQE128             = 1 << 10 // Linux 5.19+
	IORING_SETUP_CQE32              = 1 << 11 // Linux 5.19+
	IORING_SETUP_SINGLE_ISSUER      = 1 << 12 // Linux 6.0+
	IORING_SETUP_DEFER_TASKRUN      = 1 << 13 // Linux 6.1+
	IORING_SETUP_NO_MMAP            = 1 << 14 // Linux 6.5+
	IORING_SETUP_REGISTERED_FD_ONLY = 1 << 15 // Linux 6.5+
	IORING_SETUP_NO_SQARRAY         = 1 << 16 // Linux 6.6+
	IORING_SETUP_HYBRID_IOPOLL      = 1 << 17 // Linux 6.13+
	IORING_SETUP_CQE_MIXED          = 1 << 18 // Linux 6.18+
)

// Opcodes (enum io_uring_op). The comment gives the first kernel with the op.
const (
	IORING_OP_NOP              = 0  // 5.1
	IORING_OP_READV            = 1  // 5.1
	IORING_OP_WRITEV           = 2  // 5.1
	IORING_OP_FSYNC            = 3  // 5.1
	IORING_OP_READ_FIXED       = 4  // 5.1
	IORING_OP_WRITE_FIXED      = 5  // 5.1
	IORING_OP_POLL_ADD         = 6  // 5.1
	IORING_OP_POLL_REMOVE      = 7  // 5.1
	IORING_OP_SYNC_FILE_RANGE  = 8  // 5.2
	IORING_OP_SENDMSG          = 9  // 5.3
	IORING_OP_RECVMSG          = 10 // 5.3
	IORING_OP_TIMEOUT          = 11 // 5.4
	IORING_OP_TIMEOUT_REMOVE   = 12 // 5.5
	IORING_OP_ACCEPT           = 13 // 5.5
	IORING_OP_ASYNC_CANCEL     = 14 // 5.5
	IORING_OP_LINK_TIMEOUT     = 15 // 5.5
	IORING_OP_CONNECT          = 16 // 5.5
	IORING_OP_FALLOCATE        = 17 // 5.6
	IORING_OP_OPENAT           = 18 // 5.6
	IORING_OP_CLOSE            = 19 // 5.6
	IORING_OP_FILES_UPDATE     = 20 // 5.6
	IORING_OP_STATX            = 21 // 5.6
	IORING_OP_READ             = 22 // 5.6
	IORING_OP_WRITE            = 23 // 5.6
	IORING_OP_FADVISE          = 24 // 5.6
	IORING_OP_MADVISE          = 25 // 5.6
	IORING_OP_SEND             = 26 // 5.6
	IORING_OP_RECV             = 27 // 5.6
	IORING_OP_OPENAT2          = 28 // 5.6
	IORING_OP_EPOLL_CTL        = 29 // 5.6
	IORING_OP_SPLICE           = 30 // 5.7
	IORING_OP_PROVIDE_BUFFERS  = 31 // 5.7
	IORING_OP_REMOVE_BUFFERS   = 32 // 5.7
	IORING_OP_TEE              = 33 // 5.8
	IORING_OP_SHUTDOWN         = 34 // 5.11
	IORING_OP_RENAMEAT         = 35 // 5.11
	IORING_OP_UNLINKAT         = 36 // 5.11
	IORING_OP_MKDIRAT          = 37 // 5.15
	IORING_OP_SYMLINKAT        = 38 // 5.15
	IORING_OP_LINKAT           = 39 // 5.15
	IORING_OP_MSG_RING         = 40 // 5.18
	IORING_OP_FSETXATTR        = 41 // 5.19
	IORING_OP_SETXATTR         = 42 // 5.19
	IORING_OP_FGETXATTR        = 43 // 5.19
	IORING_OP_GETXATTR         = 44 // 5.19
	IORING_OP_SOCKET           = 45 // 5.19
	IORING_OP_URING_CMD        = 46 // 5.19
	IORING_OP_SEND_ZC          = 47 // 6.0
	IORING_OP_SENDMSG_ZC       = 48 // 6.1
	IORING_OP_READ_MULTISHOT   = 49 // 6.7
	IORING_OP_WAITID           = 50 // 6.7
	IORING_OP_FUTEX_WAIT       = 51 // 6.7
	IORING_OP_FUTEX_WAKE       = 52 // 6.7
	IORING_OP_FUTEX_WAITV      = 53 // 6.7
	IORING_OP_FIXED_FD_INSTALL = 54 // 6.8
	IORING_OP_FTRUNCATE        = 55 // 6.9
	IORING_OP_BIND             = 56 // 6.11
	IORING_OP_LISTEN           = 57 // 6.11
	IORING_OP_RECV_ZC          = 58 // 6.15
	IORING_OP_EPOLL_WAIT       = 59 // 6.15
	IORING_OP_READV_FIXED      = 60 // 6.15
	IORING_OP_WRITEV_FIXED     = 61 // 6.15
	IORING_OP_PIPE             = 62 // 6.16

	// IORING_OP_LAST is one past the last opcode of Linux 6.18. It is not a
	// stable bound: 6.19 adds IORING_OP_NOP128 (63) and IORING_OP_URING_CMD128
	// (64), so a kernel's own value comes from IORING_REGISTER_PROBE.
	IORING_OP_LAST = 63
)

// SQE flags (io_uring_sqe.flags).
const (
	IOSQE_FIXED_FILE       = 1 << 0
	IOSQE_IO_DRAIN         = 1 << 1
	IOSQE_IO_LINK          = 1 << 2
	IOSQE_IO_HARDLINK      = 1 << 3
	IOSQE_ASYNC            = 1 << 4
	IOSQE_BUFFER_SELECT    = 1 << 5
	IOSQE_CQE_SKIP_SUCCESS = 1 << 6 // Linux 5.17+
)

// ASYNC_CANCEL flags (io_uring_sqe.cancel_flags).
const (
	IORING_ASYNC_CANCEL_ALL      = 1 << 0 // Linux 5.19+
	IORING_ASYNC_CANCEL_FD       = 1 << 1 // Linux 5.19+
	IORING_ASYNC_CANCEL_ANY      = 1 << 2 // Linux 5.19+
	IORING_ASYNC_CANCEL_FD_FIXED = 1 << 3 // Linux 6.0+
	IORING_ASYNC_CANCEL_USERDATA = 1 << 4 // Linux 6.6+
	IORING_ASYNC_CANCEL_OP       = 1 << 5 // Linux 6.6+
)

// send/recv flags (io_uring_sqe.ioprio for SEND, RECV and friends).
const (
	IORING_RECVSEND_POLL_FIRST  = 1 << 0 // Linux 5.19+
	IORING_RECV_MULTISHOT       = 1 << 1 // Linux 6.0+
	IORING_RECVSEND_FIXED_BUF   = 1 << 2 // Linux 6.0+
	IORING_SEND_ZC_REPORT_USAGE = 1 << 3 // Linux 6.2+
	IORING_RECVSEND_BUNDLE      = 1 << 4 // Linux 6.10+
	IORING_SEND_VECTORIZED      = 1 << 5 // Linux 6.17+: SEND[_ZC] addr points to an iovec array
)

// IORING_NOTIF_USAGE_ZC_COPIED is set in the res of the IORING_CQE_F_NOTIF CQE
// when IORING_SEND_ZC_REPORT_USAGE was asked for and the data was copied.
// Linux 6.2+.
const IORING_NOTIF_USAGE_ZC_COPIED = 1 << 31

// IORING_FILE_INDEX_ALLOC in io_uring_sqe.file_index asks ACCEPT or SOCKET to
// pick a free direct descriptor and return it in the CQE. Linux 5.19+.
const IORING_FILE_INDEX_ALLOC = 0xffffffff // ~0U

// accept flags (io_uring_sqe.ioprio for ACCEPT).
const (
	IORING_ACCEPT_MULTISHOT  = 1 << 0 // Linux 5.19+
	IORING_ACCEPT_DONTWAIT   = 1 << 1 // Linux 6.10+
	IORING_ACCEPT_POLL_FIRST = 1 << 2 // Linux 6.10+
)

// Socket URING_CMD sub-commands (io_uring_sqe.cmd_op).
const (
	SOCKET_URING_OP_SIOCINQ      = 0 // Linux 6.6+
	SOCKET_URING_OP_SIOCOUTQ     = 1 // Linux 6.6+
	SOCKET_URING_OP_GETSOCKOPT   = 2 // Linux 6.7+, SOL_SOCKET only
	SOCKET_URING_OP_SETSOCKOPT   = 3 // Linux 6.7+
	SOCKET_URING_OP_TX_TIMESTAMP = 4 // Linux 6.17+
	SOCKET_URING_OP_GETSOCKNAME  = 5 // Linux 6.19+; not in the 6.18 header
)

// SOCKET_URING_OP_TX_TIMESTAMP results (Linux 6.17+): the CQE flags carry the
// timestamp kind in place of a buffer ID.
const (
	IORING_TIMESTAMP_HW_SHIFT   = 16
	IORING_TIMESTAMP_TYPE_SHIFT = IORING_TIMESTAMP_HW_SHIFT + 1
	IORING_CQE_F_TSTAMP_HW      = 1 << IORING_TIMESTAMP_HW_SHIFT
)

// CQE flags (io_uring_cqe.flags).
const (
	IORING_CQE_F_BUFFER        = 1 << 0
	IORING_CQE_F_MORE          = 1 << 1  // Linux 5.13+
	IORING_CQE_F_SOCK_NONEMPTY = 1 << 2  // Linux 5.19+
	IORING_CQE_F_NOTIF         = 1 << 3  // Linux 6.0+
	IORING_CQE_F_BUF_MORE      = 1 << 4  // Linux 6.12+
	IORING_CQE_F_SKIP          = 1 << 5  // Linux 6.18+
	IORING_CQE_F_32            = 1 << 15 // Linux 6.18+, IORING_SETUP_CQE_MIXED rings
	IORING_CQE_BUFFER_SHIFT    = 16
)

// SQ ring flags (*sq_off.flags).
const (
	IORING_SQ_NEED_WAKEUP = 1 << 0
	IORING_SQ_CQ_OVERFLOW = 1 << 1 // Linux 5.8+
	IORING_SQ_TASKRUN     = 1 << 2 // Linux 5.19+
)

// CQ ring flags (*cq_off.flags).
const (
	IORING_CQ_EVENTFD_DISABLED = 1 << 0 // Linux 5.8+
)

// io_uring_enter flags.
const (
	IORING_ENTER_GETEVENTS       = 1 << 0
	IORING_ENTER_SQ_WAKEUP       = 1 << 1
	IORING_ENTER_SQ_WAIT         = 1 << 2
	IORING_ENTER_EXT_ARG         = 1 << 3 // Linux 5.11+
	IORING_ENTER_REGISTERED_RING = 1 << 4 // Linux 5.18+
	IORING_ENTER_ABS_TIMER       = 1 << 5 // Linux 6.12+
	IORING_ENTER_EXT_ARG_REG     = 1 << 6 // Linux 6.13+
	IORING_ENTER_NO_IOWAIT       = 1 << 7 // Linux 6.15+
)

// Feature bits (io_uring_params.features).
const (
	IORING_FEAT_SINGLE_MMAP     = 1 << 0  // 5.4
	IORING_FEAT_NODROP          = 1 << 1  // 5.5
	IORING_FEAT_SUBMIT_STABLE   = 1 << 2  // 5.5
	IORING_FEAT_RW_CUR_POS      = 1 << 3  // 5.6
	IORING_FEAT_CUR_PERSONALITY = 1 << 4  // 5.6
	IORING_FEAT_FAST_POLL       = 1 << 5  // 5.7
	IORING_FEAT_POLL_32BITS     = 1 << 6  // 5.9
	IORING_FEAT_SQPOLL_NONFIXED = 1 << 7  // 5.11
	IORING_FEAT_EXT_ARG         = 1 << 8  // 5.11
	IORING_FEAT_NATIVE_WORKERS  = 1 << 9  // 5.12
	IORING_FEAT_RSRC_TAGS       = 1 << 10 // 5.13
	IORING_FEAT_CQE_SKIP        = 1 << 11 // 5.17
	IORING_FEAT_LINKED_FILE     = 1 << 12 // 5.17
	IORING_FEAT_REG_REG_RING    = 1 << 13 // 6.3
	IORING_FEAT_RECVSEND_BUNDLE = 1 << 14 // 6.10
	IORING_FEAT_MIN_TIMEOUT     = 1 << 15 // 6.12
	IORING_FEAT_RW_ATTR         = 1 << 16 // 6.14
	IORING_FEAT_NO_IOWAIT       = 1 << 17 // 6.15
)

// io_uring_register opcodes.
const (
	IORING_REGISTER_BUFFERS             = 0
	IORING_UNREGISTER_BUFFERS           = 1
	IORING_REGISTER_FILES               = 2
	IORING_UNREGISTER_FILES             = 3
	IORING_REGISTER_EVENTFD             = 4
	IORING_UNREGISTER_EVENTFD           = 5
	IORING_REGISTER_FILES_UPDATE        = 6
	IORING_REGISTER_EVENTFD_ASYNC       = 7
	IORING_REGISTER_PROBE               = 8
	IORING_REGISTER_PERSONALITY         = 9
	IORING_UNREGISTER_PERSONALITY       = 10
	IORING_REGISTER_RESTRICTIONS        = 11
	IORING_REGISTER_ENABLE_RINGS        = 12
	IORING_REGISTER_FILES2              = 13
	IORING_REGISTER_FILES_UPDATE2       = 14
	IORING_REGISTER_BUFFERS2            = 15
	IORING_REGISTER_BUFFERS_UPDATE      = 16
	IORING_REGISTER_IOWQ_AFF            = 17
	IORING_UNREGISTER_IOWQ_AFF          = 18
	IORING_REGISTER_IOWQ_MAX_WORKERS    = 19
	IORING_REGISTER_RING_FDS            = 20
	IORING_UNREGISTER_RING_FDS          = 21
	IORING_REGISTER_PBUF_RING           = 22
	IORING_UNREGISTER_PBUF_RING         = 23
	IORING_REGISTER_SYNC_CANCEL         = 24
	IORING_REGISTER_FILE_ALLOC_RANGE    = 25
	IORING_REGISTER_PBUF_STATUS         = 26
	IORING_REGISTER_NAPI                = 27
	IORING_UNREGISTER_NAPI              = 28
	IORING_REGISTER_CLOCK               = 29
	IORING_REGISTER_CLONE_BUFFERS       = 30
	IORING_REGISTER_SEND_MSG_RING       = 31
	IORING_REGISTER_ZCRX_IFQ            = 32
	IORING_REGISTER_RESIZE_RINGS        = 33
	IORING_REGISTER_MEM_REGION          = 34
	IORING_REGISTER_QUERY               = 35
	IORING_REGISTER_USE_REGISTERED_RING = 1 << 31
)

// mmap offsets.
const (
	IORING_OFF_SQ_RING = 0
	IORING_OFF_CQ_RING = 0x8000000
	IORING_OFF_SQES    = 0x10000000
)

// IO_URING_OP_SUPPORTED marks an opcode in io_uring_probe_op.flags.
const IO_URING_OP_SUPPORTED = 1 << 0

// SQE is struct io_uring_sqe (64 bytes). Unions are flattened to their first
// member; the setters in sqe.go name the other members. Members narrower than
// the Go field sit at the field's start (kernel byte offset in brackets):
// cmd_op [8] is the low half of Off, level [16] and optname [20] the halves of
// Addr, addr_len [44] the low half of SpliceFdIn. Packing them with shifts is
// right on little-endian machines only.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64 // union: off, addr2, {cmd_op, __pad1}
	Addr        uint64 // union: addr, splice_off_in, {level, optname}
	Len         uint32
	OpFlags     uint32 // union: rw_flags, msg_flags, accept_flags, cancel_flags, uring_cmd_flags, ...
	UserData    uint64
	BufIndex    uint16 // union: buf_index, buf_group
	Personality uint16
	SpliceFdIn  int32  // union: splice_fd_in, file_index, zcrx_ifq_idx, optlen, {addr_len, __pad3}, {write_stream, __pad4}
	Addr3       uint64 // union: addr3, attr_ptr, optval, cmd[] (SQE128 command data starts here)
	Pad2        uint64 // union: __pad2[0], attr_type_mask
}

// CQE is struct io_uring_cqe (16 bytes; rings set up without CQE32).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// SQRingOffsets is struct io_sqring_offsets.
type SQRingOffsets struct {
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Flags       uint32
	Dropped     uint32
	Array       uint32
	Resv1       uint32
	UserAddr    uint64
}

// CQRingOffsets is struct io_cqring_offsets.
type CQRingOffsets struct {
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Overflow    uint32
	Cqes        uint32
	Flags       uint32
	Resv1       uint32
	UserAddr    uint64
}

// Params is struct io_uring_params.
type Params struct {
	SqEntries    uint32
	CqEntries    uint32
	Flags        uint32
	SqThreadCPU  uint32
	SqThreadIdle uint32
	Features     uint32
	WqFd         uint32
	Resv         [3]uint32
	SqOff        SQRingOffsets
	CqOff        CQRingOffsets
}

// ProbeOp is struct io_uring_probe_op.
type ProbeOp struct {
	Op    uint8
	Resv  uint8
	Flags uint16
	Resv2 uint32
}

// ProbeHdr is the fixed head of struct io_uring_probe; Ops follow it.
type ProbeHdr struct {
	LastOp uint8
	OpsLen uint8
	Resv   uint16
	Resv2  [3]uint32
}

// GeteventsArg is struct io_uring_getevents_arg, passed with
// IORING_ENTER_EXT_ARG (Linux 5.11+).
type GeteventsArg struct {
	Sigmask     uint64
	SigmaskSz   uint32
	MinWaitUsec uint32 // was pad before Linux 6.12
	Ts          uint64
}

// Timespec is struct __kernel_timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Sizes of the ABI structs, as the kernel defines them.
const (
	SizeofSQE           = 64
	SizeofCQE           = 16
	SizeofParams        = 120
	SizeofProbeHdr      = 16
	SizeofProbeOp       = 8
	SizeofGeteventsArg  = 24
	SizeofTimespec      = 16
	SizeofSQRingOffsets = 40
	SizeofCQRingOffsets = 40
)

var _ [SizeofSQE]byte = [unsafe.Sizeof(SQE{})]byte{}
var _ [SizeofCQE]byte = [unsafe.Sizeof(CQE{})]byte{}
var _ [SizeofParams]byte = [unsafe.Sizeof(Params{})]byte{}

// Provided buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19+).

// BufReg is struct io_uring_buf_reg.
type BufReg struct {
	RingAddr    uint64
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	Resv        [3]uint64
}

// Buf is struct io_uring_buf: one entry of a provided buffer ring. The ring's
// tail (a u16 the application owns) overlays the resv field of entry 0.
type Buf struct {
	Addr uint64
	Len  uint32
	Bid  uint16
	Resv uint16
}

const (
	SizeofBufReg = 40
	SizeofBuf    = 16
	// BufRingTailOffset is where struct io_uring_buf_ring keeps its tail.
	BufRingTailOffset = 14
)

// POLL_ADD flags (io_uring_sqe.len for POLL_ADD).
const (
	IORING_POLL_ADD_MULTI        = 1 << 0 // Linux 5.13+
	IORING_POLL_UPDATE_EVENTS    = 1 << 1
	IORING_POLL_UPDATE_USER_DATA = 1 << 2
	IORING_POLL_ADD_LEVEL        = 1 << 3
)

// MSG_RING commands (io_uring_sqe.addr for MSG_RING).
const (
	IORING_MSG_DATA    = 0 // Linux 5.18+
	IORING_MSG_SEND_FD = 1 // Linux 6.0+
)

var _ [SizeofBufReg]byte = [unsafe.Sizeof(BufReg{})]byte{}
var _ [SizeofBuf]byte = [unsafe.Sizeof(Buf{})]byte{}
