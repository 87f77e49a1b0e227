//go:build linux && !android

package loop

import (
	"runtime"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/uring"
)

// TestWaitHandlesBacklogFirst: CQEs that sqe moved to the backlog (the
// kernel took no SQE: EBUSY, EAGAIN) are the loop's to handle before it
// waits; with nothing in flight no other CQE may ever come, so a wait
// that asked for one more would block for good.
func TestWaitHandlesBacklogFirst(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the ring may be SINGLE_ISSUER
		defer runtime.UnlockOSThread()
		ring, err := newLoopRing(nil, 0, ringOps, ringSQEFlags)
		if ring != nil {
			defer ring.Close()
		}
		if err != nil {
			done <- err
			return
		}
		r := &loopRing{Ring: ring}
		r.backlog = append(r.backlog, uring.CQE{UserData: udata(kindRetry, 0, 0)})
		if err := r.wait(r.FlushSQ()); err != nil {
			done <- err
			return
		}
		if _, _, _, ok := r.next(); !ok {
			t.Error("the backlog's CQE was lost")
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Skipf("no loop ring here: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait blocked with a CQE in the backlog and nothing in flight")
	}
}
