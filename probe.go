//go:build linux

package ksocket

import (
	"errors"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Info says which backend ksocket runs on and why, and which calls go
// through the ring. `ksocket probe` prints it.
type Info struct {
	Backend    string     // "uring" or "epoll"; "none" when no backend could be set up
	Reason     string     // why this backend, in one line
	SetupErrno unix.Errno // io_uring_setup's errno when it was tried and failed, else 0
	Kernel     string     // uname release
	Masked     []string   // features masked by KSOCKET_FEATURES
	SetupFlags []string   // io_uring setup flags in use
	RingCalls  []string   // calls made as ring ops
	SysCalls   []string   // calls made as plain syscalls
	InlineWait string     // uring: longest wait on the caller's thread
}

// Probe sets up the backend if no call has yet, and describes it. The error
// is why there is no backend (with KSOCKET_BACKEND=uring and no io_uring,
// or a bad KSOCKET_BACKEND or KSOCKET_FEATURES); Info is filled either way.
func Probe() (Info, error) {
	inf, err := engine.Probe()
	out := Info{
		Backend: inf.Backend, Reason: inf.Reason, Kernel: inf.Kernel,
		Masked: inf.Masked, SetupFlags: inf.SetupFlags,
		RingCalls: inf.RingCalls, SysCalls: inf.SysCalls, InlineWait: inf.InlineWait,
	}
	var en unix.Errno
	if errors.As(inf.SetupErr, &en) {
		out.SetupErrno = en
	}
	return out, err
}
