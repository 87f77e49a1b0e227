//go:build linux

package engine

import (
	"errors"
	"math/rand/v2"
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

// TestDeadlineLoneAndListedWaiters: one, two or three Reads wait on one
// socket (the first alone, listed by a CAS; the others on the deadline's
// list, in front of it), while the peer sends up to that many bytes and
// the read deadline passes, each at a random moment. Every Read ends, with
// its byte or with ErrDeadlineExceeded and nothing else; no byte is lost
// (the ones no Read took are read afterwards); and the deadline's list is
// empty once they are done, on both backends.
func TestDeadlineLoneAndListedWaiters(t *testing.T) {
	c, peer := connectedPair(t)
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	jitter := func() { time.Sleep(time.Duration(rand.IntN(150)) * time.Microsecond) }
	sent, got := 0, 0
	for round := range rounds {
		readers, bytes := 1+round%3, rand.IntN(1+round%3+1)
		c.SetReadDeadline(time.Time{})
		results := make(chan error, readers)
		counts := make(chan int, readers)
		for range readers {
			go func() {
				b := make([]byte, 1)
				n, err := c.Read(b)
				counts <- n
				results <- err
			}()
		}
		jitter()
		var wg sync.WaitGroup
		wg.Go(func() {
			for range bytes {
				jitter()
				if _, err := peer.Write([]byte{1}); err != nil {
					t.Error(err)
				}
			}
		})
		jitter()
		if rand.IntN(2) == 0 {
			c.SetReadDeadline(time.Now().Add(-time.Second))
		} else {
			c.SetReadDeadline(time.Now().Add(time.Duration(rand.IntN(200)) * time.Microsecond))
		}
		wg.Wait()
		for range readers {
			select {
			case err := <-results:
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("round %d (%d readers, %d bytes): Read = %v", round, readers, bytes, err)
				}
				got += <-counts
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d (%d readers, %d bytes): a Read still waits 5s after its deadline", round, readers, bytes)
			}
		}
		sent += bytes
		if p := c.rdl.pend.Load(); p != nil {
			t.Fatalf("round %d: the read deadline still lists an op after its Reads ended", round)
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for b := make([]byte, 64); got < sent; {
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("%d of the %d bytes sent were read; then %v", got, sent, err)
		}
		got += n
	}
	if got != sent {
		t.Fatalf("read %d bytes; %d were sent", got, sent)
	}
}
