//go:build linux && !android

package uring

import (
	"runtime"
	"strconv"
	"unsafe"
)

// Restrictions (IORING_REGISTER_RESTRICTIONS, Linux 5.10+) limit a ring to
// lists of SQE opcodes, SQE flags and io_uring_register opcodes. They can be
// registered once, only while the ring is still disabled
// (IORING_SETUP_R_DISABLED), and take hold when IORING_REGISTER_ENABLE_RINGS
// enables it. From then on an SQE outside the lists completes with -EACCES
// and a register call outside them fails with EACCES; submitting to a
// disabled ring fails with EBADFD.

// Restriction opcodes (enum io_uring_register_restriction_op).
const (
	IORING_RESTRICTION_REGISTER_OP        = 0 // allow an io_uring_register opcode
	IORING_RESTRICTION_SQE_OP             = 1 // allow an SQE opcode
	IORING_RESTRICTION_SQE_FLAGS_ALLOWED  = 2 // IOSQE_* flags an SQE may carry
	IORING_RESTRICTION_SQE_FLAGS_REQUIRED = 3 // IOSQE_* flags every SQE must carry
)

// Restriction is struct io_uring_restriction.
type Restriction struct {
	Opcode uint16 // IORING_RESTRICTION_*
	Arg    uint8  // union { register_op; sqe_op; sqe_flags }
	Resv   uint8
	Resv2  [3]uint32
}

// SizeofRestriction is sizeof(struct io_uring_restriction).
const SizeofRestriction = 16

// Allowed is what a restricted ring may do.
type Allowed struct {
	Ops         []uint8 // IORING_OP_* opcodes SQEs may carry
	SQEFlags    uint8   // IOSQE_* flags SQEs may carry; none required
	RegisterOps []uint8 // IORING_REGISTER_* opcodes allowed once enabled
}

// RegisterRestrictions registers a's lists. The ring must have been set up
// with IORING_SETUP_R_DISABLED and not yet enabled (else EBADFD); a second
// registration fails with EBUSY.
func (r *Ring) RegisterRestrictions(a Allowed) error {
	rs := make([]Restriction, 0, len(a.Ops)+len(a.RegisterOps)+1)
	for _, op := range a.Ops {
		rs = append(rs, Restriction{Opcode: IORING_RESTRICTION_SQE_OP, Arg: op})
	}
	for _, op := range a.RegisterOps {
		rs = append(rs, Restriction{Opcode: IORING_RESTRICTION_REGISTER_OP, Arg: op})
	}
	rs = append(rs, Restriction{Opcode: IORING_RESTRICTION_SQE_FLAGS_ALLOWED, Arg: a.SQEFlags})
	_, err := r.Register(IORING_REGISTER_RESTRICTIONS, unsafe.Pointer(&rs[0]), uint32(len(rs)))
	runtime.KeepAlive(rs)
	return err
}

// Disabled reports whether the ring was set up with IORING_SETUP_R_DISABLED;
// it stays true after EnableRings.
func (r *Ring) Disabled() bool { return r.flags&IORING_SETUP_R_DISABLED != 0 }

// opNames are the opcodes' names without the IORING_OP_ prefix.
var opNames = [...]string{
	IORING_OP_NOP:              "NOP",
	IORING_OP_READV:            "READV",
	IORING_OP_WRITEV:           "WRITEV",
	IORING_OP_FSYNC:            "FSYNC",
	IORING_OP_READ_FIXED:       "READ_FIXED",
	IORING_OP_WRITE_FIXED:      "WRITE_FIXED",
	IORING_OP_POLL_ADD:         "POLL_ADD",
	IORING_OP_POLL_REMOVE:      "POLL_REMOVE",
	IORING_OP_SYNC_FILE_RANGE:  "SYNC_FILE_RANGE",
	IORING_OP_SENDMSG:          "SENDMSG",
	IORING_OP_RECVMSG:          "RECVMSG",
	IORING_OP_TIMEOUT:          "TIMEOUT",
	IORING_OP_TIMEOUT_REMOVE:   "TIMEOUT_REMOVE",
	IORING_OP_ACCEPT:           "ACCEPT",
	IORING_OP_ASYNC_CANCEL:     "ASYNC_CANCEL",
	IORING_OP_LINK_TIMEOUT:     "LINK_TIMEOUT",
	IORING_OP_CONNECT:          "CONNECT",
	IORING_OP_FALLOCATE:        "FALLOCATE",
	IORING_OP_OPENAT:           "OPENAT",
	IORING_OP_CLOSE:            "CLOSE",
	IORING_OP_FILES_UPDATE:     "FILES_UPDATE",
	IORING_OP_STATX:            "STATX",
	IORING_OP_READ:             "READ",
	IORING_OP_WRITE:            "WRITE",
	IORING_OP_FADVISE:          "FADVISE",
	IORING_OP_MADVISE:          "MADVISE",
	IORING_OP_SEND:             "SEND",
	IORING_OP_RECV:             "RECV",
	IORING_OP_OPENAT2:          "OPENAT2",
	IORING_OP_EPOLL_CTL:        "EPOLL_CTL",
	IORING_OP_SPLICE:           "SPLICE",
	IORING_OP_PROVIDE_BUFFERS:  "PROVIDE_BUFFERS",
	IORING_OP_REMOVE_BUFFERS:   "REMOVE_BUFFERS",
	IORING_OP_TEE:              "TEE",
	IORING_OP_SHUTDOWN:         "SHUTDOWN",
	IORING_OP_RENAMEAT:         "RENAMEAT",
	IORING_OP_UNLINKAT:         "UNLINKAT",
	IORING_OP_MKDIRAT:          "MKDIRAT",
	IORING_OP_SYMLINKAT:        "SYMLINKAT",
	IORING_OP_LINKAT:           "LINKAT",
	IORING_OP_MSG_RING:         "MSG_RING",
	IORING_OP_FSETXATTR:        "FSETXATTR",
	IORING_OP_SETXATTR:         "SETXATTR",
	IORING_OP_FGETXATTR:        "FGETXATTR",
	IORING_OP_GETXATTR:         "GETXATTR",
	IORING_OP_SOCKET:           "SOCKET",
	IORING_OP_URING_CMD:        "URING_CMD",
	IORING_OP_SEND_ZC:          "SEND_ZC",
	IORING_OP_SENDMSG_ZC:       "SENDMSG_ZC",
	IORING_OP_READ_MULTISHOT:   "READ_MULTISHOT",
	IORING_OP_WAITID:           "WAITID",
	IORING_OP_FUTEX_WAIT:       "FUTEX_WAIT",
	IORING_OP_FUTEX_WAKE:       "FUTEX_WAKE",
	IORING_OP_FUTEX_WAITV:      "FUTEX_WAITV",
	IORING_OP_FIXED_FD_INSTALL: "FIXED_FD_INSTALL",
	IORING_OP_FTRUNCATE:        "FTRUNCATE",
	IORING_OP_BIND:             "BIND",
	IORING_OP_LISTEN:           "LISTEN",
	IORING_OP_RECV_ZC:          "RECV_ZC",
	IORING_OP_EPOLL_WAIT:       "EPOLL_WAIT",
	IORING_OP_READV_FIXED:      "READV_FIXED",
	IORING_OP_WRITEV_FIXED:     "WRITEV_FIXED",
	IORING_OP_PIPE:             "PIPE",
}

// OpName returns op's name without the IORING_OP_ prefix ("RECV"), or
// "OP_<n>" for an opcode newer than this package.
func OpName(op uint8) string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return "OP_" + strconv.Itoa(int(op))
}
