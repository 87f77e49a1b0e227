//go:build linux && !android

package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadSwitches reads how many times thread tid of this process has
// been switched out, voluntarily or not, from /proc.
func threadSwitches(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			total += n
		}
	}
	return total
}

// ownerTestQueue sets GOMAXPROCS to 1 for the test, as gonet's queues
// run, and returns a queued UDP socket, its address and its ring; it
// skips where there is no datagram queue.
func ownerTestQueue(t *testing.T) (*Socket, unix.Sockaddr, *shard) {
	t.Helper()
	e := testEngine(t)
	if _, ok := e.b.(*uringBackend); !ok {
		t.Skip("no multishot receive on the epoll backend")
	}
	procs := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	s, to := queuedUDP(t, e, unix.AF_INET)
	sh, ok := queueOf(e, s)
	if !ok {
		t.Skip("no datagram queue on this kernel profile")
	}
	return s, to, sh
}

// TestQueuedDgramOwnerAsleep: the kernel runs a multishot receive's
// completions as task work on the thread that submitted it, and wakes
// that thread for each when it sleeps. At one P the thread running Go
// code changes now and then (the runtime hands the P on when a syscall
// blocks), and the thread left behind sleeps: every datagram then woke it
// (in-process UDP ping-pong at one P took 16 µs a round trip, or 22-60 µs
// in the runs where that happened, with 0.7 context switches a round
// trip). Here the multishot is armed on a locked thread that then sleeps,
// while another thread reads: after the first datagrams the queue must
// have moved its multishot to the reading thread, so that the sleeper is
// no longer woken, as /proc counts its switches.
func TestQueuedDgramOwnerAsleep(t *testing.T) {
	s, to, _ := ownerTestQueue(t)
	from, _ := rawUDP(t, unix.AF_INET)
	buf := make([]byte, 64)
	roundTrip := func() {
		if err := unix.Sendto(from, []byte("ping"), 0, to); err != nil {
			t.Fatal(err)
		}
		if n, _, _, err := s.Recv(ctx0, buf, 0, true, 5*time.Second); err != nil || n != 4 {
			t.Fatalf("Recv = %d, %v; want 4 bytes", n, err)
		}
	}

	// Arm on a thread of its own, which then sleeps until the test ends.
	armed, done := make(chan int), make(chan struct{})
	defer close(done)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		roundTrip() // its receive arms the multishot
		armed <- unix.Gettid()
		<-done
	}()
	sleeper := <-armed
	if tid := unix.Gettid(); tid == sleeper {
		t.Fatal("the test runs on the locked thread")
	}

	// The first round trips may still wake the sleeper, until the queue
	// sees that its reader is elsewhere; then none may.
	for range 2 * ownerCheck {
		roundTrip()
	}
	before := threadSwitches(t, sleeper)
	const n = 500
	for range n {
		roundTrip()
	}
	if woken := threadSwitches(t, sleeper) - before; woken > n/10 {
		t.Errorf("the thread that armed the multishot, asleep, switched %d times in %d datagrams; want the multishot moved to the reading thread", woken, n)
	}
}

