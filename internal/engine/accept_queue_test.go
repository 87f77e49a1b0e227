//go:build linux && !android

package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/leaktest"
	"golang.org/x/sys/unix"
)

// Tests of Socket.QueueAccepts. On the uring backend they drive the
// listener's multishot accept; on epoll QueueAccepts does nothing, and the
// same tests check that Accept behaves the same either way.

// queuedListener is listenTCP with QueueAccepts and a backlog of 1024.
func queuedListener(t *testing.T, e *Engine) (*Socket, *unix.SockaddrInet4) {
	t.Helper()
	ln, sa := listenTCP(t, e)
	if err := ln.Listen(1024); err != nil { // listen(2) again only resizes the backlog
		t.Fatal(err)
	}
	ln.QueueAccepts()
	return ln, sa
}

// TestQueuedAcceptBurst: 300 clients connect at once; every Accept returns
// one of them, with its address.
func TestQueuedAcceptBurst(t *testing.T) {
	e := testEngine(t)
	ln, sa := queuedListener(t, e)
	const n = 300
	addr := &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	clients := make(map[int]net.Conn) // by local port
	for range n {
		c, err := net.DialTCP("tcp4", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[c.LocalAddr().(*net.TCPAddr).Port] = c
	}
	for i := range n {
		ctx, cancel := context.WithTimeout(ctx0, 10*time.Second)
		s, peer, err := ln.Accept(ctx, 0)
		cancel()
		if err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		p, ok := peer.(*unix.SockaddrInet4)
		if !ok || p.Addr != [4]byte{127, 0, 0, 1} || clients[p.Port] == nil {
			t.Fatalf("Accept %d: peer %#v is none of the clients", i, peer)
		}
		delete(clients, p.Port)
		s.Close()
	}
}

// TestQueuedAcceptBounded: with nobody calling Accept, the queue stops
// taking connections once acceptQueueMax wait (overshooting by at most the
// backlog the kernel drained at once), and the rest wait in the backlog to
// be accepted later. Closing the listener closes the ones nobody took.
func TestQueuedAcceptBounded(t *testing.T) {
	e := testEngine(t)
	base := leaktest.OpenFDs()
	ln, sa := queuedListener(t, e)
	addr := &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}

	// Arm the queue with a first connection.
	first, err := net.DialTCP("tcp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	s, _, err := ln.Accept(ctx0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	var clients []net.Conn
	// dial connects n clients and returns how many connections the queue
	// took ahead of Accept, once that number has settled: at least
	// atLeast, and the same for 100 ms. The multishot accept drains the
	// backlog in the background, which on a slow machine takes longer
	// than any fixed sleep.
	dial := func(n, atLeast int) int {
		for range n {
			c, err := net.DialTCP("tcp4", nil, addr)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		// Our fds: the listener, the first client, the clients, and what
		// the queue took ahead.
		ahead := func() int { return leaktest.OpenFDs() - base - 2 - len(clients) }
		last, same := ahead(), 0
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			if n := ahead(); n != last {
				last, same = n, 0
			} else if same++; same >= 5 && last >= atLeast {
				break
			}
		}
		return last
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	const n = 2 * acceptQueueMax
	want := 0 // epoll: QueueAccepts does nothing
	if inf, _ := Probe(); inf.Backend == "uring" {
		want = acceptQueueMax
	}
	ahead := dial(n, want)
	t.Logf("after %d clients: %d accepted ahead of Accept (bound %d)", n, ahead, acceptQueueMax)
	if ahead < want {
		t.Errorf("the queue took %d connections ahead, want at least %d", ahead, want)
	}
	if more := dial(64, ahead); more != ahead {
		t.Errorf("with %d connections waiting the queue took %d more", ahead, more-ahead)
	}

	// Take half, then close the listener with the rest queued or in the
	// backlog: every client sees its connection end.
	for i := range len(clients) / 2 {
		s, _, err := ln.Accept(ctx0, 5*time.Second)
		if err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		s.Close()
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client %d: read after the listener closed = %v, want EOF or reset", i, err)
		}
		c.Close()
	}
	first.Close()
	if got := leaktest.OpenFDs(); got > base {
		t.Errorf("%d fds open after the listener and every connection closed, %d before", got, base)
	}
}

// TestQueuedAcceptWaits: a pending queued Accept ends with its deadline,
// its timeout, its context, and Close.
func TestQueuedAcceptWaits(t *testing.T) {
	e := testEngine(t)
	ln, _ := queuedListener(t, e)

	ln.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := ln.Accept(ctx0, 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept past its deadline = %v", err)
	}
	ln.SetReadDeadline(time.Time{})

	if _, _, err := ln.Accept(ctx0, 20*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept past its timeout = %v", err)
	}

	ctx, cancel := context.WithTimeout(ctx0, 20*time.Millisecond)
	_, _, err := ln.Accept(ctx, 0)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept past its context = %v", err)
	}

	// A deadline moved while Accept waits.
	ln.SetReadDeadline(time.Now().Add(time.Hour))
	time.AfterFunc(20*time.Millisecond, func() { ln.SetReadDeadline(time.Now()) })
	if _, _, err := ln.Accept(ctx0, 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept after its deadline moved = %v", err)
	}
	ln.SetReadDeadline(time.Time{})

	errc := make(chan error, 2)
	for range 2 {
		go func() {
			_, _, err := ln.Accept(ctx0, 0)
			errc <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	ln.Close()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept pending at Close = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock a pending Accept")
		}
	}
}

