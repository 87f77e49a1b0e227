//go:build linux

package ksocket

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// From review: the read-ahead turn's ring receive (turnOnRing): a plain
// receive that finds nothing waits in one ring receive of its own
// datagram. Each scenario runs through raw syscalls and through ksocket,
// at one P and two (queueModes), and what the receives returned must be
// the same.

// turnRecvmsg is a recvmsg of up to size bytes, as a transcript line.
func turnRecvmsg(api dAPI, s, size int) string {
	buf := make([]byte, size)
	var n, flags int
	var from unix.Sockaddr
	var err error
	if _, ok := api.(dKsocketAPI); ok {
		n, _, flags, from, err = Recvmsg(s, buf, nil, 0)
	} else {
		// A blocking recvmsg(2) under SO_RCVTIMEO is not restarted after
		// Go's preemption signal: it says EINTR.
		err = dNoEINTR(func() error { n, _, flags, from, err = unix.Recvmsg(s, buf, nil, 0); return err })
	}
	if err != nil {
		return unix.ErrnoName(err.(unix.Errno))
	}
	return fmt.Sprintf("recvmsg %q n=%d flags=%#x from=%v", buf[:min(n, size)], n, flags, from != nil)
}

// turnLater runs f after d, and waits for it at the test's end; the
// function it returns waits for it too.
func turnLater(t *testing.T, d time.Duration, f func()) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(d)
		f()
	}()
	t.Cleanup(func() { <-done })
	return func() { <-done }
}

func turnScenarios() []struct {
	name string
	run  func(t *testing.T, api dAPI, fam int) []string
} {
	send := func(t *testing.T, api dAPI, b int, to unix.Sockaddr, m string) {
		if _, err := api.sendto(b, []byte(m), 0, to); err != nil {
			t.Error(err)
		}
	}
	return []struct {
		name string
		run  func(t *testing.T, api dAPI, fam int) []string
	}{
		// A receive that waits, for a datagram longer than its buffer.
		{"wait-trunc", func(t *testing.T, api dAPI, fam int) []string {
			a, aAddr, b := queuePair(t, api, fam)
			// Room for a loaded machine: each datagram comes 30 ms into
			// its receive, which queuePair's 100 ms would end first
			// if the sender ran late.
			tv := unix.NsecToTimeval(int64(2 * time.Second))
			api.setsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			var out []string
			var wait func()
			wait = turnLater(t, 30*time.Millisecond, func() { send(t, api, b, aAddr, "hello") })
			out = append(out, queueRecv(api, a, 2, 0))
			wait()
			wait = turnLater(t, 30*time.Millisecond, func() { send(t, api, b, aAddr, "world") })
			out = append(out, turnRecvmsg(api, a, 3))
			wait()
			wait = turnLater(t, 30*time.Millisecond, func() { send(t, api, b, aAddr, "abc") })
			out = append(out, turnRecvmsg(api, a, 0))
			wait()
			wait = turnLater(t, 30*time.Millisecond, func() { send(t, api, b, aAddr, "") })
			out = append(out, turnRecvmsg(api, a, 16))
			wait()
			turnLater(t, 30*time.Millisecond, func() { send(t, api, b, aAddr, "xyz") })
			buf := make([]byte, 16)
			n, err := api.recv(a, buf, 0)
			out = append(out, fmt.Sprintf("recv %q %v", buf[:max(n, 0)], err))
			return out
		}},
		// Nothing comes: SO_RCVTIMEO (100 ms) ends the wait.
		{"wait-timeout", func(t *testing.T, api dAPI, fam int) []string {
			a, _, _ := queuePair(t, api, fam)
			return []string{queueRecv(api, a, 16, 0), turnRecvmsg(api, a, 16)}
		}},
		// shutdown(SHUT_RD) while a receive waits: it returns 0.
		{"shutdown-while-waiting", func(t *testing.T, api dAPI, fam int) []string {
			a, _, _ := queuePair(t, api, fam)
			tv := unix.NsecToTimeval(int64(2 * time.Second))
			api.setsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			turnLater(t, 30*time.Millisecond, func() { api.shutdown(a, unix.SHUT_RD) })
			start := time.Now()
			out := []string{queueRecv(api, a, 16, 0)}
			if d := time.Since(start); d > time.Second {
				out = append(out, fmt.Sprintf("took %v", d))
			}
			return append(out, queueRecv(api, a, 16, 0), turnRecvmsg(api, a, 16))
		}},
		// shutdown(SHUT_RD) before the receive, with a datagram sent
		// after: the kernel drops it? (whatever it does, the same).
		{"shutdown-then-send", func(t *testing.T, api dAPI, fam int) []string {
			a, aAddr, b := queuePair(t, api, fam)
			api.shutdown(a, unix.SHUT_RD)
			send(t, api, b, aAddr, "late")
			time.Sleep(10 * time.Millisecond)
			return []string{queueRecv(api, a, 16, 0), queueRecv(api, a, 16, 0)}
		}},
	}
}

