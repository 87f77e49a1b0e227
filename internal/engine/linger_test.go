//go:build linux

package engine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestCloseLinger: Close of a socket with SO_LINGER whose data the peer
// never reads waits out the linger as close(2) does (the kernel's answer,
// asked on a raw socket in the same test), while other goroutines run and
// the ring goes on serving other sockets, at one P. On the uring backend
// the ring's CLOSE runs the socket's release at the end of an enter, on the
// entering thread: made as a raw syscall, that enter held the P for the
// wait, and the runtime's preemption signal cut the linger short (13 ms
// against the kernel's 1 s); made by another goroutine or the reaper, it
// held up their enter, and the ring, for the linger (another connection
// went 1 s without a round trip). The linger is set through Setsockopt
// on the socket, on the listener it was accepted from (the kernel copies
// it to the connection), or on a socket made elsewhere that Adopt takes.
func TestCloseLinger(t *testing.T) {
	for _, how := range []string{"Setsockopt", "listener", "Adopt"} {
		t.Run(how, func(t *testing.T) { closeLinger(t, how) })
	}
}

func closeLinger(t *testing.T, how string) {
	e := testEngine(t)
	procs := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(procs)
	ln, sa := listenTCP(t, e)
	linger := unix.Linger{Onoff: 1, Linger: 1}
	// fill fills fd's way to a peer that never reads.
	fill := func(fd int) error {
		buf := make([]byte, 64<<10)
		for {
			if _, err := unix.SendmsgN(fd, buf, nil, nil, unix.MSG_DONTWAIT); err == unix.EAGAIN {
				return nil
			} else if err != nil {
				return err
			}
		}
	}

	k, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(k, sa); err != nil {
		unix.Close(k)
		t.Fatal(err)
	}
	acceptTCP(t, ln)
	err = fill(k)
	if err == nil {
		err = unix.SetsockoptLinger(k, unix.SOL_SOCKET, unix.SO_LINGER, &linger)
	}
	if err != nil {
		unix.Close(k)
		t.Fatal(err)
	}
	start := time.Now()
	unix.Close(k)
	kernel := time.Since(start)

	// c is the socket closed: a dialed one with the linger set, an
	// accepted one that has it from its listener, or an adopted one.
	setLinger := func(s *Socket) {
		if err := s.Setsockopt(unix.SOL_SOCKET, unix.SO_LINGER, (*[unix.SizeofLinger]byte)(unsafe.Pointer(&linger))[:]); err != nil {
			t.Fatal(err)
		}
	}
	var c *Socket
	switch how {
	case "listener":
		ln2, sa2 := listenTCP(t, e)
		setLinger(ln2)
		dialTCP(t, e, sa2) // the peer, which never reads
		c = acceptTCP(t, ln2)
	case "Adopt":
		a, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Connect(a, sa)
		if err == nil {
			err = unix.SetsockoptLinger(a, unix.SOL_SOCKET, unix.SO_LINGER, &linger)
		}
		if err == nil {
			c, err = e.Adopt(a)
		}
		unix.Close(a) // c holds a duplicate, the socket's last fd
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		acceptTCP(t, ln)
	default:
		c = dialTCP(t, e, sa)
		acceptTCP(t, ln)
		setLinger(c)
	}
	if err := c.Control(fill); err != nil {
		t.Fatal(err)
	}

	// Round trips on another connection of the same engine record the
	// longest time between two of them.
	p, q := dialTCP(t, e, sa), acceptTCP(t, ln)
	var longest atomic.Int64
	stop, stopped := make(chan struct{}), make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		last := time.Now()
		for {
			select {
			case <-stop:
				stopped <- nil
				return
			default:
			}
			if _, err := p.Write(buf); err != nil {
				stopped <- err
				return
			}
			if _, err := q.Read(buf); err != nil {
				stopped <- err
				return
			}
			now := time.Now()
			if gap := now.Sub(last); int64(gap) > longest.Load() {
				longest.Store(int64(gap))
			}
			last = now
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	start = time.Now()
	err = c.Close()
	ours := time.Since(start)
	close(stop)
	if err := <-stopped; err != nil {
		t.Fatalf("round trips: %v", err)
	}
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("close(2) took %v, Close %v; the longest between two round trips on another connection: %v", kernel, ours, time.Duration(longest.Load()))
	if kernel >= 500*time.Millisecond && ours < kernel/2 {
		t.Errorf("Close took %v where close(2) of a socket in the same state took %v: the linger was cut short", ours, kernel)
	}
	if gap := time.Duration(longest.Load()); gap > 300*time.Millisecond {
		t.Errorf("another connection went %v without a round trip while Close lingered", gap)
	}
}
