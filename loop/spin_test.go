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
	var polls, gaps []int // back-off after each poll; skipped waits between polls
	gap := 0
	for range 200 {
		skipped := l.skip > 0
		start := time.Now()
		l.spin()
		if skipped {
			gap++
			continue
		}
		if took := time.Since(start); took < 200*time.Microsecond {
			t.Fatalf("a poll that found nothing ended after %v, before its budget", took)
		}
		if len(polls) > 0 {
			gaps = append(gaps, gap)
		}
		gap = 0
		polls = append(polls, l.backoff)
	}
	want := []int{1, 2, 4, 8, 16, 32, 64, 64}
	for i, b := range want {
		if i >= len(polls) || polls[i] != b {
			t.Fatalf("back-off after each fruitless poll: %v, want it to start %v", polls, want)
		}
	}
	// The back-off must take effect: that many waits skip the poll.
	for i, g := range want[:len(want)-1] {
		if i >= len(gaps) || gaps[i] != g {
			t.Fatalf("waits skipped between polls: %v, want them to start %v", gaps, want[:len(want)-1])
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