// TestQueuedDgramOwnerOtherSubmitter: a read that arms the multishot while
// another goroutine is in io_uring_enter leaves the SQE to that one, which
// submits it from its own thread: the kernel then runs the completions
// there, not on the arming thread. At one P that is how the runtime hands
// the P on (the enter blocks, and the thread that made it sleeps after),
// so the queue must not take the arming thread for the owner then. Here a
// locked thread plays the enterer and then sleeps, while the reads all run
// on another locked thread.
func TestQueuedDgramOwnerOtherSubmitter(t *testing.T) {
	s, to, sh := ownerTestQueue(t)
	from, _ := rawUDP(t, unix.AF_INET)
	// A copy for the first datagram: Sendto writes into the address,
	// which the reader then uses.
	first := *to.(*unix.SockaddrInet4)

	// The enterer: it marks the ring as entering, waits for the read to
	// arm, submits from its locked thread, and sleeps until the test ends.
	entering, armed, submitted := make(chan struct{}), make(chan struct{}), make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		sh.mu.Lock()
		for sh.entering || sh.reaping > 0 {
			sh.mu.Unlock()
			runtime.Gosched()
			sh.mu.Lock()
		}
		sh.entering = true
		sh.mu.Unlock()
		close(entering)
		<-armed
		sh.mu.Lock()
		sh.entering = false
		err := sh.enterAllLocked()
		sh.mu.Unlock()
		if err != nil {
			t.Error(err)
		}
		submitted <- unix.Gettid()
		<-done
	}()

	// The reader, on a thread of its own.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		<-entering
		buf := make([]byte, 64)
		recv := func() error {
			if n, _, _, err := s.Recv(ctx0, buf, 0, true, 5*time.Second); err != nil || n != 4 {
				return fmt.Errorf("Recv = %d, %v; want 4 bytes", n, err)
			}
			return nil
		}
		err := recv() // arms, and waits for the first datagram
		for {
			select {
			case errc <- err:
			case <-done:
				return
			}
			if err != nil {
				return
			}
			if err = unix.Sendto(from, []byte("ping"), 0, to); err == nil {
				err = recv()
			}
		}
	}()
	for {
		sh.mu.Lock()
		a := s.dq != nil && s.dq.armed
		sh.mu.Unlock()
		if a {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(armed)
	sleeper := <-submitted
	if err := unix.Sendto(from, []byte("ping"), 0, &first); err != nil {
		t.Fatal(err)
	}
	roundTrips := func(n int) {
		for range n {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	}
	roundTrips(1 + 2*ownerCheck)
	before := threadSwitches(t, sleeper)
	const n = 500
	roundTrips(n)
	if woken := threadSwitches(t, sleeper) - before; woken > n/10 {
		t.Errorf("the thread that submitted the multishot, asleep, switched %d times in %d datagrams; want the multishot moved to the reading thread", woken, n)
	}
}

// TestQueuedAcceptOwnerAsleep is TestQueuedDgramOwnerAsleep for a
// listener's multishot accept: armed by an Accept on a locked thread that
// then sleeps, while another thread accepts, it must move to the
// accepting thread, so that no connection wakes the sleeper.
func TestQueuedAcceptOwnerAsleep(t *testing.T) {
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if !ok {
		t.Skip("no multishot accept on the epoll backend")
	}
	procs := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	ln, sa := queuedListener(t, e)
	accept := func() error {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(c)
		if err := unix.Connect(c, sa); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx0, 5*time.Second)
		defer cancel()
		s, _, err := ln.Accept(ctx, 0)
		if err != nil {
			return fmt.Errorf("Accept: %w", err)
		}
		return s.Close()
	}

	// Arm on a thread of its own, which then sleeps until the test ends.
	armed, done := make(chan int), make(chan struct{})
	defer close(done)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := accept(); err != nil { // arms the multishot
			t.Error(err)
		}
		armed <- unix.Gettid()
		<-done
	}()
	sleeper := <-armed
	if tid := unix.Gettid(); tid == sleeper {
		t.Fatal("the test runs on the locked thread")
	}
	sh := b.shardOf(ln)
	sh.mu.Lock()
	queued := ln.acc != nil
	sh.mu.Unlock()
	if !queued {
		t.Fatal("Accept made no multishot accept")
	}

	for range 2 * ownerCheck {
		if err := accept(); err != nil {
			t.Fatal(err)
		}
	}
	before := threadSwitches(t, sleeper)
	const n = 300
	for range n {
		if err := accept(); err != nil {
			t.Fatal(err)
		}
	}
	if woken := threadSwitches(t, sleeper) - before; woken > n/10 {
		t.Errorf("the thread that armed the multishot accept, asleep, switched %d times in %d accepts; want the multishot moved to the accepting thread", woken, n)
	}
}
