//go:build linux && !android

package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDeadlineFirerTakesTheList: the deadline's firer loads pend's head and
// then reads the op's dlOne, without a claim on it; a lone op may meanwhile
// leave with its CAS (delist), and its slot go on to wait on another
// deadline, in front of an op already there (enlist's slow path writes
// dlOne false). The firer then walks that other deadline's list: it marks
// ops there fired and cancels them (here it would move a ring's read
// deadline into the past, as the op is a pollWaker), though that deadline
// never passed. Under -race the unsynchronized read of dlOne is reported.
//
// The model: one ring's pollWaker (reused by successive polled waits of
// different sockets, as an op slot is by successive ops) waits on d1 and
// then on d2, where another waiter c stands; d1 passes and is reset over
// and over; d2 never passes.
func TestDeadlineFirerTakesTheList(t *testing.T) {
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	sh, shC := new(shard), new(shard)
	st := &sh.pollWaker
	st.sh = sh
	c := &shC.pollWaker
	c.sh = shC
	var d1, d2 deadline
	if !d2.enlist(c) {
		t.Fatal("d2 passed")
	}
	stop := make(chan struct{})
	var bad atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() { // the firer of d1
		for {
			select {
			case <-stop:
				return
			default:
			}
			d1.mu.Lock()
			d1.fireLocked()
			d1.mu.Unlock()
			d1.set(time.Time{})
		}
	})
	wg.Go(func() { // the waiter whose slot moves from d1 to d2
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if d1.enlist(st) {
				d1.delist(st)
			}
			if !d2.enlist(st) {
				bad.Store("d2 said passed")
				return
			}
			if i%8 == 0 {
				runtime.Gosched()
			}
			if d2.delist(st) {
				bad.Store("an op on d2, which never passed, was fired by d1's firer")
				return
			}
		}
	})
	stopOnBad(t, dur, stop, &wg, &bad)
	d2.mu.Lock()
	fired := c.dlFired
	d2.mu.Unlock()
	if fired {
		t.Fatal("the waiter on d2, which never passed, was fired by d1's firer")
	}
}

// TestDeadlineListRacyReads: goroutines read one socket at once, so that
// its read deadline's list holds several ops, leaving in every order while
// the peer writes and the deadline moves; each op's slot is reused by the
// next op at once. Every Read ends with data or ErrDeadlineExceeded, and
// every byte sent is read. (nettest's RacyRead, under -race, once caught
// delist writing a link of the op behind after making it the head, from
// where it may leave by its CAS and its slot be reused.)
func TestDeadlineListRacyReads(t *testing.T) {
	c, peer := connectedPair(t)
	dur := time.Second
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	end := time.Now().Add(dur)
	var sent, got atomic.Int64
	var wg sync.WaitGroup
	peer.SetWriteDeadline(end) // the readers may fall behind and stop first
	wg.Go(func() {
		b := make([]byte, 100)
		for time.Now().Before(end) {
			n, err := peer.Write(b[:1+int(sent.Load()%100)])
			sent.Add(int64(n))
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Error(err)
				}
				return
			}
		}
	})
	wg.Go(func() {
		for i := 0; time.Now().Before(end); i++ {
			if i%2 == 0 {
				c.SetReadDeadline(time.Now().Add(time.Duration(i%200) * time.Microsecond))
			} else {
				c.SetReadDeadline(time.Time{})
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	for range 8 {
		wg.Go(func() {
			b := make([]byte, 1+rand.IntN(64))
			for time.Now().Before(end) {
				n, err := c.Read(b)
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Read = %v", err)
					return
				}
				got.Add(int64(n))
			}
		})
	}
	wg.Wait()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for b := make([]byte, 4096); got.Load() < sent.Load(); {
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("%d of the %d bytes sent were read; then %v", got.Load(), sent.Load(), err)
		}
		got.Add(int64(n))
	}
	if got.Load() != sent.Load() {
		t.Fatalf("read %d bytes; %d were sent", got.Load(), sent.Load())
	}
}

// TestDeadlineListModel: a model of the pend protocol. Each worker
// owns one "op" (a pollWaker of its own zero shard, so the firer's cancel
// is harmless) and moves it from deadline to deadline, as a reused slot
// does; several workers share each deadline, so the slow paths, the CAS
// loop and ABA on pend all run. Firers fire (under mu, counting fires)
// and reset their deadlines. Checked: an op listed when a fire ran is
// fired (1); an op fired saw a fire during its wait (2); -race checks (3).
func TestDeadlineListModel(t *testing.T) {
	for _, c := range [][2]int{{1, 2}, {1, 5}, {2, 3}, {3, 6}} {
		t.Run(fmt.Sprintf("%dx%d", c[0], c[1]), func(t *testing.T) { listModel(t, c[0], c[1]) })
	}
}

func listModel(t *testing.T, nDL, nW int) {
	dur := 700 * time.Millisecond
	if testing.Short() {
		dur = 200 * time.Millisecond
	}
	dls := make([]deadline, nDL)
	begins, ends := make([]atomic.Int64, nDL), make([]atomic.Int64, nDL) // fires begun and ended, counted under mu
	stop := make(chan struct{})
	var bad atomic.Value
	var wg sync.WaitGroup
	for i := range nDL {
		wg.Go(func() {
			d := &dls[i]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				d.mu.Lock()
				begins[i].Add(1)
				d.fireLocked()
				ends[i].Add(1)
				d.mu.Unlock()
				if n%3 == 0 {
					runtime.Gosched()
				}
				d.set(time.Time{})
				for range rand.IntN(4) {
					runtime.Gosched()
				}
			}
		})
	}
	for range nW {
		wg.Go(func() {
			sh := new(shard)
			st := &sh.pollWaker
			st.sh = sh
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := rand.IntN(nDL)
				d := &dls[i]
				e0 := ends[i].Load()
				if !d.enlist(st) {
					if begins[i].Load() == 0 {
						bad.Store("enlist: passed, with no fire")
						return
					}
					continue
				}
				b1 := begins[i].Load()
				for range rand.IntN(3) {
					runtime.Gosched()
				}
				e2 := ends[i].Load()
				fired := d.delist(st)
				b3 := begins[i].Load()
				// A fire that began after enlist returned and ended before
				// delist was called found st listed.
				if e2 > b1 && !fired {
					bad.Store(fmt.Sprintf("listed through fire %d, not fired", b1+1))
					return
				}
				// A fire that ended before enlist began cannot fire st.
				if fired && b3 <= e0 {
					bad.Store("fired with no fire")
					return
				}
				st.gen++ // a new op in the slot
			}
		})
	}
	stopOnBad(t, dur, stop, &wg, &bad)
	for i := range dls {
		if p := dls[i].pend.Load(); p != nil {
			t.Fatalf("deadline %d still lists %p", i, p)
		}
	}
}

// stopOnBad lets the goroutines of wg run for dur, or until one stores a
// failure in bad, then closes stop, waits for them, and fails the test
// with what bad holds.
func stopOnBad(t *testing.T, dur time.Duration, stop chan struct{}, wg *sync.WaitGroup, bad *atomic.Value) {
	t.Helper()
	for end := time.Now().Add(dur); time.Now().Before(end) && bad.Load() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
}