func TestDatagramTurnAsTheKernel(t *testing.T) {
	queueModes(t, func(t *testing.T) {
		for _, sc := range turnScenarios() {
			for _, fam := range dBoth {
				t.Run(sc.name+"/"+dFamName(fam), func(t *testing.T) {
					dNeedFamily(t, fam)
					var raw, ks []string
					t.Run("raw", func(t *testing.T) { raw = sc.run(t, dRawAPI{}, fam) })
					t.Run("ksocket", func(t *testing.T) { ks = sc.run(t, dKsocketAPI{}, fam) })
					if !slices.Equal(raw, ks) {
						t.Fatalf("receives differ:\nraw:     %q\nksocket: %q", raw, ks)
					}
					t.Logf("%q", ks)
				})
			}
		}
	})
}

// turnSeqSender sends n sequence-numbered datagrams from b to to, in
// bursts with pauses, so that receives both find datagrams and wait.
func turnSeqSender(t *testing.T, b int, to unix.Sockaddr, n int) {
	buf := make([]byte, 8)
	for i := range n {
		binary.BigEndian.PutUint64(buf, uint64(i))
		for {
			if _, err := Sendto(b, buf, 0, to); err == nil {
				break
			} else if err != unix.ENOBUFS && err != unix.EAGAIN {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
		if i%7 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	}
}

// TestDatagramTurnConcurrentReaders: several readers on one socket, the turn
// holder often in the ring receive, some turns skipping their recvmmsg(2);
// every datagram comes out exactly once.
func TestDatagramTurnConcurrentReaders(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("P=%d", procs), func(t *testing.T) {
			defer turnProcs(procs)()
			const n, readers = 3000, 4
			a, aAddr := dUDP(t, unix.AF_INET)
			b, _ := dUDP(t, unix.AF_INET)
			SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			var mu sync.Mutex
			seen := make([]int, n)
			var wg sync.WaitGroup
			for r := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 16)
					last := -1
					for {
						var k int
						var err error
						var from unix.Sockaddr
						switch r % 3 {
						case 0:
							k, from, err = Recvfrom(a, buf, 0)
						case 1:
							k, _, _, from, err = Recvmsg(a, buf, nil, 0)
						default:
							k, err = Recv(a, buf, 0)
						}
						if err != nil {
							return // Closesocket
						}
						if k != 8 {
							t.Errorf("reader %d: %d bytes", r, k)
							continue
						}
						if r%3 != 2 && from == nil {
							t.Errorf("reader %d: no sender", r)
						}
						i := int(binary.BigEndian.Uint64(buf))
						if i <= last {
							t.Errorf("reader %d: %d after %d", r, i, last)
						}
						last = i
						mu.Lock()
						seen[i]++
						mu.Unlock()
					}
				}()
			}
			turnSeqSender(t, b, aAddr, n)
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				missing := slices.Index(seen, 0)
				mu.Unlock()
				if missing < 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			closed := time.Now()
			Closesocket(a)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("readers still blocked 5s after Closesocket")
			}
			t.Logf("readers left %v after Closesocket", time.Since(closed))
			for i, c := range seen {
				if c != 1 {
					t.Errorf("datagram %d received %d times", i, c)
				}
			}
		})
	}
}

