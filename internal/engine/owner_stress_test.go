//go:build linux && !android

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/leaktest"
	"golang.org/x/sys/unix"
)

// TestQueuedAcceptOwnerStress: clients connect concurrently while Accepts
// run on goroutines that hop between locked threads (some left asleep,
// some exiting), with GOMAXPROCS toggling between 1 and 2; then Close.
// Every client must be accepted exactly once, or see its connection end
// after Close; no fd may leak.
func TestQueuedAcceptOwnerStress(t *testing.T) {
	e := testEngine(t)
	if _, ok := e.b.(*uringBackend); !ok {
		t.Skip("uring only")
	}
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	base := leaktest.OpenFDs()
	rounds := 12
	for r := range rounds {
		ln, sa := queuedListener(t, e)
		addr := &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}

		var mu sync.Mutex
		accepted := map[int]int{} // client port -> times accepted
		var socks []*Socket
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var acceptErrs atomic.Int64

		record := func(s *Socket, sa unix.Sockaddr) {
			mu.Lock()
			defer mu.Unlock()
			socks = append(socks, s)
			if in, ok := sa.(*unix.SockaddrInet4); ok {
				accepted[in.Port]++
			} else {
				t.Errorf("peer %v", sa)
			}
		}
		acceptOne := func() bool {
			ctx, cancel := context.WithTimeout(ctx0, 50*time.Millisecond)
			defer cancel()
			s, sa, err := ln.Accept(ctx, 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return false
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					acceptErrs.Add(1)
					t.Logf("Accept: %v", err)
				}
				return true
			}
			record(s, sa)
			return true
		}
		// Accepters: each goroutine locks a thread, takes a few, then
		// either sleeps locked (until stop) or exits locked (killing the
		// thread), or unlocks; a new goroutine takes over.
		for a := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					done := make(chan bool)
					mode := (i + a) % 3
					go func() {
						runtime.LockOSThread()
						ok := true
						for range 5 + (i*7+a)%40 {
							if ok = acceptOne(); !ok {
								break
							}
						}
						done <- ok
						switch mode {
						case 0: // sleep locked until the round ends
							<-stop
							runtime.UnlockOSThread()
						case 1: // exit locked: the thread ends
						case 2:
							runtime.UnlockOSThread()
						}
					}()
					if !<-done {
						return
					}
				}
			}()
		}
		// GOMAXPROCS toggler.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(1+i%5) * time.Millisecond):
				}
				runtime.GOMAXPROCS(1 + i%2)
			}
		}()
		// Clients.
		var cmu sync.Mutex
		clients := map[int]*net.TCPConn{}
		dialed := map[int]time.Time{} // when each dial returned
		var cwg sync.WaitGroup
		for range 8 {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				for range 100 { // 800 in all, within the backlog of 1024: no listen overflow
					c, err := net.DialTCP("tcp4", nil, addr)
					if err != nil {
						return
					}
					now := time.Now()
					cmu.Lock()
					clients[c.LocalAddr().(*net.TCPAddr).Port] = c
					dialed[c.LocalAddr().(*net.TCPAddr).Port] = now
					cmu.Unlock()
				}
			}()
		}
		var closeAt time.Time
		if r%2 == 1 {
			time.Sleep(time.Duration(1+r%5) * 3 * time.Millisecond)
			closeAt = time.Now()
			ln.Close()
			cwg.Wait()
		} else {
			cwg.Wait()
			time.Sleep(time.Duration(r%4) * 20 * time.Millisecond)
			closeAt = time.Now()
			ln.Close()
		}
		close(stop)
		wg.Wait()
		runtime.GOMAXPROCS(procs)

		// Check.
		nacc := 0
		for port, n := range accepted {
			if n != 1 {
				t.Errorf("round %d: client port %d accepted %d times", r, port, n)
			}
			if clients[port] == nil {
				t.Errorf("round %d: accepted unknown port %d", r, port)
			}
			nacc++
		}
		unacc, lateHung := 0, 0
		hung := map[int]bool{}
		var hmu sync.Mutex
		var rwg sync.WaitGroup
		for port, c := range clients {
			if accepted[port] > 0 {
				continue
			}
			unacc++
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				var b [1]byte
				if _, err := c.Read(b[:]); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					hmu.Lock()
					hung[port] = true
					hmu.Unlock()
				}
			}()
		}
		rwg.Wait()
		if len(hung) > 0 {
			servers := serverHalves(sa.Port)
			for port := range hung {
				early := dialed[port].Before(closeAt.Add(-5 * time.Millisecond))
				if !servers[port] && !early {
					// Its handshake may have raced the listener's
					// close: the kernel can then drop the server's
					// half silently, with a plain net.Listener too.
					lateHung++
					continue
				}
				t.Errorf("round %d: unaccepted client %d sees no end after Close (server half open: %v; dialed %v before Close)", r, port, servers[port], closeAt.Sub(dialed[port]))
			}
		}
		if acceptErrs.Load() > 0 {
			t.Errorf("round %d: %d unexpected Accept errors", r, acceptErrs.Load())
		}
		t.Logf("round %d: %d clients, %d accepted, %d ended by Close; late dials hung %d", r, len(clients), nacc, unacc, lateHung)
		for _, s := range socks {
			s.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}
	if got := leaktest.SettledFDs(base, 5*time.Second); got > base {
		t.Errorf("%d fds open after everything closed, %d before", got, base)
	}
}

// serverHalves returns the peer ports of the sockets in /proc/net/tcp
// whose local port is lport, in any state but TIME_WAIT.
func serverHalves(lport int) map[int]bool {
	b, _ := os.ReadFile("/proc/net/tcp")
	ports := map[int]bool{}
	suffix := fmt.Sprintf(":%04X", lport)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[1], suffix) || f[3] == "06" || f[3] == "0A" {
			continue
		}
		if _, p, ok := strings.Cut(f[2], ":"); ok {
			if n, err := strconv.ParseInt(p, 16, 32); err == nil {
				ports[int(n)] = true
			}
		}
	}
	return ports
}
