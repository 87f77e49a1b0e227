//go:build linux

package engine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCloseLinger: Close of a socket with SO_LINGER whose data the peer
// never reads waits out the linger as close(2) does (the kernel's answer,
// asked on a raw socket in the same test), and other goroutines run
// meanwhile, at one P. On the uring backend the ring's CLOSE runs the
// socket's release on the thread that entered the ring, before the enter
// returns: made as a raw syscall, that enter held the P for the wait, and
// the runtime's preemption signal cut the linger short (11-20 ms against
// the kernel's 1 s).
func TestCloseLinger(t *testing.T) {
	e := testEngine(t)
	procs := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(procs)
	ln, sa := listenTCP(t, e)
	linger := unix.Linger{Onoff: 1, Linger: 1}
	// stuff fills fd's way to a peer that never reads, and sets the
	// linger.
	stuff := func(fd int) error {
		buf := make([]byte, 64<<10)
		for {
			if _, err := unix.SendmsgN(fd, buf, nil, nil, unix.MSG_DONTWAIT); err == unix.EAGAIN {
				break
			} else if err != nil {
				return err
			}
		}
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &linger)
	}
	accept := func() {
		s, _, err := ln.Accept(ctx0, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}

	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(raw, sa); err != nil {
		unix.Close(raw)
		t.Fatal(err)
	}
	accept()
	if err := stuff(raw); err != nil {
		unix.Close(raw)
		t.Fatal(err)
	}
	start := time.Now()
	unix.Close(raw)
	kernel := time.Since(start)

	c := dialTCP(t, e, sa)
	accept()
	if err := c.Control(stuff); err != nil {
		t.Fatal(err)
	}
	// A goroutine that sleeps a millisecond at a time records the
	// longest it went without running.
	var longest atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			now := time.Now()
			if gap := now.Sub(last); int64(gap) > longest.Load() {
				longest.Store(int64(gap))
			}
			last = now
		}
	}()
	time.Sleep(20 * time.Millisecond)
	start = time.Now()
	err = c.Close()
	ours := time.Since(start)
	close(stop)
	<-stopped
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("close(2) took %v, Close %v; the longest another goroutine waited: %v", kernel, ours, time.Duration(longest.Load()))
	if kernel >= 500*time.Millisecond && ours < kernel/2 {
		t.Errorf("Close took %v where close(2) of a socket in the same state took %v: the linger was cut short", ours, kernel)
	}
	if gap := time.Duration(longest.Load()); gap > 300*time.Millisecond {
		t.Errorf("another goroutine waited %v while Close lingered: Close held the P", gap)
	}
}
