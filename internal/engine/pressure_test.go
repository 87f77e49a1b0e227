//go:build linux && !android

package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// pressureChild runs the calling test alone in a child process with env
// added to its environment (KSOCKET_PRESSURE_CHILD=1 among it, which makes
// the test run its flood), fails unless the child's test passed, and
// returns the child's log lines from file.
func pressureChild(t *testing.T, file string, env ...string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), "KSOCKET_PRESSURE_CHILD=1", "GORACE=atexit_sleep_ms=50"), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child (%s): %v\n%s", strings.Join(env, " "), err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, file) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// TestTinyCQLosesNothing runs a flood and a close storm on a ring whose CQ
// holds 16 entries (KSOCKET_CQ_ENTRIES=16, in a child, since the engine is
// set up once per process), with and without inline waits. Completions the
// CQ cannot hold wait in the kernel's overflow list (IORING_FEAT_NODROP)
// and the reaper flushes them. It checks what only the engine can see: the
// kernel dropped no CQE (the CQ ring's overflow counter stays 0), every
// byte arrived, and once every socket is closed no op is in flight and every
// op slot is free again.
func TestTinyCQLosesNothing(t *testing.T) {
	if os.Getenv("KSOCKET_PRESSURE_CHILD") == "" {
		if testing.Short() {
			t.Skip("a flood in a child process")
		}
		for _, inline := range []string{"1ms", "0"} {
			for _, l := range pressureChild(t, "pressure_test.go", "KSOCKET_BACKEND=uring", "KSOCKET_CQ_ENTRIES=16", "KSOCKET_INLINE_WAIT="+inline) {
				t.Logf("KSOCKET_INLINE_WAIT=%s: %s", inline, l)
			}
		}
		return
	}
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if !ok {
		t.Skipf("backend %s", e.Backend())
	}
	t.Logf("%d rings of CQ %d entries, SQ %d", len(b.shards), b.shards[0].ring.CQEntries(), b.shards[0].ring.SQEntries())

	// Watch for the kernel's overflow flag while the flood runs.
	var seen, looks atomic.Int64
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			looks.Add(1)
			for _, sh := range b.shards {
				if sh.ring.SQFlags()&uring.IORING_SQ_CQ_OVERFLOW != 0 {
					seen.Add(1)
				}
			}
			runtime.Gosched()
		}
	})

	const pairs, size = 48, 256 << 10
	ln, sa := listenTCP(t, e)
	var wg sync.WaitGroup
	var moved atomic.Int64
	errc := make(chan error, 4*pairs+16)
	for p := range pairs {
		c := dialTCP(t, e, sa)
		a, _, err := ln.Accept(ctx0, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		for dir, ends := range [][2]*Socket{{c, a}, {a, c}} {
			seed := 2*p + dir
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				for off := 0; off < size; {
					n := min(size-off, 1+rand.IntN(len(buf)))
					for i := range n {
						buf[i] = byte(seed + off + i)
					}
					if m, err := ends[0].Send(ctx0, buf[:n], 0, nil, time.Minute); m != n || err != nil {
						errc <- fmt.Errorf("send: %d, %v", m, err)
						return
					}
					off += n
				}
			})
			wg.Go(func() {
				buf := make([]byte, 32<<10)
				for off := 0; off < size; {
					n, _, _, err := ends[1].Recv(ctx0, buf[:1+rand.IntN(len(buf))], 0, false, time.Minute)
					if err != nil || n == 0 {
						errc <- fmt.Errorf("recv at %d: %d, %v", off, n, err)
						return
					}
					for i := range n {
						if buf[i] != byte(seed+off+i) {
							errc <- fmt.Errorf("stream %d: byte %d is wrong", seed, off+i)
							return
						}
					}
					off += n
					moved.Add(int64(n))
				}
			})
		}
	}

	// At the same time, a close storm: 200 datagram sockets with 5
	// receives pending each, closed in random order.
	const socks, perSock = 200, 5
	storm := make([]*Socket, socks)
	for i := range storm {
		s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Bind(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		storm[i] = s
		for range perSock {
			wg.Go(func() {
				buf := bytes.Repeat([]byte{0xA5}, 512)
				_, _, _, err := s.Recv(ctx0, buf, 0, true, 0)
				if !errors.Is(err, net.ErrClosed) {
					errc <- fmt.Errorf("storm Recv = %v, want net.ErrClosed", err)
				}
				if bytes.Count(buf, []byte{0xA5}) != len(buf) {
					errc <- errors.New("a closed Recv's buffer was written")
				}
			})
		}
	}
	time.Sleep(20 * time.Millisecond)
	for _, i := range rand.Perm(socks) {
		if err := storm[i].Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the flood did not finish in 2 minutes")
	}
	close(stopWatch)
	watch.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if want := int64(2 * pairs * size); moved.Load() != want {
		t.Errorf("%d bytes arrived, want %d", moved.Load(), want)
	}
	var dropped uint32
	for _, sh := range b.shards {
		dropped += sh.ring.CQOverflow()
	}
	if dropped != 0 {
		t.Errorf("the kernel dropped %d CQEs", dropped)
	}
	t.Logf("%d bytes checked, %d datagram Recvs closed; a CQ overflowed in %d of %d looks; %d CQEs dropped",
		moved.Load(), socks*perSock, seen.Load(), looks.Load(), dropped)

	// No op is pending any more (the flood's sockets stay open until
	// cleanup, idle): nothing may be in flight, and every slot must be
	// free again.
	waitRingsIdle(t, b)
}

// waitRingsIdle waits up to 10 s until no op is in flight on b's rings and
// every op slot is free, and fails the test if that does not come.
func waitRingsIdle(t *testing.T, b *uringBackend) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var inflight, free, slots int
		for _, sh := range b.shards {
			sh.mu.Lock()
			inflight, free, slots = inflight+sh.inflight, free+len(sh.slots.free)+len(sh.slots.warm), slots+int(sh.slots.len())
			sh.mu.Unlock()
		}
		if inflight == 0 && free == slots {
			t.Logf("all %d op slots free, none in flight", slots)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s on: %d ops in flight, %d of %d slots free", inflight, free, slots)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
