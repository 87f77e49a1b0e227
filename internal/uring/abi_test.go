//go:build linux && !android

package uring

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// The want values in this file come from include/uapi/linux/io_uring.h of
// Linux 6.18 (the copy that abi.go's header comment names), not from the
// machine's /usr/include/linux/io_uring.h: that one is Linux 6.1 and lacks most
// of what is checked here, and the tests use no cgo. A mismatch means abi.go
// disagrees with the kernel.

var abiSizeTests = []struct {
	name       string // kernel struct
	got, want  uintptr
	sizeofWant uintptr // the SizeofXxx constant, 0 if there is none
}{
	{"io_uring_sqe", unsafe.Sizeof(SQE{}), 64, SizeofSQE},
	{"io_uring_cqe", unsafe.Sizeof(CQE{}), 16, SizeofCQE},
	{"io_sqring_offsets", unsafe.Sizeof(SQRingOffsets{}), 40, SizeofSQRingOffsets},
	{"io_cqring_offsets", unsafe.Sizeof(CQRingOffsets{}), 40, SizeofCQRingOffsets},
	{"io_uring_params", unsafe.Sizeof(Params{}), 120, SizeofParams},
	{"io_uring_probe_op", unsafe.Sizeof(ProbeOp{}), 8, SizeofProbeOp},
	{"io_uring_probe", unsafe.Sizeof(ProbeHdr{}), 16, SizeofProbeHdr}, // without ops[]
	{"io_uring_getevents_arg", unsafe.Sizeof(GeteventsArg{}), 24, SizeofGeteventsArg},
	{"__kernel_timespec", unsafe.Sizeof(Timespec{}), 16, SizeofTimespec},
	{"io_uring_restriction", unsafe.Sizeof(Restriction{}), 16, SizeofRestriction},
}

func TestABIStructSizes(t *testing.T) {
	for _, tt := range abiSizeTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("sizeof(struct %s) = %d, kernel has %d", tt.name, tt.got, tt.want)
			}
			if tt.sizeofWant != tt.want {
				t.Errorf("Sizeof constant for %s = %d, kernel has %d", tt.name, tt.sizeofWant, tt.want)
			}
		})
	}
}

var (
	abiSQE      SQE
	abiCQE      CQE
	abiSQOff    SQRingOffsets
	abiCQOff    CQRingOffsets
	abiParams   Params
	abiProbeOp  ProbeOp
	abiProbeHdr ProbeHdr
	abiEvArg    GeteventsArg
	abiTs       Timespec
)