// TestQueuedAcceptEMFILE: with every fd in use, Accept fails with EMFILE,
// and works again once one is free. The limit is lowered before the first
// Accept: the kernel reads it when the multishot accept is armed.
func TestQueuedAcceptEMFILE(t *testing.T) {
	e := testEngine(t)
	ln, sa := queuedListener(t, e)
	late, err := net.DialTCP("tcp4", nil, &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()

	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	lim := saved
	lim.Cur = uint64(leaktest.HighestFD() + 2)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
	var fillers []int
	defer func() {
		for _, f := range fillers {
			unix.Close(f)
		}
	}()
	for {
		f, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, f)
	}
	if len(fillers) == 0 {
		t.Fatal("no fd to fill")
	}

	if _, _, err := ln.Accept(ctx0, 5*time.Second); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("Accept with no fd free = %v, want EMFILE", err)
	}
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	s, _, err := ln.Accept(ctx0, 5*time.Second)
	if err != nil {
		t.Fatalf("Accept once an fd is free = %v", err)
	}
	s.Close()
}

// TestQueuedAcceptCloseRaces closes listeners while clients connect and
// Accepts run, at random moments: every Accept ends, and once everything
// is closed no fd is left, whether the connections were taken, queued or
// still in the backlog.
func TestQueuedAcceptCloseRaces(t *testing.T) {
	e := testEngine(t)
	base := leaktest.OpenFDs()
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for r := range rounds {
		ln, sa := queuedListener(t, e)
		addr := &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
		var accepted []*Socket
		acceptDone := make(chan error, 1)
		go func() {
			for {
				s, _, err := ln.Accept(ctx0, 0)
				if err != nil {
					acceptDone <- err
					return
				}
				accepted = append(accepted, s)
			}
		}()
		var clients []net.Conn
		for range 20 + r%7*10 {
			c, err := net.DialTCP("tcp4", nil, addr)
			if err != nil {
				break // the listener may be gone already
			}
			clients = append(clients, c)
			if len(clients) == 10+r%13 {
				go ln.Close()
			}
		}
		ln.Close()
		select {
		case err := <-acceptDone:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("round %d: Accept ended with %v, want net.ErrClosed", r, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Accept still pending 10s after Close", r)
		}
		for _, s := range accepted {
			s.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}
	if got := leaktest.SettledFDs(base, 5*time.Second); got > base {
		t.Errorf("%d fds open after every listener and connection closed, %d before", got, base)
	}
}
