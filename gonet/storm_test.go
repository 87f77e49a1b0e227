//go:build linux

package gonet

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Deadline storms: while reads and writes are pending and data flows,
// other goroutines move the deadlines thousands of times (into the past,
// a moment ahead, far ahead, or away). Calls may time out, but no byte may
// be lost, doubled or reordered, nothing may hang, and once the storm ends
// the connections still work. The storms are not parallel: they load both
// CPUs, and the other tests' timings should not pay for it.

// stormByte is byte off of stream seed.
func stormByte(seed, off int) byte { return byte(seed*97 + off*13 + off>>10) }

// stormDeadline is a random deadline: mostly soon, sometimes past, far or
// none.
func stormDeadline() time.Time {
	switch rand.IntN(8) {
	case 0:
		return time.Unix(1, 0) // past
	case 1:
		return time.Time{} // none
	case 2:
		return time.Now().Add(time.Hour)
	}
	return time.Now().Add(time.Duration(rand.IntN(2000)) * time.Microsecond)
}

func TestDeadlineStormStream(t *testing.T) {
	pairs, size := 8, 1<<20
	if testing.Short() {
		pairs, size = 4, 256<<10
	}
	var moves atomic.Int64
	var timeouts atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8*pairs)
	stop := time.Now().Add(2 * time.Minute) // a bug fails instead of hanging
	for p := range pairs {
		client, server := connPair(t, gonetImpl, gonetImpl, "tcp4", "127.0.0.1:0")
		// Two streams per pair: client to server and back, each with a
		// storm on its reader's read deadline and its writer's write
		// deadline.
		for dir, ends := range [][2]net.Conn{{client, server}, {server, client}} {
			seed := 2*p + dir
			w, r := ends[0], ends[1]
			var done atomic.Bool
			wg.Go(func() { // writer
				buf := make([]byte, 32<<10)
				for off := 0; off < size; {
					if time.Now().After(stop) {
						errc <- fmt.Errorf("stream %d: writer stuck at %d", seed, off)
						return
					}
					n := min(size-off, 1+rand.IntN(len(buf)))
					for i := range n {
						buf[i] = stormByte(seed, off+i)
					}
					m, err := w.Write(buf[:n])
					off += m // a timed-out Write reports what it sent
					// Pace the stream, so that the storm moves the
					// deadlines many times while calls are pending.
					time.Sleep(200 * time.Microsecond)
					if err != nil {
						if !isTimeout(err) {
							errc <- fmt.Errorf("stream %d: write at %d: %v", seed, off, err)
							return
						}
						timeouts.Add(1)
					}
				}
				w.SetWriteDeadline(time.Time{})
				w.(*TCPConn).CloseWrite()
			})
			wg.Go(func() { // reader
				defer done.Store(true)
				buf := make([]byte, 24<<10)
				off := 0
				for {
					if time.Now().After(stop) {
						errc <- fmt.Errorf("stream %d: reader stuck at %d", seed, off)
						return
					}
					n, err := r.Read(buf)
					for i := range n {
						if buf[i] != stormByte(seed, off+i) {
							errc <- fmt.Errorf("stream %d: byte %d is wrong", seed, off+i)
							return
						}
					}
					off += n
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						if !isTimeout(err) {
							errc <- fmt.Errorf("stream %d: read at %d: %v", seed, off, err)
							return
						}
						timeouts.Add(1)
					}
				}
				if off != size {
					errc <- fmt.Errorf("stream %d: %d bytes, want %d", seed, off, size)
				}
			})
			wg.Go(func() { // the storm, until the reader is done
				for !done.Load() {
					r.SetReadDeadline(stormDeadline())
					w.SetWriteDeadline(stormDeadline())
					if rand.IntN(4) == 0 {
						r.SetDeadline(stormDeadline())
					}
					moves.Add(2)
					time.Sleep(20 * time.Microsecond)
				}
				r.SetReadDeadline(time.Time{})
			})
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("%d streams of %d bytes, checked; %d deadline moves, %d calls timed out", 2*pairs, size, moves.Load(), timeouts.Load())
	if want := int64(1000); moves.Load() < want && !testing.Short() {
		t.Errorf("only %d deadline moves", moves.Load())
	}
}