// abiOffsetTests maps every Go field to the kernel member at its start. A
// kernel member inside a union or sub-struct is listed with the Go field that
// holds it and its byte offset within that field (inner).
var abiOffsetTests = []struct {
	name  string // struct.member, kernel spelling
	field uintptr
	inner uintptr
	want  uintptr
}{
	{"io_uring_sqe.opcode", unsafe.Offsetof(abiSQE.Opcode), 0, 0},
	{"io_uring_sqe.flags", unsafe.Offsetof(abiSQE.Flags), 0, 1},
	{"io_uring_sqe.ioprio", unsafe.Offsetof(abiSQE.Ioprio), 0, 2},
	{"io_uring_sqe.fd", unsafe.Offsetof(abiSQE.Fd), 0, 4},
	{"io_uring_sqe.off", unsafe.Offsetof(abiSQE.Off), 0, 8},
	{"io_uring_sqe.addr2", unsafe.Offsetof(abiSQE.Off), 0, 8},
	{"io_uring_sqe.cmd_op", unsafe.Offsetof(abiSQE.Off), 0, 8},
	{"io_uring_sqe.__pad1", unsafe.Offsetof(abiSQE.Off), 4, 12},
	{"io_uring_sqe.addr", unsafe.Offsetof(abiSQE.Addr), 0, 16},
	{"io_uring_sqe.splice_off_in", unsafe.Offsetof(abiSQE.Addr), 0, 16},
	{"io_uring_sqe.level", unsafe.Offsetof(abiSQE.Addr), 0, 16},
	{"io_uring_sqe.optname", unsafe.Offsetof(abiSQE.Addr), 4, 20},
	{"io_uring_sqe.len", unsafe.Offsetof(abiSQE.Len), 0, 24},
	{"io_uring_sqe.rw_flags", unsafe.Offsetof(abiSQE.OpFlags), 0, 28},
	{"io_uring_sqe.msg_flags", unsafe.Offsetof(abiSQE.OpFlags), 0, 28},
	{"io_uring_sqe.accept_flags", unsafe.Offsetof(abiSQE.OpFlags), 0, 28},
	{"io_uring_sqe.cancel_flags", unsafe.Offsetof(abiSQE.OpFlags), 0, 28},
	{"io_uring_sqe.uring_cmd_flags", unsafe.Offsetof(abiSQE.OpFlags), 0, 28},
	{"io_uring_sqe.user_data", unsafe.Offsetof(abiSQE.UserData), 0, 32},
	{"io_uring_sqe.buf_index", unsafe.Offsetof(abiSQE.BufIndex), 0, 40},
	{"io_uring_sqe.buf_group", unsafe.Offsetof(abiSQE.BufIndex), 0, 40},
	{"io_uring_sqe.personality", unsafe.Offsetof(abiSQE.Personality), 0, 42},
	{"io_uring_sqe.splice_fd_in", unsafe.Offsetof(abiSQE.SpliceFdIn), 0, 44},
	{"io_uring_sqe.file_index", unsafe.Offsetof(abiSQE.SpliceFdIn), 0, 44},
	{"io_uring_sqe.optlen", unsafe.Offsetof(abiSQE.SpliceFdIn), 0, 44},
	{"io_uring_sqe.addr_len", unsafe.Offsetof(abiSQE.SpliceFdIn), 0, 44},
	{"io_uring_sqe.__pad3", unsafe.Offsetof(abiSQE.SpliceFdIn), 2, 46},
	{"io_uring_sqe.addr3", unsafe.Offsetof(abiSQE.Addr3), 0, 48},
	{"io_uring_sqe.optval", unsafe.Offsetof(abiSQE.Addr3), 0, 48},
	{"io_uring_sqe.attr_ptr", unsafe.Offsetof(abiSQE.Addr3), 0, 48},
	{"io_uring_sqe.cmd", unsafe.Offsetof(abiSQE.Addr3), 0, 48},
	{"io_uring_sqe.__pad2", unsafe.Offsetof(abiSQE.Pad2), 0, 56},
	{"io_uring_sqe.attr_type_mask", unsafe.Offsetof(abiSQE.Pad2), 0, 56},

	{"io_uring_cqe.user_data", unsafe.Offsetof(abiCQE.UserData), 0, 0},
	{"io_uring_cqe.res", unsafe.Offsetof(abiCQE.Res), 0, 8},
	{"io_uring_cqe.flags", unsafe.Offsetof(abiCQE.Flags), 0, 12},

	{"io_sqring_offsets.head", unsafe.Offsetof(abiSQOff.Head), 0, 0},
	{"io_sqring_offsets.tail", unsafe.Offsetof(abiSQOff.Tail), 0, 4},
	{"io_sqring_offsets.ring_mask", unsafe.Offsetof(abiSQOff.RingMask), 0, 8},
	{"io_sqring_offsets.ring_entries", unsafe.Offsetof(abiSQOff.RingEntries), 0, 12},
	{"io_sqring_offsets.flags", unsafe.Offsetof(abiSQOff.Flags), 0, 16},
	{"io_sqring_offsets.dropped", unsafe.Offsetof(abiSQOff.Dropped), 0, 20},
	{"io_sqring_offsets.array", unsafe.Offsetof(abiSQOff.Array), 0, 24},
	{"io_sqring_offsets.resv1", unsafe.Offsetof(abiSQOff.Resv1), 0, 28},
	{"io_sqring_offsets.user_addr", unsafe.Offsetof(abiSQOff.UserAddr), 0, 32},

	{"io_cqring_offsets.head", unsafe.Offsetof(abiCQOff.Head), 0, 0},
	{"io_cqring_offsets.tail", unsafe.Offsetof(abiCQOff.Tail), 0, 4},
	{"io_cqring_offsets.ring_mask", unsafe.Offsetof(abiCQOff.RingMask), 0, 8},
	{"io_cqring_offsets.ring_entries", unsafe.Offsetof(abiCQOff.RingEntries), 0, 12},
	{"io_cqring_offsets.overflow", unsafe.Offsetof(abiCQOff.Overflow), 0, 16},
	{"io_cqring_offsets.cqes", unsafe.Offsetof(abiCQOff.Cqes), 0, 20},
	{"io_cqring_offsets.flags", unsafe.Offsetof(abiCQOff.Flags), 0, 24},
	{"io_cqring_offsets.resv1", unsafe.Offsetof(abiCQOff.Resv1), 0, 28},
	{"io_cqring_offsets.user_addr", unsafe.Offsetof(abiCQOff.UserAddr), 0, 32},

	{"io_uring_params.sq_entries", unsafe.Offsetof(abiParams.SqEntries), 0, 0},
	{"io_uring_params.cq_entries", unsafe.Offsetof(abiParams.CqEntries), 0, 4},
	{"io_uring_params.flags", unsafe.Offsetof(abiParams.Flags), 0, 8},
	{"io_uring_params.sq_thread_cpu", unsafe.Offsetof(abiParams.SqThreadCPU), 0, 12},
	{"io_uring_params.sq_thread_idle", unsafe.Offsetof(abiParams.SqThreadIdle), 0, 16},
	{"io_uring_params.features", unsafe.Offsetof(abiParams.Features), 0, 20},
	{"io_uring_params.wq_fd", unsafe.Offsetof(abiParams.WqFd), 0, 24},
	{"io_uring_params.resv", unsafe.Offsetof(abiParams.Resv), 0, 28},
	{"io_uring_params.sq_off", unsafe.Offsetof(abiParams.SqOff), 0, 40},
	{"io_uring_params.cq_off", unsafe.Offsetof(abiParams.CqOff), 0, 80},

	{"io_uring_probe_op.op", unsafe.Offsetof(abiProbeOp.Op), 0, 0},
	{"io_uring_probe_op.resv", unsafe.Offsetof(abiProbeOp.Resv), 0, 1},
	{"io_uring_probe_op.flags", unsafe.Offsetof(abiProbeOp.Flags), 0, 2},
	{"io_uring_probe_op.resv2", unsafe.Offsetof(abiProbeOp.Resv2), 0, 4},

	{"io_uring_probe.last_op", unsafe.Offsetof(abiProbeHdr.LastOp), 0, 0},
	{"io_uring_probe.ops_len", unsafe.Offsetof(abiProbeHdr.OpsLen), 0, 1},
	{"io_uring_probe.resv", unsafe.Offsetof(abiProbeHdr.Resv), 0, 2},
	{"io_uring_probe.resv2", unsafe.Offsetof(abiProbeHdr.Resv2), 0, 4},
	{"io_uring_probe.ops", unsafe.Sizeof(abiProbeHdr), 0, 16}, // ops[] follows the header

	{"io_uring_getevents_arg.sigmask", unsafe.Offsetof(abiEvArg.Sigmask), 0, 0},
	{"io_uring_getevents_arg.sigmask_sz", unsafe.Offsetof(abiEvArg.SigmaskSz), 0, 8},
	{"io_uring_getevents_arg.min_wait_usec", unsafe.Offsetof(abiEvArg.MinWaitUsec), 0, 12},
	{"io_uring_getevents_arg.ts", unsafe.Offsetof(abiEvArg.Ts), 0, 16},

	{"__kernel_timespec.tv_sec", unsafe.Offsetof(abiTs.Sec), 0, 0},
	{"__kernel_timespec.tv_nsec", unsafe.Offsetof(abiTs.Nsec), 0, 8},
}

