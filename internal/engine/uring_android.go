//go:build android

package engine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// newUring is absent on Android: the app seccomp filter kills a process that
// calls io_uring_setup, so the uring backend is left out at build time.
func newUring(*Info, featureMask) (backend, error) {
	return nil, fmt.Errorf("io_uring is left out of Android builds: %w", unix.ENOSYS)
}

// opState is the uring backend's op slot, which deadlines list; no ring,
// no slot.
type opState struct{}

// dgramQueue is a uring socket's multishot receive; no ring, no queue.
type dgramQueue struct{}

func (d *deadline) cancelPendLocked() {}

// multishotDgrams is false: without a ring no socket has a multishot.
func multishotDgrams(*Socket) bool { return false }

// leaveDatagramQueue does nothing: without a ring no socket queues.
func leaveDatagramQueue(*Socket) {}