// TestDeadlineStormPacket does the same to ReadFrom on UDP: each datagram
// carries a sequence number and a CRC, and a datagram may be dropped only
// where the socket's buffer was full (never torn or doubled); a ping-pong
// with retries makes each one arrive.
func TestDeadlineStormPacket(t *testing.T) {
	rounds := 2000
	if testing.Short() || runtime.GOMAXPROCS(0) == 1 {
		// At GOMAXPROCS=1 an echo whose deadline has passed spins until
		// preempted, and holds up the round (10ms at worst): 2,000 rounds
		// took 56-60 s under -race (11 s when every send parked on the
		// ring), net's sockets 18 s.
		rounds = 500
	}
	a, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var moves, timeouts atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { // echo with a storm on its own read deadline
		buf := make([]byte, 2048)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, from, err := a.ReadFrom(buf)
			if err != nil {
				if isTimeout(err) {
					timeouts.Add(1)
					continue
				}
				return
			}
			a.WriteTo(buf[:n], from)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				a.SetReadDeadline(time.Unix(1, 0))
				return
			default:
			}
			a.SetReadDeadline(stormDeadline())
			b.SetReadDeadline(time.Now().Add(time.Duration(1+rand.IntN(5)) * time.Millisecond))
			moves.Add(2)
			time.Sleep(20 * time.Microsecond)
		}
	})
	buf := make([]byte, 2048)
	deadline := time.Now().Add(time.Minute)
	for r := 0; r < rounds; {
		if time.Now().After(deadline) {
			t.Fatalf("round %d of %d after a minute", r, rounds)
		}
		msg := make([]byte, 8+rand.IntN(1200))
		putBE32(msg, uint32(r))
		for i := 8; i < len(msg); i++ {
			msg[i] = byte(rand.Uint32())
		}
		putBE32(msg[4:], crc32.ChecksumIEEE(msg[8:]))
		if _, err := b.WriteTo(msg, a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		for {
			n, _, err := b.ReadFrom(buf)
			if err != nil {
				if isTimeout(err) {
					break // the echo may have missed it: send again
				}
				t.Fatal(err)
			}
			got := buf[:n]
			if n < 8 || crc32.ChecksumIEEE(got[8:]) != getBE32(got[4:]) {
				t.Fatalf("a torn datagram of %d bytes", n)
			}
			if seq := getBE32(got); seq == uint32(r) {
				r++
				break
			}
			// An echo of an earlier try: drop it.
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d datagrams echoed; %d deadline moves, %d ReadFroms timed out", rounds, moves.Load(), timeouts.Load())
}

func putBE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
func getBE32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestDeadlinePastUnblocksAll: a Read pending on each of 100 connections,
// whose deadline moves a hundred times while it waits, returns a timeout
// once the deadline is in the past, and the connection works again when it
// is cleared.
func TestDeadlinePastUnblocksAll(t *testing.T) {
	const conns = 100
	type pair struct{ c, s net.Conn }
	ps := make([]pair, conns)
	for i := range ps {
		c, s := connPair(t, gonetImpl, gonetImpl, "tcp4", "127.0.0.1:0")
		ps[i] = pair{c, s}
	}
	errs := make(chan error, conns)
	for _, p := range ps {
		go func() {
			_, err := p.c.Read(make([]byte, 16))
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for range 100 { // move them about while the Reads wait
		for _, p := range ps {
			p.c.SetReadDeadline(stormDeadline().Add(time.Hour))
		}
	}
	for _, p := range ps {
		p.c.SetReadDeadline(time.Unix(1, 0))
	}
	timer := time.After(10 * time.Second)
	for range conns {
		select {
		case err := <-errs:
			if !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read after the deadline passed = %v, want a timeout", err)
			}
		case <-timer:
			t.Fatal("Reads still pending 10s after their deadline passed")
		}
	}
	for i, p := range ps {
		p.c.SetReadDeadline(time.Time{})
		p.s.Write([]byte{byte(i)})
		b := make([]byte, 1)
		if _, err := io.ReadFull(p.c, b); err != nil || b[0] != byte(i) {
			t.Fatalf("connection %d after the storm: %v", i, err)
		}
	}
}