func TestABIFieldOffsets(t *testing.T) {
	for _, tt := range abiOffsetTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.field + tt.inner; got != tt.want {
				t.Errorf("offsetof(%s) = %d, kernel has %d", tt.name, got, tt.want)
			}
		})
	}
}

// TestABISQESubfieldPacking checks that the narrow union members that sqe.go
// packs into wider Go fields with shifts (cmd_op into Off, level and optname
// into Addr, optlen and addr_len into SpliceFdIn) land at the kernel's byte
// offsets. This holds on little-endian machines only; on a big-endian one it
// fails, and the packing there must change.
func TestABISQESubfieldPacking(t *testing.T) {
	var s SQE
	s.Off = uint64(SOCKET_URING_OP_SETSOCKOPT)
	s.Addr = uint64(uint32(0x0102)) | uint64(uint32(0x0304))<<32
	s.SpliceFdIn = int32(0x0506)
	s.Addr3 = 0x0708090a0b0c0d0e
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s)), SizeofSQE)

	le := binary.LittleEndian // the byte order of a little-endian kernel's view
	var packingTests = []struct {
		name string
		got  uint64
		want uint64
	}{
		{"cmd_op@8", uint64(le.Uint32(b[8:])), SOCKET_URING_OP_SETSOCKOPT},
		{"level@16", uint64(le.Uint32(b[16:])), 0x0102},
		{"optname@20", uint64(le.Uint32(b[20:])), 0x0304},
		{"optlen@44", uint64(le.Uint32(b[44:])), 0x0506},
		{"addr_len@44", uint64(le.Uint16(b[44:])), 0x0506},
		{"optval@48", le.Uint64(b[48:]), 0x0708090a0b0c0d0e},
	}
	for _, tt := range packingTests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s reads %#x, want %#x (big-endian host?)", tt.name, tt.got, tt.want)
			}
		})
	}
}

