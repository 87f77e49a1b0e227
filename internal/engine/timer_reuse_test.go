//go:build linux && !android

package engine

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"
)

// TestTimeoutTimersReused: the timers of timed waits are reused
// (idleTimers), and a reused one carries nothing of its last wait. After
// waits whose timers fired, and waits that ended with data while their
// timers were about to fire, a wait with a long timeout lasts until its
// datagram comes, and one with a short timeout still ends on time.
func TestTimeoutTimersReused(t *testing.T) {
	e := testEngine(t)
	s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sa := bindLoopback(t, s, unix.AF_INET)
	tx, _ := rawUDP(t, unix.AF_INET)
	send := func(msg string) {
		to := *sa.(*unix.SockaddrInet4) // a copy: Sendto writes into it
		unix.Sendto(tx, []byte(msg), 0, &to)
	}
	b := make([]byte, 16)
	for i := range 20 {
		if _, _, err := s.RecvFrom(ctx0, b, 0, time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("wait %d with nothing to read: %v", i, err)
		}
		// A datagram due about when the next wait's timer fires.
		time.AfterFunc(time.Millisecond, func() { send("x") })
		_, _, err := s.RecvFrom(ctx0, b, 0, time.Millisecond)
		if errors.Is(err, os.ErrDeadlineExceeded) { // the timer won: the datagram is still to come
			_, _, err = s.RecvFrom(ctx0, b, 0, 5*time.Second)
		}
		if err != nil {
			t.Fatalf("wait %d racing its timer: %v", i, err)
		}
	}
	const late = 50 * time.Millisecond
	start := time.Now()
	time.AfterFunc(late, func() { send("late") })
	if n, _, err := s.RecvFrom(ctx0, b, 0, 5*time.Second); err != nil || string(b[:n]) != "late" {
		t.Fatalf("long wait after reused timers: %q, %v after %v", b[:n], err, time.Since(start))
	}
	if d := time.Since(start); d < late/2 {
		t.Fatalf("the long wait ended after %v, before its datagram was sent", d)
	}
	start = time.Now()
	if _, _, err := s.RecvFrom(ctx0, b, 0, 20*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("short wait: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the short wait took %v", d)
	}
}

// TestReusedTimerHoldsNoTick: a wait whose timer fired while it took
// something else leaves no tick behind for the next wait, which may reuse
// the timer: on Go's timers since 1.23, and on the older ones, which a
// program can still run on and whose timers are not reused
// (GODEBUG=asynctimerchan=1, checked in a child process).
func TestReusedTimerHoldsNoTick(t *testing.T) {
	if os.Getenv("KSOCKET_TIMER_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReusedTimerHoldsNoTick$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KSOCKET_TIMER_CHILD=1", "GODEBUG=asynctimerchan=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("with GODEBUG=asynctimerchan=1: %v\n%s", err, out)
		}
	}
	for i := range 200 {
		wt := newWaiter(nil, &waitSpec{expire: time.Now().Add(-time.Second)})
		time.Sleep(10 * time.Microsecond) // the timer has fired
		ch := make(chan struct{}, 1)
		ch <- struct{}{}
		wt.wait(ch, nil) // either case may win
		wt.stop()
		next := newWaiter(nil, &waitSpec{expire: time.Now().Add(time.Hour)})
		select {
		case <-next.tch:
			t.Fatalf("round %d: a wait of an hour found a tick at once", i)
		default:
		}
		next.stop()
	}
	// The timers are reused where Go's timers are synchronous, and never
	// on the older ones. (sync.Pool may drop some: half is plenty.)
	seen := map[*time.Timer]bool{}
	reused := 0
	for range 100 {
		wt := newWaiter(nil, &waitSpec{expire: time.Now().Add(time.Hour)})
		if seen[wt.timer] {
			reused++
		}
		seen[wt.timer] = true
		wt.stop()
	}
	child := os.Getenv("KSOCKET_TIMER_CHILD") != ""
	if child && reused > 0 || !child && reused < 50 {
		t.Fatalf("%d of 100 timers reused (asynctimerchan=1: %v)", reused, child)
	}
}

// TestBubbleTimersNotPooled: a timed wait in a testing/synctest bubble
// leaves its timer to no wait outside it, where touching it is a fatal
// error in the runtime, and takes none from outside, which would run on
// the real clock and not the bubble's.
func TestBubbleTimersNotPooled(t *testing.T) {
	wt := newWaiter(nil, &waitSpec{expire: time.Now().Add(time.Hour)})
	outside := wt.timer
	wt.stop() // one from outside in the pool
	synctest.Test(t, func(t *testing.T) {
		wt := newWaiter(nil, &waitSpec{expire: time.Now().Add(time.Hour)})
		if wt.timer == outside {
			t.Fatal("a wait in a bubble took a timer from outside it")
		}
		wt.stop()
	})
	wt = newWaiter(nil, &waitSpec{expire: time.Now().Add(time.Hour)})
	wt.stop()
}
