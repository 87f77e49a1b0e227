//go:build linux

package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStormAcrossPs runs streams whose every call may be cut short by a
// context, a per-op timeout or a moving deadline, on sockets spread over
// the rings, at twice as many Ps as the machine has CPUs, while the
// goroutines hop between Ps and threads between calls (Gosched, and
// LockOSThread, which hands the goroutine to another M). Beside them,
// sockets with a Recv pending are closed at random moments. No byte may be
// lost, doubled or reordered; every call returns; every Close wakes its
// call; and afterwards every op slot is free again.
func TestStormAcrossPs(t *testing.T) {
	e := testEngine(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, 2*runtime.NumCPU())))
	inUse0, _ := e.Slots()

	ln, sa := listenTCP(t, e)
	pairs, dur := 12, 2*time.Second
	if testing.Short() {
		pairs, dur = 6, 500*time.Millisecond
	}
	hop := func() {
		switch rand.IntN(4) {
		case 0:
			runtime.Gosched()
		case 1:
			runtime.LockOSThread()
			runtime.Gosched()
			runtime.UnlockOSThread()
		}
	}
	// cut returns a context, a per-op timeout, or neither: most calls run
	// whole, some are cut short at a random moment.
	cut := func() (context.Context, context.CancelFunc, time.Duration) {
		d := time.Duration(rand.IntN(300)) * time.Microsecond
		switch rand.IntN(6) {
		case 0:
			ctx, cancel := context.WithTimeout(ctx0, d)
			return ctx, cancel, 0
		case 1:
			return ctx0, func() {}, d + time.Microsecond
		}
		return nil, func() {}, 0
	}
	cutShort := func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
	}
	patternByte := func(seed, off int) byte { return byte(seed*31 + off*7 + off>>9) }

	var wg sync.WaitGroup
	errc := make(chan error, 4*pairs)
	var sent, cuts, moves, closes atomic.Int64
	end := time.Now().Add(dur)
	for p := range pairs {
		w := dialTCP(t, e, sa)
		r := acceptTCP(t, ln)
		wg.Go(func() { // writer: until the time is up
			buf := make([]byte, 16<<10)
			off := 0
			for time.Now().Before(end) {
				n := 1 + rand.IntN(len(buf))
				for i := range n {
					buf[i] = patternByte(p, off+i)
				}
				ctx, cancel, timeout := cut()
				m, err := w.Send(ctx, buf[:n], 0, nil, timeout)
				cancel()
				off += m // a cut Send reports what it sent
				if err != nil {
					if !cutShort(err) {
						errc <- fmt.Errorf("pair %d: Send at %d: %v", p, off, err)
						return
					}
					cuts.Add(1)
				}
				hop()
			}
			sent.Add(int64(off))
			w.SetWriteDeadline(time.Time{})
			if err := w.Shutdown(unix.SHUT_WR); err != nil {
				errc <- fmt.Errorf("pair %d: Shutdown: %v", p, err)
			}
		})
		var readDone atomic.Bool
		wg.Go(func() { // reader: checks every byte, until EOF
			defer readDone.Store(true)
			buf := make([]byte, 12<<10)
			off := 0
			for limit := end.Add(30 * time.Second); time.Now().Before(limit); {
				ctx, cancel, timeout := cut()
				n, _, _, err := r.Recv(ctx, buf[:1+rand.IntN(len(buf))], 0, false, timeout)
				cancel()
				for i := range n {
					if buf[i] != patternByte(p, off+i) {
						errc <- fmt.Errorf("pair %d: byte %d is %d, want %d", p, off+i, buf[i], patternByte(p, off+i))
						return
					}
				}
				off += n
				switch {
				case err == nil && n == 0:
					return // EOF after the writer's Shutdown
				case err != nil && !cutShort(err):
					errc <- fmt.Errorf("pair %d: Recv at %d: %v", p, off, err)
					return
				case err != nil:
					cuts.Add(1)
				}
				hop()
			}
			errc <- fmt.Errorf("pair %d: reader still running 30 s after the writer stopped", p)
		})
		wg.Go(func() { // the reader's deadline moves under it
			for !readDone.Load() {
				if rand.IntN(3) == 0 {
					r.SetReadDeadline(time.Now().Add(time.Duration(rand.IntN(500)) * time.Microsecond))
				} else {
					r.SetReadDeadline(time.Time{})
				}
				moves.Add(1)
				time.Sleep(100 * time.Microsecond)
			}
			r.SetReadDeadline(time.Time{})
		})
	}
	wg.Go(func() { // Close storm: Recv pending on a quiet socket, Close at a random moment
		for time.Now().Before(end) {
			c := dialTCP(t, e, sa)
			a := acceptTCP(t, ln)
			got := make(chan error, 1)
			go func() {
				hop()
				_, _, _, err := c.Recv(ctx0, make([]byte, 64), 0, false, 0)
				got <- err
			}()
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
			c.Close()
			select {
			case err := <-got:
				if err != nil && !errors.Is(err, net.ErrClosed) {
					errc <- fmt.Errorf("Recv on a socket closed under it: %v", err)
				}
			case <-time.After(10 * time.Second):
				errc <- errors.New("Recv still pending 10 s after Close")
				return
			}
			a.Close()
			closes.Add(1)
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("%d Ps, %d rings: %d pairs moved %d bytes, checked; %d calls cut short, %d deadline moves, %d sockets closed under a pending Recv",
		runtime.GOMAXPROCS(0), ringCount(e), pairs, sent.Load(), cuts.Load(), moves.Load(), closes.Load())
	if cuts.Load() == 0 {
		t.Errorf("no call was cut short: the storm did not storm")
	}

	// Every op is over: only the listener's accept, if any, may hold a slot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		inUse, total := e.Slots()
		if inUse <= inUse0+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d op slots still in use 10 s after the storm (%d before)", inUse, total, inUse0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ringCount is the number of rings, 0 on the epoll backend.
func ringCount(e *Engine) int {
	if b, ok := e.b.(interface{ rings() int }); ok {
		return b.rings()
	}
	return 0
}
