//go:build linux && !android

package loop

import (
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/uring"
)

// TestSpinBacksOff: a poll before a wait that finds nothing makes the
// next 1, 2, 4, ... 64 waits skip polling, and one that finds a CQE
// resets that; a poll ends at its budget.
func TestSpinBacksOff(t *testing.T) {
	ring, err := uring.Setup(8, &uring.Params{}, 0)
	if err != nil {
		t.Skipf("no io_uring: %v", err)
	}
	defer ring.Close()
	l := &uringLoop{s: &Server{cfg: Config{Spin: 200 * time.Microsecond}}}
	l.ring.Ring = ring
	// Polls that find nothing: each lasts its budget, and the waits
	// between them skip it, twice as many each time, to 64.
	var polls []int
	for range 200 {
		skipped := l.skip > 0
		start := time.Now()
		l.spin()
		if !skipped {
			if took := time.Since(start); took < 200*time.Microsecond {
				t.Fatalf("a poll that found nothing ended after %v, before its budget", took)
			}
			polls = append(polls, l.backoff)
		}
	}
	want := []int{1, 2, 4, 8, 16, 32, 64, 64}
	for i, b := range want {
		if i >= len(polls) || polls[i] != b {
			t.Fatalf("back-off after each fruitless poll: %v, want it to start %v", polls, want)
		}
	}
	// A poll that finds a CQE resets the back-off.
	for l.skip > 0 {
		l.spin()
	}
	sqe := ring.GetSQE()
	sqe.Opcode = uring.IORING_OP_NOP
	if _, err := ring.Submit(); err != nil {
		t.Fatal(err)
	}
	l.spin()
	if l.backoff != 0 || l.skip != 0 {
		t.Fatalf("after a poll that found a CQE: backoff %d, skip %d; want 0, 0", l.backoff, l.skip)
	}
}
