//go:build linux

package ksocket

import (
	"errors"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Probe sets up the backend if no call has yet, and describes it. The error
// is why there is no backend (with KSOCKET_BACKEND=uring and no io_uring,
// or a bad KSOCKET_BACKEND or KSOCKET_FEATURES); Info is filled either way.
func Probe() (Info, error) {
	inf, err := engine.Probe()
	out := Info{
		Backend: inf.Backend, Reason: inf.Reason, Kernel: inf.Kernel,
		Masked: inf.Masked, SetupFlags: inf.SetupFlags,
		RingCalls: inf.RingCalls, SysCalls: inf.SysCalls, InlineWait: inf.InlineWait, PolledWait: inf.PolledWait,
		Restricted: inf.Restricted, AllowedOps: inf.AllowedOps,
		Rings: inf.Rings, RingSizes: inf.RingEntries,
	}
	var en unix.Errno
	if errors.As(inf.SetupErr, &en) {
		out.SetupErrno = en
	}
	return out, err
}