// TestDatagramTurnLeaveWhileWaiting: one reader, in order; while it waits in
// the ring receive, another goroutine takes the socket off reading ahead
// (IP_PKTINFO, Connect, Recvmmsg, a Recvmsg with a control buffer).
func TestDatagramTurnLeaveWhileWaiting(t *testing.T) {
	leaves := map[string]func(a int, bAddr unix.Sockaddr) error{
		"pktinfo": func(a int, _ unix.Sockaddr) error {
			return SetsockoptInt(a, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		},
		"connect": func(a int, bAddr unix.Sockaddr) error { return Connect(a, bAddr) },
	}
	for name, leave := range leaves {
		t.Run(name, func(t *testing.T) {
			defer turnProcs(2)()
			const n = 1000
			a, aAddr := dUDP(t, unix.AF_INET)
			b, bAddr := dUDP(t, unix.AF_INET)
			SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			got := make(chan int, n)
			go func() {
				defer close(got)
				buf := make([]byte, 16)
				for range n {
					k, _, err := Recvfrom(a, buf, 0)
					if err != nil || k != 8 {
						t.Errorf("Recvfrom: %d, %v", k, err)
						return
					}
					got <- int(binary.BigEndian.Uint64(buf))
				}
			}()
			go func() {
				time.Sleep(20 * time.Millisecond) // the reader waits on the ring
				if err := leave(a, bAddr); err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(40 * time.Millisecond)
			turnSeqSender(t, b, aAddr, n)
			want := 0
			timeout := time.After(5 * time.Second)
			for want < n {
				select {
				case i, ok := <-got:
					if !ok {
						t.Fatalf("reader ended at %d", want)
					}
					if i != want {
						t.Fatalf("got %d, want %d", i, want)
					}
					want++
				case <-timeout:
					t.Fatalf("hang: %d of %d", want, n)
				}
			}
		})
	}
}

// TestDatagramTurnRecvmmsgWhileWaiting: a Recvfrom waits in the ring
// receive; a Recvmmsg starts (leaving the read-ahead); two datagrams come.
func TestDatagramTurnRecvmmsgWhileWaiting(t *testing.T) {
	defer turnProcs(2)()
	a, aAddr := dUDP(t, unix.AF_INET)
	b, _ := dUDP(t, unix.AF_INET)
	res := make(chan string, 2)
	go func() {
		buf := make([]byte, 16)
		n, _, err := Recvfrom(a, buf, 0)
		res <- fmt.Sprintf("recvfrom %q %v", buf[:max(n, 0)], err)
	}()
	time.Sleep(20 * time.Millisecond)
	go func() {
		msgs := []Msg{{Buffers: [][]byte{make([]byte, 16)}}}
		n, err := Recvmmsg(a, msgs, 0)
		s := fmt.Sprintf("recvmmsg n=%d %v", n, err)
		if n == 1 {
			s += fmt.Sprintf(" %q", msgs[0].Buffers[0][:msgs[0].N])
		}
		res <- s
	}()
	time.Sleep(20 * time.Millisecond)
	Sendto(b, []byte("1"), 0, aAddr)
	Sendto(b, []byte("2"), 0, aAddr)
	var out []string
	for range 2 {
		select {
		case s := <-res:
			out = append(out, s)
		case <-time.After(3 * time.Second):
			Closesocket(a)
			t.Fatalf("hang; got %q", out)
		}
	}
	t.Logf("%q", out)
}

func turnProcs(n int) func() {
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}
