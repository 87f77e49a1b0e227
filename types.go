//go:build unix

package ksocket

import "golang.org/x/sys/unix"

// The types every unix system declares; the Linux files fill them, and
// ksocket_other.go answers with ENOSYS.

// Addrinfo is one result of Getaddrinfo, and the hints passed to it: struct
// addrinfo without the list pointer. Addr is the socket address to pass to
// Connect or Bind.
type Addrinfo struct {
	Flags, Family, Socktype, Protocol int
	Addr                              unix.Sockaddr
	Canonname                         string
}

// AddrinfoError is the error Getaddrinfo returns. Code is one of the EAI_*
// constants, and Error gives glibc's gai_strerror text for it.
type AddrinfoError struct {
	Code int
	Err  error
}

// Unwrap returns the underlying error, such as the context's.
func (e *AddrinfoError) Unwrap() error { return e.Err }

// Info says which backend ksocket runs on and why, and which calls go
// through the ring. `ksocket probe` prints it.
type Info struct {
	Backend    string     // "uring" or "epoll"; "none" when no backend could be set up, and outside Linux
	Reason     string     // why this backend, in one line
	SetupErrno unix.Errno // io_uring_setup's errno when it was tried and failed, else 0
	Kernel     string     // uname release
	Masked     []string   // features masked by KSOCKET_FEATURES
	SetupFlags []string   // io_uring setup flags in use
	RingCalls  []string   // calls made as ring ops
	SysCalls   []string   // calls made as plain syscalls
	InlineWait string     // uring: longest wait on the caller's thread
	PolledWait string     // uring: "on", or "off (why)": an op alone on its ring waits in the netpoller on the ring's fd
	Rings      int        // uring: how many rings: one per P at start-up, or KSOCKET_RINGS
	RingSizes  string     // uring: each ring's SQ and CQ entries
	Restricted string     // uring: "yes" when the ring is limited to AllowedOps, else "no (why)"
	AllowedOps []string   // uring: the io_uring opcodes the restricted ring allows
}

// Msg is one message of Recvmmsg and Sendmmsg: struct mmsghdr, with the
// msghdr's fields as Go values.
type Msg struct {
	Buffers [][]byte      // the data, scattered over (or gathered from) these
	OOB     []byte        // control messages to send, or room for those received
	Addr    unix.Sockaddr // Sendmmsg: the destination, nil for the connected peer; Recvmmsg: the sender
	N       int           // bytes of data moved (msg_len)
	OOBN    int           // Recvmmsg: bytes of control data received (msg_controllen)
	Flags   int           // Recvmmsg: the message's MSG_* flags (msg_flags)
}
