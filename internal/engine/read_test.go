//go:build linux

package engine

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// connectedPair returns both ends of a loopback TCP connection.
func connectedPair(t *testing.T) (c, peer *Socket) {
	t.Helper()
	e := testEngine(t)
	ln, sa := listenTCP(t, e)
	c = dialTCP(t, e, sa)
	peer, _, err := ln.Accept(ctx0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return c, peer
}

// readAsync starts a Read of a buffer full of 0xAA and returns its result.
func readAsync(c *Socket, buf []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		done <- err
	}()
	return done
}

// TestReadDeadlineWhileBlocked moves the read deadline of a Read that is
// already waiting: on uring the deadline's timer cancels the op (await),
// on epoll the netpoller ends it. Either way the Read ends when the
// deadline says and not before, the kernel has let go of the buffer when
// it returns, and no op slot is left behind.
func TestReadDeadlineWhileBlocked(t *testing.T) {
	const (
		short = 30 * time.Millisecond
		long  = 10 * time.Second
	)
	cases := []struct {
		name string
		// move changes the deadline of a Read that is waiting, and says
		// whether the Read must end with ErrDeadlineExceeded.
		move func(c *Socket) bool
	}{
		{"set while blocked", func(c *Socket) bool {
			c.SetReadDeadline(time.Now().Add(short))
			return true
		}},
		{"moved to the past", func(c *Socket) bool {
			c.SetReadDeadline(time.Now().Add(-time.Second))
			return true
		}},
		{"moved later", func(c *Socket) bool {
			c.SetReadDeadline(time.Now().Add(short))
			c.SetReadDeadline(time.Now().Add(long))
			return false
		}},
		{"removed", func(c *Socket) bool {
			c.SetReadDeadline(time.Now().Add(short))
			c.SetReadDeadline(time.Time{})
			return false
		}},
		{"moved earlier", func(c *Socket) bool {
			c.SetReadDeadline(time.Now().Add(long))
			c.SetReadDeadline(time.Now().Add(short))
			return true
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := connectedPair(t)
			inUse, _ := c.Engine().Slots()
			buf := bytes.Repeat([]byte{0xAA}, 64)
			done := readAsync(c, buf)
			time.Sleep(10 * time.Millisecond) // let the Read wait
			wantTimeout := tc.move(c)
			select {
			case err := <-done:
				if !wantTimeout {
					t.Fatalf("Read ended with %v; the deadline no longer applied", err)
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Read = %v; want ErrDeadlineExceeded", err)
				}
			case <-time.After(3 * short):
				if wantTimeout {
					t.Fatal("Read still waiting well past its deadline")
				}
			}
			if _, err := peer.Send(ctx0, bytes.Repeat([]byte{0x55}, 64), 0, nil, 0); err != nil {
				t.Fatal(err)
			}
			if !wantTimeout {
				if err := <-done; err != nil {
					t.Fatalf("Read = %v; want the peer's data", err)
				}
				if buf[0] != 0x55 {
					t.Fatalf("Read returned, yet buf[0] = %#x", buf[0])
				}
				return
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
			for i, v := range buf {
				if v != 0xAA {
					t.Fatalf("buf[%d] = %#x after a Read cut short: the kernel wrote a buffer it no longer owned", i, v)
				}
			}
			if now, _ := c.Engine().Slots(); now > inUse {
				t.Fatalf("op slots in use: %d before, %d after the Read", inUse, now)
			}
			// The data is still there for the next Read.
			c.SetReadDeadline(time.Time{})
			if n, err := c.Read(buf); n != 64 || err != nil || buf[0] != 0x55 {
				t.Fatalf("next Read = %d, %v, buf[0] %#x; want the 64 bytes sent", n, err, buf[0])
			}
		})
	}
}

// TestReadPastDeadline: a Read under a deadline that has passed starts
// nothing and says so at once, as net does.
func TestReadPastDeadline(t *testing.T) {
	c, _ := connectedPair(t)
	c.SetReadDeadline(time.Now().Add(-time.Millisecond))
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v; want ErrDeadlineExceeded", err)
	}
}

