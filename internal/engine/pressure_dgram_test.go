//go:build linux && !android

package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTinyCQQueuedDatagrams runs queued UDP sockets (multishot receives
// into the buffer ring) on rings whose CQ holds 8 entries
// (KSOCKET_CQ_ENTRIES=8, in a child, since the engine is set up once per
// process). The kernel ends a multishot whose CQE does not fit, and the
// read that takes its last datagram arms it again, so the multishots end
// and come back all the time. Each socket gets sequence-numbered datagrams
// from its own sender, in windows that its reader acknowledges, so the
// kernel never has cause to drop one: every datagram must arrive exactly
// once and in order. Afterwards every buffer is back in its ring, no CQE
// was dropped, and once the sockets are closed no op is in flight and
// every op slot is free.
func TestTinyCQQueuedDatagrams(t *testing.T) {
	if os.Getenv("KSOCKET_PRESSURE_CHILD") == "" {
		if testing.Short() {
			t.Skip("a flood in a child process")
		}
		for _, l := range pressureChild(t, "pressure_dgram_test.go", "KSOCKET_CQ_ENTRIES=8") {
			t.Log(l)
		}
		return
	}
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if ok {
		t.Logf("%d rings of CQ %d entries", len(b.shards), b.shards[0].ring.CQEntries())
	} else {
		t.Logf("backend %s: the same flood, without a ring", e.Backend())
	}

	const socks, perSock, window = 6, 20000, 64
	var wg sync.WaitGroup
	errc := make(chan error, 2*socks)
	all := make([]*Socket, socks)
	for i := range all {
		s, sa := queuedUDP(t, e, unix.AF_INET)
		all[i] = s
		tx, _ := rawUDP(t, unix.AF_INET)
		acks := make(chan int, perSock/window+1)
		wg.Go(func() {
			var buf [64]byte
			for seq := range perSock {
				if seq >= window && seq%window == 0 {
					// Wait for the reader to have taken all but the
					// last window.
					select {
					case <-acks:
					case <-time.After(time.Minute):
						errc <- fmt.Errorf("socket %d: no ack for a minute at %d", i, seq)
						return
					}
				}
				binary.LittleEndian.PutUint32(buf[:], uint32(seq))
				if err := unix.Sendto(tx, buf[:4+seq%60], 0, sa); err != nil {
					errc <- fmt.Errorf("socket %d: sendto %d: %v", i, seq, err)
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 128)
			for want := range perSock {
				n, _, _, err := s.Recv(ctx0, buf, 0, true, time.Minute)
				if err != nil {
					errc <- fmt.Errorf("socket %d: Recv after %d datagrams: %v", i, want, err)
					return
				}
				if got := binary.LittleEndian.Uint32(buf); n != 4+want%60 || got != uint32(want) {
					errc <- fmt.Errorf("socket %d: datagram %d of %d bytes, want %d of %d", i, got, n, want, 4+want%60)
					return
				}
				if (want+1)%window == 0 {
					acks <- want
				}
			}
		})
	}
	// Watch the multishots end and come back while the flood runs.
	var looks, unarmed int
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	if b != nil {
		watch.Go(func() {
			for {
				select {
				case <-stopWatch:
					return
				case <-time.After(100 * time.Microsecond):
				}
				for _, s := range all {
					sh := b.shardOf(s)
					sh.mu.Lock()
					if s.dq != nil {
						looks++
						if !s.dq.armed {
							unarmed++
						}
					}
					sh.mu.Unlock()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the flood did not finish in 3 minutes")
	}
	close(stopWatch)
	watch.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() || b == nil {
		return
	}
	var dropped uint32
	for _, sh := range b.shards {
		dropped += sh.ring.CQOverflow()
	}
	if dropped != 0 {
		t.Errorf("the kernel dropped %d CQEs", dropped)
	}
	if held := heldBuffers(e); held != 0 {
		t.Errorf("%d datagram buffers still held after every datagram was read", held)
	}
	for _, s := range all {
		s.Close()
	}
	waitRingsIdle(t, b)
	t.Logf("%d sockets read %d datagrams each, in order, once; no CQE dropped, no buffer held; a multishot was not armed in %d of %d looks",
		socks, perSock, unarmed, looks)
}