// abiConstTests lists every constant in abi.go with its value in the 6.18
// header. Flags are written as shifts, as the header writes them.
var abiConstTests = []struct {
	name      string
	got, want uint64
}{
	// Setup flags (io_uring_params.flags).
	{"IORING_SETUP_IOPOLL", IORING_SETUP_IOPOLL, 1 << 0},
	{"IORING_SETUP_SQPOLL", IORING_SETUP_SQPOLL, 1 << 1},
	{"IORING_SETUP_SQ_AFF", IORING_SETUP_SQ_AFF, 1 << 2},
	{"IORING_SETUP_CQSIZE", IORING_SETUP_CQSIZE, 1 << 3},
	{"IORING_SETUP_CLAMP", IORING_SETUP_CLAMP, 1 << 4},
	{"IORING_SETUP_ATTACH_WQ", IORING_SETUP_ATTACH_WQ, 1 << 5},
	{"IORING_SETUP_R_DISABLED", IORING_SETUP_R_DISABLED, 1 << 6},
	{"IORING_SETUP_SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL, 1 << 7},
	{"IORING_SETUP_COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN, 1 << 8},
	{"IORING_SETUP_TASKRUN_FLAG", IORING_SETUP_TASKRUN_FLAG, 1 << 9},
	{"IORING_SETUP_SQE128", IORING_SETUP_SQE128, 1 << 10},
	{"IORING_SETUP_CQE32", IORING_SETUP_CQE32, 1 << 11},
	{"IORING_SETUP_SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER, 1 << 12},
	{"IORING_SETUP_DEFER_TASKRUN", IORING_SETUP_DEFER_TASKRUN, 1 << 13},
	{"IORING_SETUP_NO_MMAP", IORING_SETUP_NO_MMAP, 1 << 14},
	{"IORING_SETUP_REGISTERED_FD_ONLY", IORING_SETUP_REGISTERED_FD_ONLY, 32768},
	{"IORING_SETUP_NO_SQARRAY", IORING_SETUP_NO_SQARRAY, 1 << 16},
	{"IORING_SETUP_HYBRID_IOPOLL", IORING_SETUP_HYBRID_IOPOLL, 1 << 17},
	{"IORING_SETUP_CQE_MIXED", IORING_SETUP_CQE_MIXED, 1 << 18},

	// Opcodes (enum io_uring_op). Their values are implicit in the header
	// (enum order), so a slip here would shift every later op.
	{"IORING_OP_NOP", IORING_OP_NOP, 0},
	{"IORING_OP_READV", IORING_OP_READV, 1},
	{"IORING_OP_WRITEV", IORING_OP_WRITEV, 2},
	{"IORING_OP_FSYNC", IORING_OP_FSYNC, 3},
	{"IORING_OP_READ_FIXED", IORING_OP_READ_FIXED, 4},
	{"IORING_OP_WRITE_FIXED", IORING_OP_WRITE_FIXED, 5},
	{"IORING_OP_POLL_ADD", IORING_OP_POLL_ADD, 6},
	{"IORING_OP_POLL_REMOVE", IORING_OP_POLL_REMOVE, 7},
	{"IORING_OP_SYNC_FILE_RANGE", IORING_OP_SYNC_FILE_RANGE, 8},
	{"IORING_OP_SENDMSG", IORING_OP_SENDMSG, 9},
	{"IORING_OP_RECVMSG", IORING_OP_RECVMSG, 10},
	{"IORING_OP_TIMEOUT", IORING_OP_TIMEOUT, 11},
	{"IORING_OP_TIMEOUT_REMOVE", IORING_OP_TIMEOUT_REMOVE, 12},
	{"IORING_OP_ACCEPT", IORING_OP_ACCEPT, 13},
	{"IORING_OP_ASYNC_CANCEL", IORING_OP_ASYNC_CANCEL, 14},
	{"IORING_OP_LINK_TIMEOUT", IORING_OP_LINK_TIMEOUT, 15},
	{"IORING_OP_CONNECT", IORING_OP_CONNECT, 16},
	{"IORING_OP_FALLOCATE", IORING_OP_FALLOCATE, 17},
	{"IORING_OP_OPENAT", IORING_OP_OPENAT, 18},
	{"IORING_OP_CLOSE", IORING_OP_CLOSE, 19},
	{"IORING_OP_FILES_UPDATE", IORING_OP_FILES_UPDATE, 20},
	{"IORING_OP_STATX", IORING_OP_STATX, 21},
	{"IORING_OP_READ", IORING_OP_READ, 22},
	{"IORING_OP_WRITE", IORING_OP_WRITE, 23},
	{"IORING_OP_FADVISE", IORING_OP_FADVISE, 24},
	{"IORING_OP_MADVISE", IORING_OP_MADVISE, 25},
	{"IORING_OP_SEND", IORING_OP_SEND, 26},
	{"IORING_OP_RECV", IORING_OP_RECV, 27},
	{"IORING_OP_OPENAT2", IORING_OP_OPENAT2, 28},
	{"IORING_OP_EPOLL_CTL", IORING_OP_EPOLL_CTL, 29},
	{"IORING_OP_SPLICE", IORING_OP_SPLICE, 30},
	{"IORING_OP_PROVIDE_BUFFERS", IORING_OP_PROVIDE_BUFFERS, 31},
	{"IORING_OP_REMOVE_BUFFERS", IORING_OP_REMOVE_BUFFERS, 32},
	{"IORING_OP_TEE", IORING_OP_TEE, 33},
	{"IORING_OP_SHUTDOWN", IORING_OP_SHUTDOWN, 34},
	{"IORING_OP_RENAMEAT", IORING_OP_RENAMEAT, 35},
	{"IORING_OP_UNLINKAT", IORING_OP_UNLINKAT, 36},
	{"IORING_OP_MKDIRAT", IORING_OP_MKDIRAT, 37},
	{"IORING_OP_SYMLINKAT", IORING_OP_SYMLINKAT, 38},
	{"IORING_OP_LINKAT", IORING_OP_LINKAT, 39},
	{"IORING_OP_MSG_RING", IORING_OP_MSG_RING, 40},
	{"IORING_OP_FSETXATTR", IORING_OP_FSETXATTR, 41},
	{"IORING_OP_SETXATTR", IORING_OP_SETXATTR, 42},
	{"IORING_OP_FGETXATTR", IORING_OP_FGETXATTR, 43},
	{"IORING_OP_GETXATTR", IORING_OP_GETXATTR, 44},
	{"IORING_OP_SOCKET", IORING_OP_SOCKET, 45},
	{"IORING_OP_URING_CMD", IORING_OP_URING_CMD, 46},
	{"IORING_OP_SEND_ZC", IORING_OP_SEND_ZC, 47},
	{"IORING_OP_SENDMSG_ZC", IORING_OP_SENDMSG_ZC, 48},
	{"IORING_OP_READ_MULTISHOT", IORING_OP_READ_MULTISHOT, 49},
	{"IORING_OP_WAITID", IORING_OP_WAITID, 50},
	{"IORING_OP_FUTEX_WAIT", IORING_OP_FUTEX_WAIT, 51},
	{"IORING_OP_FUTEX_WAKE", IORING_OP_FUTEX_WAKE, 52},
	{"IORING_OP_FUTEX_WAITV", IORING_OP_FUTEX_WAITV, 53},
	{"IORING_OP_FIXED_FD_INSTALL", IORING_OP_FIXED_FD_INSTALL, 54},
	{"IORING_OP_FTRUNCATE", IORING_OP_FTRUNCATE, 55},
	{"IORING_OP_BIND", IORING_OP_BIND, 56},
	{"IORING_OP_LISTEN", IORING_OP_LISTEN, 57},
	{"IORING_OP_RECV_ZC", IORING_OP_RECV_ZC, 58},
	{"IORING_OP_EPOLL_WAIT", IORING_OP_EPOLL_WAIT, 59},
	{"IORING_OP_READV_FIXED", IORING_OP_READV_FIXED, 60},
	{"IORING_OP_WRITEV_FIXED", IORING_OP_WRITEV_FIXED, 61},
	{"IORING_OP_PIPE", IORING_OP_PIPE, 62},
	{"IORING_OP_LAST", IORING_OP_LAST, 63},

	// SQE flags (io_uring_sqe.flags).
	{"IOSQE_FIXED_FILE", IOSQE_FIXED_FILE, 1 << 0},
	{"IOSQE_IO_DRAIN", IOSQE_IO_DRAIN, 1 << 1},
	{"IOSQE_IO_LINK", IOSQE_IO_LINK, 1 << 2},
	{"IOSQE_IO_HARDLINK", IOSQE_IO_HARDLINK, 1 << 3},
	{"IOSQE_ASYNC", IOSQE_ASYNC, 1 << 4},
	{"IOSQE_BUFFER_SELECT", IOSQE_BUFFER_SELECT, 1 << 5},
	{"IOSQE_CQE_SKIP_SUCCESS", IOSQE_CQE_SKIP_SUCCESS, 1 << 6},

	// ASYNC_CANCEL flags (io_uring_sqe.cancel_flags).
	{"IORING_ASYNC_CANCEL_ALL", IORING_ASYNC_CANCEL_ALL, 1 << 0},
	{"IORING_ASYNC_CANCEL_FD", IORING_ASYNC_CANCEL_FD, 1 << 1},
	{"IORING_ASYNC_CANCEL_ANY", IORING_ASYNC_CANCEL_ANY, 1 << 2},
	{"IORING_ASYNC_CANCEL_FD_FIXED", IORING_ASYNC_CANCEL_FD_FIXED, 1 << 3},
	{"IORING_ASYNC_CANCEL_USERDATA", IORING_ASYNC_CANCEL_USERDATA, 1 << 4},
	{"IORING_ASYNC_CANCEL_OP", IORING_ASYNC_CANCEL_OP, 1 << 5},

	// send/recv flags (io_uring_sqe.ioprio for SEND, RECV and friends).
	{"IORING_RECVSEND_POLL_FIRST", IORING_RECVSEND_POLL_FIRST, 1 << 0},
	{"IORING_RECV_MULTISHOT", IORING_RECV_MULTISHOT, 1 << 1},
	{"IORING_RECVSEND_FIXED_BUF", IORING_RECVSEND_FIXED_BUF, 1 << 2},
	{"IORING_SEND_ZC_REPORT_USAGE", IORING_SEND_ZC_REPORT_USAGE, 1 << 3},
	{"IORING_RECVSEND_BUNDLE", IORING_RECVSEND_BUNDLE, 1 << 4},
	{"IORING_SEND_VECTORIZED", IORING_SEND_VECTORIZED, 1 << 5},
	{"IORING_NOTIF_USAGE_ZC_COPIED", IORING_NOTIF_USAGE_ZC_COPIED, 1 << 31},

	// direct descriptors (io_uring_sqe.file_index).
	{"IORING_FILE_INDEX_ALLOC", IORING_FILE_INDEX_ALLOC, 0xffffffff},

	// accept flags (io_uring_sqe.ioprio for ACCEPT).
	{"IORING_ACCEPT_MULTISHOT", IORING_ACCEPT_MULTISHOT, 1 << 0},
	{"IORING_ACCEPT_DONTWAIT", IORING_ACCEPT_DONTWAIT, 1 << 1},
	{"IORING_ACCEPT_POLL_FIRST", IORING_ACCEPT_POLL_FIRST, 1 << 2},

	// Socket URING_CMD sub-commands (io_uring_sqe.cmd_op).
	{"SOCKET_URING_OP_SIOCINQ", SOCKET_URING_OP_SIOCINQ, 0},
	{"SOCKET_URING_OP_SIOCOUTQ", SOCKET_URING_OP_SIOCOUTQ, 1},
	{"SOCKET_URING_OP_GETSOCKOPT", SOCKET_URING_OP_GETSOCKOPT, 2},
	{"SOCKET_URING_OP_SETSOCKOPT", SOCKET_URING_OP_SETSOCKOPT, 3},
	{"SOCKET_URING_OP_TX_TIMESTAMP", SOCKET_URING_OP_TX_TIMESTAMP, 4},
	{"SOCKET_URING_OP_GETSOCKNAME", SOCKET_URING_OP_GETSOCKNAME, 5}, // 6.19 header, not in 6.18

	// SOCKET_URING_OP_TX_TIMESTAMP results.
	{"IORING_TIMESTAMP_HW_SHIFT", IORING_TIMESTAMP_HW_SHIFT, 16},
	{"IORING_TIMESTAMP_TYPE_SHIFT", IORING_TIMESTAMP_TYPE_SHIFT, 17},
	{"IORING_CQE_F_TSTAMP_HW", IORING_CQE_F_TSTAMP_HW, 1 << 16},

	// CQE flags (io_uring_cqe.flags).
	{"IORING_CQE_F_BUFFER", IORING_CQE_F_BUFFER, 1 << 0},
	{"IORING_CQE_F_MORE", IORING_CQE_F_MORE, 1 << 1},
	{"IORING_CQE_F_SOCK_NONEMPTY", IORING_CQE_F_SOCK_NONEMPTY, 1 << 2},
	{"IORING_CQE_F_NOTIF", IORING_CQE_F_NOTIF, 1 << 3},
	{"IORING_CQE_F_BUF_MORE", IORING_CQE_F_BUF_MORE, 1 << 4},
	{"IORING_CQE_F_SKIP", IORING_CQE_F_SKIP, 1 << 5},
	{"IORING_CQE_F_32", IORING_CQE_F_32, 1 << 15},
	{"IORING_CQE_BUFFER_SHIFT", IORING_CQE_BUFFER_SHIFT, 16},

	// SQ ring flags (*sq_off.flags).
	{"IORING_SQ_NEED_WAKEUP", IORING_SQ_NEED_WAKEUP, 1 << 0},
	{"IORING_SQ_CQ_OVERFLOW", IORING_SQ_CQ_OVERFLOW, 1 << 1},
	{"IORING_SQ_TASKRUN", IORING_SQ_TASKRUN, 1 << 2},

	// CQ ring flags (*cq_off.flags).
	{"IORING_CQ_EVENTFD_DISABLED", IORING_CQ_EVENTFD_DISABLED, 1 << 0},

	// io_uring_enter flags.
	{"IORING_ENTER_GETEVENTS", IORING_ENTER_GETEVENTS, 1 << 0},
	{"IORING_ENTER_SQ_WAKEUP", IORING_ENTER_SQ_WAKEUP, 1 << 1},
	{"IORING_ENTER_SQ_WAIT", IORING_ENTER_SQ_WAIT, 1 << 2},
	{"IORING_ENTER_EXT_ARG", IORING_ENTER_EXT_ARG, 1 << 3},
	{"IORING_ENTER_REGISTERED_RING", IORING_ENTER_REGISTERED_RING, 16},
	{"IORING_ENTER_ABS_TIMER", IORING_ENTER_ABS_TIMER, 1 << 5},
	{"IORING_ENTER_EXT_ARG_REG", IORING_ENTER_EXT_ARG_REG, 1 << 6},
	{"IORING_ENTER_NO_IOWAIT", IORING_ENTER_NO_IOWAIT, 1 << 7},

	// Feature bits (io_uring_params.features).
	{"IORING_FEAT_SINGLE_MMAP", IORING_FEAT_SINGLE_MMAP, 1 << 0},
	{"IORING_FEAT_NODROP", IORING_FEAT_NODROP, 1 << 1},
	{"IORING_FEAT_SUBMIT_STABLE", IORING_FEAT_SUBMIT_STABLE, 1 << 2},
	{"IORING_FEAT_RW_CUR_POS", IORING_FEAT_RW_CUR_POS, 1 << 3},
	{"IORING_FEAT_CUR_PERSONALITY", IORING_FEAT_CUR_PERSONALITY, 1 << 4},
	{"IORING_FEAT_FAST_POLL", IORING_FEAT_FAST_POLL, 1 << 5},
	{"IORING_FEAT_POLL_32BITS", IORING_FEAT_POLL_32BITS, 1 << 6},
	{"IORING_FEAT_SQPOLL_NONFIXED", IORING_FEAT_SQPOLL_NONFIXED, 1 << 7},
	{"IORING_FEAT_EXT_ARG", IORING_FEAT_EXT_ARG, 1 << 8},
	{"IORING_FEAT_NATIVE_WORKERS", IORING_FEAT_NATIVE_WORKERS, 1 << 9},
	{"IORING_FEAT_RSRC_TAGS", IORING_FEAT_RSRC_TAGS, 1 << 10},
	{"IORING_FEAT_CQE_SKIP", IORING_FEAT_CQE_SKIP, 1 << 11},
	{"IORING_FEAT_LINKED_FILE", IORING_FEAT_LINKED_FILE, 1 << 12},
	{"IORING_FEAT_REG_REG_RING", IORING_FEAT_REG_REG_RING, 1 << 13},
	{"IORING_FEAT_RECVSEND_BUNDLE", IORING_FEAT_RECVSEND_BUNDLE, 1 << 14},
	{"IORING_FEAT_MIN_TIMEOUT", IORING_FEAT_MIN_TIMEOUT, 1 << 15},
	{"IORING_FEAT_RW_ATTR", IORING_FEAT_RW_ATTR, 1 << 16},
	{"IORING_FEAT_NO_IOWAIT", IORING_FEAT_NO_IOWAIT, 1 << 17},

	// io_uring_register opcodes.
	{"IORING_REGISTER_BUFFERS", IORING_REGISTER_BUFFERS, 0},
	{"IORING_UNREGISTER_BUFFERS", IORING_UNREGISTER_BUFFERS, 1},
	{"IORING_REGISTER_FILES", IORING_REGISTER_FILES, 2},
	{"IORING_UNREGISTER_FILES", IORING_UNREGISTER_FILES, 3},
	{"IORING_REGISTER_EVENTFD", IORING_REGISTER_EVENTFD, 4},
	{"IORING_UNREGISTER_EVENTFD", IORING_UNREGISTER_EVENTFD, 5},
	{"IORING_REGISTER_FILES_UPDATE", IORING_REGISTER_FILES_UPDATE, 6},
	{"IORING_REGISTER_EVENTFD_ASYNC", IORING_REGISTER_EVENTFD_ASYNC, 7},
	{"IORING_REGISTER_PROBE", IORING_REGISTER_PROBE, 8},
	{"IORING_REGISTER_PERSONALITY", IORING_REGISTER_PERSONALITY, 9},
	{"IORING_UNREGISTER_PERSONALITY", IORING_UNREGISTER_PERSONALITY, 10},
	{"IORING_REGISTER_RESTRICTIONS", IORING_REGISTER_RESTRICTIONS, 11},
	{"IORING_REGISTER_ENABLE_RINGS", IORING_REGISTER_ENABLE_RINGS, 12},
	{"IORING_REGISTER_FILES2", IORING_REGISTER_FILES2, 13},
	{"IORING_REGISTER_FILES_UPDATE2", IORING_REGISTER_FILES_UPDATE2, 14},
	{"IORING_REGISTER_BUFFERS2", IORING_REGISTER_BUFFERS2, 15},
	{"IORING_REGISTER_BUFFERS_UPDATE", IORING_REGISTER_BUFFERS_UPDATE, 16},
	{"IORING_REGISTER_IOWQ_AFF", IORING_REGISTER_IOWQ_AFF, 17},
	{"IORING_UNREGISTER_IOWQ_AFF", IORING_UNREGISTER_IOWQ_AFF, 18},
	{"IORING_REGISTER_IOWQ_MAX_WORKERS", IORING_REGISTER_IOWQ_MAX_WORKERS, 19},
	{"IORING_REGISTER_RING_FDS", IORING_REGISTER_RING_FDS, 20},
	{"IORING_UNREGISTER_RING_FDS", IORING_UNREGISTER_RING_FDS, 21},
	{"IORING_REGISTER_PBUF_RING", IORING_REGISTER_PBUF_RING, 22},
	{"IORING_UNREGISTER_PBUF_RING", IORING_UNREGISTER_PBUF_RING, 23},
	{"IORING_REGISTER_SYNC_CANCEL", IORING_REGISTER_SYNC_CANCEL, 24},
	{"IORING_REGISTER_FILE_ALLOC_RANGE", IORING_REGISTER_FILE_ALLOC_RANGE, 25},
	{"IORING_REGISTER_PBUF_STATUS", IORING_REGISTER_PBUF_STATUS, 26},
	{"IORING_REGISTER_NAPI", IORING_REGISTER_NAPI, 27},
	{"IORING_UNREGISTER_NAPI", IORING_UNREGISTER_NAPI, 28},
	{"IORING_REGISTER_CLOCK", IORING_REGISTER_CLOCK, 29},
	{"IORING_REGISTER_CLONE_BUFFERS", IORING_REGISTER_CLONE_BUFFERS, 30},
	{"IORING_REGISTER_SEND_MSG_RING", IORING_REGISTER_SEND_MSG_RING, 31},
	{"IORING_REGISTER_ZCRX_IFQ", IORING_REGISTER_ZCRX_IFQ, 32},
	{"IORING_REGISTER_RESIZE_RINGS", IORING_REGISTER_RESIZE_RINGS, 33},
	{"IORING_REGISTER_MEM_REGION", IORING_REGISTER_MEM_REGION, 34},
	{"IORING_REGISTER_QUERY", IORING_REGISTER_QUERY, 35},
	{"IORING_REGISTER_USE_REGISTERED_RING", IORING_REGISTER_USE_REGISTERED_RING, 1 << 31},

	// mmap offsets.
	{"IORING_OFF_SQ_RING", IORING_OFF_SQ_RING, 0},
	{"IORING_OFF_CQ_RING", IORING_OFF_CQ_RING, 0x8000000},
	{"IORING_OFF_SQES", IORING_OFF_SQES, 0x10000000},

	// IO_URING_OP_SUPPORTED marks an opcode in io_uring_probe_op.flags.
	{"IO_URING_OP_SUPPORTED", IO_URING_OP_SUPPORTED, 1 << 0},
}

func TestABIConstants(t *testing.T) {
	seen := make(map[string]bool, len(abiConstTests))
	for _, tt := range abiConstTests {
		if seen[tt.name] {
			t.Errorf("%s listed twice", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("%s = %d (%#x), kernel 6.18 header has %d (%#x)", tt.name, tt.got, tt.got, tt.want, tt.want)
			}
		})
	}
}