// TestReadersShareDeadline: one deadline ends every Read waiting on the
// socket, each cancelled on its own.
func TestReadersShareDeadline(t *testing.T) {
	c, _ := connectedPair(t)
	inUse, _ := c.Engine().Slots()
	const readers = 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			_, err := c.Read(make([]byte, 8))
			errs <- err
		})
	}
	time.Sleep(10 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read = %v; want ErrDeadlineExceeded", err)
		}
	}
	if now, _ := c.Engine().Slots(); now > inUse {
		t.Fatalf("op slots in use: %d before, %d after the Reads", inUse, now)
	}
}

// TestReadDeadlineStorm races deadline moves against Reads that data
// completes: every byte sent is read exactly once, whatever the deadline
// cut short.
func TestReadDeadlineStorm(t *testing.T) {
	c, peer := connectedPair(t)
	const rounds = 2000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.SetReadDeadline(time.Now().Add(time.Duration(i%50) * time.Microsecond))
			runtime.Gosched()
		}
	})
	var got []byte
	timeouts := 0
	buf := make([]byte, 16)
	for i := range rounds {
		if _, err := peer.Send(ctx0, []byte{byte(i)}, 0, nil, 0); err != nil {
			t.Fatal(err)
		}
		for len(got) <= i {
			n, err := c.Read(buf)
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("round %d: Read = %v", i, err)
			}
			if err != nil {
				timeouts++
				// Let the mover run: at GOMAXPROCS=1 a Read past its
				// deadline returns at once, and without this the loop
				// spun until preempted (331M Reads, 109 s under -race).
				runtime.Gosched()
			}
			got = append(got, buf[:n]...)
		}
	}
	close(stop)
	wg.Wait()
	for i, v := range got {
		if v != byte(i) {
			t.Fatalf("byte %d = %d: data lost or read twice", i, v)
		}
	}
	if len(got) != rounds {
		t.Fatalf("read %d bytes; sent %d", len(got), rounds)
	}
	t.Logf("%d Reads of %d bytes ended at a deadline", timeouts, rounds)
}

// TestReadAfterDeadlineFiredWallClockBack: a deadline whose timer has
// fired ends the next Read at once, even where the wall clock has stepped
// back since, so that the deadline's time has not come by the wall clock
// (the step is imitated by moving the stored time an hour on). The timer
// runs on the monotonic clock, as net's deadlines do.
func TestReadAfterDeadlineFiredWallClockBack(t *testing.T) {
	c, _ := connectedPair(t)
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	time.Sleep(40 * time.Millisecond) // the timer fires
	c.rdl.at.Store(time.Now().Add(time.Hour).UnixNano())
	done := readAsync(c, make([]byte, 8))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v; want ErrDeadlineExceeded", err)
		}
	case <-time.After(2 * time.Second):
		c.Close()
		<-done
		t.Fatal("Read waited past a deadline that had fired")
	}
}

// TestReadDeadlineMovedOn: a deadline moved on again and again while a
// Read waits, as a per-message timeout does, never ends the Read early,
// and the last one ends it. Moving a deadline that has not passed
// allocates nothing (the uring backend resets its timer), as with net.
func TestReadDeadlineMovedOn(t *testing.T) {
	c, _ := connectedPair(t)
	done := readAsync(c, make([]byte, 8))
	for range 50 {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Read ended while its deadline was moved on: %v", err)
	default:
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v; want ErrDeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still waiting 5s after its last deadline")
	}
	if n := testing.AllocsPerRun(100, func() { c.SetReadDeadline(time.Now().Add(time.Hour)) }); n != 0 {
		t.Errorf("SetReadDeadline allocates %v times a call; want 0", n)
	}
}
