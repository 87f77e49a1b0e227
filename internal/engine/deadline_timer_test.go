//go:build linux

package engine

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// stormDeadline has four goroutines move set's deadline between the past,
// the next few hundred microseconds (timers that fire, and whose function
// may then wait for d.mu while a set gives the timer up), none and an hour
// on, and returns once they are done.
func stormDeadline(set func(time.Time)) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 64 {
				switch (i + g) % 4 {
				case 0:
					set(time.Now().Add(-time.Millisecond))
				case 1:
					set(time.Now().Add(time.Duration(i%5) * 100 * time.Microsecond))
				case 2:
					set(time.Time{})
				case 3:
					set(time.Now().Add(time.Hour))
				}
				if i%8 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
}

// TestReadDeadlineRacingSetters: Reads that wait while SetReadDeadline races from
// several goroutines end only with ErrDeadlineExceeded or data; then a
// Read started after the deadline was last set an hour on is not ended by
// any timer of the storm, and ends with the byte the peer sends.
func TestReadDeadlineRacingSetters(t *testing.T) {
	c, peer := connectedPair(t)
	for round := range 20 {
		done := readAsync(c, make([]byte, 1))
		stormDeadline(c.SetReadDeadline)
		c.SetReadDeadline(time.Now().Add(-time.Second)) // end the storm's Read
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: Read during the storm = %v", round, err)
		}
		c.SetReadDeadline(time.Now().Add(time.Hour))
		done = readAsync(c, make([]byte, 1))
		time.Sleep(5 * time.Millisecond) // past every deadline of the storm
		select {
		case err := <-done:
			t.Fatalf("round %d: Read with a deadline an hour on ended: %v", round, err)
		default:
		}
		if _, err := peer.Write([]byte{byte(round)}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Read = %v; want the byte", round, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Read still waiting 5s after the peer wrote", round)
		}
	}
}

// TestDeadlineTimerFiredDuringSet: a timer that fires while a set holds
// the lock, moving the deadline an hour on or removing it, finds that
// set done when its function gets the lock, and must not close the
// channel; a deadline set next still fires. The set is queued on d.mu
// before the timer's function is, so it takes the lock first.
func TestDeadlineTimerFiredDuringSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   func() time.Time
	}{
		{"future", func() time.Time { return time.Now().Add(time.Hour) }},
		{"none", func() time.Time { return time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d deadline
			defer d.stop()
			for round := range 2 { // a fresh timer, then one kept
				d.set(time.Now().Add(10 * time.Millisecond))
				d.mu.Lock()
				setDone := make(chan struct{})
				go func() { d.set(tc.to()); close(setDone) }()
				time.Sleep(30 * time.Millisecond) // the set waits for d.mu; then the timer fires and its function does
				d.mu.Unlock()
				<-setDone
				time.Sleep(5 * time.Millisecond) // the timer's function has run
				if closed(d.wait()) {
					t.Fatalf("round %d: the deadline moved to %s fired with the timer of the one before", round, tc.name)
				}
				d.set(time.Now().Add(time.Millisecond))
				select {
				case <-d.wait():
				case <-time.After(5 * time.Second):
					t.Fatalf("round %d: a deadline a millisecond on has not fired in 5s", round)
				}
			}
		})
	}
}
